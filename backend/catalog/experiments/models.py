"""Experiment tracking tables, shaped so that MLflow's tracking API maps onto them one to one.

| MLflow (SqlAlchemyStore)             | here                                   |
| ------------------------------------ | -------------------------------------- |
| experiments (experiment_id, name,    | catalog_experiment (id, name: unique,  |
|  artifact_location, lifecycle_stage, |  artifact_location, lifecycle_stage,   |
|  creation_time, last_update_time)    |  created_at, updated_at) + the design's |
|                                      |  Experiment fields (model, dataset...) |
| experiment_tags (key, value)         | catalog_experiment_tag                 |
| runs (run_uuid, name, status,        | catalog_experiment_run (id, name,      |
|  start_time, end_time, user_id,      |  status, start_time, end_time: ms,     |
|  lifecycle_stage, artifact_uri,      |  user_id, lifecycle_stage,             |
|  deleted_time, experiment_id)        |  artifact_uri, deleted_at, ...) + the  |
|                                      |  platform's job_id, source, parent     |
| params (key, value, run_uuid)        | catalog_experiment_param               |
| metrics (key, value, timestamp,      | catalog_experiment_metric (one row per |
|  step, is_nan, run_uuid)             |  point; many per key)                  |
| latest_metrics (key, value,          | catalog_experiment_latest_metric (+    |
|  timestamp, step, is_nan, run_uuid)  |  min, max and count, for sorting)      |
| tags (key, value, run_uuid)          | catalog_experiment_run_tag             |

Values follow MLflow's SQL store: a NaN metric is stored as value 0 with `is_nan` true, +/-inf as
+/-1.7976931348623157e308; params are strings that never change once logged; tags may be overwritten.
Run times are epoch milliseconds like MLflow's (metric timestamps are too); the platform's own
bookkeeping times are aware datetimes.

Auditing: experiments, runs, params, tags and artifacts are audited (each write carries an audit
record: params and tags one per batch, a run one per state change). Metric points, the latest-metric
summary they maintain and log lines are high-volume ingest and opt out (`__audited__ = False`): a
training process logs thousands of points a minute, and an audit record per batch would drown the
trail. What the trail keeps of them is the run's state changes, whose records carry the run's
metric and log counts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Float, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

# A 64-bit row id that SQLite still treats as its rowid (only INTEGER PRIMARY KEY autoincrements there).
RowId = BigInteger().with_variant(Integer(), "sqlite")

LIFECYCLE_STAGES = ("active", "deleted")
EXPERIMENT_TYPES = ("training", "hyperparameter_optimization", "fine_tuning", "evaluation")
# created: no run yet; running: a run is scheduled or running; then, once none is: completed (a run
# finished), failed (none finished, one failed) or stopped (every run was killed).
EXPERIMENT_STATUSES = ("created", "running", "completed", "failed", "stopped")
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")  # MLflow's RunStatus
ACTIVE_RUN_STATUSES = ("RUNNING", "SCHEDULED")
TERMINAL_RUN_STATUSES = ("FINISHED", "FAILED", "KILLED")
RUN_SOURCES = ("platform", "external")  # started by the platform (a training job) or logged from outside
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Experiment(SQLModel, table=True):
    """The design's Experiment document: a named group of runs with a goal (MLflow's experiment)."""

    __tablename__ = "catalog_experiment"
    __table_args__ = (
        # Unique across the platform, deleted experiments included, as MLflow's experiment names are.
        UniqueConstraint("name"),
        Index("ix_catalog_experiment_created_at_id", "created_at", "id"),
        Index("ix_catalog_experiment_updated_at_id", "updated_at", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=256)
    description: str = Field(default="", max_length=5000)
    artifact_location: str = Field(max_length=300)
    lifecycle_stage: str = Field(default="active", index=True, max_length=16)
    model_id: str | None = Field(default=None, index=True, max_length=40)
    dataset_id: str | None = Field(default=None, index=True, max_length=40)
    type: str = Field(default="training", max_length=40)
    task: str | None = Field(default=None, index=True, max_length=40)
    objective: str | None = Field(default=None, max_length=300)
    status: str = Field(default="created", index=True, max_length=16)
    configuration: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    deleted_at: datetime | None = None


class ExperimentTag(SQLModel, table=True):
    __tablename__ = "catalog_experiment_tag"

    experiment_id: str = Field(foreign_key="catalog_experiment.id", primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=250)
    value: str = Field(max_length=8000)


class Run(SQLModel, table=True):
    """One run of an experiment: a training job of the platform, a tuning trial, or a script elsewhere."""

    __tablename__ = "catalog_experiment_run"
    __table_args__ = (Index("ix_catalog_experiment_run_experiment_id_start_time", "experiment_id", "start_time", "id"),)

    id: str = Field(primary_key=True, max_length=40)
    experiment_id: str = Field(foreign_key="catalog_experiment.id", max_length=40)
    name: str = Field(max_length=250)
    status: str = Field(default="RUNNING", index=True, max_length=16)
    start_time: int = Field(sa_column=Column(BigInteger, nullable=False))  # epoch ms
    end_time: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    lifecycle_stage: str = Field(default="active", max_length=16)
    deleted_at: datetime | None = None
    user_id: str = Field(index=True, max_length=40)
    artifact_uri: str = Field(max_length=300)
    job_id: str | None = Field(default=None, index=True, max_length=40)
    source: str = Field(default="external", max_length=16)
    parent_run_id: str | None = Field(default=None, foreign_key="catalog_experiment_run.id", index=True,
                                      max_length=40)


class Param(SQLModel, table=True):
    """A run's parameter: a string, logged once (logging it again with another value is refused)."""

    __tablename__ = "catalog_experiment_param"

    run_id: str = Field(foreign_key="catalog_experiment_run.id", primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=250)
    value: str = Field(max_length=6000)


class RunTag(SQLModel, table=True):
    __tablename__ = "catalog_experiment_run_tag"

    run_id: str = Field(foreign_key="catalog_experiment_run.id", primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=250)
    value: str = Field(max_length=8000)


class Metric(SQLModel, table=True):
    """One point of a metric's history; inserted in batches with one statement (never row by row)."""

    __tablename__ = "catalog_experiment_metric"
    __audited__ = False
    __table_args__ = (Index("ix_catalog_experiment_metric_run_id_key_step", "run_id", "key", "step"),)

    id: int | None = Field(default=None, sa_column=Column(RowId, primary_key=True, autoincrement=True))
    run_id: str = Field(foreign_key="catalog_experiment_run.id", max_length=40)
    key: str = Field(max_length=250)
    value: float = Field(sa_column=Column(Float, nullable=False))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))  # epoch ms
    step: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    is_nan: bool = False


class LatestMetric(SQLModel, table=True):
    """Per run and key: the latest point (highest step, then timestamp, then value, as MLflow picks it)
    and the minimum, maximum and count of the history, kept up to date by every ingest."""

    __tablename__ = "catalog_experiment_latest_metric"
    __audited__ = False
    __table_args__ = (Index("ix_catalog_experiment_latest_metric_key_value", "key", "value"),)

    run_id: str = Field(foreign_key="catalog_experiment_run.id", primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=250)
    value: float = Field(sa_column=Column(Float, nullable=False))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    step: int = Field(sa_column=Column(BigInteger, nullable=False))
    is_nan: bool = False
    min_value: float | None = Field(default=None, sa_column=Column(Float, nullable=True))  # NaN left out
    max_value: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class RunLog(SQLModel, table=True):
    """One log line of a run (a training job's output, or lines an external script posts)."""

    __tablename__ = "catalog_experiment_run_log"
    __audited__ = False
    __table_args__ = (Index("ix_catalog_experiment_run_log_run_id_id", "run_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(RowId, primary_key=True, autoincrement=True))
    run_id: str = Field(foreign_key="catalog_experiment_run.id", max_length=40)
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))  # epoch ms
    level: str = Field(default="INFO", max_length=10)
    message: str = Field(sa_column=Column(Text, nullable=False))


class RunArtifact(SQLModel, table=True):
    """A file of a run: its path inside the run (what clients name it by) and where the store keeps it
    (`runs/<run id>/artifacts/…`, content-addressed so a replaced file is never half-visible)."""

    __tablename__ = "catalog_experiment_run_artifact"
    __table_args__ = (UniqueConstraint("run_id", "path"),)

    id: str = Field(primary_key=True, max_length=40)
    run_id: str = Field(foreign_key="catalog_experiment_run.id", index=True, max_length=40)
    path: str = Field(max_length=500)
    key: str = Field(max_length=300)
    sha256: str = Field(max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
