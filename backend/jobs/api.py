"""REST routes of background jobs: /api/v1/jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.http import COMMON_ERRORS, error_responses, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.core.tasks import Needs
from backend.jobs import service
from backend.jobs.schemas import JobCreate, JobRead, JobStatus

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]


@router.get("", response_model=Page[JobRead], summary="Jobs you started (admins: all), newest first")
def list_jobs(
    session: SessionDep,
    status: Annotated[JobStatus | None, Query()] = None,
    type: Annotated[str | None, Query(max_length=80)] = None,  # noqa: A002
    params: PageParams = Depends(page_params),
    principal: Principal = require("job:read"),
) -> Page[JobRead]:
    rows, cursor = service.list_jobs(session=session, actor=principal, params=params, status=status, type=type)
    return Page[JobRead](items=[JobRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post(
    "", response_model=JobRead, status_code=202, summary="Start a maintenance job (admin)",
    responses=error_responses(409),
)
def create_job(body: JobCreate, session: SessionDep, principal: Principal = require("job:create")) -> JobRead:
    """`platform.statistics` recomputes catalog statistics; `platform.selftest` exercises a worker
    (`{"durationSeconds": 0–120}`). `queue`, `gpus`, `gpuMemoryMb` and `timeLimitSeconds` send it to
    other workers than its type's (a self-test of the GPU workers of `training`); a job that needs a
    GPU stays queued until a worker with one takes it. Poll `GET /jobs/{jobId}` for progress."""
    needs = None if body.gpus is None else Needs(gpus=body.gpus, gpu_memory_mb=body.gpu_memory_mb or 0)
    job = service.start_job(session=session, actor=principal, type=body.type, payload=body.payload,
                            queue=body.queue, needs=needs, time_limit_seconds=body.time_limit_seconds)
    session.commit()
    return JobRead.model_validate(job)


@router.get("/{jobId}", response_model=JobRead, summary="One job: status, progress, result or error",
            responses=error_responses(404))
def get_job(jobId: str, session: SessionDep, principal: Principal = require("job:read")) -> JobRead:  # noqa: N803
    return JobRead.model_validate(service.get_job(session=session, actor=principal, job_id=jobId))


@router.post("/{jobId}/cancel", response_model=JobRead, summary="Cancel a queued or running job",
             responses=error_responses(404, 409))
def cancel_job(jobId: str, session: SessionDep, principal: Principal = require("job:write")) -> JobRead:  # noqa: N803
    job = service.cancel_job(session=session, actor=principal, job_id=jobId)
    session.commit()
    return JobRead.model_validate(job)
