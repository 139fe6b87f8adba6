"""Governance tables: policies (rules in CEL) and the violations they record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

POLICY_KINDS = ("access", "data_governance", "model_release", "deployment", "compliance")
SEVERITIES = ("low", "medium", "high", "critical")
ENFORCEMENT_MODES = ("enforce", "audit")
VIOLATION_STATUSES = ("open", "waived", "resolved")


class Policy(SQLModel, table=True):
    """A governance policy: which entities and actions it gates, and the CEL rules each must pass."""

    __tablename__ = "governance_policy"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(unique=True, max_length=120)
    description: str = Field(default="", max_length=2000)
    kind: str = Field(max_length=24)  # POLICY_KINDS
    target_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The governed actions it checks (backend.core.actions.ACTIONS); empty: every action on its targets.
    actions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    severity: str = Field(default="medium", max_length=16)  # SEVERITIES
    enforcement: str = Field(default="audit", max_length=16)  # enforce blocks | audit records
    enabled: bool = Field(default=True, index=True)
    # CEL guard: the policy applies only where it holds (null: always).
    applies_when: str | None = Field(default=None, max_length=2000)
    # [{"name": str, "expression": CEL, "message": str | null}]: each must hold for a compliant entity.
    rules: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Bumped whenever what the policy checks changes; a waiver holds for the revision it was given on.
    revision: int = Field(default=1)
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Violation(SQLModel, table=True):
    """One entity failing one rule of one policy; repeated failures of an open violation count up on it."""

    __tablename__ = "governance_violation"
    __table_args__ = (
        Index("ix_governance_violation_lookup", "policy_id", "entity_type", "entity_id", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    # No foreign key: a violation outlives a deleted policy (its name is kept).
    policy_id: str = Field(max_length=40)
    policy_name: str = Field(max_length=120)
    policy_revision: int = Field(default=1)
    severity: str = Field(max_length=16)
    enforcement: str = Field(max_length=16)
    entity_type: str = Field(max_length=32, index=True)
    entity_id: str = Field(max_length=64)
    entity_name: str | None = Field(default=None, max_length=300)
    action: str = Field(max_length=40)  # the governed action, or policy.enforce
    rule: str = Field(max_length=120)
    condition: str = Field(max_length=2000)
    reason: str = Field(max_length=1000)
    blocked: bool = Field(default=False)
    status: str = Field(default="open", max_length=16, index=True)  # VIOLATION_STATUSES
    actor_id: str = Field(max_length=40, index=True)
    occurrences: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    last_seen_at: datetime = Field(default_factory=utcnow)
    decided_by: str | None = Field(default=None, max_length=40)
    decided_at: datetime | None = None
    decision_note: str | None = Field(default=None, max_length=1000)
