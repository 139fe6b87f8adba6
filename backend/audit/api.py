"""REST routes of the audit trail: /api/v1/governance/audit."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from backend.audit import service
from backend.audit.models import AuditRecord
from backend.audit.schemas import AuditRecordRead, AuditSearch, AuditVerifyResult
from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.http import COMMON_ERRORS, error_responses, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page, UtcInstant
from backend.core.timeutil import isoformat_z, to_utc, utcnow

router = APIRouter(prefix="/governance/audit", tags=["governance"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
AUDIT_READ = service.AUDIT_READ


def _filters(
    actor: Annotated[str | None, Query(max_length=64, description="User id or username")] = None,
    action: Annotated[str | None, Query(max_length=80, description="Exact action or a prefix ending in *")] = None,
    entityType: Annotated[str | None, Query(max_length=40)] = None,  # noqa: N803
    entityId: Annotated[str | None, Query(max_length=80)] = None,  # noqa: N803
    outcome: Annotated[Literal["success", "failure", "denied"] | None, Query()] = None,
    since: Annotated[UtcInstant | None, Query(description="ISO-8601, inclusive")] = None,
    until: Annotated[UtcInstant | None, Query(description="ISO-8601, exclusive")] = None,
) -> service.AuditFilter:
    return service.AuditFilter(
        actor=actor, action=action, entity_type=entityType, entity_id=entityId, outcome=outcome,
        since=to_utc(since) if since else None, until=to_utc(until) if until else None,
    )


def _page(rows: list[AuditRecord], cursor: str | None) -> Page[AuditRecordRead]:
    return Page[AuditRecordRead](items=[AuditRecordRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("", response_model=Page[AuditRecordRead], summary="Audit records, newest first")
def list_audit(
    session: SessionDep,
    filters: service.AuditFilter = Depends(_filters),
    params: PageParams = Depends(page_params),
    principal: Principal = require(AUDIT_READ),
) -> Page[AuditRecordRead]:
    return _page(*service.list_records(session=session, actor=principal, params=params, filters=filters))


@router.post("/search", response_model=Page[AuditRecordRead], summary="Search audit records by actor, action, entity and time")
def search_audit(body: AuditSearch, session: SessionDep,
                 principal: Principal = require(AUDIT_READ)) -> Page[AuditRecordRead]:
    filters = service.AuditFilter(
        actor=body.actor, action=body.action, entity_type=body.entity_type, entity_id=body.entity_id,
        outcome=body.outcome,
        since=to_utc(body.since) if body.since else None,
        until=to_utc(body.until) if body.until else None,
    )
    params = PageParams(limit=body.limit, cursor=body.cursor)
    return _page(*service.list_records(session=session, actor=principal, params=params, filters=filters))


@router.get("/verify", response_model=AuditVerifyResult, summary="Verify the hash chain of the whole trail")
def verify_audit(session: SessionDep, principal: Principal = require(AUDIT_READ)) -> AuditVerifyResult:
    """Reports the first record whose content, link or sequence was altered, and deleted tails."""
    return AuditVerifyResult.model_validate(service.verify(session=session, actor=principal))


_REPORT_COLUMNS = ["seq", "id", "occurredAt", "actorId", "actorName", "action", "entityType", "entityId",
                   "outcome", "requestId", "clientIp", "summary", "hash"]


def _report_row(r: AuditRecord) -> list:
    return [r.seq, r.id, isoformat_z(r.occurred_at), r.actor_id, r.actor_name, r.action, r.entity_type,
            r.entity_id, r.outcome, r.request_id, r.client_ip, json.dumps(r.summary, ensure_ascii=False), r.hash]


def _csv_stream(rows: Iterator[AuditRecord]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(_REPORT_COLUMNS)
    for row in rows:
        writer.writerow(_report_row(row))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _json_stream(head: dict, rows: Iterator[AuditRecord]) -> Iterator[str]:
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "records": ['
    for i, row in enumerate(rows):
        yield ("," if i else "") + AuditRecordRead.model_validate(row).model_dump_json(by_alias=True)
    yield "]}"


@router.get(
    "/report",
    summary="Audit report as JSON or CSV",
    responses={200: {"content": {"application/json": {}, "text/csv": {}},
                     "description": "The matching records, oldest first, with counts by action and outcome"}},
)
def audit_report(
    session: SessionDep,
    format: Literal["json", "csv"] = "json",  # noqa: A002
    filters: service.AuditFilter = Depends(_filters),
    principal: Principal = require(AUDIT_READ),
) -> StreamingResponse:
    rows = service.iter_records(session=session, actor=principal, filters=filters)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    if format == "csv":
        return StreamingResponse(
            _csv_stream(rows), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
        )
    counts = service.count_records(session=session, actor=principal, filters=filters)
    head = {"generatedAt": isoformat_z(utcnow()), "count": sum(counts["byAction"].values()), **counts}
    return StreamingResponse(_json_stream(head, rows), media_type="application/json")


@router.get("/{entityId}", response_model=Page[AuditRecordRead], summary="The audit trail of one entity",
            responses=error_responses(404))
def entity_audit(
    entityId: str,  # noqa: N803
    session: SessionDep,
    params: PageParams = Depends(page_params),
    principal: Principal = require(AUDIT_READ),
) -> Page[AuditRecordRead]:
    filters = service.AuditFilter(entity_id=entityId[:80])
    return _page(*service.list_records(session=session, actor=principal, params=params, filters=filters))
