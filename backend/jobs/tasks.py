"""Celery entry point for every job type, the worker's heartbeat/reaper thread, and the platform jobs."""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from contextlib import contextmanager
from typing import Any

from celery import shared_task
from celery.signals import celeryd_after_setup, worker_process_shutdown, worker_ready, worker_shutdown
from pydantic import Field
from sqlalchemy import func
from sqlmodel import select

from backend.audit.checkpoint import flush_checkpoint
from backend.core import artifacts
from backend.core.celery_app import RUN_JOB_TASK, broker_queue, purge_consumed_messages
from backend.core.config import get_settings
from backend.core.db import session_scope, thread_is_writing
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.schemas import InputModel
from backend.core.tasks import QUEUES, job_handler, job_type, periodic, periodic_tasks
from backend.jobs import sender
from backend.jobs import service as jobs_service
from backend.jobs.devices import WorkerDevices, detect_devices
from backend.jobs.models import PlatformSnapshot

log = logging.getLogger(__name__)


class JobTimedOut(BaseException):
    """Raised inside a handler that ran past its time limit. A BaseException, so that a handler's
    `except Exception` does not swallow it (its open transaction still rolls back)."""


class WorkerJobContext:
    """What a handler sees: its payload, progress reporting, cancellation, checkpoints and the final
    transaction."""

    def __init__(self, job, worker: str, *, resumable: bool = False):  # noqa: ANN001
        self.job_id = job.id
        self.payload = dict(job.payload or {})
        self.created_by = job.created_by
        self.attempt = job.attempts
        self.worker = worker
        self.time_limit_seconds = job.time_limit_seconds or get_settings().job_time_limit_seconds
        self.resumable = resumable
        # The state the last attempt saved; the type's resume hook gets it instead of a fresh start.
        self.resume_state: dict[str, Any] | None = dict(job.checkpoint) if resumable and job.checkpoint else None
        self.result: dict[str, Any] | None = None
        self.finished = False
        self.lease_lost = threading.Event()
        self.timed_out = threading.Event()

    def _stop_if_timed_out(self) -> None:
        # A clean stop: nothing is open at this point, so nothing is left half done.
        if self.timed_out.is_set():
            raise JobTimedOut()

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Save the progress a later attempt resumes from if this worker is lost (JSON values)."""
        if not self.resumable:
            raise RuntimeError(f"job {self.job_id}: its type has no resume hook, so nothing would read a checkpoint")
        self._stop_if_timed_out()
        with session_scope() as session:
            if not jobs_service.save_checkpoint(session=session, job_id=self.job_id, worker=self.worker,
                                                state=state):
                self.lease_lost.set()

    def progress(self, fraction: float, message: str | None = None) -> None:
        self._stop_if_timed_out()
        with session_scope() as session:
            if not jobs_service.report_progress(session=session, job_id=self.job_id, worker=self.worker,
                                                fraction=fraction, message=message):
                self.lease_lost.set()

    def cancelled(self) -> bool:
        self._stop_if_timed_out()
        with session_scope(write=False) as session:
            return jobs_service.is_cancel_requested(session=session, job_id=self.job_id)

    def stop_if_cancelled(self) -> bool:
        """End the job cancelled when someone asked for it (the handler then returns at once)."""
        if not self.cancelled():
            return False
        with session_scope() as session:
            jobs_service.finish_job(session=session, job_id=self.job_id, worker=self.worker, status="cancelled")
        self.finished = True
        return True

    @contextmanager
    def finishing_transaction(self):
        """The handler's last writes and the job's success commit together, or not at all."""
        with session_scope() as session:
            yield session
            jobs_service.finish_job(session=session, job_id=self.job_id, worker=self.worker,
                                    status="succeeded", result=self.result)
        self.finished = True


# How long a handler past its time limit has to reach its next progress report, checkpoint or
# cancellation check (where it stops cleanly) before it is interrupted wherever it is.
STOP_GRACE_SECONDS = 10.0


class _Stopper:
    """Raises JobTimedOut in the thread running a handler, only while the handler runs, and never while
    that thread waits for or holds the SQLite writer lock (it would stay taken: see `thread_is_writing`)."""

    def __init__(self) -> None:
        self._thread_id = threading.get_ident()
        self._lock = threading.Lock()
        self._armed = True

    def stop(self, done: threading.Event) -> None:
        """Interrupt the handler at the first moment it holds no writer lock (unless `done` first)."""
        while not done.is_set():
            with self._lock:
                if not self._armed:
                    return
                if not thread_is_writing(self._thread_id):
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id),
                                                               ctypes.py_object(JobTimedOut))
                    return
            done.wait(0.01)

    def disarm(self) -> None:
        """The handler is done: never raise afterwards, and drop a JobTimedOut not raised yet."""
        with self._lock:
            self._armed = False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread_id), None)


def _stop_over_time(ctx: WorkerJobContext, stop: threading.Event, stopper: _Stopper) -> None:
    """Fail the job with JOB_003, then stop its handler: at its next progress report, checkpoint or
    cancellation check, or failing that, interrupted after a grace period (unless it finished first)."""
    try:
        with session_scope() as session:
            jobs_service.finish_job(session=session, job_id=ctx.job_id, worker=ctx.worker, status="failed",
                                    error=f"stopped after its time limit of {ctx.time_limit_seconds} s",
                                    error_code="JOB_003")
    except jobs_service.LeaseLost:
        return
    ctx.lease_lost.set()
    ctx.timed_out.set()
    log.warning("job %s ran past its time limit of %s s; stopping it", ctx.job_id, ctx.time_limit_seconds)
    if not stop.wait(STOP_GRACE_SECONDS):  # the handler did not come to a stop by itself
        log.warning("job %s did not stop within %.0f s; interrupting it", ctx.job_id, STOP_GRACE_SECONDS)
        stopper.stop(stop)


def _keep_lease(ctx: WorkerJobContext, stop: threading.Event, stopper: _Stopper) -> None:
    """Renew the lease until the handler ends; stop the job once it passes its time limit."""
    interval = max(0.5, get_settings().job_lease_seconds / 3)
    deadline = time.monotonic() + ctx.time_limit_seconds
    while not stop.wait(max(0.0, min(interval, deadline - time.monotonic()))):
        if time.monotonic() >= deadline:
            _stop_over_time(ctx, stop, stopper)
            return
        try:
            with session_scope() as session:
                if not jobs_service.renew_lease(session=session, job_id=ctx.job_id, worker=ctx.worker):
                    ctx.lease_lost.set()
                    return
        except Exception:
            log.warning("lease renewal of %s failed; will retry", ctx.job_id, exc_info=True)


@shared_task(name=RUN_JOB_TASK, ignore_result=True)
def run_job(job_id: str) -> None:
    """Run one job exactly once: claim it, keep its lease alive, record the outcome."""
    worker = jobs_service.worker_name()
    with session_scope() as session:
        job = jobs_service.claim_job(session=session, job_id=job_id, worker=worker, devices=worker_devices())
    if job is None:
        log.info("job %s is not queued (duplicate delivery, finished, or needs GPUs this worker lacks)", job_id)
        return
    registered = job_type(job.type)
    ctx = WorkerJobContext(job, worker, resumable=registered is not None and registered.resume is not None)
    stop, stopper = threading.Event(), _Stopper()
    keeper = threading.Thread(target=_keep_lease, args=(ctx, stop, stopper), daemon=True, name=f"lease-{job_id}")
    keeper.start()
    try:
        try:
            result = _run_handler(registered, ctx, job.type)
            if not ctx.finished:
                ctx.result = result if result is not None else ctx.result
                with ctx.finishing_transaction():
                    pass
        finally:
            stopper.disarm()
    except JobTimedOut:
        log.warning("job %s was stopped at its time limit", job_id)
    except jobs_service.LeaseLost:
        log.warning("job %s: lease lost; another attempt owns it now", job_id)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _record_failure(job_id, worker, exc)
    finally:
        stop.set()
        keeper.join(timeout=5)


def _run_handler(registered, ctx: WorkerJobContext, type_name: str) -> dict[str, Any] | None:  # noqa: ANN001
    if registered is None:
        raise RuntimeError(f"this worker does not know the job type '{type_name}'")
    if ctx.resume_state is not None:
        log.info("job %s resumes from its checkpoint (attempt %s)", ctx.job_id, ctx.attempt)
        return registered.resume(ctx, ctx.resume_state)
    return registered.handler(ctx)


def _record_failure(job_id: str, worker: str, exc: Exception) -> None:
    try:
        with session_scope() as session:
            jobs_service.finish_job(session=session, job_id=job_id, worker=worker, status="failed",
                                    error=f"{type(exc).__name__}: {exc}",
                                    error_code=exc.code if isinstance(exc, AISystemError) else None)
    except jobs_service.LeaseLost:
        log.warning("job %s failed after losing its lease", job_id)


# --- the worker's housekeeping thread ------------------------------------------------------------

_housekeeping_stop = threading.Event()
# What this worker process has and serves, found once (torch is slow to import).
_this_worker: dict[str, Any] = {}


def worker_devices() -> WorkerDevices:
    """This process's devices (detected on first use, or taken from the test override)."""
    if "devices" not in _this_worker:
        _this_worker["devices"] = detect_devices()
    return _this_worker["devices"]


def served_queues() -> list[str]:
    """The job queues this worker consumes (all of them outside a Celery worker)."""
    return _this_worker.get("queues", list(QUEUES))


@celeryd_after_setup.connect
def _serve_gpu_queues(sender, instance, **_kwargs) -> None:  # noqa: ANN001
    """Note the queues chosen with `-Q`; a worker with a GPU also consumes their `.gpu` twins."""
    queues = instance.app.amqp.queues
    served = [queue for queue in QUEUES if broker_queue(queue) in queues.consume_from]
    _this_worker["queues"] = served
    if worker_devices().gpus:
        for queue in served:
            queues.select_add(broker_queue(queue, gpu=True))
    log.info("serving queues %s with %s", served, worker_devices().as_dict())


def housekeeping_loop(name: str, stop: threading.Event) -> None:
    """Heartbeat every few seconds; reap lost jobs every `reaper_interval_seconds`; run the periodic
    tasks when due."""
    settings = get_settings()
    devices, queues = worker_devices(), served_queues()
    next_reap = 0.0
    due_at: dict[str, float] = {}
    while True:
        try:
            with session_scope() as session:
                jobs_service.beat(session=session, name=name, devices=devices, queues=queues)
            if time.monotonic() >= next_reap:
                with session_scope() as session:
                    outcome = jobs_service.reap(session=session)
                if any(outcome.values()):
                    log.info("reaper: %s", outcome)
                purge_consumed_messages()
                next_reap = time.monotonic() + settings.reaper_interval_seconds
            run_due_periodic_tasks(due_at)
        except Exception:
            log.warning("housekeeping failed; retrying", exc_info=True)
        if stop.wait(min(settings.worker_heartbeat_seconds, settings.reaper_interval_seconds)):
            return


def run_due_periodic_tasks(due_at: dict[str, float]) -> list[str]:
    """Run each periodic task whose time has come, each in its own transaction, and note when it is
    due next in `due_at` (a failure waits for the next turn too); returns the names that ran."""
    ran = []
    for task in periodic_tasks():
        now = time.monotonic()
        if now < due_at.get(task.name, 0.0):
            continue
        due_at[task.name] = now + task.every_seconds
        try:
            with session_scope() as session:
                outcome = task.run(session)
            ran.append(task.name)
            if outcome:
                log.info("%s: %s", task.name, outcome)
        except Exception:
            log.warning("periodic task %s failed; it runs again in %.0f s", task.name, task.every_seconds,
                        exc_info=True)
    return ran


@worker_ready.connect
def _start_housekeeping(**_kwargs) -> None:
    name = jobs_service.worker_name()
    threading.Thread(target=housekeeping_loop, args=(name, _housekeeping_stop), daemon=True,
                     name="aisystem-housekeeping").start()
    from backend import domains

    for hook in domains.hooks("worker_started"):
        try:
            hook(served_queues())
        except Exception:
            log.warning("a worker_started hook failed", exc_info=True)


@worker_shutdown.connect
def _stop_housekeeping(**_kwargs) -> None:
    _housekeeping_stop.set()
    _flush_after_commit_work()


@worker_process_shutdown.connect
def _flush_after_commit_work(**_kwargs) -> None:
    """Hand over what commits left for background threads (job sends, the audit checkpoint) before the
    process ends: a pool process ends without running `atexit`."""
    sender.flush()
    flush_checkpoint()


# --- platform jobs -------------------------------------------------------------------------------

class StatisticsPayload(InputModel):
    """No parameters."""


class SelftestPayload(InputModel):
    duration_seconds: float = Field(default=1.0, ge=0, le=120, description="How long the self-test runs")


@job_handler("platform.statistics", description="Recompute catalog statistics into a snapshot",
             payload_model=StatisticsPayload)
def recompute_statistics(ctx) -> dict:  # noqa: ANN001
    """Count what the platform holds and store it as a snapshot row (one per job)."""
    from backend.platform_stats.service import catalog_counts

    ctx.progress(0.1, "counting")
    with ctx.finishing_transaction() as session:
        figures = catalog_counts(session=session)
        session.add(PlatformSnapshot(id=new_id("snap"), job_id=ctx.job_id, figures=figures))
        ctx.result = {"figures": figures}
    return ctx.result


def _selftest_from(ctx, first_step: int) -> dict:  # noqa: ANN001
    """The self-test's steps from `first_step` on, saving a checkpoint after each one."""
    duration = float(ctx.payload.get("durationSeconds", 1))
    steps = max(1, int(duration))
    started = time.monotonic()
    for step in range(first_step, steps):
        if ctx.stop_if_cancelled():
            return {"cancelledAtStep": step}
        time.sleep(duration / steps)
        ctx.progress((step + 1) / steps, f"step {step + 1} of {steps}")
        ctx.checkpoint({"step": step + 1})
    with session_scope(write=False) as session:
        snapshots = session.exec(select(func.count()).select_from(PlatformSnapshot)).one()
    return {"steps": steps, "seconds": round(time.monotonic() - started, 3), "worker": ctx.worker,
            "attempt": ctx.attempt, "snapshots": snapshots, "resumedFromStep": first_step}


def resume_selftest(ctx, state: dict) -> dict:  # noqa: ANN001
    """A later attempt goes on from the step after the last one the lost worker finished."""
    return _selftest_from(ctx, int(state.get("step", 0)))


@job_handler("platform.selftest", description="Exercise a worker: progress, heartbeat, cancellation, resuming",
             payload_model=SelftestPayload, resume=resume_selftest)
def selftest(ctx) -> dict:  # noqa: ANN001
    """Run for `durationSeconds` (≤ 120), reporting progress each second; proves the round trip."""
    return _selftest_from(ctx, 0)


# --- leftovers ------------------------------------------------------------------------------------

LEFTOVER_SWEEP_SECONDS = 3600
LEFTOVER_MAX_AGE_SECONDS = 6 * 3600  # an upload or a parse in progress writes far more often than this


@periodic("platform.sweep_leftovers", every_seconds=LEFTOVER_SWEEP_SECONDS)
def sweep_leftovers(_session) -> dict[str, int] | None:  # noqa: ANN001
    """Remove the upload spools and scratch folders a killed process left on this host (`serve` does it
    at start too). Safe on several workers at once: a file already gone is skipped."""
    removed = artifacts.sweep_leftovers(max_age_seconds=LEFTOVER_MAX_AGE_SECONDS)
    return {"removed": removed} if removed else None
