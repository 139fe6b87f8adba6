"""Test set-up: a private data dir, a migrated database per backend (SQLite, and PostgreSQL when
AISYSTEM_TEST_DATABASE_URL is set), reset before each test, and an API client with demo users."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The environment must be set before any backend module reads the settings.
DATA_DIR = Path(tempfile.mkdtemp(prefix="aisystem-test-"))
DEMO_PASSWORD = "test-demo-password-1"
os.environ.update(
    {
        "AISYSTEM_ENV": "test",
        "AISYSTEM_DATA_DIR": str(DATA_DIR),
        "AISYSTEM_DEMO_PASSWORD": DEMO_PASSWORD,
        "AISYSTEM_ARGON2_TIME_COST": "1",
        "AISYSTEM_ARGON2_MEMORY_KIB": "1024",
        "AISYSTEM_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        # The servers the tests start (and their children) load Lightning when they first serve, not as they
        # start: most never predict, and each start would cost ~3 s of the suite's two cores.
        "AISYSTEM_ENDPOINT_PRELOAD": "false",
    }
)
os.environ.pop("AISYSTEM_DATABASE_URL", None)
os.environ.pop("AISYSTEM_BROKER_URL", None)

from sqlalchemy import text  # noqa: E402

from backend.core.config import get_settings, reset_settings  # noqa: E402
from backend.core.db import engine_for  # noqa: E402

SQLITE_TEMPLATE = DATA_DIR / "template.db"
# Under pytest-xdist (`make test` runs several workers) each worker process has its own data dir (above), its own
# PostgreSQL database and its own Redis database, so that their resets never meet.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
WORKER_NUMBER = int(XDIST_WORKER.removeprefix("gw") or 0)


def data_files() -> set[str]:
    """Every file under the platform's data dir except the databases, the audit checkpoint and the secret key
    (relative paths): what a failed write must leave as it found it."""
    root = get_settings().resolved_data_dir
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.name.startswith(("aisystem.db", "template.db", "audit-checkpoint", "secret_key"))}


def _worker_database(url: str | None) -> str | None:
    """The first worker uses the configured database; others a sibling (`test_gw1`), created on first use."""
    if not url or WORKER_NUMBER == 0:
        return url
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}_{XDIST_WORKER}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _worker_redis(url: str) -> str:
    """Redis databases counted down from the configured one (15, 14, ...) per worker."""
    if WORKER_NUMBER == 0:
        return url
    base, _, number = url.rpartition("/")
    return f"{base}/{int(number or 0) - WORKER_NUMBER}"


POSTGRES_URL = _worker_database(os.environ.get("AISYSTEM_TEST_DATABASE_URL"))
os.environ["AISYSTEM_TEST_REDIS_URL"] = _worker_redis(
    os.environ.get("AISYSTEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
BACKENDS = ["sqlite", "postgresql"]
# Tests of training processes (Lightning runs, checkpoints, killed workers, DDP) run on SQLite only: what
# they prove happens outside the database, their SQL is the training service's, which its API tests run
# on both databases, and each costs 10-30 s, which twice over would push the suite past its time budget.
# Likewise the worker-process tests whose subject is the broker or the worker, not the database: which
# queues a worker consumes, a Redis restart, a refused pickle, a job's time limit, GPU placement (whose
# claim-time SQL `tests/backend/jobs/test_placement.py` runs on both). The round trips, a killed worker's
# lease and a duplicate delivery (the claim's row locking) still run on both databases.
# So are the end-to-end flows that train models on the way (the endpoints issue's train → deploy → canary →
# rollback, the demo benchmark's two trained versions, rank confidence from three benchmarked versions: their
# SQL is the endpoint, registry, benchmark and comparison services', which those packages' own tests run on
# both), the real sentence encoder's search quality (the search's SQL runs on both in the marketplace's other
# tests) and the OpenAPI document, which reads no table.
SQLITE_ONLY = ("tests/backend/ml/", "tests/backend/training/test_tasks.py", "tests/backend/training/test_worker.py",
               "tests/backend/tuning/test_tasks.py", "tests/backend/tuning/test_worker.py",
               "tests/backend/endpoints/test_done_means.py",
               "tests/backend/benchmarks/test_service.py::test_seed_benchmarks_two_trained_versions",
               "tests/backend/core/test_requests.py::test_openapi_documents_every_route",
               "tests/backend/comparison/test_api.py::test_rank_confidence_from_benchmark_samples",
               "tests/backend/marketplace/test_search.py::test_the_real_model_finds_the_issues_example",
               *(f"tests/backend/jobs/test_worker.py::{name}" for name in (
                   "test_round_trip_on_redis", "test_fault_03_", "test_deser_06_",
                   "test_a_worker_takes_jobs_only_from_the_queues_it_serves", "test_a_gpu_job_waits_for_a_worker",
                   "test_a_job_past_its_time_limit")))


# Modules that start a server process in a module-scoped fixture (xdist keeps each on one worker).
SERVER_MODULES = ("tests/backend/mcp/test_server.py",)
# Under xdist the browser tests run on two servers, each on its own worker with its own build and database:
# these modules on the second (half of the browser tests' time, as measured), every other one on the first.
# On one server in turn they took ~15 of the suite's 17 minutes, the one chain the rest of the suite waited on.
E2E_SECOND_SERVER = tuple(f"tests/e2e/{module}.py" for module in (
    "test_tuning", "test_marketplace", "test_endpoints", "test_hydration", "test_benchmarks", "test_experiments",
    "test_jobs", "test_governance_consoles", "test_comparison"))


def e2e_server_of(nodeid: str) -> int:
    """Which of the two browser-test servers a test runs against."""
    return 2 if nodeid.startswith(E2E_SECOND_SERVER) else 1


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):  # noqa: ANN001, ANN201
    """Under xdist the browser tests of one server share one worker (one production build, one server);
    every other test is scheduled on its own. (xdist's `loadgroup` does this by rewriting node ids, which
    pytest 9 ignores.) The scopes with the most tests go out first: the two servers' start at once."""
    from xdist.scheduler import LoadScopeScheduling

    class BrowserTestsTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith(SERVER_MODULES):  # one server process per module: its tests on one worker
                return nodeid.split("::", 1)[0]
            return f"tests/e2e server {e2e_server_of(nodeid)}" if nodeid.startswith("tests/e2e/") else nodeid

    return BrowserTestsTogether(config, log)


# A browser-test server's set-up (migrate, seed, the production build, and waiting for the other server's build)
# counts against the timeout of the first test that needs it: 130-300 s on a slow or loaded 2-core machine.
E2E_TIMEOUT_SECONDS = 900


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    for item in items:
        if item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.timeout(E2E_TIMEOUT_SECONDS))
    dropped = [item for item in items if item.nodeid.startswith(SQLITE_ONLY) and "[postgresql" in item.nodeid]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) not in gone]


def _migrate(url: str) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "backend" / "migrations"))
    config.attributes["configure_logging"] = False
    config.attributes["url"] = url
    command.upgrade(config, "head")


def use_database(url: str | None) -> None:
    if url:
        os.environ["AISYSTEM_DATABASE_URL"] = url
    else:
        os.environ.pop("AISYSTEM_DATABASE_URL", None)
    reset_settings()


@pytest.fixture(scope="session")
def migrated_backends() -> dict[str, str]:
    """Migrate each available backend once per test session."""
    urls = {}
    template_url = f"sqlite:///{SQLITE_TEMPLATE}"
    _migrate(template_url)
    engine_for(template_url).dispose()
    urls["sqlite"] = f"sqlite:///{DATA_DIR / 'aisystem.db'}"
    if POSTGRES_URL:
        engine = engine_for(POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        _migrate(POSTGRES_URL)
        urls["postgresql"] = POSTGRES_URL
    return urls


def _reset_postgres(url: str) -> None:
    engine = engine_for(url)
    with engine.begin() as conn:
        tables = [row[0] for row in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        ))]
        # Replica mode skips the audit table's append-only triggers and the foreign keys' checks, for test
        # clean-up only. DELETE, not TRUNCATE: on tables of a few rows it takes ~12 ms for all of them
        # where TRUNCATE, which gives every table new files, took 200-400 ms before every test.
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        for table in tables:
            conn.execute(text(f'DELETE FROM "{table}"'))


def _reset_sqlite(url: str) -> None:
    engine_for(url).dispose()
    target = DATA_DIR / "aisystem.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(SQLITE_TEMPLATE, target)


def fresh_database(backend: str, migrated_backends: dict[str, str]) -> None:
    if backend not in migrated_backends:
        pytest.skip("PostgreSQL tests need AISYSTEM_TEST_DATABASE_URL")
    url = migrated_backends[backend]
    from backend.audit.checkpoint import discard_pending_checkpoint

    discard_pending_checkpoint()  # a head of the previous test's chain, not yet written, must not land later
    (DATA_DIR / "audit-checkpoint.json").unlink(missing_ok=True)
    if backend == "sqlite":
        _reset_sqlite(url)
        use_database(None)
    else:
        _reset_postgres(url)
        use_database(url)


@pytest.fixture(params=BACKENDS)
def db_backend(request, migrated_backends) -> Iterator[str]:
    """A clean, migrated database: SQLite always, PostgreSQL when configured."""
    fresh_database(request.param, migrated_backends)
    yield request.param
    use_database(None)


@pytest.fixture
def sqlite_db(migrated_backends) -> Iterator[str]:
    """A clean SQLite database, for tests that need to run only once (fuzzing, benchmarks)."""
    fresh_database("sqlite", migrated_backends)
    yield "sqlite"
    use_database(None)


@pytest.fixture
def session(db_backend):
    from backend.core.db import new_session

    s = new_session()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def demo_users(db_backend) -> dict[str, str]:
    """The six demo users (username = role); returns username -> user id."""
    from sqlmodel import select

    from backend.auth import service as auth_service
    from backend.auth.models import User
    from backend.core.db import session_scope

    with session_scope() as s:
        auth_service.ensure_demo_users(session=s)
        return {u.username: u.id for u in s.exec(select(User)).all()}


@pytest.fixture
def principals(demo_users) -> dict:
    """username (= role) -> the demo user's Principal (department and other attributes included),
    as services see a signed-in user."""
    from backend.auth import service as auth_service
    from backend.auth.models import User
    from backend.core.db import session_scope

    with session_scope(write=False) as s:
        return {name: auth_service.principal_for(s.get(User, uid), credential_id=None, credential_type="session")
                for name, uid in demo_users.items()}


_REST_APPS: dict[tuple, object] = {}


def _rest_app_of_this_process():  # noqa: ANN202
    """The /api/v1 app, built once per test process for the settings it is built from: building it sets up
    every route (~1 s), which a fresh app in every test paid again. The app keeps no data of its own
    between requests."""
    from backend import api as api_module
    from backend.core.config import get_settings

    settings = get_settings()
    key = (settings.api_docs, tuple(settings.browser_origins()))
    if key not in _REST_APPS:
        _REST_APPS[key] = api_module.create_rest_api()
    return _REST_APPS[key]


def root_app():  # noqa: ANN201
    """`create_api()` around the /api/v1 app of this test process."""
    from backend.api import create_api

    return create_api(_rest_app_of_this_process())


@pytest.fixture
def api(db_backend):
    """An HTTP client for the whole ASGI app (API mounted at /api/v1), as a browser would reach it."""
    from fastapi.testclient import TestClient

    with TestClient(root_app(), raise_server_exceptions=False) as client:
        yield client


class Auth:
    """Signs demo users in and hands out their headers."""

    def __init__(self, client):
        self.client = client
        self._cache: dict[str, dict[str, str]] = {}

    def token(self, username: str, password: str = DEMO_PASSWORD) -> str:
        response = self.client.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["accessToken"]

    def headers(self, username: str) -> dict[str, str]:
        if username not in self._cache:
            self._cache[username] = {"Authorization": f"Bearer {self.token(username)}"}
        return self._cache[username]

    def forget_sign_ins(self) -> None:
        """Sign in again at the next `headers` (after a request that ended a session)."""
        self._cache.clear()


@pytest.fixture
def auth(api, demo_users) -> Auth:
    return Auth(api)


class Sent(list):
    """Job ids handed to the broker, recorded instead of sent; `routes[job_id]` is (queue, gpu)."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: dict[str, tuple[str, bool]] = {}

    def __call__(self, job_id: str, *, queue: str, gpu: bool) -> None:
        self.append(job_id)
        self.routes[job_id] = (queue, gpu)


@pytest.fixture
def sent(monkeypatch) -> Sent:
    """No broker: the jobs a test creates are recorded here instead of sent (tests that run no worker,
    or play the worker by calling `backend.jobs.tasks.run_job` themselves)."""
    from backend.jobs import sender
    from backend.jobs import service as jobs_service

    calls = Sent()
    monkeypatch.setattr(jobs_service, "send_job", calls)
    monkeypatch.setattr(sender, "BACKGROUND", False)  # recorded at commit, not by the sender thread later
    return calls
