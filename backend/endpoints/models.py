"""An endpoint (what serves which model version, how traffic is split, its limits and examples) and the
prediction log (one row per answered or failed prediction, written in batches after the response)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

STATUSES = ("undeployed", "running")
TRAFFIC_MODES = ("single", "canary", "shadow")
FOLLOWED_STAGES = ("production", "staging")
ROLES = ("primary", "canary", "shadow")


class Endpoint(SQLModel, table=True):
    __tablename__ = "endpoints_endpoint"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(unique=True, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    status: str = Field(default="undeployed", index=True, max_length=16)
    model_id: str | None = Field(default=None, index=True, max_length=40)
    # The version answering by default (blue); with `follow_stage` it is re-resolved on every stage move.
    version: str | None = Field(default=None, max_length=20)
    follow_stage: str | None = Field(default=None, max_length=16)
    # {"mode": single|canary|shadow, "candidateVersion": "1.0.1", "candidatePercent": 10}
    traffic: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    replicas: int = 1
    min_replicas: int = 1
    max_replicas: int = 4
    # The design's deployment block: {"autoScaling": bool, "targetUtilization": int}
    autoscaling: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rate_limit_per_minute: int = 600
    burst: int = 60
    timeout_ms: int = 2000
    # Stored examples: [{"input": {...}, "expected": {...} | null}]
    examples: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deployed_at: datetime | None = None


class PredictionLog(SQLModel, table=True):
    """One prediction request (or its shadow copy). Bookkeeping at serving volume: not audited, written
    in batches by `backend.endpoints.predlog`."""

    __tablename__ = "endpoints_prediction"
    __audited__ = False
    __table_args__ = (Index("ix_endpoints_prediction_endpoint_created", "endpoint_id", "created_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: str = Field(max_length=40)
    model_id: str | None = Field(default=None, max_length=40)
    version: str | None = Field(default=None, max_length=20)
    role: str = Field(default="primary", max_length=16)  # primary | canary | shadow
    key_id: str | None = Field(default=None, max_length=40)
    user_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default="ok", max_length=16)  # ok | error
    error_code: str | None = Field(default=None, max_length=16)
    instances: int = 1
    inputs: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    outputs: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    latency_ms: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)
