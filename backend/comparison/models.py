"""Comparison tables: user-defined metric definitions, stored comparison documents and score snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow


class MetricDefinition(SQLModel, table=True):
    """A user-defined comparison metric (the six built-ins live in code: `backend.comparison.metrics`)."""

    __tablename__ = "comparison_metric"

    id: str = Field(primary_key=True, max_length=40)
    key: str = Field(unique=True, max_length=40)
    label: str = Field(max_length=80)
    description: str = Field(default="", max_length=1000)
    sources: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    direction: str = Field(default="higher", max_length=8)  # higher | lower
    normalization: str = Field(default="minmax", max_length=16)  # minmax | reference
    reference: float | None = None
    scale: str = Field(default="linear", max_length=8)  # linear | log
    unit: str = Field(default="", max_length=24)
    created_by: str = Field(max_length=40, index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Comparison(SQLModel, table=True):
    """A stored comparison: the request that made it and the document it produced (fetched by id later)."""

    __tablename__ = "comparison_result"
    __table_args__ = (Index("ix_comparison_result_created_by_created_at", "created_by", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    title: str | None = Field(default=None, max_length=200)
    request: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    document: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    subject_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class ModelScore(SQLModel, table=True):
    """One calculated score of one subject (`POST /scoring/calculate` or `/scoring/custom`): the overall
    score under a weighting or formula, with the per-metric scores it was made of."""

    __tablename__ = "comparison_score"
    __table_args__ = (Index("ix_comparison_score_subject_created", "subject_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    subject_id: str = Field(max_length=80)
    subject_name: str = Field(max_length=200)
    method: str = Field(max_length=16)  # weighted | formula
    weighting: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    score: float | None = None
    metric_scores: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    raw_values: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
