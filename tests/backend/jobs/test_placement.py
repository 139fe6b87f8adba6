"""Where jobs run, in-process on SQLite and PostgreSQL: queues, GPU needs at claim time, checkpoints
and resuming, time limits, and the devices a worker reports."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.core.config import reset_settings
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.tasks import Needs, job_handler, job_type
from backend.core.timeutil import utcnow
from backend.jobs import service
from backend.jobs import tasks as job_tasks
from backend.jobs.devices import CPU_ONLY, Gpu, WorkerDevices, detect_devices
from backend.jobs.models import Job, WorkerHeartbeat
from tests.backend.jobs.conftest import read_job, wait_for_job

W1, W2 = "host-a:101", "host-b:202"
ONE_H100 = WorkerDevices(cpu_count=16, memory_mb=131072, gpus=(Gpu("NVIDIA H100", 81559),))
SMALL_GPU = WorkerDevices(cpu_count=8, memory_mb=32768, gpus=(Gpu("NVIDIA T4", 15360),))


def create(actor, type="platform.selftest", payload=None, **placement) -> str:  # noqa: A002
    with session_scope() as session:
        return service.create_job(session=session, actor=actor, type=type, payload=payload, **placement).id


def claim(job_id: str, worker: str = W1, devices: WorkerDevices = CPU_ONLY) -> Job | None:
    with session_scope() as session:
        return service.claim_job(session=session, job_id=job_id, worker=worker, devices=devices)


def reap() -> dict[str, int]:
    with session_scope() as session:
        return service.reap(session=session)


def set_columns(job_id: str, **values) -> None:
    with session_scope() as session:
        session.exec(update(Job).where(Job.id == job_id).values(**values))


@pytest.fixture
def this_worker(monkeypatch) -> None:
    """The in-process `run_job` claims as a CPU-only worker (no torch import, whatever this host has)."""
    monkeypatch.setitem(job_tasks._this_worker, "devices", CPU_ONLY)


# --- queues --------------------------------------------------------------------------------------


def test_a_job_goes_to_its_types_queue_and_a_creator_may_choose_another(principals, sent):
    admin = principals["admin"]
    plain = create(admin)
    training = create(admin, queue="training", time_limit_seconds=90)
    assert sent.routes[plain] == ("default", False)
    assert sent.routes[training] == ("training", False)
    stored = read_job(training)
    assert (stored.queue, stored.gpus_required, stored.time_limit_seconds) == ("training", 0, 90)
    assert read_job(plain).time_limit_seconds == 6 * 3600, "the platform's default limit is written on the job"


def test_an_unknown_queue_is_refused_and_nothing_is_sent(principals, sent):
    with pytest.raises(AISystemError) as excinfo:
        create(principals["admin"], queue="nightly")
    assert excinfo.value.code == "REQ_001"
    assert excinfo.value.details["fields"] == [{"field": "queue", "message": "'nightly' is not one of default, training, inference"}]
    assert sent == []


def test_the_worker_command_serves_the_queues_it_is_given():
    from backend.cli import parse_queues, worker_command

    argv = worker_command("w", ["training", "inference"])
    assert argv[argv.index("-Q") + 1] == "aisystem.training,aisystem.inference"
    everything = worker_command("w")
    assert everything[everything.index("-Q") + 1] == "aisystem.default,aisystem.training,aisystem.inference"
    assert parse_queues(" inference , ") == ["inference"]
    with pytest.raises(SystemExit, match="unknown queue"):
        parse_queues("training,nightly")


def test_a_job_type_must_name_a_known_queue():
    with pytest.raises(ValueError, match="unknown queue 'gpu-farm'"):
        job_handler("test.misplaced", queue="gpu-farm")


# --- GPU needs -----------------------------------------------------------------------------------


def test_a_gpu_job_goes_to_the_gpu_twin_of_its_queue_and_says_what_it_waits_for(principals, sent):
    job_id = create(principals["admin"], queue="training", needs=Needs(gpus=1))
    assert sent.routes[job_id] == ("training", True)
    job = read_job(job_id)
    assert (job.status, job.gpus_required, job.message) == ("queued", 1, "waiting for a worker with a GPU")
    assert Needs(gpus=2, gpu_memory_mb=40960).describe() == "a worker with 2 GPUs of 40960 MB"


def test_a_cpu_worker_cannot_claim_a_gpu_job_and_a_gpu_worker_can(principals, sent):
    job_id = create(principals["admin"], needs=Needs(gpus=1, gpu_memory_mb=40000))
    assert claim(job_id, W1, CPU_ONLY) is None
    assert claim(job_id, W1, SMALL_GPU) is None, "15 GB is less than the 40 GB the job needs"
    waiting = read_job(job_id)
    assert (waiting.status, waiting.attempts, waiting.lease_owner) == ("queued", 0, None)
    job = claim(job_id, W2, ONE_H100)
    assert job is not None and (job.status, job.lease_owner, job.attempts) == ("running", W2, 1)
    assert job.message is None, "the waiting note goes once a worker took it"


@pytest.mark.parametrize(("gpus", "memory_mb", "fits"), [
    (2, 40000, False),  # only one of the two GPUs has 40 GB
    (2, 20000, True),
    (1, 80000, True),
    (3, 0, False),
])
def test_a_job_needing_several_gpus_needs_that_many_with_enough_memory_each(principals, sent, gpus, memory_mb, fits):
    two = WorkerDevices(gpus=(Gpu("A100", 81920), Gpu("L4", 23034)))
    assert two.satisfies(Needs(gpus=gpus, gpu_memory_mb=memory_mb)) is fits
    job_id = create(principals["admin"], needs=Needs(gpus=gpus, gpu_memory_mb=memory_mb))
    assert (claim(job_id, W1, two) is not None) is fits


def test_the_reaper_resends_a_waiting_gpu_job_without_using_its_attempts(principals, sent):
    job_id = create(principals["admin"], queue="training", needs=Needs(gpus=1))
    assert claim(job_id, W1, CPU_ONLY) is None
    set_columns(job_id, enqueued_at=utcnow() - timedelta(hours=1))
    sent.clear()
    assert reap()["requeued"] == 1
    assert sent == [job_id] and sent.routes[job_id] == ("training", True)
    job = read_job(job_id)
    assert (job.status, job.attempts, job.resends) == ("queued", 0, 1)


# --- checkpoints and resuming ----------------------------------------------------------------------


def test_only_the_lease_holder_saves_a_checkpoint(principals, sent):
    job_id = create(principals["admin"], payload={"durationSeconds": 4})
    claim(job_id, W1)
    with session_scope() as session:
        assert service.save_checkpoint(session=session, job_id=job_id, worker=W2, state={"step": 9}) is False
        assert service.save_checkpoint(session=session, job_id=job_id, worker=W1, state={"step": 2}) is True
    job = read_job(job_id)
    assert job.checkpoint == {"step": 2} and job.checkpointed_at is not None


def test_an_attempt_after_a_lost_worker_resumes_from_the_checkpoint(principals, sent, this_worker):
    job_id = create(principals["admin"], payload={"durationSeconds": 4})
    claim(job_id, W1)
    with session_scope() as session:
        service.save_checkpoint(session=session, job_id=job_id, worker=W1, state={"step": 3})
    set_columns(job_id, lease_expires_at=utcnow() - timedelta(seconds=1))  # W1 died
    assert reap()["requeued"] == 1
    assert "resumes from its last checkpoint" in read_job(job_id).message
    job_tasks.run_job(job_id)
    job = read_job(job_id)
    assert (job.status, job.attempts) == ("succeeded", 2)
    assert job.result["resumedFromStep"] == 3 and job.result["steps"] == 4
    assert job.checkpoint == {"step": 4}


def test_a_first_attempt_starts_from_scratch(principals, sent, this_worker):
    job_id = create(principals["admin"], payload={"durationSeconds": 2})
    job_tasks.run_job(job_id)
    job = read_job(job_id)
    assert job.status == "succeeded" and job.result["resumedFromStep"] == 0


def test_a_type_without_a_resume_hook_may_not_checkpoint(principals, sent):
    assert job_type("platform.statistics").resume is None and job_type("platform.selftest").resume is not None
    job_id = create(principals["admin"], type="platform.statistics")
    job = claim(job_id, W1)
    ctx = job_tasks.WorkerJobContext(job, W1, resumable=False)
    with pytest.raises(RuntimeError, match="no resume hook"):
        ctx.checkpoint({"step": 1})
    assert read_job(job_id).checkpoint is None


# --- time limits and error codes ----------------------------------------------------------------------


def test_a_job_past_its_time_limit_is_stopped_and_failed_with_job_003(principals, sent, this_worker):
    job_id = create(principals["admin"], payload={"durationSeconds": 30}, time_limit_seconds=1)
    started = time.monotonic()
    job_tasks.run_job(job_id)  # returns: the handler was stopped, the stop did not escape the task
    elapsed = time.monotonic() - started
    job = read_job(job_id)
    assert (job.status, job.error_code, job.lease_owner) == ("failed", "JOB_003", None)
    assert "time limit of 1 s" in job.error
    assert job.progress < 1.0 and elapsed < 10, f"the 30 s self-test ran {elapsed:.1f} s"
    time.sleep(0.3)  # a stop raised late would surface here, outside the task
    follow = create(principals["admin"], payload={"durationSeconds": 1})
    job_tasks.run_job(follow)
    assert read_job(follow).status == "succeeded"


def _run_with_handler(monkeypatch, principals, handler) -> str:
    """Run a self-test job whose handler is `handler`, with a 1 s time limit; returns its id."""
    from backend.core import tasks as registry

    original = registry.job_type("platform.selftest")
    monkeypatch.setitem(registry._REGISTRY, "platform.selftest",
                        registry.JobType(name=original.name, handler=handler, payload_model=original.payload_model))
    job_id = create(principals["admin"], time_limit_seconds=1)
    job_tasks.run_job(job_id)
    return job_id


def test_a_handler_that_never_reports_is_interrupted_after_the_grace_period(principals, sent, this_worker,
                                                                            monkeypatch):
    monkeypatch.setattr(job_tasks, "STOP_GRACE_SECONDS", 0.5)
    spins: list[int] = []

    def spins_forever(ctx):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # pure Python, no progress report: only an interrupt stops it
            spins.append(1)
            spins.clear()
        return {"finished": True}

    started = time.monotonic()
    job_id = _run_with_handler(monkeypatch, principals, spins_forever)
    assert time.monotonic() - started < 10
    assert (read_job(job_id).status, read_job(job_id).error_code) == ("failed", "JOB_003")


def test_an_interrupt_waits_until_the_handler_lets_the_writer_lock_go(tmp_path):
    """Interrupted while it waits for or holds SQLite's writer lock, a handler could leave the lock taken,
    and every later write on this machine would wait for it in vain: the interrupt waits for the release."""
    from backend.core.db import WriterLock

    lock = WriterLock(str(tmp_path / "db.sqlite"))
    holding, stopper_ready, done = threading.Event(), threading.Event(), threading.Event()
    seen: list[str] = []

    def handler() -> None:
        try:
            stopper = job_tasks._Stopper()
            assert lock.acquire(timeout=5)
            holding.set()
            stopper_ready.wait(5)
            threading.Thread(target=stopper.stop, args=(done,)).start()
            for _ in range(50):  # 0.5 s of bytecode while the lock is held: no interrupt may land here
                time.sleep(0.01)
            seen.append("held to the end")
            lock.release()
            for _ in range(500):
                time.sleep(0.01)
            seen.append("never interrupted")
        except job_tasks.JobTimedOut:
            seen.append("interrupted")

    thread = threading.Thread(target=handler)
    thread.start()
    assert holding.wait(5)
    stopper_ready.set()
    thread.join(10)
    done.set()
    assert seen == ["held to the end", "interrupted"]
    assert lock.acquire(timeout=0.5)  # and the lock is free
    lock.release()


def test_a_failing_handler_gets_job_004_and_a_domain_error_keeps_its_code(principals, sent, this_worker,
                                                                             monkeypatch):
    from backend.core import tasks as registry

    def refuses(ctx):
        raise AISystemError("DATA_004", "not enough rows")

    original = registry.job_type("platform.selftest")
    job_id = create(principals["admin"])
    with session_scope() as session:
        session.add(Job(id="job_unknowntype", type="training.run", created_by=principals["admin"].user_id,
                        enqueued_at=utcnow()))
    job_tasks.run_job("job_unknowntype")
    assert read_job("job_unknowntype").error_code == "JOB_004"
    monkeypatch.setitem(registry._REGISTRY, "platform.selftest",
                        registry.JobType(name=original.name, handler=refuses, payload_model=original.payload_model))
    job_tasks.run_job(job_id)
    assert (read_job(job_id).status, read_job(job_id).error_code) == ("failed", "DATA_004")


def test_a_job_whose_workers_keep_dying_fails_with_job_005(principals, sent):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    set_columns(job_id, attempts=3, max_attempts=3, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert reap()["failed"] == 1
    assert (read_job(job_id).status, read_job(job_id).error_code) == ("failed", "JOB_005")


# --- a domain told that its job aborted ---------------------------------------------------------------


@pytest.fixture
def abort_hook(monkeypatch) -> list[tuple[str, str]]:
    """The self-test's type with an abort hook that marks the job row (in the ending transaction) and
    notes (job id, status) the hook saw."""
    from dataclasses import replace

    from backend.core import tasks as registry

    seen: list[tuple[str, str]] = []

    def on_abort(session, job) -> None:  # noqa: ANN001
        seen.append((job.id, job.status))
        job.message = f"domain saw it {job.status}"
        session.add(job)

    original = registry.job_type("platform.selftest")
    monkeypatch.setitem(registry._REGISTRY, "platform.selftest", replace(original, on_abort=on_abort))
    return seen


def test_the_abort_hook_runs_whoever_ends_the_job_failed_or_cancelled(principals, sent, this_worker, abort_hook):
    admin = principals["admin"]
    queued = create(admin)
    with session_scope() as session:
        service.cancel_job(session=session, actor=admin, job_id=queued)
    over_time = create(admin, payload={"durationSeconds": 30}, time_limit_seconds=1)
    job_tasks.run_job(over_time)
    lost = create(admin)
    claim(lost, W1)
    set_columns(lost, attempts=3, max_attempts=3, lease_expires_at=utcnow() - timedelta(seconds=1))
    reap()
    fine = create(admin, payload={"durationSeconds": 1})
    job_tasks.run_job(fine)
    assert abort_hook == [(queued, "cancelled"), (over_time, "failed"), (lost, "failed")]
    for job_id, status in abort_hook:
        assert read_job(job_id).message == f"domain saw it {status}"  # committed with the ending
    assert read_job(fine).status == "succeeded"


def test_a_running_job_cancelled_by_its_handler_tells_the_domain(principals, sent, this_worker, abort_hook):
    admin = principals["admin"]
    job_id = create(admin, payload={"durationSeconds": 3})
    worker = threading.Thread(target=job_tasks.run_job, args=(job_id,))
    worker.start()
    wait_for_job(job_id, "running", timeout=10)
    with session_scope() as session:
        service.cancel_job(session=session, actor=admin, job_id=job_id)  # the self-test checks every step
    worker.join(timeout=10)
    job = read_job(job_id)
    assert job.status == "cancelled" and job.progress < 1.0
    assert abort_hook == [(job_id, "cancelled")]


def test_a_failing_abort_hook_never_keeps_the_job_from_ending(principals, sent, this_worker, monkeypatch):
    from dataclasses import replace

    from backend.core import tasks as registry

    def broken(session, job) -> None:  # noqa: ANN001
        job.message = "half-written"
        session.flush()
        raise RuntimeError("the domain's hook is broken")

    original = registry.job_type("platform.selftest")
    monkeypatch.setitem(registry._REGISTRY, "platform.selftest", replace(original, on_abort=broken))
    job_id = create(principals["admin"])
    claim(job_id, W1)
    set_columns(job_id, attempts=3, max_attempts=3, lease_expires_at=utcnow() - timedelta(seconds=1))
    assert reap()["failed"] == 1
    job = read_job(job_id)
    assert (job.status, job.error_code) == ("failed", "JOB_005")
    assert job.message != "half-written"  # the hook's savepoint was undone


# --- devices ----------------------------------------------------------------------------------------


def test_the_heartbeat_records_queues_and_devices(db_backend):
    with session_scope() as session:
        service.beat(session=session, name="gpu-box:7", devices=ONE_H100, queues=["training", "inference"])
    with session_scope(write=False) as session:
        row = session.get(WorkerHeartbeat, "gpu-box:7")
        assert row.queues == ["training", "inference"]
        assert row.devices == {"cpuCount": 16, "memoryMb": 131072, "source": "detected",
                               "gpus": [{"name": "NVIDIA H100", "memoryMb": 81559}]}
        assert (row.gpu_count, row.gpu_names) == (1, ["NVIDIA H100"])
    assert WorkerDevices.from_dict(row.devices) == ONE_H100


def test_detected_devices_count_this_hosts_cpus_and_memory_and_ask_torch_for_gpus(monkeypatch):
    monkeypatch.delenv("AISYSTEM_WORKER_DEVICES_OVERRIDE", raising=False)
    reset_settings()
    devices = detect_devices()
    assert devices.source == "detected"
    assert devices.cpu_count >= 1 and devices.memory_mb > 256
    import torch

    expected = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert len(devices.gpus) == expected


def test_the_device_override_is_marked_as_one_and_must_be_valid(monkeypatch):
    monkeypatch.setenv("AISYSTEM_WORKER_DEVICES_OVERRIDE", json.dumps({"gpus": [{"name": "test GPU", "memoryMb": 24576}]}))
    reset_settings()
    try:
        devices = detect_devices()
        assert devices.source == "override" and devices.gpus == (Gpu("test GPU", 24576),)
        assert devices.cpu_count >= 1, "CPUs and memory stay this host's"
        monkeypatch.setenv("AISYSTEM_WORKER_DEVICES_OVERRIDE", '{"gpus": [{"memoryMb": 1}]}')
        reset_settings()
        with pytest.raises(ValueError, match="AISYSTEM_WORKER_DEVICES_OVERRIDE"):
            detect_devices()
    finally:
        monkeypatch.delenv("AISYSTEM_WORKER_DEVICES_OVERRIDE")
        reset_settings()


# --- over the API ----------------------------------------------------------------------------------


def test_an_admin_sends_a_selftest_to_the_gpu_workers_of_a_queue(api, auth, sent):
    response = api.post("/api/v1/jobs", headers=auth.headers("admin"), json={
        "type": "platform.selftest", "queue": "training", "gpus": 1, "gpuMemoryMb": 16000, "timeLimitSeconds": 60})
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["queue"], body["gpusRequired"], body["gpuMemoryMbRequired"], body["timeLimitSeconds"]) == (
        "training", 1, 16000, 60)
    assert body["message"] == "waiting for a worker with a GPU of 16000 MB"
    assert body["errorCode"] is None and body["checkpointedAt"] is None
    assert sent.routes[body["id"]] == ("training", True)


@pytest.mark.parametrize("change", [{"queue": "nightly"}, {"gpus": -1}, {"timeLimitSeconds": 0}])
def test_a_bad_placement_is_refused_with_req_001(api, auth, sent, change):
    response = api.post("/api/v1/jobs", headers=auth.headers("admin"), json={"type": "platform.selftest", **change})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "REQ_001"
    assert sent == []
