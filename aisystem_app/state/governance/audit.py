"""The audit explorer: records searched by actor, action, entity and time, one page at a time; one
entity's history; the chain's verification badge; CSV/JSON export of what the search matches."""

from __future__ import annotations

import csv
import io
import itertools
import json
from dataclasses import dataclass
from datetime import datetime

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.session import invoke
from aisystem_app.state.table import PAGE_KEYS, PAGE_SIZE, TableMixin
from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.auth.principal import Principal
from backend.core.pagination import PageParams
from backend.core.timeutil import isoformat_z, to_utc, utcnow

ALL = "all"
OUTCOMES = ("success", "failure", "denied")
# `action` may end in `*` for a prefix (`auth.*`); `since`/`until` are dates (YYYY-MM-DD, UTC, until exclusive).
FILTER_KEYS = ("actor", "action", "outcome", "entity_type", "entity_id", "since", "until")
EXPORT_LIMIT = 50_000
EXPORT_COLUMNS = ("seq", "id", "occurredAt", "actorId", "actorName", "action", "entityType", "entityId", "outcome",
                  "requestId", "clientIp", "summary", "hash")
URL_KEYS = (*FILTER_KEYS, *PAGE_KEYS)
FIRST_PAGE = {"page": "", "after": ""}


def entity_text(entity_type: str | None, entity_id: str | None) -> str:
    """`Compliance certification cert_01…`: the kind in words, the id as recorded (what the filter takes)."""
    return " ".join(part for part in (entity_type and fmt.label(entity_type), entity_id) if part)


def audit_row(record: AuditRecord) -> dict[str, str]:
    """One audit record as the table shows it (text only)."""
    entity = entity_text(record.entity_type, record.entity_id)
    return {
        "seq": f"{record.seq:010d}",
        "time": fmt.moment(record.occurred_at),
        "ago": fmt.ago(record.occurred_at),
        "actor": record.actor_name or fmt.NONE,
        "action": record.action,
        "entity": entity or fmt.NONE,
        "entity_type": record.entity_type or "",
        "entity_id": record.entity_id or "",
        "outcome": record.outcome,
    }


def _day(value: str | None) -> datetime | None:
    """A `YYYY-MM-DD` filter as the UTC midnight it starts; anything else is no filter."""
    try:
        return to_utc(datetime.strptime(value or "", "%Y-%m-%d"))
    except ValueError:
        return None


def audit_filter(filters: dict[str, str]) -> audit.AuditFilter:
    """The service's filter for the page's (URL) filters; an unknown outcome or a malformed date is no filter."""
    outcome = filters.get("outcome")
    return audit.AuditFilter(actor=filters.get("actor") or None, action=filters.get("action") or None,
                             outcome=outcome if outcome in OUTCOMES else None,
                             entity_type=filters.get("entity_type") or None, entity_id=filters.get("entity_id") or None,
                             since=_day(filters.get("since")), until=_day(filters.get("until")))


def export_text(session: Session, principal: Principal, filters: dict[str, str], fmt_name: str) -> str:
    """The records matching `filters`, oldest first (at most EXPORT_LIMIT), as CSV or as a JSON document."""
    rows = itertools.islice(audit.iter_records(session=session, actor=principal, filters=audit_filter(filters)),
                            EXPORT_LIMIT)
    values = ([r.seq, r.id, isoformat_z(r.occurred_at), r.actor_id, r.actor_name, r.action, r.entity_type,
               r.entity_id, r.outcome, r.request_id, r.client_ip, r.summary, r.hash] for r in rows)
    if fmt_name == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        for row in values:
            writer.writerow([json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v for v in row])
        return buffer.getvalue()
    records = [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in values]
    return json.dumps({"generatedAt": isoformat_z(utcnow()), "filters": {k: v for k, v in filters.items() if v},
                       "count": len(records), "records": records}, ensure_ascii=False, indent=1)


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
    exporting: bool = False

    @rx.var
    def entity_history(self) -> str:
        """The entity whose history the page shows, when the search names one."""
        entity_id = self.filters.get("entity_id", "")
        return entity_text(self.filters.get("entity_type", ""), entity_id) if entity_id else ""

    @rx.event(background=True)
    async def load(self):
        """Show the filters and page the URL names; the first load also checks the chain (the badge)."""
        async with self:
            params = self._read_url(URL_KEYS)
            self.filters = {k: params.get(k, "") for k in FILTER_KEYS}
            if self.filters["outcome"] not in OUTCOMES:
                self.filters["outcome"] = ALL
            self._open_url_page(params)
        events = await self._fetch()
        async with self:
            check = self.allowed and not self.verify_done and not self.verifying
        # The badge: the chain is checked once when the explorer opens (then on demand, with the button);
        # the page's rows are already shown while it runs.
        return (events or await self._check_chain()) if check else events

    @rx.event
    def apply_filters(self, form: dict):
        """Narrow the log to an actor, an action (`auth.*` for a prefix) and an outcome."""
        chosen = {k: str(form.get(k) or "")[:100].strip() for k in FILTER_KEYS}
        if chosen["outcome"] not in OUTCOMES:
            chosen["outcome"] = ""
        for key in ("since", "until"):
            if chosen[key] and _day(chosen[key]) is None:
                chosen[key] = ""
        return self._go({**chosen, **FIRST_PAGE})

    @rx.event
    def show_entity(self, entity: str):
        """Every record of one entity (its history), whoever acted and whatever the outcome; `entity` is the
        table's "type id" cell."""
        entity_type, _, entity_id = entity.partition(" ")
        if not entity_id:
            entity_type, entity_id = "", entity_type
        return self._go({**dict.fromkeys(FILTER_KEYS, ""), "entity_type": entity_type[:100],
                         "entity_id": entity_id[:100], **FIRST_PAGE})

    @rx.event
    def clear_filters(self):
        return self._go({**dict.fromkeys(FILTER_KEYS, ""), **FIRST_PAGE})

    @rx.event(background=True)
    async def export(self, fmt_name: str):
        """Download what the search matches, oldest first, as CSV or JSON."""
        async with self:
            if self.exporting:
                return None
            self.exporting = True
            filters = {k: v for k, v in self.filters.items() if v and v != ALL}
        kind = "csv" if fmt_name == "csv" else "json"
        outcome = await invoke(self, lambda session, principal: export_text(session, principal, filters, kind))
        async with self:
            self.exporting = False
        if not outcome.ok:
            return outcome.events
        stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
        return rx.download(data=outcome.value, filename=f"audit-{stamp}.{kind}")

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
        return await self._check_chain()

    async def _check_chain(self):
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
