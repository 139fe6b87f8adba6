"""/training/jobs: the training jobs (one's own; everyone's for training managers), filtered by status in
the URL, with progress and time left re-read every few seconds while one of them trains."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app.state.catalog.experiments.view import usernames
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from aisystem_app.state.training.view import LIVE, job_row
from backend.auth.principal import Principal
from backend.catalog.datasets.models import Dataset
from backend.core.pagination import PageParams
from backend.training import service
from backend.training.models import TRAINING_STATUSES

ALL = "all"
URL_KEYS = ("status", *PAGE_KEYS)
CREATE = "training:create"  # only to show or hide the "New training job" button: the service decides
REFRESH_SECONDS = 3.0


def dataset_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Dataset id → name, for the rows (a job is only listed to who may read it, so its dataset's name is
    no secret to them)."""
    return {d.id: d.name for d in (session.get(Dataset, i) for i in ids) if d is not None}


def documents(session: Session, jobs: list[Any]) -> list[dict[str, Any]]:
    return [service.read(j).model_dump() for j in jobs]


def read_page(cursor: str | None, status: str):
    """A unit of work reading one page of training jobs, newest first."""

    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None, bool]:
        jobs, next_cursor = service.list_training_jobs(session=session, actor=principal,
                                                       params=PageParams(limit=PAGE_SIZE, cursor=cursor),
                                                       status=status if status in TRAINING_STATUSES else None)
        docs = documents(session, jobs)
        names = usernames(session, {d["created_by"] for d in docs})
        datasets = dataset_names(session, {d["dataset_id"] for d in docs})
        return [job_row(d, names, datasets) for d in docs], next_cursor, principal.can(CREATE)

    return work


class TrainingJobsState(TableMixin, rx.State):
    """The jobs table; every handler runs the service as the signed-in user."""

    allowed: bool = True
    can_create: bool = False
    status: str = ALL
    _refresh_token: int = 0

    @rx.var
    def live(self) -> bool:
        return any(r.get("status") in LIVE for r in self.rows)

    @rx.event(background=True)
    async def load(self):
        """Show the status filter and page the URL names."""
        async with self:
            params = self._read_url(URL_KEYS)
            self.status = params.get("status", "") if params.get("status") in TRAINING_STATUSES else ALL
            self._open_url_page(params)
            self._refresh_token += 1  # a follow loop of the previous view stops
        events = await self._fetch()
        async with self:
            live = self.live
        return events or (TrainingJobsState.follow if live else None)

    @rx.event
    def filter_status(self, status: str):
        return self._go({"status": "" if status == ALL else status[:16], "page": "", "after": ""})

    async def _fetch(self):
        async with self:
            self.loading = True
            cursor, status = self._cursor, self.status
        outcome = await invoke(self, read_page(cursor, status))
        allowed = outcome.code != "AUTH_002"
        async with self:
            self.allowed = allowed
            rows, next_cursor, can_create = outcome.value if outcome.ok else ([], None, False)
            self.can_create = can_create
            self._show_page(rows, next_cursor)
        return outcome.events if allowed else None

    @rx.event(background=True)
    async def follow(self):
        """While a listed job is queued or training, re-read the page every few seconds (progress, time
        left, status); stops when none is, or when the page loads again or the tab leaves it."""
        async with self:
            self._refresh_token += 1
            token, page = self._refresh_token, self.router.url.path
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            async with self:
                if token != self._refresh_token or self.router.url.path != page:
                    return None
            events = await self._fetch()
            async with self:
                if events or not self.live or token != self._refresh_token:
                    return events or None
