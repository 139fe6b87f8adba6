"""Compliance tables: attestations (a person's statement, with optional evidence file, that a manual control
holds), assessments (a stored, scored report of every control at one moment) and certification requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

CERTIFICATION_STATUSES = ("pending", "approved", "rejected")


class Attestation(SQLModel, table=True):
    """Someone states that a control holds; the newest unexpired one per control counts."""

    __tablename__ = "compliance_attestation"
    __table_args__ = (Index("ix_compliance_attestation_control", "framework", "control_id", "attested_at"),)

    id: str = Field(primary_key=True, max_length=40)
    framework: str = Field(max_length=16)
    control_id: str = Field(max_length=40)
    statement: str = Field(sa_column=Column(Text, nullable=False))
    # The evidence file, in the artifact store under `evidence_key` (null for a text-only attestation).
    evidence_key: str | None = Field(default=None, max_length=200)
    evidence_name: str | None = Field(default=None, max_length=200)
    evidence_sha256: str | None = Field(default=None, max_length=64)
    evidence_size: int | None = None
    attested_by: str = Field(max_length=40)
    attested_by_name: str = Field(max_length=64)
    attested_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Assessment(SQLModel, table=True):
    """One run of every selected framework's controls: the score and each control's result with its evidence."""

    __tablename__ = "compliance_assessment"

    id: str = Field(primary_key=True, max_length=40)
    frameworks: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    score: float  # percent of controls passing (automated pass or valid attestation)
    passed: int
    failed: int
    # {"GDPR": {"score": .., "passed": .., "failed": .., "controls": [{id, title, status, ...evidence}]}}
    results: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=40)
    created_by_name: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class CertificationRequest(SQLModel, table=True):
    """A request to sign off a framework's readiness, with the assessment it rests on; an admin decides."""

    __tablename__ = "compliance_certification"

    id: str = Field(primary_key=True, max_length=40)
    framework: str = Field(index=True, max_length=16)
    assessment_id: str = Field(foreign_key="compliance_assessment.id", max_length=40)
    score: float
    status: str = Field(default="pending", index=True, max_length=16)
    note: str | None = Field(default=None, max_length=2000)
    requested_by: str = Field(max_length=40)
    requested_by_name: str = Field(max_length=64)
    requested_at: datetime = Field(default_factory=utcnow, index=True)
    decided_by: str | None = Field(default=None, max_length=40)
    decided_by_name: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = None
    decision_reason: str | None = Field(default=None, max_length=2000)
