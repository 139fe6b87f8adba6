"""Audit trail tables. Append-only and hash-chained; the table keeps its first name (governance_audit_record)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class AuditRecord(SQLModel, table=True):
    """One audited event; `hash` = sha256(previous hash + this row's canonical content)."""

    __tablename__ = "governance_audit_record"
    __audited__ = False  # it is the audit trail itself

    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    id: str = Field(unique=True, max_length=40)
    occurred_at: datetime = Field(index=True)
    actor_id: str | None = Field(default=None, index=True, max_length=40)
    actor_name: str | None = Field(default=None, max_length=64)
    credential_id: str | None = Field(default=None, max_length=64)
    action: str = Field(index=True, max_length=80)
    entity_type: str | None = Field(default=None, max_length=40)
    entity_id: str | None = Field(default=None, index=True, max_length=80)
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outcome: str = Field(max_length=16)
    request_id: str | None = Field(default=None, max_length=64)
    client_ip: str | None = Field(default=None, max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
