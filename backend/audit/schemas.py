"""Wire documents of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime


class AuditRecordRead(ReadModel):
    id: str
    seq: int
    occurred_at: UtcDateTime
    actor_id: str | None = None
    actor_name: str | None = None
    credential_id: str | None = None
    action: str
    entity_type: str | None = None
    entity_id: str | None = None
    summary: dict[str, Any]
    outcome: str
    request_id: str | None = None
    client_ip: str | None = None
    hash: str


class AuditSearch(InputModel):
    actor: str | None = Field(default=None, max_length=64, description="User id or username")
    action: str | None = Field(default=None, max_length=80, description="Exact action, or a prefix ending in *")
    entity_type: str | None = Field(default=None, max_length=40)
    entity_id: str | None = Field(default=None, max_length=80)
    outcome: Literal["success", "failure", "denied"] | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = Field(default=50, ge=1, le=500)
    cursor: str | None = Field(default=None, max_length=512)


class AuditVerifyResult(ReadModel):
    valid: bool
    checked: int
    first_broken_id: str | None = None
    first_broken_seq: int | None = None
    reason: str | None = None
