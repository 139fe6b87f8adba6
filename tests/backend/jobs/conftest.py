"""Helpers of the job tests: principals, reading jobs and audit records, waiting with deadlines."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, select

from backend.audit.models import AuditRecord
from backend.core.db import session_scope
from backend.jobs.models import Job


def read_job(job_id: str) -> Job:
    with session_scope(write=False) as session:
        job = session.get(Job, job_id)
        assert job is not None, f"job {job_id} does not exist"
        return job


def audit_actions(job_id: str) -> list[str]:
    """The audit actions recorded for one job, oldest first."""
    with session_scope(write=False) as session:
        return list(session.exec(
            select(AuditRecord.action).where(AuditRecord.entity_type == "job", AuditRecord.entity_id == job_id)
            .order_by(col(AuditRecord.seq))
        ).all())


def wait_until(condition: Callable[[], Any], *, timeout: float, interval: float = 0.2,
               describe: Callable[[], str] | str = "") -> Any:
    """Poll `condition` until it returns something truthy; fail with `describe` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = describe() if callable(describe) else describe
            pytest.fail(f"gave up after {timeout:.0f} s: {detail}")
        time.sleep(interval)


def wait_for_job(job_id: str, statuses: str | tuple[str, ...], *, timeout: float,
                 describe: Callable[[], str] | str = "") -> Job:
    """The job once its status is one of `statuses`."""
    wanted = (statuses,) if isinstance(statuses, str) else statuses

    def reached() -> Job | None:
        job = read_job(job_id)
        return job if job.status in wanted else None

    def explain() -> str:
        job = read_job(job_id)
        extra = describe() if callable(describe) else describe
        return (f"job {job_id} is {job.status} (attempts {job.attempts}, progress {job.progress}, "
                f"message {job.message!r}, error {job.error!r}), wanted {wanted}\n{extra}")

    return wait_until(reached, timeout=timeout, describe=explain)
