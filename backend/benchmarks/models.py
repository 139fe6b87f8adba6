"""A benchmark run (which versions, on which dataset version, task and split; its job), one result per
version of a run (its measured figures and the device they were measured on), and the entries of named
public leaderboards (a result submitted under a name)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TASKS = ("classification", "regression")
SPLITS = ("test", "validation", "train", "all")


class BenchmarkRun(SQLModel, table=True):
    __tablename__ = "benchmarks_run"
    __table_args__ = (Index("ix_benchmarks_run_created_by_created_at", "created_by", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default="queued", max_length=16)
    job_id: str | None = Field(default=None, max_length=40)
    dataset_id: str = Field(max_length=40, index=True)
    dataset_version: int
    task: str = Field(max_length=16)
    split: str = Field(max_length=16)
    # The model version ids (catalog_model_version.id), in the order asked.
    version_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # {"repetitions": int, "warmup": int, "batchSizes": [1, 8, 64]}
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, max_length=1000)
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


class BenchmarkResult(SQLModel, table=True):
    """The figures one version measured in one run. The current result of a (model version, dataset
    version, task) is its newest row."""

    __tablename__ = "benchmarks_result"
    __table_args__ = (
        UniqueConstraint("run_id", "model_version_id", name="uq_benchmarks_result_run_id_model_version_id"),
        Index("ix_benchmarks_result_key", "model_version_id", "dataset_id", "dataset_version", "task", "created_at"),
        Index("ix_benchmarks_result_dataset_task", "dataset_id", "task", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    run_id: str = Field(foreign_key="benchmarks_run.id", max_length=40)
    model_version_id: str = Field(max_length=40)
    model_id: str = Field(max_length=40, index=True)
    version: str = Field(max_length=20)
    dataset_id: str = Field(max_length=40)
    dataset_version: int
    task: str = Field(max_length=16)
    split: str = Field(max_length=16)
    rows: int
    # Flat metric key -> value (accuracy, f1_macro, rmse, latency_p95_ms, throughput_b8, ...).
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Classification: [{"label", "precision", "recall", "f1", "support"}]
    per_class: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    device: str = Field(max_length=8)  # cpu | cuda
    device_name: str = Field(max_length=200)
    # The per-row outcomes in the artifact store (`backend.benchmarks.samples`): {"key", "sha256", "size",
    # "rows", "format"}. None for results measured before samples were kept.
    samples: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class LeaderboardEntry(SQLModel, table=True):
    """A result submitted to a named public leaderboard. A named board holds one dataset and task: the
    first submission fixes them."""

    __tablename__ = "benchmarks_leaderboard_entry"
    __table_args__ = (UniqueConstraint("leaderboard", "result_id", name="uq_benchmarks_leaderboard_entry_board_result"),)

    id: str = Field(primary_key=True, max_length=40)
    leaderboard: str = Field(max_length=80, index=True)
    result_id: str = Field(foreign_key="benchmarks_result.id", max_length=40)
    note: str | None = Field(default=None, max_length=500)
    submitted_by: str = Field(max_length=40)
    submitted_at: datetime = Field(default_factory=utcnow)
