"""The datasets list: the datasets the user may see, searched, filtered and paged; and creating one.

Every handler runs the service as the signed-in user (`invoke`), so the list holds only what the
dataset ACLs let them see; the search itself stays on the server (backend-only vars).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app.errors import field_errors
from aisystem_app.state.catalog.datasets.forms import parse_create
from aisystem_app.state.catalog.datasets.view import dataset_href, list_row
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from backend.auth.principal import Principal
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets.schemas import DatasetCreate
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams

CREATE = "dataset:create"
TYPES = ("tabular", "text", "image", "audio")
ALL = "all"
SORTS = {"-updatedAt": "Recently updated", "name": "Name", "-size": "Largest", "-recordCount": "Most records"}
URL_KEYS = ("q", "type", "sort", *PAGE_KEYS)  # the view in the URL: `?q=churn&type=text&sort=name&page=2&after=...`
FIRST_PAGE = {"page": "", "after": ""}


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to (validated before it reaches the service)."""

    q: str = ""
    type: str = ALL
    sort: str = "-updatedAt"

    def clean(self) -> Filters:
        return Filters(self.q.strip()[:100], self.type if self.type in TYPES else ALL,
                       self.sort if self.sort in SORTS else "-updatedAt")


def read_page(cursor: str | None, filters: Filters, limit: int = PAGE_SIZE):
    """A unit of work reading one page of the datasets the caller may see, and whether they may create."""

    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None, bool]:
        rows, next_cursor = datasets.list_datasets(
            session=session, actor=principal, params=PageParams(limit=limit, cursor=cursor),
            type=None if filters.type == ALL else filters.type, q=filters.q or None, sort=filters.sort)
        docs = [datasets.dataset_document(session=session, actor=principal, dataset=row) for row in rows]
        return [list_row(doc) for doc in docs], next_cursor, principal.can(CREATE)

    return work


def create_dataset(data: DatasetCreate):
    """A unit of work creating an empty dataset owned by the caller; its id, or the service's refusal."""

    def work(session: Session, principal: Principal) -> str | AISystemError:
        try:
            return datasets.create_dataset(session=session, actor=principal, data=data).id
        except AISystemError as error:
            if error.code != "REQ_001":
                raise
            session.rollback()
            return error

    return work


class DatasetsState(TableMixin, rx.State):
    """/catalog/datasets. Every handler checks `dataset:read` (creating: `dataset:create`) in the database."""

    allowed: bool = True
    may_create: bool = False
    query: str = ""
    type_filter: str = ALL
    sort: str = "-updatedAt"
    create_open: bool = False
    create_errors: dict[str, str] = {}
    creating: bool = False
    form_version: int = 0

    @rx.var
    def name_error(self) -> str:
        return self.create_errors.get("name", "")

    @rx.var
    def label_error(self) -> str:
        return self.create_errors.get("label_column", "")

    @rx.var
    def tags_error(self) -> str:
        return self.create_errors.get("tags", "")

    @rx.var
    def form_error(self) -> str:
        return self.create_errors.get("form", "")

    @rx.event(background=True)
    async def load(self):
        """Show the view the URL names: search, type, order and page."""
        async with self:
            params = self._read_url(URL_KEYS)
            filters = Filters(params.get("q", ""), params.get("type", ALL), params.get("sort", "-updatedAt")).clean()
            self.query, self.type_filter, self.sort = filters.q, filters.type, filters.sort
            self._open_url_page(params)
        return await self._fetch()

    @rx.event
    def search(self, form: dict[str, Any]):
        """Search by name (the form's `q`)."""
        return self._go({"q": Filters(q=str(form.get("q", ""))).clean().q, **FIRST_PAGE})

    @rx.event
    def filter_type(self, value: str):
        """Show one type of dataset, or all."""
        chosen = Filters(type=str(value)).clean().type
        return self._go({"type": "" if chosen == ALL else chosen, **FIRST_PAGE})

    @rx.event
    def sort_list(self, value: str):
        """Order the whole list on the server."""
        chosen = Filters(sort=str(value)).clean().sort
        self.sort_key = ""
        return self._go({"sort": "" if chosen == Filters.sort else chosen, **FIRST_PAGE})

    async def _fetch(self):
        async with self:
            self.loading = True
            cursor, filters = self._cursor, Filters(self.query, self.type_filter, self.sort)
        outcome = await invoke(self, read_page(cursor, filters))
        allowed = outcome.code != "AUTH_002"
        async with self:
            self.allowed = allowed
            rows, next_cursor, may_create = outcome.value if outcome.ok else ([], None, False)
            self.may_create = may_create
            self._show_page(rows, next_cursor)
        return outcome.events if allowed else None

    @rx.event
    def open_create(self, value: bool):
        """Open or close the create dialog (a fresh form each time)."""
        self.create_open = bool(value)
        self.create_errors = {}
        self.form_version += 1

    @rx.event(background=True)
    async def create(self, form: dict[str, Any]):
        """Create a dataset from the form and open it; problems show under their fields."""
        problems, data = parse_create(form)
        async with self:
            if self.creating:
                return None
            self.create_errors = problems
            self.creating = data is not None
        if data is None:
            return None
        outcome = await invoke(self, create_dataset(data), write=True)
        async with self:
            self.creating = False
            if outcome.ok and isinstance(outcome.value, AISystemError):
                self.create_errors = field_errors(outcome.value) or {"form": outcome.value.message}
                return None
            if outcome.ok:
                self.create_open = False
        if not outcome.ok:
            return outcome.events
        return [rx.redirect(dataset_href(outcome.value)), rx.toast.success("Dataset created; upload its data next")]
