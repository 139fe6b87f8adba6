"""Job lifecycle: create → claim (lease) → heartbeat → finish; the reaper recovers lost work.

A job is claimed with a conditional UPDATE, so a duplicate delivery of a job that is already
running or finished does nothing, and a worker without the GPUs the job needs cannot take it. A
running job holds a lease it renews; when a worker dies the lease expires and the reaper puts the
job back in its queue (up to `max_attempts`), or fails it. A job that saved a checkpoint resumes
from it on the next attempt when its type has a resume hook.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.celery_app import send_job
from backend.core.config import get_settings
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.tasks import QUEUES, Needs, job_type
from backend.core.timeutil import utcnow
from backend.core.unit_of_work import after_commit
from backend.jobs import sender
from backend.jobs.devices import CPU_ONLY, WorkerDevices
from backend.jobs.models import FINISHED, Job, WorkerHeartbeat

log = logging.getLogger(__name__)


class LeaseLost(RuntimeError):
    """This worker no longer owns the job (it was reaped or finished elsewhere)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- creating and reading ----------------------------------------------------------------------


def create_job(
    *, session: Session, actor: Principal, type: str, payload: dict[str, Any] | None = None,  # noqa: A002
    queue: str | None = None, needs: Needs | None = None, time_limit_seconds: int | None = None,
) -> Job:
    """Queue a job of a registered type; it is sent to its queue once the transaction commits.

    Every signed-in user may own jobs (`job:write`): a domain queues one as part of an action it has
    authorized itself (a dataset analysis needs `dataset:write`). Starting one by hand is `start_job`.
    `queue`, `needs` and `time_limit_seconds` replace the type's own for this job (a training run
    asking for the GPUs its user chose).
    """
    authorize(actor, "job:write")
    registered = job_type(type)
    if registered is None:
        raise InvalidRequest("Unknown job type", {"type": f"'{type}' is not a registered job type"})
    if registered.payload_model is not None:
        payload = validated_payload(registered.payload_model, payload or {})
    queue = queue or registered.queue
    if queue not in QUEUES:
        raise InvalidRequest("Unknown queue", {"queue": f"'{queue}' is not one of {', '.join(QUEUES)}"})
    needs = needs or registered.needs
    now = utcnow()
    job = Job(
        id=new_id("job"),
        type=type,
        payload=payload or {},
        max_attempts=registered.max_attempts or get_settings().job_max_attempts,
        queue=queue,
        gpus_required=needs.gpus,
        gpu_memory_mb_required=needs.gpu_memory_mb,
        time_limit_seconds=time_limit_seconds or registered.time_limit_seconds or get_settings().job_time_limit_seconds,
        message=waiting_message(needs),
        created_by=actor.user_id,
        enqueued_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    audit.record(session=session, actor=actor, action="job.create", entity_type="job", entity_id=job.id,
                 summary={"type": type, "queue": queue, "gpus": needs.gpus})
    send_after_commit(session, job)
    return job


def start_job(
    *, session: Session, actor: Principal, type: str, payload: dict[str, Any] | None = None,  # noqa: A002
    queue: str | None = None, needs: Needs | None = None, time_limit_seconds: int | None = None,
) -> Job:
    """Start a job of any registered type by hand (the jobs route: maintenance work, `job:create`)."""
    authorize(actor, "job:create")
    return create_job(session=session, actor=actor, type=type, payload=payload, queue=queue, needs=needs,
                      time_limit_seconds=time_limit_seconds)


def needs_of(job: Job) -> Needs:
    return Needs(gpus=job.gpus_required, gpu_memory_mb=job.gpu_memory_mb_required)


def waiting_message(needs: Needs) -> str | None:
    """What a queued job that needs a GPU tells its reader until a worker with one claims it."""
    return f"waiting for {needs.describe()}" if needs.gpus else None


def send_after_commit(session: Session, job: Job) -> None:
    """Send the job to its queue once the transaction commits (values read now: the row expires).

    The send itself happens on the sender thread (`backend.jobs.sender`), off the request path; the
    committed row is the guarantee, and the reaper re-sends a job whose message never arrived."""
    job_id, queue, gpu = job.id, job.queue, job.gpus_required > 0
    after_commit(session, lambda: sender.submit(job_id, lambda: send_job(job_id, queue=queue, gpu=gpu)))


def validated_payload(model: type[BaseModel], payload: dict[str, Any]) -> dict[str, Any]:
    """The payload checked against the job type's model (REQ_001 naming each bad field)."""
    try:
        return model.model_validate(payload).model_dump(by_alias=True)
    except ValidationError as exc:
        fields = {".".join(str(p) for p in ("payload", *err["loc"])): err["msg"] for err in exc.errors()}
        raise InvalidRequest("The job payload is invalid", fields) from exc


def get_job(*, session: Session, actor: Principal, job_id: str) -> Job:
    """The job, if it exists and the actor started it (admins see all)."""
    job = _visible_job(session, actor, job_id)
    authorize(actor, "job:read", job)
    return job


def _visible_job(session: Session, actor: Principal, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None or (job.created_by != actor.user_id and not actor.is_admin):
        raise AISystemError("JOB_001", "No such job", {"jobId": job_id})
    return job


def list_jobs(
    *, session: Session, actor: Principal, params: PageParams, status: str | None = None, type: str | None = None  # noqa: A002
) -> tuple[list[Job], str | None]:
    authorize(actor, "job:read")
    query = select(Job)
    if not actor.is_admin:
        query = query.where(Job.created_by == actor.user_id)
    if status:
        query = query.where(Job.status == status)
    if type:
        query = query.where(Job.type == type)
    return paginate(session, query, params=params, order=[Job.id], descending=True)


def cancel_job(*, session: Session, actor: Principal, job_id: str) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next check."""
    job = _visible_job(session, actor, job_id)
    authorize(actor, "job:write", job)
    if job.status in FINISHED:
        raise AISystemError("JOB_002", f"The job is already {job.status}", {"status": job.status})
    now = utcnow()
    if job.status == "queued":
        job.status, job.finished_at, job.message = "cancelled", now, "cancelled before it started"
        run_abort_hook(session, job)
    else:
        job.cancel_requested = True
    job.updated_at = now
    session.add(job)
    audit.record(session=session, actor=actor, action="job.cancel", entity_type="job", entity_id=job.id,
                 summary={"status": job.status})
    return job


def count_by_status(*, session: Session) -> dict[str, int]:
    return dict(session.exec(select(Job.status, func.count()).group_by(Job.status)).all())


# --- the worker's side -------------------------------------------------------------------------


def _lease_until():
    return utcnow() + timedelta(seconds=get_settings().job_lease_seconds)


def _fits(devices: WorkerDevices):
    """SQL: the job needs no GPU, or at most k GPUs of at most the k-th largest memory this worker has."""
    memories = sorted((gpu.memory_mb for gpu in devices.gpus), reverse=True)
    return or_(col(Job.gpus_required) <= 0, *(
        and_(col(Job.gpus_required) <= k, col(Job.gpu_memory_mb_required) <= memory)
        for k, memory in enumerate(memories, start=1)
    ))


def claim_job(*, session: Session, job_id: str, worker: str, devices: WorkerDevices = CPU_ONLY) -> Job | None:
    """Take the job if it is queued and `devices` meet its needs; None for a duplicate delivery, a
    finished job or one that needs GPUs this worker lacks (it stays queued for a worker that has them)."""
    now = utcnow()
    claimed = session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == "queued", col(Job.cancel_requested).is_(False),
               _fits(devices))
        .values(
            status="running", lease_owner=worker, lease_expires_at=_lease_until(), attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now), updated_at=now, message=None,
        )
    ).rowcount
    if claimed != 1:
        return None
    session.flush()
    job = session.get(Job, job_id)
    session.refresh(job)
    return job


def renew_lease(*, session: Session, job_id: str, worker: str) -> bool:
    """Extend the lease; False means this worker lost the job."""
    return session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.lease_owner) == worker, col(Job.status) == "running")
        .values(lease_expires_at=_lease_until(), updated_at=utcnow())
    ).rowcount == 1


def report_progress(*, session: Session, job_id: str, worker: str, fraction: float, message: str | None) -> bool:
    return session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.lease_owner) == worker, col(Job.status) == "running")
        .values(progress=max(0.0, min(1.0, fraction)), message=(message or None) and message[:500],
                lease_expires_at=_lease_until(), updated_at=utcnow())
    ).rowcount == 1


def save_checkpoint(*, session: Session, job_id: str, worker: str, state: dict[str, Any]) -> bool:
    """Keep the state a later attempt resumes from; False means this worker lost the job."""
    now = utcnow()
    return session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.lease_owner) == worker, col(Job.status) == "running")
        .values(checkpoint=state, checkpointed_at=now, lease_expires_at=_lease_until(), updated_at=now)
    ).rowcount == 1


def is_cancel_requested(*, session: Session, job_id: str) -> bool:
    return bool(session.exec(select(Job.cancel_requested).where(Job.id == job_id)).first())


ABORTED = ("failed", "cancelled")


def run_abort_hook(session: Session, job: Job) -> None:
    """Tell the job's domain that its job ended failed or cancelled (its type's `on_abort`), in the
    transaction that ends it. In a savepoint: a hook that fails is logged and undone, and never keeps
    the job itself from ending (the reaper ends many jobs in one transaction)."""
    registered = job_type(job.type)
    if registered is None or registered.on_abort is None:
        return
    try:
        with session.begin_nested():
            registered.on_abort(session, job)
    except Exception:
        log.exception("the abort hook of job type %s failed for job %s", job.type, job.id)


def finish_job(
    *, session: Session, job_id: str, worker: str, status: str, result: dict | None = None, error: str | None = None,
    error_code: str | None = None,
) -> None:
    """Record the outcome, only if this worker still holds the lease (else LeaseLost: roll back).
    A failure without a code of its own gets JOB_004."""
    now = utcnow()
    if status == "failed":
        error_code = error_code or "JOB_004"
    done = session.exec(
        update(Job)
        .where(col(Job.id) == job_id, col(Job.lease_owner) == worker, col(Job.status) == "running")
        .values(status=status, result=result, error=error and error[:2000], error_code=error_code,
                finished_at=now, updated_at=now,
                progress=1.0 if status == "succeeded" else Job.progress, lease_owner=None, lease_expires_at=None)
    ).rowcount
    if done != 1:
        raise LeaseLost(job_id)
    job = session.get(Job, job_id, populate_existing=True)
    if job is not None and status in ABORTED:
        run_abort_hook(session, job)
    actor = Principal(user_id=job.created_by or "system", username="worker", role="system",
                      credential_id=_audit_credential(worker), credential_type="system") if job else None
    audit.record(session=session, actor=actor, action=f"job.{'completed' if status == 'succeeded' else status}",
                 entity_type="job", entity_id=job_id, outcome="success" if status == "succeeded" else "failure",
                 summary={"type": job.type if job else None, "attempts": job.attempts if job else None,
                          "worker": worker, "error": error, "errorCode": error_code})


_AUDIT_CREDENTIAL_MAX = 64  # governance_audit_record.credential_id


def _audit_credential(worker: str) -> str:
    """The worker name cut to the audit column, keeping the pid: a pod hostname (63 chars) plus
    `:pid` overflows it, and PostgreSQL then refused every job completion (the full name is in the summary)."""
    if len(worker) <= _AUDIT_CREDENTIAL_MAX:
        return worker
    host, _, pid = worker.rpartition(":")
    return f"{host[: _AUDIT_CREDENTIAL_MAX - len(pid) - 2]}…:{pid}"[-_AUDIT_CREDENTIAL_MAX:]


def reap(*, session: Session) -> dict[str, int]:
    """Recover lost work: re-queue (or fail) jobs whose lease expired, re-send stale queued jobs."""
    settings = get_settings()
    now = utcnow()
    expired = session.exec(
        select(Job).where(Job.status == "running", col(Job.lease_expires_at) < now).with_for_update(skip_locked=True)
    ).all()
    requeued, failed = [], 0
    for job in expired:
        if job.attempts >= job.max_attempts:
            job.status, job.finished_at, job.error_code = "failed", now, "JOB_005"
            job.error = f"worker lost: the lease expired and all {job.attempts} attempts are used"
            failed += 1
            run_abort_hook(session, job)
        elif job.cancel_requested:
            job.status, job.finished_at, job.message = "cancelled", now, "cancelled; its worker was lost"
            run_abort_hook(session, job)
        else:
            job.status, job.enqueued_at = "queued", now
            job.message = f"re-queued after its worker was lost (attempt {job.attempts} of {job.max_attempts})"
            if job.checkpoint is not None:
                job.message += "; it resumes from its last checkpoint"
            requeued.append(job)
        job.lease_owner, job.lease_expires_at, job.updated_at = None, None, now
        session.add(job)
    stale_before = now - timedelta(seconds=settings.job_requeue_after_seconds)
    stale = session.exec(
        select(Job).where(
            Job.status == "queued",
            or_(col(Job.enqueued_at).is_(None), and_(col(Job.enqueued_at) < stale_before)),
        ).limit(500)
    ).all()
    for job in stale:
        # Back off: a job waiting behind long work is re-sent after 1, 2, 4 … intervals, not every one.
        if job.enqueued_at and job.enqueued_at > now - timedelta(seconds=settings.job_requeue_after_seconds
                                                                   * 2 ** min(job.resends, 6)):
            continue
        # Attempts count claims only: a job waiting for a GPU worker is re-sent without using any.
        job.enqueued_at, job.resends = now, job.resends + 1
        session.add(job)
        requeued.append(job)
    if failed or expired:
        audit.record(session=session, actor=None, actor_name="reaper", action="job.reap", entity_type="job",
                     summary={"requeued": [j.id for j in expired if j.status == "queued"], "failed": failed})
    for job in requeued:
        send_after_commit(session, job)
    return {"requeued": len(requeued), "failed": failed}


def beat(*, session: Session, name: str, devices: WorkerDevices, queues: list[str] | tuple[str, ...] = ()) -> None:
    """Upsert this worker's heartbeat row: alive now, serving `queues`, with `devices`."""
    row = session.get(WorkerHeartbeat, name)
    now = utcnow()
    if row is None:
        host, _, pid = name.rpartition(":")
        row = WorkerHeartbeat(name=name, hostname=host, pid=int(pid or 0), started_at=now)
    row.last_seen_at, row.queues, row.devices = now, list(queues), devices.as_dict()
    row.gpu_names, row.gpu_count = [gpu.name for gpu in devices.gpus], len(devices.gpus)
    session.add(row)


def live_workers(*, session: Session) -> list[WorkerHeartbeat]:
    horizon = utcnow() - timedelta(seconds=get_settings().worker_heartbeat_seconds * 3)
    return list(session.exec(select(WorkerHeartbeat).where(WorkerHeartbeat.last_seen_at >= horizon)).all())
