"""Wire documents of experiment tracking: the design's Experiment document, runs, logging batches,
metric histories, comparisons and the leaderboard (camelCase on the wire)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictFloat, StrictInt

from backend.core.schemas import InputModel, ReadModel, UtcDateTime
from backend.training.schemas import TrainingSpec

ExperimentType = Literal["training", "hyperparameter_optimization", "fine_tuning", "evaluation"]
ExperimentStatus = Literal["created", "running", "completed", "failed", "stopped"]
RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
RunSource = Literal["platform", "external"]
LifecycleStage = Literal["active", "deleted"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
Goal = Literal["max", "min"]
MetricAggregate = Literal["latest", "min", "max"]

# Limits (MLflow's where it has one: keys 250 characters, param values 6,000, tag values 8,000).
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_METRICS_PER_BATCH = 10_000
MAX_PARAMS_PER_BATCH = 1000
MAX_TAGS_PER_BATCH = 1000
MAX_LOG_LINES_PER_BATCH = 1000
MAX_LOG_LINE = 16_000
INT64 = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _plain_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


ExperimentName = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_plain_text)]
RunName = Annotated[str, Field(min_length=1, max_length=250), AfterValidator(_plain_text)]
TaskName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$", examples=["classification"],
                                description="The ML task, e.g. classification, regression, text_classification")]
Objective = Annotated[str, Field(max_length=300, pattern=r"^(maximize|minimize)_.+$", examples=["maximize_accuracy"],
                                 description="`maximize_<metric>` or `minimize_<metric>`, any logged metric")]
EntityId = Annotated[str, Field(min_length=1, max_length=64)]
# A metric value: a number, or "NaN", "Infinity", "-Infinity" (JSON has no literal for them).
MetricValueIn = StrictFloat | StrictInt | str
# Values as MLflow clients send them: strings, or numbers and booleans that are stored as their text.
ParamValueIn = str | StrictInt | StrictFloat | bool
MetricValueOut = float | Literal["NaN"]


# --- experiments -------------------------------------------------------------------------------------


class ExperimentCreate(InputModel):
    name: ExperimentName = Field(description="Unique on the platform (deleted experiments keep theirs)")
    description: str = Field(default="", max_length=5000)
    model_id: EntityId | None = Field(default=None, description="The catalog model it trains or evaluates")
    dataset_id: EntityId | None = Field(default=None, description="The dataset it trains on")
    type: ExperimentType = "training"
    task: TaskName | None = None
    objective: Objective | None = None
    configuration: dict[str, Any] = Field(default_factory=dict,
                                          description="Free JSON: search space, strategy, limits (the design's)")
    tags: dict[str, str] = Field(default_factory=dict, max_length=100)


class ExperimentUpdate(InputModel):
    """Fields sent are changed; `tags` are merged (a null value removes that tag)."""

    name: ExperimentName | None = None
    description: str | None = Field(default=None, max_length=5000)
    model_id: EntityId | None = None
    dataset_id: EntityId | None = None
    type: ExperimentType | None = None
    task: TaskName | None = None
    objective: Objective | None = None
    configuration: dict[str, Any] | None = None
    tags: dict[str, str | None] | None = Field(default=None, max_length=100)


class RunBrief(ReadModel):
    id: str
    name: str
    status: RunStatus
    parameters: dict[str, str]
    metrics: dict[str, MetricValueOut]


class ExperimentRead(ReadModel):
    id: str
    name: str
    description: str
    model_id: str | None
    dataset_id: str | None
    type: ExperimentType
    task: str | None
    objective: str | None
    status: ExperimentStatus
    configuration: dict[str, Any]
    tags: dict[str, str]
    artifact_location: str = Field(description="Where its runs' files live in the artifact store")
    lifecycle_stage: LifecycleStage
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    started_at: UtcDateTime | None = Field(description="When its first run started")
    completed_at: UtcDateTime | None = Field(description="When its last active run ended")
    duration_seconds: float | None
    deleted_at: UtcDateTime | None = None
    run_count: int = Field(description="Runs not deleted")
    run_counts: dict[str, int] = Field(default_factory=dict, description="Runs not deleted, by status")
    best_run: RunBrief | None = Field(default=None, description="The best run by the objective (single reads only)")
    best_trial: dict[str, Any] | None = Field(default=None, description="Optimised experiments: the best trial's "
                                              "parameters and metrics (single reads only)")
    trials: list[dict[str, Any]] | None = Field(default=None, description="Optimised experiments: the trials of "
                                                "its latest optimisation (single reads only)")


# --- runs --------------------------------------------------------------------------------------------


class RunCreate(InputModel):
    """Start a run by hand or from a script elsewhere (MLflow's create_run): status RUNNING, source
    `external`. With a `training` configuration the platform starts a training job inside the experiment
    instead, and this is its run (status SCHEDULED, source `platform`)."""

    name: RunName | None = Field(default=None, description="Default: `run-<n>`")
    start_time: int | None = Field(default=None, ge=0, le=INT64, description="Epoch ms; default now")
    parent_run_id: EntityId | None = Field(default=None, description="A run of the same experiment (trials)")
    params: dict[str, ParamValueIn] = Field(default_factory=dict, max_length=MAX_PARAMS_PER_BATCH)
    tags: dict[str, ParamValueIn] = Field(default_factory=dict, max_length=MAX_TAGS_PER_BATCH)
    training: TrainingSpec | None = Field(default=None, description=(
        "Train a model in this run: dataset version, family, hyperparameters, trainer settings and the target "
        "model, as `POST /training/jobs` takes them. The run's params are the job's configuration (send no "
        "`params` or `startTime` with it); `name`, `tags` and `parentRunId` apply"))


class RunUpdate(InputModel):
    """MLflow's update_run: rename, end (FINISHED, FAILED, KILLED with `endTime`, default now) or
    resume (RUNNING) an external run. A platform run's status belongs to its training job."""

    name: RunName | None = None
    status: RunStatus | None = None
    end_time: int | None = Field(default=None, ge=0, le=INT64, description="Epoch ms; default now")


class RunRead(ReadModel):
    id: str
    experiment_id: str
    name: str
    status: RunStatus
    source: RunSource
    job_id: str | None
    parent_run_id: str | None
    user_id: str
    start_time: int = Field(description="Epoch ms")
    end_time: int | None = Field(description="Epoch ms")
    started_at: UtcDateTime
    ended_at: UtcDateTime | None
    duration_seconds: float | None
    lifecycle_stage: LifecycleStage
    artifact_uri: str
    params: dict[str, str]
    metrics: dict[str, MetricValueOut] = Field(description="Each metric's latest value")
    tags: dict[str, str]


# --- logging -------------------------------------------------------------------------------------------


class MetricIn(InputModel):
    key: str = Field(max_length=1000)
    value: MetricValueIn = Field(description='A number, or "NaN", "Infinity", "-Infinity"')
    timestamp: StrictInt | None = Field(default=None, description="Epoch ms; default now")
    step: StrictInt = 0


class ParamIn(InputModel):
    key: str = Field(max_length=1000)
    value: ParamValueIn


class TagIn(InputModel):
    key: str = Field(max_length=1000)
    value: ParamValueIn


class MetricsBatch(InputModel):
    metrics: list[MetricIn] = Field(min_length=1, max_length=MAX_METRICS_PER_BATCH)


class ParamsBatch(InputModel):
    params: list[ParamIn] = Field(min_length=1, max_length=MAX_PARAMS_PER_BATCH)


class TagsBatch(InputModel):
    tags: list[TagIn] = Field(min_length=1, max_length=MAX_TAGS_PER_BATCH)


class LogBatch(InputModel):
    """MLflow's log-batch: metrics, params and tags in one call (validated whole, written together)."""

    metrics: list[MetricIn] = Field(default_factory=list, max_length=MAX_METRICS_PER_BATCH)
    params: list[ParamIn] = Field(default_factory=list, max_length=MAX_PARAMS_PER_BATCH)
    tags: list[TagIn] = Field(default_factory=list, max_length=MAX_TAGS_PER_BATCH)


class BatchResult(ReadModel):
    run_id: str
    metrics: int = Field(description="Points stored")
    params: int = Field(description="Params stored (one already logged with the same value counts)")
    tags: int


class LogLineIn(InputModel):
    message: str = Field(max_length=MAX_LOG_LINE)
    level: LogLevel = "INFO"
    timestamp: int | None = Field(default=None, ge=0, le=INT64, description="Epoch ms; default now")


class LogLinesIn(InputModel):
    lines: list[LogLineIn] = Field(min_length=1, max_length=MAX_LOG_LINES_PER_BATCH)


class LogLinesResult(ReadModel):
    run_id: str
    lines: int
    last_id: int = Field(description="Position of the last line stored (read on with `after`)")


class LogLineRead(ReadModel):
    id: int
    timestamp: int
    level: LogLevel
    message: str


class RunLogs(ReadModel):
    run_id: str
    lines: list[LogLineRead]
    last_id: int | None = Field(description="Pass it as `after` to read the lines that follow (also later ones)")
    more: bool = Field(description="Whether lines after these exist now")


class MetricSummary(ReadModel):
    key: str
    value: MetricValueOut = Field(description="The latest value (highest step, then timestamp)")
    step: int
    timestamp: int
    min: float | None = Field(description="Smallest value logged (NaN left out)")
    max: float | None
    count: int = Field(description="Points logged")


class MetricPoint(ReadModel):
    step: int
    timestamp: int
    value: MetricValueOut


class MetricHistory(ReadModel):
    key: str
    points: list[MetricPoint] = Field(description="In step order (then timestamp)")
    total_points: int
    downsampled: bool = Field(description="Whether `points` is a subset (each bucket's minimum and maximum, "
                                          "first and last kept)")


class RunMetrics(ReadModel):
    run_id: str
    metrics: list[MetricSummary]
    histories: list[MetricHistory] = Field(description="One per `key` asked for")


class RunArtifactRead(ReadModel):
    path: str
    size: int
    sha256: str
    created_by: str
    created_at: UtcDateTime


class RunArtifactList(ReadModel):
    run_id: str
    artifact_uri: str
    items: list[RunArtifactRead]


# --- compare and leaderboard -------------------------------------------------------------------------------


class CompareRequest(InputModel):
    experiment_ids: list[EntityId] = Field(min_length=2, max_length=10)
    metrics: list[str] | None = Field(default=None, max_length=20,
                                      description="Metric keys to compare; default: those the runs logged (20 at most)")
    metric: str | None = Field(default=None, max_length=MAX_KEY,
                               description="Picks each experiment's best run; default: its objective, else the "
                                           "first metric compared")
    goals: dict[str, Goal] = Field(default_factory=dict, max_length=20,
                                   description="max or min per metric; default: from an objective naming it, else "
                                               "min for loss/error-like names, else max")
    curves: list[str] | None = Field(default=None, max_length=5,
                                     description="Metrics whose history to return for each best run; default: "
                                                 "the first four compared")
    curve_points: int = Field(default=200, ge=2, le=2000)


class CompareMetric(ReadModel):
    key: str
    goal: Goal


class BestValue(ReadModel):
    value: float
    run_id: str


class ComparedExperiment(ReadModel):
    id: str
    name: str
    type: ExperimentType
    task: str | None
    objective: str | None
    status: ExperimentStatus
    dataset_id: str | None
    model_id: str | None
    run_count: int
    primary_metric: str | None
    best_run: RunBrief | None
    best_metrics: dict[str, BestValue | None] = Field(description="Per metric compared: the best latest value of "
                                                                   "its runs, and which run")


class ParameterDifference(ReadModel):
    key: str
    values: dict[str, str | None] = Field(description="Experiment id → its best run's value")
    differs: bool


class Curve(ReadModel):
    experiment_id: str
    run_id: str
    key: str
    points: list[MetricPoint]
    total_points: int
    downsampled: bool


class CompareResult(ReadModel):
    metrics: list[CompareMetric]
    experiments: list[ComparedExperiment]
    parameters: list[ParameterDifference] = Field(description="The best runs' params, differing ones first")
    curves: list[Curve]


class LeaderboardEntry(ReadModel):
    rank: int
    value: float
    run: RunBrief
    run_user_id: str
    ended_at: UtcDateTime | None
    experiment_id: str
    experiment_name: str
    experiment_type: ExperimentType
    task: str | None
    dataset_id: str | None
    model_id: str | None


class Leaderboard(ReadModel):
    metric: str
    goal: Goal
    aggregate: MetricAggregate
    entries: list[LeaderboardEntry]


class AnalysisPoint(ReadModel):
    run_id: str
    name: str
    start_time: int = Field(description="Epoch milliseconds")
    value: float = Field(description="The run's latest value of the metric")
    best_so_far: float = Field(description="The best value among this run and those started before it")
    params: dict[str, str]


class ExperimentAnalysis(ReadModel):
    """How an experiment's runs did on one metric: history, hyperparameter importance, best run."""

    metric: str | None = Field(description="The metric analysed (null: no objective set and none asked for)")
    goal: Goal
    runs_total: int = Field(description="Runs read (the most recent 2000 at most)")
    history: list[AnalysisPoint] = Field(description="Runs that logged the metric, in start order")
    parameters: list[str] = Field(description="Params that vary between those runs (the importance's inputs)")
    importance: dict[str, float] = Field(description="Each param's share of the metric's variance (fANOVA over "
                                         "the most recent 100 scored runs); sums to 1, most important first; "
                                         "empty below two runs")
    importance_method: str
    best: AnalysisPoint | None
    best_params: dict[str, str]
