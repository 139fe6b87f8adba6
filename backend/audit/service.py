"""Audit trail: append-only, hash-chained records of every change, login and denial."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, text
from sqlmodel import Session, col, select

from backend.audit.checkpoint import note_head, read_checkpoint, write_checkpoint
from backend.audit.models import AuditRecord
from backend.core.authorization import Principal, authorize
from backend.core.context import current_request
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import utcnow
from backend.core.unit_of_work import after_commit, append, new_row, transaction_memo

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 727274  # PostgreSQL advisory lock that serialises appends to the chain
_SECRET_WORDS = ("password", "secret", "token", "apikey", "api_key", "key_hash", "authorization")
_MAX_SUMMARY_STRING = 500
AUDIT_READ = "audit:read"


class Actor(Protocol):
    """Who acted, as the trail records it (auth's Principal is one); keeps audit free of auth."""

    user_id: str
    username: str
    credential_id: str | None


def canonical_content(record: AuditRecord) -> str:
    """The exact bytes (as text) the hash covers: every field but the hashes, keys sorted."""
    return json.dumps(
        {
            "seq": record.seq,
            "id": record.id,
            "occurredAt": record.occurred_at.isoformat(timespec="microseconds"),
            "actorId": record.actor_id,
            "actorName": record.actor_name,
            "credentialId": record.credential_id,
            "action": record.action,
            "entityType": record.entity_type,
            "entityId": record.entity_id,
            "summary": record.summary,
            "outcome": record.outcome,
            "requestId": record.request_id,
            "clientIp": record.client_ip,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def chain_hash(prev_hash: str, record: AuditRecord) -> str:
    return hashlib.sha256((prev_hash + canonical_content(record)).encode()).hexdigest()


def sanitize_summary(value: Any, depth: int = 0) -> Any:
    """Keep summaries small and free of secrets: redact secret-looking keys, cut long strings."""
    if depth > 4:
        return "…"
    if isinstance(value, dict):
        return {
            str(k): "[redacted]" if any(w in str(k).lower() for w in _SECRET_WORDS) else sanitize_summary(v, depth + 1)
            for k, v in list(value.items())[:50]
        }
    if isinstance(value, list | tuple):
        return [sanitize_summary(v, depth + 1) for v in list(value)[:50]]
    if isinstance(value, str) and len(value) > _MAX_SUMMARY_STRING:
        return value[:_MAX_SUMMARY_STRING] + "…"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


_CHAIN_HEAD = select(AuditRecord.seq, AuditRecord.hash).order_by(col(AuditRecord.seq).desc()).limit(1)


def record(
    *,
    session: Session,
    actor: Actor | None,
    action: str,
    entity_type: str | None = None,
    entity_id: str | None = None,
    summary: dict[str, Any] | None = None,
    outcome: str = "success",
    actor_name: str | None = None,
) -> AuditRecord:
    """Append one record to the chain inside the caller's transaction (so both commit, or neither).

    The record is appended (`unit_of_work.append`: written with the transaction's other changes); the
    chain's head is asked of the database once per transaction and then remembered (`transaction_memo`)."""
    head = transaction_memo(session, "audit_chain")
    if "last" not in head:
        _lock_chain(session)
        # The head's two columns, not the row (building the ORM object, its summary JSON, cost more than the
        # query), below the ORM: no autoflush, since this transaction's own records are in the memo.
        head["last"] = session.connection().execute(_CHAIN_HEAD).first()
    last = head["last"]
    request = current_request()
    row = new_row(
        AuditRecord,
        seq=(last[0] + 1) if last else 1,
        id=new_id("audit"),
        occurred_at=utcnow(),
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else actor_name,
        credential_id=actor.credential_id if actor else None,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        summary=sanitize_summary(summary or {}),
        outcome=outcome,
        request_id=request.request_id if request else None,
        client_ip=request.client_ip if request else None,
        prev_hash=last[1] if last else GENESIS_HASH,
        hash="",
    )
    row.hash = chain_hash(row.prev_hash, row)
    append(session, row)
    head["last"] = (row.seq, row.hash)
    after_commit(session, lambda: note_head(row.seq, row.hash))
    return row


def _lock_chain(session: Session) -> None:
    # SQLite write sessions already hold the database write lock (BEGIN IMMEDIATE).
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=_CHAIN_LOCK_KEY))


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def filtered_query(filters: AuditFilter):
    query = select(AuditRecord)
    if filters.actor:
        query = query.where((AuditRecord.actor_id == filters.actor) | (AuditRecord.actor_name == filters.actor))
    if filters.action:
        if filters.action.endswith("*"):
            query = query.where(col(AuditRecord.action).startswith(filters.action[:-1]))
        else:
            query = query.where(AuditRecord.action == filters.action)
    if filters.entity_type:
        query = query.where(AuditRecord.entity_type == filters.entity_type)
    if filters.entity_id:
        query = query.where(AuditRecord.entity_id == filters.entity_id)
    if filters.outcome:
        query = query.where(AuditRecord.outcome == filters.outcome)
    if filters.since:
        query = query.where(AuditRecord.occurred_at >= filters.since)
    if filters.until:
        query = query.where(AuditRecord.occurred_at < filters.until)
    return query


def list_records(
    *, session: Session, actor: Principal, params: PageParams, filters: AuditFilter | None = None
) -> tuple[list[AuditRecord], str | None]:
    """Newest first, keyset-paginated on the chain sequence."""
    authorize(actor, AUDIT_READ)
    return paginate(
        session,
        filtered_query(filters or AuditFilter()),
        params=params,
        order=[AuditRecord.seq],
        descending=True,
        parse=[int],
    )


def iter_records(*, session: Session, actor: Principal, filters: AuditFilter,
                 batch: int = 1000) -> Iterator[AuditRecord]:
    """Every matching record, oldest first, read in batches (for reports)."""
    authorize(actor, AUDIT_READ)
    return _iter_records(session, filters, batch)


def _iter_records(session: Session, filters: AuditFilter, batch: int) -> Iterator[AuditRecord]:
    after = 0
    while True:
        rows = session.exec(
            filtered_query(filters).where(AuditRecord.seq > after).order_by(col(AuditRecord.seq)).limit(batch)
        ).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def count_records(*, session: Session, actor: Principal, filters: AuditFilter) -> dict[str, dict[str, int]]:
    """How many records match, by action and by outcome (the report's head)."""
    authorize(actor, AUDIT_READ)
    base = filtered_query(filters).subquery()
    return {
        "byAction": dict(session.exec(select(base.c.action, func.count()).group_by(base.c.action)).all()),
        "byOutcome": dict(session.exec(select(base.c.outcome, func.count()).group_by(base.c.outcome)).all()),
    }


@dataclass(frozen=True)
class VerifyResult:
    valid: bool
    checked: int
    first_broken_id: str | None = None
    first_broken_seq: int | None = None
    reason: str | None = None


def verify(*, session: Session, actor: Principal, batch: int = 2000) -> VerifyResult:
    """Walk the chain: sequence gaps, edited rows, re-linked rows and truncation all show up."""
    authorize(actor, AUDIT_READ)
    prev_hash, expected_seq, checked = GENESIS_HASH, 1, 0
    head: tuple[int, str] | None = None
    while True:
        rows = session.exec(
            select(AuditRecord).where(AuditRecord.seq >= expected_seq).order_by(col(AuditRecord.seq)).limit(batch)
        ).all()
        for row in rows:
            problem = None
            if row.seq != expected_seq:
                problem = f"record {expected_seq} is missing"
            elif row.prev_hash != prev_hash:
                problem = "the link to the previous record is broken"
            elif chain_hash(prev_hash, row) != row.hash:
                problem = "the record's content does not match its hash"
            if problem:
                return VerifyResult(False, checked, row.id, row.seq, problem)
            checked += 1
            prev_hash, expected_seq = row.hash, row.seq + 1
            head = (row.seq, row.hash)
        if len(rows) < batch:
            break
    problem = _compare_with_checkpoint(session, head)
    if problem:
        return VerifyResult(False, checked, None, None, problem)
    if head:
        write_checkpoint(*head)
    return VerifyResult(True, checked)


# The signed checkpoint outside the database (backend/audit/checkpoint.py) catches what the chain alone
# cannot: a deleted tail, or a whole tail rewritten with recomputed hashes.
def _compare_with_checkpoint(session: Session, head: tuple[int, str] | None) -> str | None:
    checkpoint = read_checkpoint()
    if not checkpoint:
        return None
    seq, digest = checkpoint
    if head is None or head[0] < seq:
        return f"records after {head[0] if head else 0} were deleted (the checkpoint saw record {seq})"
    row = session.exec(select(AuditRecord).where(AuditRecord.seq == seq)).first()
    if row is None or row.hash != digest:
        return f"record {seq} differs from the signed checkpoint"
    return None
