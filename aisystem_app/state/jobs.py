"""Following a background job from a page: its progress and end state, live, without reloading.

A page state mixes in `JobProgressMixin`; a handler that queued a job returns
`PageState.follow_job(job_id)` (the class by name: inside a background handler `self` is a proxy, and
`type(self)` is the proxy's class), and `components.job_progress.job_progress(PageState)` shows it. The
follower re-reads the job through the jobs service (as the signed-in user) every second until it
ends, then runs the page's `_job_finished(job)` hook, whose events (a refresh, a toast) it fires.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app.state.session import invoke
from backend.auth.principal import Principal
from backend.jobs import service as jobs_service
from backend.jobs.models import FINISHED, Job

POLL_SECONDS = 1.0


def job_view(job: Job) -> dict[str, Any]:
    """What the progress component shows of a job (progress in percent)."""
    return {
        "id": job.id,
        "status": job.status,
        "progress": round(100 * (job.progress or 0.0), 1),
        "message": job.message or "",
        "error": job.error or "",
    }


def read_job(job_id: str, session: Session, principal: Principal) -> dict[str, Any]:
    """The job's view, if the signed-in user may see it (JOB_001 otherwise)."""
    return job_view(jobs_service.get_job(session=session, actor=principal, job_id=job_id))


def cancel_job(job_id: str, session: Session, principal: Principal) -> dict[str, Any]:
    return job_view(jobs_service.cancel_job(session=session, actor=principal, job_id=job_id))


class JobProgressMixin(rx.State, mixin=True):
    """The job a page follows: status, progress (0–100), message and error, kept current."""

    job_id: str = ""
    job_status: str = ""
    job_progress: float = 0.0
    job_message: str = ""
    job_error: str = ""
    _followed: str = ""  # the job the running loop follows; a newer one ends the older loop

    @rx.var
    def job_active(self) -> bool:
        """Whether the followed job is still queued or running."""
        return self.job_status in ("queued", "running")

    @rx.event(background=True)
    async def follow_job(self, job_id: str):
        """Re-read the job every second until it ends; then fire the page's completion events."""
        async with self:
            self._followed, self.job_id = job_id, job_id
            self.job_status, self.job_progress, self.job_message, self.job_error = "queued", 0.0, "", ""
        while True:
            outcome = await invoke(self, partial(read_job, job_id))
            async with self:
                if self._followed != job_id:
                    return None
                if not outcome.ok:
                    self._followed = ""
                    return outcome.events
                self._show_job(outcome.value)
            if outcome.value["status"] in FINISHED:
                return await self._job_finished(outcome.value) or None
            await asyncio.sleep(POLL_SECONDS)

    @rx.event(background=True)
    async def cancel_followed_job(self):
        """Cancel the followed job (a running one stops at its next check; the loop shows the end)."""
        async with self:
            job_id = self.job_id
        if not job_id:
            return None
        outcome = await invoke(self, partial(cancel_job, job_id), write=True)
        if outcome.ok:
            async with self:
                if self._followed == job_id:
                    self._show_job(outcome.value)
        return outcome.events or None

    def _show_job(self, view: dict[str, Any]) -> None:
        self.job_status = view["status"]
        self.job_progress, self.job_message, self.job_error = view["progress"], view["message"], view["error"]

    async def _job_finished(self, job: dict[str, Any]) -> list | None:
        """The page's hook once the job has ended (re-read what it produced); returns events to fire."""
        return None
