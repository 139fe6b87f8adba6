"""Real Celery worker processes against the test database: round trips and the FAULT/DESER checks.

Each worker runs `backend.cli.worker_command()` in its own process group with short timings, and is
SIGKILLed (the whole group) by the fixture that started it, whatever the test's outcome.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import make_url
from sqlmodel import col, select

from backend.audit.models import AuditRecord
from backend.cli import ROOT, worker_command
from backend.core import celery_app
from backend.core.config import get_settings, reset_settings
from backend.core.db import session_scope, writer_lock_path
from backend.core.tasks import Needs
from backend.jobs import sender
from backend.jobs import service as jobs_service
from backend.jobs.models import FINISHED, PlatformSnapshot, WorkerHeartbeat
from tests.backend.jobs.conftest import audit_actions, read_job, wait_for_job, wait_until

pytestmark = pytest.mark.broker

FAST_TIMINGS = {
    "AISYSTEM_JOB_LEASE_SECONDS": "2",
    "AISYSTEM_REAPER_INTERVAL_SECONDS": "1",
    "AISYSTEM_WORKER_HEARTBEAT_SECONDS": "1",
    "AISYSTEM_JOB_REQUEUE_AFTER_SECONDS": "2",
}
REDIS_SERVER = "/usr/bin/redis-server"
TEST_REDIS_URL = os.environ.get("AISYSTEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
STARTUP_TIMEOUT = 60  # a worker imports the whole platform: seconds, more on a loaded machine

_process_groups: set[int] = set()  # a last resort if the interpreter exits before a finalizer ran


@atexit.register
def _kill_leftovers() -> None:
    for pgid in list(_process_groups):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def _spawn(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _process_groups.add(proc.pid)
    return proc


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the group: a worker's children go with it
    proc.wait(timeout=10)
    _process_groups.discard(proc.pid)


# --- workers ----------------------------------------------------------------------------------------


@dataclass
class Worker:
    proc: subprocess.Popen
    log_path: Path

    @property
    def name(self) -> str:
        """The name the worker writes its heartbeat and leases under."""
        return f"{socket.gethostname()}:{self.proc.pid}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return f"--- {self.log_path.name} ---\n" + "\n".join(self.log().splitlines()[-lines:])

    def dump_stacks(self) -> None:
        """Have the worker write every thread's stack to its log (Celery's worker does so on SIGUSR1)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGUSR1)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def executions(self) -> int:
        """How many `aisystem.run_job` messages this worker has run to the end (duplicates included)."""
        return sum(1 for line in self.log().splitlines() if "aisystem.run_job[" in line and "succeeded in" in line)

    def has_beaten(self) -> bool:
        if not self.alive():
            pytest.fail(f"the worker exited with {self.proc.returncode}\n{self.log_tail()}")
        with session_scope(write=False) as session:
            return any(w.name == self.name for w in jobs_service.live_workers(session=session))

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (no warm shutdown, no cleanup: a lost node)."""
        _kill_group(self.proc)

    def heartbeat(self) -> WorkerHeartbeat:
        with session_scope(write=False) as session:
            row = session.get(WorkerHeartbeat, self.name)
            assert row is not None, self.log_tail()
            return row


@pytest.fixture(autouse=True)
def no_warm_training_process(monkeypatch) -> None:
    """None of this module's jobs trains, so its workers do not start the warm training process, whose
    imports (torch, Lightning: seconds of CPU) slowed the workers' start beside it on a loaded machine.
    (The warm process: tests/backend/training/test_warm.py.)"""
    monkeypatch.setenv("AISYSTEM_TRAINING_WARM_RUNNER", "false")


@pytest.fixture
def fast_timings(db_backend) -> Iterator[None]:
    """Short lease/reaper/heartbeat timings, for the test process and every worker it starts."""
    saved = {key: os.environ.get(key) for key in FAST_TIMINGS}
    os.environ.update(FAST_TIMINGS)
    reset_settings()
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    reset_settings()


@pytest.fixture
def use_broker(fast_timings) -> Iterator:
    """`use_broker(url)` points this process and the workers started afterwards at another broker."""
    previous = os.environ.get("AISYSTEM_BROKER_URL")
    used: list[str] = []

    def use(url: str) -> None:
        os.environ["AISYSTEM_BROKER_URL"] = url
        reset_settings()
        used.append(url)

    yield use
    for url in used:  # drop connections to brokers that are going away
        celery_app.celery_for(url).pool.force_close_all()
    if previous is None:
        os.environ.pop("AISYSTEM_BROKER_URL", None)
    else:
        os.environ["AISYSTEM_BROKER_URL"] = previous
    reset_settings()


def writer_lock_holders() -> str:
    """Which processes hold the SQLite writer lock's `flock` now (from /proc/locks), for a failure report."""
    url = make_url(get_settings().sqlalchemy_url)
    path = writer_lock_path(url.database) if url.get_backend_name() == "sqlite" else None
    if path is None or not Path(path).exists() or not Path("/proc/locks").exists():
        return "writer lock: not in use"
    inode = Path(path).stat().st_ino
    # /proc/locks: "1: FLOCK ADVISORY WRITE <pid> <major>:<minor>:<inode> 0 EOF"
    entries = [line.split() for line in Path("/proc/locks").read_text().splitlines()]
    holders = [e[4] for e in entries if e[1] == "FLOCK" and e[5].endswith(f":{inode}")]
    return f"writer lock held by pid {', '.join(holders) or 'nobody'} (this test is pid {os.getpid()})"


def stuck_report(workers: list[Worker]) -> str:
    """Who holds the writer lock, and each worker's log tail with every thread's stack: why one waits."""
    for worker in workers:
        worker.dump_stacks()
    time.sleep(1)
    return "\n".join([writer_lock_holders(), *(worker.log_tail(lines=150) for worker in workers)])


@pytest.fixture
def start_worker(use_broker, tmp_path) -> Iterator:
    """`start_worker(name)` runs a worker (the project's worker command) and waits for its first heartbeat."""
    started: list[Worker] = []

    def start(name: str = "worker", *, wait: bool = True, queues: list[str] | None = None,
              env: dict[str, str] | None = None) -> Worker:
        """`queues` as `make worker QUEUES=...` takes them; `env` adds settings (a device override)."""
        env = {**os.environ, **FAST_TIMINGS, **(env or {})}  # same data dir, database and broker as this test
        log_path = tmp_path / f"{name}-{len(started)}.log"
        worker = Worker(_spawn(worker_command(f"test-{name}", queues), log_path, env), log_path)
        started.append(worker)  # before waiting: a worker that never gets ready is killed too
        if wait:
            wait_until(worker.has_beaten, timeout=STARTUP_TIMEOUT, describe=lambda: stuck_report(started))
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def embedded_broker(use_broker) -> None:
    """The default broker (SQLite file in the data dir), emptied of earlier tests' messages."""
    assert get_settings().celery_broker_url.startswith("sqla+sqlite:")
    celery_app.get_celery().control.purge()


# --- Redis -----------------------------------------------------------------------------------------


def _redis_reachable(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A private, non-persistent redis-server on a free port (the system Redis is never touched)."""

    def __init__(self, log_path: Path):
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        command = [REDIS_SERVER, "--save", "", "--appendonly", "no", "--port", str(self.port),
                   "--bind", "127.0.0.1"]
        self.proc = _spawn(command, self.log_path)
        wait_until(lambda: _redis_reachable(self.url), timeout=10, interval=0.05,
                   describe=lambda: self.log_path.read_text(errors="replace"))

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc = None

    def restart(self) -> None:
        """Kill and start again: without persistence every queued message is gone."""
        self.stop()
        self.start()

    def queue_length(self, queue: str = celery_app.QUEUE) -> int:
        import redis

        return redis.Redis.from_url(self.url).llen(queue)


@pytest.fixture
def private_redis(tmp_path) -> Iterator[RedisServer]:
    if not Path(REDIS_SERVER).exists() and not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path / "redis.log")
    server.start()
    yield server
    server.stop()


# --- small helpers -----------------------------------------------------------------------------------


def start_job_over_api(api, auth, type: str, payload: dict | None = None) -> str:  # noqa: A002
    response = api.post("/api/v1/jobs", json={"type": type, "payload": payload or {}}, headers=auth.headers("admin"))
    assert response.status_code == 202, response.text
    return response.json()["id"]


def create_job_unsent(principal, type: str, payload: dict | None = None) -> str:  # noqa: A002
    """A queued job whose message the test sends itself (use with the `sent` fixture)."""
    with session_scope() as session:
        return jobs_service.create_job(session=session, actor=principal, type=type, payload=payload).id


def snapshots_of(job_id: str) -> int:
    with session_scope(write=False) as session:
        return len(session.exec(select(PlatformSnapshot).where(PlatformSnapshot.job_id == job_id)).all())


def reaped(job_id: str) -> bool:
    """Whether the reaper's audit record lists the job as re-queued."""
    with session_scope(write=False) as session:
        records = session.exec(select(AuditRecord).where(AuditRecord.action == "job.reap")
                               .order_by(col(AuditRecord.seq))).all()
    return any(job_id in r.summary.get("requeued", []) for r in records)


def logs(*workers: Worker) -> str:
    return "\n".join(w.log_tail() for w in workers)


def assert_ran_once(job_id: str, *, attempts: int = 1) -> None:
    job = read_job(job_id)
    assert job.status == "succeeded", f"{job.status}: {job.error}"
    assert job.attempts == attempts
    assert audit_actions(job_id).count("job.completed") == 1


# --- the cases ----------------------------------------------------------------------------------------


def test_round_trip_on_the_embedded_broker(embedded_broker, api, auth, start_worker):
    worker = start_worker()
    job_id = start_job_over_api(api, auth, "platform.statistics")
    wait_for_job(job_id, FINISHED, timeout=20, describe=worker.log_tail)
    assert_ran_once(job_id)
    assert snapshots_of(job_id) == 1
    assert read_job(job_id).result["figures"]["jobs"] >= 1

    health = api.get("/api/v1/health").json()
    assert health["checks"]["worker"]["status"] == "ok", health
    assert worker.name in [w["name"] for w in health["checks"]["worker"]["workers"]]
    assert health["checks"]["broker"] == {"status": "ok", "transport": "sqla+sqlite"}


def test_round_trip_on_redis(use_broker, api, auth, start_worker):
    if not _redis_reachable(TEST_REDIS_URL):
        pytest.skip(f"no Redis at {TEST_REDIS_URL} (set AISYSTEM_TEST_REDIS_URL)")
    use_broker(TEST_REDIS_URL)
    worker = start_worker()
    job_id = start_job_over_api(api, auth, "platform.statistics")
    wait_for_job(job_id, FINISHED, timeout=20, describe=worker.log_tail)
    assert_ran_once(job_id)
    assert snapshots_of(job_id) == 1
    health = api.get("/api/v1/health").json()
    assert health["checks"]["broker"] == {"status": "ok", "transport": "redis"}
    assert health["checks"]["worker"]["status"] == "ok"


def test_fault_01_02_a_killed_worker_loses_its_lease_and_a_fresh_worker_finishes_the_job(
    embedded_broker, api, auth, start_worker
):
    first = start_worker("first")
    job_id = start_job_over_api(api, auth, "platform.selftest", {"durationSeconds": 8})

    def running_with_a_checkpoint():
        job = read_job(job_id)
        return job.status == "running" and job.progress > 0 and job.checkpoint

    wait_until(running_with_a_checkpoint, timeout=20, describe=first.log_tail)
    assert read_job(job_id).lease_owner == first.name
    first.kill()
    saved_step = read_job(job_id).checkpoint["step"]
    assert read_job(job_id).status == "running", "nobody may finish the job of a dead worker"

    second = start_worker("second")
    wait_until(lambda: reaped(job_id), timeout=15, describe=lambda: logs(first, second))
    job = wait_for_job(job_id, FINISHED, timeout=25, describe=lambda: logs(first, second))
    assert_ran_once(job_id, attempts=2)
    assert job.result["attempt"] == 2
    assert job.result["worker"] == second.name
    # The self-test has a resume hook: the second attempt went on from the dead worker's checkpoint.
    assert job.result["resumedFromStep"] == saved_step >= 1
    assert "resumes from its checkpoint" in second.log()


def test_fault_03_a_redis_restart_loses_the_message_and_the_reaper_sends_it_again(
    private_redis, use_broker, api, auth, start_worker
):
    use_broker(private_redis.url)
    job_id = start_job_over_api(api, auth, "platform.statistics")
    assert sender.flush(timeout=10)  # the message is sent after the commit, by the sender thread
    assert private_redis.queue_length() == 1, "the message should wait in Redis: no worker runs"
    private_redis.restart()
    assert private_redis.queue_length() == 0, "a Redis without persistence forgets the message"
    assert read_job(job_id).status == "queued"

    worker = start_worker()
    wait_for_job(job_id, FINISHED, timeout=20, describe=worker.log_tail)
    assert_ran_once(job_id)
    assert snapshots_of(job_id) == 1


def test_fault_05_a_duplicate_delivery_runs_the_job_once(embedded_broker, principals, sent, start_worker,
                                                         monkeypatch):
    # A lease far longer than the job's second: on a loaded machine a 2 s lease can lapse and the reaper
    # re-queue the job (a second, legitimate attempt); this case is about the duplicate message only.
    monkeypatch.setenv("AISYSTEM_JOB_LEASE_SECONDS", "30")
    workers = [start_worker("a", wait=False), start_worker("b", wait=False)]
    for worker in workers:
        wait_until(worker.has_beaten, timeout=STARTUP_TIMEOUT, describe=lambda: stuck_report(workers))
    job_id = create_job_unsent(principals["admin"], "platform.selftest", {"durationSeconds": 1})
    celery_app.send_job(job_id)
    celery_app.send_job(job_id)

    wait_for_job(job_id, FINISHED, timeout=20, describe=lambda: logs(*workers))
    # Both deliveries were consumed (a duplicate returns at once), yet the job ran once.
    wait_until(lambda: sum(w.executions() for w in workers) >= 2, timeout=10, describe=lambda: logs(*workers))
    assert_ran_once(job_id)


class _Gadget:
    """Unpickling this creates a directory: proof that the worker deserialized pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def _publish_pickled_task(marker: Path) -> None:
    from kombu import Connection, Exchange, Queue

    queue = Queue(celery_app.QUEUE, Exchange(celery_app.QUEUE, "direct"), routing_key=celery_app.QUEUE)
    task_id = str(uuid.uuid4())
    headers = {"lang": "py", "task": celery_app.RUN_JOB_TASK, "id": task_id, "root_id": task_id,
               "parent_id": None, "group": None, "retries": 0, "eta": None, "expires": None,
               "argsrepr": "(gadget,)", "kwargsrepr": "{}", "origin": "attacker@redis"}
    body = ([_Gadget(marker)], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None})
    with Connection(get_settings().celery_broker_url) as conn:
        producer = conn.Producer(serializer="pickle")
        producer.publish(body, exchange=queue.exchange, routing_key=queue.routing_key, declare=[queue],
                         headers=headers)


def test_deser_06_a_pickled_message_is_refused_and_the_worker_keeps_working(
    embedded_broker, principals, sent, start_worker, tmp_path
):
    marker = tmp_path / "pwned"
    worker = start_worker()
    _publish_pickled_task(marker)
    job_id = create_job_unsent(principals["admin"], "platform.statistics")
    celery_app.send_job(job_id)  # queued behind the pickled message

    wait_for_job(job_id, FINISHED, timeout=20, describe=worker.log_tail)
    assert_ran_once(job_id)
    assert not marker.exists(), "the worker unpickled a message from the queue"
    assert worker.alive()
    log = worker.log()
    assert "application/x-python-serialize" in log and "ContentDisallowed" in log, worker.log_tail()


# --- queues, devices and time limits -------------------------------------------------------------------

DEVICES_OVERRIDE = "AISYSTEM_WORKER_DEVICES_OVERRIDE"
NO_GPU = {DEVICES_OVERRIDE: json.dumps({"gpus": []})}  # CPU-only, even on a host with a GPU
ONE_TEST_GPU = {DEVICES_OVERRIDE: json.dumps({"gpus": [{"name": "test GPU", "memoryMb": 24576}]})}


def queue_job(principal, type: str, payload: dict | None = None, **placement) -> str:  # noqa: A002
    """A job created through the service and sent to its queue once committed (the real path)."""
    with session_scope() as session:
        return jobs_service.create_job(session=session, actor=principal, type=type, payload=payload,
                                       **placement).id


def test_a_worker_takes_jobs_only_from_the_queues_it_serves(embedded_broker, principals, start_worker):
    admin = principals["admin"]
    trainer = start_worker("training", queues=["training"])
    beat = trainer.heartbeat()
    assert beat.queues == ["training"]
    assert beat.devices["source"] == "detected"
    assert beat.devices["cpuCount"] >= 1 and beat.devices["memoryMb"] > 0

    plain = queue_job(admin, "platform.selftest", {"durationSeconds": 1})
    training = queue_job(admin, "platform.selftest", {"durationSeconds": 1}, queue="training")
    assert wait_for_job(training, FINISHED, timeout=20, describe=trainer.log_tail).result["worker"] == trainer.name
    assert (read_job(plain).status, read_job(plain).attempts) == ("queued", 0), "a training worker took a default job"

    general = start_worker("default", queues=["default"])
    assert general.heartbeat().queues == ["default"]
    done = wait_for_job(plain, FINISHED, timeout=20, describe=lambda: logs(trainer, general))
    assert done.status == "succeeded" and done.result["worker"] == general.name

    trainer.kill()
    later = queue_job(admin, "platform.selftest", {"durationSeconds": 1}, queue="training")
    probe = queue_job(admin, "platform.statistics")
    wait_for_job(probe, FINISHED, timeout=20, describe=general.log_tail)  # the default worker is busy and well
    assert (read_job(later).status, read_job(later).attempts) == ("queued", 0), "a default worker took a training job"


def test_a_gpu_job_waits_for_a_worker_with_a_gpu(embedded_broker, principals, api, auth, start_worker):
    admin = principals["admin"]
    cpu = start_worker("cpu", env=NO_GPU)
    assert cpu.heartbeat().devices["gpus"] == [] and cpu.heartbeat().devices["source"] == "override"
    gpu_job = queue_job(admin, "platform.selftest", {"durationSeconds": 1}, queue="training",
                        needs=Needs(gpus=1, gpu_memory_mb=16000))
    probe = queue_job(admin, "platform.selftest", {"durationSeconds": 1}, queue="training")
    wait_for_job(probe, FINISHED, timeout=20, describe=cpu.log_tail)  # the CPU worker serves `training`
    waiting = api.get(f"/api/v1/jobs/{gpu_job}", headers=auth.headers("admin")).json()
    assert (waiting["status"], waiting["attempts"], waiting["gpusRequired"]) == ("queued", 0, 1)
    assert waiting["message"] == "waiting for a worker with a GPU of 16000 MB"

    gpu = start_worker("gpu", env=ONE_TEST_GPU)
    assert gpu.heartbeat().devices["gpus"] == [{"name": "test GPU", "memoryMb": 24576}]
    assert gpu.heartbeat().gpu_names == ["test GPU"]
    done = wait_for_job(gpu_job, FINISHED, timeout=30, describe=lambda: logs(cpu, gpu))
    # Run by the GPU worker. (Attempts are not checked: on a loaded machine the 2 s test lease can lapse and
    # the GPU worker claim it again; that the CPU worker never can is test_placement's claim-time check.)
    assert (done.status, done.result["worker"]) == ("succeeded", gpu.name)


def test_a_job_past_its_time_limit_is_stopped_and_the_worker_goes_on(embedded_broker, principals, start_worker):
    admin = principals["admin"]
    worker = start_worker()
    slow = queue_job(admin, "platform.selftest", {"durationSeconds": 60}, time_limit_seconds=2)
    job = wait_for_job(slow, FINISHED, timeout=25, describe=worker.log_tail)
    assert (job.status, job.error_code) == ("failed", "JOB_003"), job.error
    assert job.progress < 0.5
    after = queue_job(admin, "platform.statistics")
    assert wait_for_job(after, FINISHED, timeout=20, describe=worker.log_tail).status == "succeeded"
    assert worker.alive()
