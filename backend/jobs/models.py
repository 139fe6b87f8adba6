"""Background jobs: the job table, not the broker, is the source of truth."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED = ("succeeded", "failed", "cancelled")


class Job(SQLModel, table=True):
    __tablename__ = "core_job"
    # Creation and completion are audited explicitly; progress and lease updates are bookkeeping.
    __audited__ = False

    id: str = Field(primary_key=True, max_length=40)
    type: str = Field(index=True, max_length=80)
    status: str = Field(default="queued", index=True, max_length=16)
    progress: float = 0.0
    message: str | None = Field(default=None, max_length=500)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    error: str | None = Field(default=None, max_length=2000)
    error_code: str | None = Field(default=None, max_length=16)  # from ERROR_CATALOGUE, when failed
    attempts: int = 0
    max_attempts: int = 3
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, index=True)
    enqueued_at: datetime | None = None
    resends: int = 0  # times the reaper sent it again; each re-send waits twice as long as the last
    cancel_requested: bool = False
    # Where it runs: the queue its type (or its creator) chose, and what the worker must have.
    queue: str = Field(default="default", index=True, max_length=40)
    gpus_required: int = 0
    gpu_memory_mb_required: int = 0
    time_limit_seconds: int | None = None
    # What a retried attempt resumes from (types with a resume hook), saved by `ctx.checkpoint`.
    checkpoint: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    checkpointed_at: datetime | None = None
    created_by: str | None = Field(default=None, index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class WorkerHeartbeat(SQLModel, table=True):
    """One row per worker process, refreshed while it lives (shown in health)."""

    __tablename__ = "core_worker"
    __audited__ = False

    name: str = Field(primary_key=True, max_length=200)
    hostname: str = Field(max_length=200)
    pid: int
    gpu_count: int = 0
    gpu_names: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The queues it serves and what it has: {"cpuCount", "memoryMb", "gpus": [{"name", "memoryMb"}],
    # "source": "detected" | "override"} (an override is for tests: AISYSTEM_WORKER_DEVICES_OVERRIDE).
    queues: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    devices: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow, index=True)


class PlatformSnapshot(SQLModel, table=True):
    """Catalog statistics recomputed by the `platform.statistics` job (one row per job at most)."""

    __tablename__ = "core_platform_snapshot"

    id: str = Field(primary_key=True, max_length=40)
    job_id: str = Field(unique=True, max_length=40)
    computed_at: datetime = Field(default_factory=utcnow)
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
