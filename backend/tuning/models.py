"""A study (one optimisation of an experiment) and its trials. Optuna keeps its own records in its own
database (`AISYSTEM_OPTUNA_STORAGE_URL`); these rows tie each Optuna trial to the platform's training job
and run, and keep what the routes show (parameters, metrics, objective values) without opening Optuna."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

STUDY_STATUSES = ("running", "completed", "failed", "stopped")
# waiting: planned, no training job yet (a PBT round's members beyond parallelTrials); running: its
# training job is queued or running; the rest are final.
TRIAL_STATUSES = ("waiting", "running", "completed", "pruned", "failed", "cancelled")
FINAL_TRIAL_STATUSES = ("completed", "pruned", "failed", "cancelled")


class Study(SQLModel, table=True):
    __tablename__ = "tuning_study"

    id: str = Field(primary_key=True, max_length=40)  # also the Optuna study's name
    experiment_id: str = Field(index=True, max_length=40)
    strategy: str = Field(max_length=32)
    status: str = Field(default="running", index=True, max_length=16)
    configuration: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # What every trial's training job is made of: dataset, family, base hyperparameters, trainer, target.
    training: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    objectives: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    max_trials: int
    parallel_trials: int
    error: str | None = Field(default=None, max_length=2000)
    created_by: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None


class Trial(SQLModel, table=True):
    __tablename__ = "tuning_trial"
    __table_args__ = (UniqueConstraint("study_id", "number"),)

    id: str = Field(primary_key=True, max_length=40)
    study_id: str = Field(index=True, max_length=40)
    number: int  # the trial's place in the study (Optuna's number for sampled ones)
    optuna_trial_id: int | None = None
    status: str = Field(default="running", index=True, max_length=16)
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    values: list[float] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    run_id: str | None = Field(default=None, max_length=40)
    training_job_id: str | None = Field(default=None, index=True, max_length=40)
    # Population-based training: the member, its round, and the trial whose checkpoint it starts from.
    member: int | None = None
    round: int | None = None
    parent_trial_id: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
