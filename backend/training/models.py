"""The training job row: what to train (dataset, family, hyperparameters, trainer options), where it
goes (target model, experiment run, platform job) and how it went (status, progress, checkpoints,
resources used). The runner process updates the live fields (progress, step, checkpoints, resources)
with plain UPDATE statements: bookkeeping, not audited; every status change made by a person or the job
system goes through the service and is audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

TRAINING_STATUSES = ("created", "queued", "running", "paused", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")  # counted against the per-user cap
TERMINAL = ("succeeded", "failed", "cancelled")
CONTROLS = ("pause", "stop", "cancel")  # what the runner is asked to do at its next check


class TrainingJob(SQLModel, table=True):
    __tablename__ = "training_job"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    kind: str = Field(default="training", max_length=16)  # training | fine_tune
    status: str = Field(default="created", index=True, max_length=16)
    dataset_id: str = Field(index=True, max_length=40)
    dataset_version: int
    family: str = Field(max_length=40)
    task: str = Field(max_length=24)
    label_column: str = Field(max_length=200)
    input_columns: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hyperparameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    trainer: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    plan: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The prepared module config (preprocessing learnt from the training split), saved by the first
    # attempt so that resumed attempts and other DDP ranks rebuild the same module.
    prepared_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    model_id: str | None = Field(default=None, max_length=40)
    model_name: str | None = Field(default=None, max_length=200)  # the model to create on success
    model_version: str | None = Field(default=None, max_length=40)  # the version registered on success
    base_model_id: str | None = Field(default=None, max_length=40)  # fine-tune: the model it starts from
    base_model_version: str | None = Field(default=None, max_length=40)
    experiment_id: str = Field(max_length=40)
    run_id: str = Field(index=True, max_length=40)
    job_id: str | None = Field(default=None, index=True, max_length=40)
    control: str | None = Field(default=None, max_length=16)
    progress: float = 0.0
    epoch: int = 0
    global_step: int = 0
    checkpoints: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    resources: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    error: str | None = Field(default=None, max_length=2000)
    error_code: str | None = Field(default=None, max_length=16)
    created_by: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
