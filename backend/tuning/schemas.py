"""Wire documents of hyperparameter optimisation (camelCase on the wire; unknown input fields refused).

`OptimizationConfiguration` is the design's Experiment `configuration` document; the service checks it
(TRAIN_003 naming each bad field) rather than the route, so the UI, scripts and REST get the same errors.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

STRATEGIES = ("grid", "random", "bayesian_optimization", "genetic", "population_based_training")
MAX_TRIALS = 1000
MAX_PARAMETERS = 32
MAX_CHOICES = 100


class SearchParameter(InputModel):
    """One hyperparameter's range: `float` (min, max, scale), `int` (min, max, optional step) or `choice`."""

    type: Literal["float", "int", "choice"]
    min: float | None = Field(default=None, description="float and int: the smallest value")
    max: float | None = Field(default=None, description="float and int: the largest value")
    scale: Literal["linear", "log"] = Field(default="linear", description="log: sampled on a log scale (min > 0)")
    step: float | None = Field(default=None, gt=0, description="int (and linear float): spacing of the values")
    values: list[Any] | None = Field(default=None, min_length=1, max_length=MAX_CHOICES,
                                     description="choice: the values to pick from")


class EarlyStoppingConfig(InputModel):
    """Stop (prune) trials that fall behind: Optuna's median pruner over the per-epoch objective, made
    patient (PatientPruner) when `patience` is given."""

    enabled: bool = False
    patience: int | None = Field(default=None, ge=1, le=1000,
                                 description="Epochs without a gain of minDelta before a trial may be pruned")
    min_delta: float = Field(default=0.0, ge=0, le=1e6)
    warmup_epochs: int = Field(default=0, ge=0, le=1000, description="Epochs every trial trains before pruning")
    startup_trials: int = Field(default=1, ge=0, le=1000,
                                description="Trials that finish unpruned before any is pruned")


class ObjectiveConfig(InputModel):
    metric: str = Field(min_length=1, max_length=250, description="A metric a trial logs (val_accuracy, "
                        "val_loss, test_accuracy, trainingSeconds, ...); accuracy/loss/rmse mean val_*")
    direction: Literal["maximize", "minimize"]


class PopulationConfig(InputModel):
    """Population-based training: `size` members trained in rounds of `roundEpochs` epochs."""

    size: int = Field(default=4, ge=2, le=64)
    round_epochs: int = Field(default=1, ge=1, le=1000)
    exploit_fraction: float = Field(default=0.25, gt=0, le=0.5,
                                    description="The worst members (this share) copy the best one's checkpoint")
    perturb_factors: list[float] = Field(default=[0.8, 1.2], min_length=1, max_length=8,
                                         description="Float hyperparameters of a copy are multiplied by one of these")


class OptimizationConfiguration(InputModel):
    """The design's Experiment `configuration`."""

    search_space: dict[str, SearchParameter] = Field(description="Hyperparameter name -> range")
    strategy: Literal["grid", "random", "bayesian_optimization", "genetic", "population_based_training"] = \
        "bayesian_optimization"
    max_trials: int = Field(default=20, ge=1, le=MAX_TRIALS)
    parallel_trials: int = Field(default=1, ge=1, le=64)
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    objective: str | None = Field(default=None, max_length=260,
                                  description="maximize_accuracy, minimize_loss or maximize_/minimize_<metric>; "
                                  "default: the experiment's objective, else maximize_accuracy")
    objectives: list[ObjectiveConfig] | None = Field(default=None, min_length=2, max_length=4,
                                                     description="Several objectives: the Pareto front is kept")
    grid_points: int = Field(default=4, ge=2, le=50, description="grid: values per float range")
    population: PopulationConfig = Field(default_factory=PopulationConfig)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)


class OptimizeRequest(InputModel):
    """Start optimising an experiment: the configuration (default: the experiment's own) and what every
    trial trains (dataset and model default to the experiment's)."""

    configuration: dict[str, Any] | None = Field(default=None, description="The design's Experiment "
                                                 "`configuration` (searchSpace, strategy, maxTrials, ...)")
    dataset_id: str | None = Field(default=None, max_length=40)
    dataset_version: int | None = Field(default=None, ge=1)
    family: str = Field(default="tabular_mlp", min_length=1, max_length=40)
    task: Literal["classification", "regression"] | None = None
    label_column: str | None = Field(default=None, min_length=1, max_length=200)
    input_columns: list[str] | None = Field(default=None, max_length=2000)
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="Values every trial shares")
    trainer: dict[str, Any] = Field(default_factory=dict)
    model_id: str | None = Field(default=None, max_length=40, description="Trials register versions of this model")
    model_name: str | None = Field(default=None, min_length=1, max_length=200,
                                   description="Or of a model of this name, created by the first trial")


class TrialRead(ReadModel):
    id: str
    number: int
    status: Literal["waiting", "running", "completed", "pruned", "failed", "cancelled"]
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    values: list[float] | None = Field(default=None, description="The objective values, in objective order")
    run_id: str | None = None
    job_id: str | None = Field(default=None, description="The training job")
    member: int | None = Field(default=None, description="Population-based training: the member")
    round: int | None = None
    parent_trial_id: str | None = Field(default=None, description="PBT: the trial whose checkpoint it continues")
    error: str | None = None
    created_at: UtcDateTime
    finished_at: UtcDateTime | None = None


class Objective(ReadModel):
    metric: str
    direction: Literal["maximize", "minimize"]


class StudyRead(ReadModel):
    id: str
    experiment_id: str
    strategy: str
    status: Literal["running", "completed", "failed", "stopped"]
    objectives: list[Objective]
    max_trials: int
    parallel_trials: int
    trial_counts: dict[str, int]
    error: str | None = None
    created_at: UtcDateTime
    completed_at: UtcDateTime | None = None


class TrialList(ReadModel):
    study: StudyRead
    trials: list[TrialRead]


class BestTrial(ReadModel):
    id: str
    number: int
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    values: list[float]
    run_id: str | None = None
    job_id: str | None = None


class BestParams(ReadModel):
    study: StudyRead
    best_trial: BestTrial | None = Field(description="Single objective: the best completed trial (null until one "
                                         "completes); several objectives: the first of the Pareto front")
    pareto_front: list[BestTrial] = Field(default_factory=list, description="Several objectives: the trials no "
                                          "other trial beats on every objective")


class AdvancePayload(InputModel):
    """The `tuning.advance` job's payload: which study."""

    study_id: str = Field(max_length=40)
