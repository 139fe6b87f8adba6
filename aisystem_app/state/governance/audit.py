"""The audit log page: one page of records at a time, and the chain check."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.auth.principal import Principal
from backend.core.pagination import PageParams

ALL = "all"
OUTCOMES = ("success", "failure", "denied")
FILTER_KEYS = ("actor", "action", "outcome")  # `action` may end in `*` for a prefix (`auth.*`)
URL_KEYS = (*FILTER_KEYS, *PAGE_KEYS)
FIRST_PAGE = {"page": "", "after": ""}


def audit_row(record: AuditRecord) -> dict[str, str]:
    """One audit record as the table shows it (text only)."""
    entity = " ".join(part for part in (record.entity_type, record.entity_id) if part)
    return {
        "seq": f"{record.seq:010d}",
        "time": fmt.moment(record.occurred_at),
        "ago": fmt.ago(record.occurred_at),
        "actor": record.actor_name or fmt.NONE,
        "action": record.action,
        "entity": entity or fmt.NONE,
        "outcome": record.outcome,
    }


def audit_filter(filters: dict[str, str]) -> audit.AuditFilter:
    """The service's filter for the page's (URL) filters; an unknown outcome is no filter."""
    outcome = filters.get("outcome")
    return audit.AuditFilter(actor=filters.get("actor") or None, action=filters.get("action") or None,
                             outcome=outcome if outcome in OUTCOMES else None)


def read_page(cursor: str | None, limit: int = PAGE_SIZE, filters: dict[str, str] | None = None):
    """A unit of work reading one page of audit records (matching `filters`), newest first."""

    def work(session: Session, principal: Principal) -> tuple[list[dict[str, str]], str | None]:
        rows, next_cursor = audit.list_records(session=session, actor=principal, filters=audit_filter(filters or {}),
                                               params=PageParams(limit=limit, cursor=cursor))
        return [audit_row(r) for r in rows], next_cursor

    return work


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of walking the audit chain, as the page shows it."""

    valid: bool
    summary: str


def verify_chain(session: Session, principal: Principal) -> ChainCheck:
    """Walk the whole chain and say what was found."""
    result = audit.verify(session=session, actor=principal)
    if result.valid:
        return ChainCheck(True, f"The chain is intact: {result.checked} records checked.")
    where = f" at record {result.first_broken_seq}" if result.first_broken_seq else ""
    return ChainCheck(False, f"The chain is broken{where}: {result.reason}. {result.checked} records were intact.")


class AuditState(TableMixin, rx.State):
    """Audit records for admins; every handler checks `audit:read` against the database."""

    allowed: bool = True
    filters: dict[str, str] = {}
    verifying: bool = False
    verify_done: bool = False
    verify_valid: bool = False
    verify_summary: str = ""

    @rx.event(background=True)
    async def load(self):
        """Show the filters and page the URL names; a previous check result is cleared."""
        async with self:
            params = self._read_url(URL_KEYS)
            self.filters = {k: params.get(k, "") for k in FILTER_KEYS}
            if self.filters["outcome"] not in OUTCOMES:
                self.filters["outcome"] = ALL
            self._open_url_page(params)
            self.verify_done = False
        return await self._fetch()

    @rx.event
    def apply_filters(self, form: dict):
        """Narrow the log to an actor, an action (`auth.*` for a prefix) and an outcome."""
        chosen = {k: str(form.get(k) or "")[:100].strip() for k in FILTER_KEYS}
        if chosen["outcome"] not in OUTCOMES:
            chosen["outcome"] = ""
        return self._go({**chosen, **FIRST_PAGE})

    async def _fetch(self):
        async with self:
            self.loading = True
            cursor, filters = self._cursor, dict(self.filters)
        outcome = await invoke(self, read_page(cursor, filters=filters))
        allowed = outcome.code != "AUTH_002"
        async with self:
            self.allowed = allowed
            self._show_page(*(outcome.value if outcome.ok else ([], None)))
        # A refused page explains itself in place; other failures toast or redirect.
        return outcome.events if allowed else None

    @rx.event(background=True)
    async def verify(self):
        """Check the hash chain and the signed checkpoint."""
        async with self:
            if self.verifying:
                return None
            self.verifying, self.verify_done = True, False
        outcome = await invoke(self, verify_chain)
        async with self:
            self.verifying = False
            if outcome.ok:
                self.verify_done = True
                self.verify_valid = outcome.value.valid
                self.verify_summary = outcome.value.summary
        return outcome.events or None
