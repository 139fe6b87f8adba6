"""Celery entry point for every job type, the worker's heartbeat/reaper thread, and the platform jobs."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown
from pydantic import Field
from sqlalchemy import func
from sqlmodel import select

from backend.core.celery_app import RUN_JOB_TASK, purge_consumed_messages
from backend.core.config import get_settings
from backend.core.db import session_scope
from backend.core.ids import new_id
from backend.core.schemas import InputModel
from backend.core.tasks import job_handler, job_type, periodic_tasks
from backend.jobs import service as jobs_service
from backend.jobs.models import PlatformSnapshot

log = logging.getLogger(__name__)


class WorkerJobContext:
    """What a handler sees: its payload, progress reporting, cancellation and the final transaction."""

    def __init__(self, job, worker: str):  # noqa: ANN001
        self.job_id = job.id
        self.payload = dict(job.payload or {})
        self.created_by = job.created_by
        self.attempt = job.attempts
        self.worker = worker
        self.result: dict[str, Any] | None = None
        self.finished = False
        self.lease_lost = threading.Event()

    def progress(self, fraction: float, message: str | None = None) -> None:
        with session_scope() as session:
            if not jobs_service.report_progress(session=session, job_id=self.job_id, worker=self.worker,
                                                fraction=fraction, message=message):
                self.lease_lost.set()

    def cancelled(self) -> bool:
        with session_scope(write=False) as session:
            return jobs_service.is_cancel_requested(session=session, job_id=self.job_id)

    @contextmanager
    def finishing_transaction(self):
        """The handler's last writes and the job's success commit together, or not at all."""
        with session_scope() as session:
            yield session
            jobs_service.finish_job(session=session, job_id=self.job_id, worker=self.worker,
                                    status="succeeded", result=self.result)
        self.finished = True


def _keep_lease(ctx: WorkerJobContext, stop: threading.Event) -> None:
    interval = max(0.5, get_settings().job_lease_seconds / 3)
    while not stop.wait(interval):
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
        job = jobs_service.claim_job(session=session, job_id=job_id, worker=worker)
    if job is None:
        log.info("job %s is not queued (duplicate delivery or finished); nothing to do", job_id)
        return
    registered = job_type(job.type)
    ctx = WorkerJobContext(job, worker)
    stop = threading.Event()
    keeper = threading.Thread(target=_keep_lease, args=(ctx, stop), daemon=True, name=f"lease-{job_id}")
    keeper.start()
    try:
        if registered is None:
            raise RuntimeError(f"this worker does not know the job type '{job.type}'")
        result = registered.handler(ctx)
        if not ctx.finished:
            ctx.result = result if result is not None else ctx.result
            with ctx.finishing_transaction():
                pass
    except jobs_service.LeaseLost:
        log.warning("job %s: lease lost; another attempt owns it now", job_id)
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _record_failure(job_id, worker, exc)
    finally:
        stop.set()
        keeper.join(timeout=5)


def _record_failure(job_id: str, worker: str, exc: Exception) -> None:
    try:
        with session_scope() as session:
            jobs_service.finish_job(session=session, job_id=job_id, worker=worker, status="failed",
                                    error=f"{type(exc).__name__}: {exc}")
    except jobs_service.LeaseLost:
        log.warning("job %s failed after losing its lease", job_id)


# --- the worker's housekeeping thread ------------------------------------------------------------

_housekeeping_stop = threading.Event()


def gpu_names() -> list[str]:
    try:
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:  # a broken CUDA install must not stop the worker
        log.warning("could not query GPUs", exc_info=True)
    return []


def housekeeping_loop(name: str, stop: threading.Event) -> None:
    """Heartbeat every few seconds; reap lost jobs every `reaper_interval_seconds`; run the periodic
    tasks when due."""
    settings = get_settings()
    gpus = gpu_names()
    next_reap = 0.0
    due_at: dict[str, float] = {}
    while True:
        try:
            with session_scope() as session:
                jobs_service.beat(session=session, name=name, gpu_names=gpus)
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


@worker_shutdown.connect
def _stop_housekeeping(**_kwargs) -> None:
    _housekeeping_stop.set()


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


@job_handler("platform.selftest", description="Exercise a worker: progress, heartbeat, cancellation",
             payload_model=SelftestPayload)
def selftest(ctx) -> dict:  # noqa: ANN001
    """Run for `durationSeconds` (≤ 120), reporting progress each second; proves the round trip."""
    duration = float(ctx.payload.get("durationSeconds", 1))
    steps = max(1, int(duration))
    started = time.monotonic()
    for step in range(steps):
        if ctx.cancelled():
            with session_scope() as session:
                jobs_service.finish_job(session=session, job_id=ctx.job_id, worker=ctx.worker, status="cancelled")
            ctx.finished = True
            return {"cancelledAtStep": step}
        time.sleep(duration / steps)
        ctx.progress((step + 1) / steps, f"step {step + 1} of {steps}")
    with session_scope(write=False) as session:
        snapshots = session.exec(select(func.count()).select_from(PlatformSnapshot)).one()
    return {"steps": steps, "seconds": round(time.monotonic() - started, 3), "worker": ctx.worker,
            "attempt": ctx.attempt, "snapshots": snapshots}
