"""The audit log page: one page of records at a time, and the chain check."""

from __future__ import annotations

from dataclasses import dataclass

import reflex as rx
from sqlmodel import Session

from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_SIZE, TableMixin
from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.auth.principal import Principal
from backend.core.pagination import PageParams
from backend.core.timeutil import to_utc

PERMISSION = "audit:read"


def audit_row(record: AuditRecord) -> dict[str, str]:
    """One audit record as the table shows it (text only)."""
    entity = " ".join(part for part in (record.entity_type, record.entity_id) if part)
    return {
        "seq": f"{record.seq:010d}",
        "time": to_utc(record.occurred_at).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "actor": record.actor_name or "—",
        "action": record.action,
        "entity": entity or "—",
        "outcome": record.outcome,
    }


def read_page(cursor: str | None, limit: int = PAGE_SIZE):
    """A unit of work reading one page of audit records, newest first."""

    def work(session: Session, _principal: Principal) -> tuple[list[dict[str, str]], str | None]:
        rows, next_cursor = audit.list_records(session=session, params=PageParams(limit=limit, cursor=cursor))
        return [audit_row(r) for r in rows], next_cursor

    return work


@dataclass(frozen=True)
class ChainCheck:
    """The outcome of walking the audit chain, as the page shows it."""

    valid: bool
    summary: str


def verify_chain(session: Session, _principal: Principal) -> ChainCheck:
    """Walk the whole chain and say what was found."""
    result = audit.verify(session=session)
    if result.valid:
        return ChainCheck(True, f"The chain is intact: {result.checked} records checked.")
    where = f" at record {result.first_broken_seq}" if result.first_broken_seq else ""
    return ChainCheck(False, f"The chain is broken{where}: {result.reason}. {result.checked} records were intact.")


class AuditState(TableMixin, rx.State):
    """Audit records for admins; every handler checks `audit:read` against the database."""

    allowed: bool = True
    verifying: bool = False
    verify_done: bool = False
    verify_valid: bool = False
    verify_summary: str = ""

    @rx.event(background=True)
    async def load(self):
        """Open the page: first page of records, previous check result cleared."""
        async with self:
            self._restart()
            self.verify_done = False
        return await self._fetch()

    async def _fetch(self):
        async with self:
            self.loading = True
            cursor = self._cursor
        outcome = await invoke(self, read_page(cursor), permission=PERMISSION)
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
        outcome = await invoke(self, verify_chain, permission=PERMISSION)
        async with self:
            self.verifying = False
            if outcome.ok:
                self.verify_done = True
                self.verify_valid = outcome.value.valid
                self.verify_summary = outcome.value.summary
        return outcome.events or None
