"""Command line of the platform: `python -m backend.cli migrate|seed|serve|worker|create-user|verify-audit`."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from backend.core.config import get_settings

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("aisystem.cli")

def migrate() -> None:
    """Apply every Alembic migration to the configured database."""
    from alembic import command
    from alembic.config import Config

    get_settings().resolved_data_dir.mkdir(parents=True, exist_ok=True)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "backend" / "migrations"))
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")
    print("database migrated to the latest revision")


def seed() -> None:
    """Create the demo data that is missing (safe to run again): each domain's seed steps, in list order."""
    from backend import domains
    from backend.core.db import session_scope

    settings = get_settings()
    if not settings.seed_demo_data:
        print("demo data disabled (AISYSTEM_SEED_DEMO_DATA=false)")
        return
    for step in domains.seed_steps():
        fn = domains.resolve(step)
        with session_scope() as session:
            print(f"seed {fn.__name__}: {fn(session)}")


def create_user(args: argparse.Namespace) -> None:
    """The one-time step that creates the first admin of a production install."""
    from backend.auth import service as auth_service
    from backend.auth.principal import SYSTEM
    from backend.core.db import session_scope

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    with session_scope() as session:
        user = auth_service.create_user(session=session, actor=SYSTEM, username=args.username, password=password,
                                        role=args.role, display_name=args.display_name)
    print(f"created {user.username} ({user.role}) as {user.id}")


def verify_audit() -> None:
    from backend.audit import service as audit
    from backend.auth.principal import SYSTEM
    from backend.core.db import session_scope

    with session_scope(write=False) as session:
        result = audit.verify(session=session, actor=SYSTEM)
    print(result)
    sys.exit(0 if result.valid else 1)


def migrate_artifacts(args: argparse.Namespace) -> None:
    """Copy the files the database names from the old local layout into the configured artifact store."""
    from backend import domains
    from backend.core import artifacts
    from backend.core.artifacts.migrate import copy_into
    from backend.core.db import session_scope

    source = Path(args.source).expanduser().resolve() if args.source else get_settings().artifacts_dir
    with session_scope(write=False) as session:
        expected = {key: sha for fn in domains.hooks("stored_files") for key, sha in fn(session).items()}
    store = artifacts.get_store()
    print(f"{source} -> {store.url}")
    report = copy_into(source, store, expected)
    print("\n".join(report.lines()))
    sys.exit(1 if report.failed or report.missing else 0)


def parse_queues(text: str | None) -> list[str]:
    """'training,inference' -> the job queues named (all of them when empty); SystemExit on an unknown one."""
    from backend.core.tasks import QUEUES

    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise SystemExit(f"unknown queue(s) {', '.join(unknown)}; the queues are {', '.join(QUEUES)}")
    return names or list(QUEUES)


def worker_command(name: str = "worker", queues: list[str] | None = None) -> list[str]:
    """The Celery worker serving `queues` (default: all); one with a GPU also takes their GPU jobs."""
    from backend.core.celery_app import broker_queue

    served = ",".join(broker_queue(queue) for queue in parse_queues(",".join(queues or [])))
    return [
        sys.executable, "-m", "celery", "-A", "backend.core.celery_app", "worker",
        "--pool=solo", "--loglevel=INFO", "-Q", served, "-n", f"{name}-{os.getpid()}@%h",
    ]


def worker(queues: str | None = None) -> None:
    """Run one Celery worker in the foreground (joins the configured database and broker)."""
    os.execv(sys.executable, worker_command(queues=parse_queues(queues)))


def tool_env() -> dict[str, str]:
    """Environment for Reflex: the project-local Bun, never a download."""
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    env["REFLEX_USE_SYSTEM_BUN"] = "1"
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "false")
    return env


def build_ui(env: dict[str, str]) -> None:
    """Build the UI's production bundle unless the last build used the same sources and port."""
    ui = [sys.executable, "-m", "aisystem_app.serve"]
    if subprocess.run([*ui, "--check"], cwd=ROOT, env=env).returncode == 0:
        print("UI build is current")
        return
    print("building the UI (about a minute the first time)")
    subprocess.run([sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip", "--env", "prod",
                    "--loglevel", "warning"], cwd=ROOT, env=env, check=True)
    subprocess.run([*ui, "--record"], cwd=ROOT, env=env, check=True)


class Supervised:
    """A child process `serve` keeps running: started again with back-off when it dies."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]):
        self.name, self.command, self.env = name, command, env
        self.proc: subprocess.Popen | None = None
        self.failures = 0  # deaths in a row; reset once a run lasts STABLE_SECONDS
        self.started_at = 0.0
        self.restart_at: float | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, cwd=ROOT, env=self.env, start_new_session=True)
        self.started_at, self.restart_at = time.monotonic(), None
        log.info("%s started (pid %s)", self.name, self.proc.pid)

    def check(self, now: float) -> None:
        """Note a death and schedule the restart (1 s, 2 s, 4 s ... up to MAX_BACKOFF_SECONDS); restart when due."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
            return
        if self.proc is None or self.proc.poll() is None:
            return
        self.failures = 1 if now - self.started_at >= STABLE_SECONDS else self.failures + 1
        delay = min(MAX_BACKOFF_SECONDS, 2 ** (self.failures - 1))
        code = self.proc.returncode
        how = f"killed by {signal.Signals(-code).name}" if code < 0 and -code in signal.Signals._value2member_map_ \
            else f"exit status {code}"
        log.error("%s (pid %s) died (%s); restarting in %s s", self.name, self.proc.pid, how, delay)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own children (server workers) would hold the port
        self.restart_at = now + delay

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float) -> None:
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
            self.proc.wait()


STABLE_SECONDS = 60.0  # a child that ran this long before dying is restarted after 1 s again
MAX_BACKOFF_SECONDS = 60


def web_command(port: int, *, api_only: bool) -> list[str]:
    """The web process: UI + API (the Reflex production server), or the API alone (no UI build needed)."""
    if api_only:
        return [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "0.0.0.0",
                "--port", str(port), "--log-level", "warning", "backend.api:create_api"]
    return [sys.executable, "-m", "aisystem_app.serve", str(port)]


def serve(*, api_only: bool = False) -> None:
    """Migrate, seed, build the UI if needed, then serve UI + API on one port with AISYSTEM_WORKERS
    workers beside it; each is restarted when it dies, so one crash never takes the platform down.
    `api_only` serves the API without the UI (and skips its build)."""
    settings = get_settings()
    problems = settings.production_problems()
    if problems:
        raise SystemExit("refusing to start in production: " + "; ".join(problems))
    migrate()
    seed()
    sweep_leftovers()
    env = tool_env()
    if not api_only:
        build_ui(env)
    children = [Supervised("web", web_command(settings.port, api_only=api_only), env)]
    children += [Supervised(f"worker {i + 1}", worker_command(f"worker{i + 1}"), env)
                 for i in range(settings.workers)]
    for child in children:
        child.start()
    print(f"AI System: http://127.0.0.1:{settings.port}  (API docs: /api/v1/docs); "
          f"{settings.workers} worker(s)", flush=True)
    supervise(children)


def supervise(children: list[Supervised]) -> None:
    """Restart dead children until SIGTERM or SIGINT; then stop them all (SIGKILL after 15 s)."""
    stopping = threading.Event()

    def stop(*_args) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while not stopping.wait(0.5):
            now = time.monotonic()
            for child in children:
                child.check(now)
    finally:
        for child in children:
            child.stop()
        for child in children:
            child.wait(15)
    sys.exit(0)


def sweep_leftovers() -> None:
    """Remove the spool files and scratch folders a killed process left (nothing else runs yet)."""
    from backend.core import artifacts

    removed = artifacts.sweep_leftovers(max_age_seconds=STARTUP_SWEEP_AGE_SECONDS)
    if removed:
        log.info("removed %s leftover work files from earlier runs", removed)


# Another process on this host (a separate `make worker`) may be writing a fresh one.
STARTUP_SWEEP_AGE_SECONDS = 60


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=get_settings().log_level, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="python -m backend.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations")
    sub.add_parser("seed", help="create missing demo data")
    serving = sub.add_parser("serve", help="migrate, seed and serve UI + API with AISYSTEM_WORKERS workers, "
                                           "restarting any that dies")
    serving.add_argument("--api-only", action="store_true", help="serve the API without the UI (no UI build)")
    run_worker = sub.add_parser("worker", help="run a background worker")
    run_worker.add_argument("--queues", help="comma-separated queues to serve: default, training, inference "
                                             "(default: all); `make worker QUEUES=training`")
    sub.add_parser("verify-audit", help="verify the audit trail's hash chain")
    move = sub.add_parser("migrate-artifacts", help="copy stored files from the old local layout into the "
                                                    "store AISYSTEM_ARTIFACT_URL names (idempotent, hash-checked)")
    move.add_argument("--from", dest="source", help="the old artifacts folder (default: <data dir>/artifacts)")
    user = sub.add_parser("create-user", help="create an account (e.g. the first admin)")
    user.add_argument("username")
    user.add_argument("--role", default="admin")
    user.add_argument("--display-name")
    user.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    handlers = {"migrate": migrate, "seed": seed, "verify-audit": verify_audit}
    if args.command == "serve":
        serve(api_only=args.api_only)
    elif args.command == "create-user":
        create_user(args)
    elif args.command == "migrate-artifacts":
        migrate_artifacts(args)
    elif args.command == "worker":
        worker(args.queues)
    else:
        handlers[args.command]()


if __name__ == "__main__":
    main()
