"""Wire documents of benchmarks (camelCase; unknown input fields refused). Metric keys inside `metrics`
are the platform's metric keys (`accuracy`, `f1_macro`, `latency_p95_ms`, `throughput_b8`, ...)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

Task = Literal["classification", "regression"]
Split = Literal["test", "validation", "train", "all"]
MAX_VERSIONS = 10
BOARD_NAME = r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,79}$"
ID = r"^[A-Za-z0-9_.\-]+$"
MAX_VERSION = 2**31 - 1


def distinct_ids(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("each version once")
    if any(not re.match(ID, v) or len(v) > 40 for v in value):
        raise ValueError("version ids are 1-40 letters, digits, '_', '.' or '-'")
    return value


class RunSettings(InputModel):
    repetitions: int = Field(default=100, ge=5, le=2000, description="Timed single-row calls (latency), and "
                             "the most calls per batch size (throughput)")
    warmup: int = Field(default=5, ge=0, le=100, description="Untimed calls before each timing")


class BenchmarkRunRequest(InputModel):
    version_ids: list[str] = Field(min_length=1, max_length=MAX_VERSIONS,
                                   description="Model version ids (`id` of a registry version)")
    dataset_id: str = Field(min_length=1, max_length=40, pattern=ID)
    dataset_version: int | None = Field(default=None, ge=1, le=MAX_VERSION, description="Empty: the dataset's current version")
    task: Task | None = Field(default=None, description="Empty: the task of the models (they must agree)")
    split: Split = Field(default="test", description="The stored split's part to score; `all`: every labelled row")
    settings: RunSettings = Field(default_factory=RunSettings)

    @field_validator("version_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return distinct_ids(value)


class CatalogBenchmarkRequest(InputModel):
    """The design's `/catalog/models/benchmark`: versions of one catalog model (all its packaged versions,
    newest first, at most 10, when `versions` is empty)."""

    model_id: str = Field(min_length=1, max_length=40, pattern=ID)
    versions: list[str] | None = Field(default=None, min_length=1, max_length=MAX_VERSIONS,
                                       description="Semantic versions, e.g. [\"1.0.0\", \"1.1.0\"]")
    dataset_id: str = Field(min_length=1, max_length=40, pattern=ID)
    dataset_version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    task: Task | None = None
    split: Split = "test"
    settings: RunSettings = Field(default_factory=RunSettings)

    @field_validator("versions")
    @classmethod
    def _semver(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (len(set(value)) != len(value) or
                                  any(not re.match(r"^\d{1,6}\.\d{1,6}\.\d{1,6}$", v) for v in value)):
            raise ValueError("distinct semantic versions MAJOR.MINOR.PATCH")
        return value


class PerClass(ReadModel):
    label: str
    precision: float
    recall: float
    f1: float
    support: int


class SamplesRead(ReadModel):
    """Where a result's per-row outcomes (true and predicted label or value per row) are kept."""

    key: str = Field(description="Artifact store key of the .npz")
    sha256: str
    size: int
    rows: int


class ResultRead(ReadModel):
    id: str
    run_id: str
    model_version_id: str
    model_id: str
    model_name: str | None = None
    version: str
    dataset_id: str
    dataset_version: int
    task: Task
    split: Split
    rows: int = Field(description="Labelled rows scored")
    metrics: dict[str, float | None] = Field(description="Metric key -> value; latency in ms, throughput in "
                                             "predictions per second; null where a metric does not apply")
    per_class: list[PerClass] = Field(default_factory=list)
    device: Literal["cpu", "cuda"]
    device_name: str
    samples: SamplesRead | None = Field(default=None, description="The per-row outcomes kept for resampling "
                                        "(the comparison's bootstrap); null for results measured before they were kept")
    created_at: UtcDateTime


class BenchmarkRead(ReadModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    job_id: str | None = None
    progress: float = Field(default=0, ge=0, le=1)
    message: str | None = None
    dataset_id: str
    dataset_version: int
    task: Task
    split: Split
    version_ids: list[str]
    settings: dict[str, int]
    error: str | None = None
    results: list[ResultRead] = Field(default_factory=list)
    created_by: str
    created_at: UtcDateTime
    finished_at: UtcDateTime | None = None


class LeaderboardRow(ReadModel):
    rank: int
    result_id: str
    model_id: str
    model_name: str
    version: str
    model_version_id: str
    value: float | None = Field(description="The sorting metric's value")
    metrics: dict[str, float | None]
    device: str
    device_name: str
    measured_at: UtcDateTime
    submitted_by: str | None = None
    note: str | None = None


class Leaderboard(ReadModel):
    name: str
    kind: Literal["default", "named"]
    dataset_id: str | None = None
    dataset_name: str | None = None
    dataset_version: int | None = None
    task: Task | None = None
    metric: str
    higher_is_better: bool
    entries: list[LeaderboardRow]


class LeaderboardSummary(ReadModel):
    name: str
    kind: Literal["default", "named"]
    dataset_id: str
    dataset_name: str | None = None
    dataset_version: int | None = None
    task: Task
    entries: int


class SubmitRequest(InputModel):
    result_id: str = Field(min_length=1, max_length=40, pattern=ID, description="A result of one of your benchmarks")
    leaderboard: str = Field(pattern=BOARD_NAME, description="The public leaderboard's name (created by its "
                             "first submission, which fixes its dataset and task)")
    note: str | None = Field(default=None, max_length=500, pattern=r"^[^\x00]*$")


class Submission(ReadModel):
    id: str
    leaderboard: str
    result_id: str
    rank: int
    submitted_at: UtcDateTime


class RankingRow(ReadModel):
    rank: int
    model_id: str
    model_name: str
    version: str
    model_version_id: str
    result_id: str
    dataset_id: str
    dataset_version: int
    value: float | None


class TaskRanking(ReadModel):
    task: Task
    metric: str
    higher_is_better: bool
    models: list[RankingRow]


class Rankings(ReadModel):
    tasks: list[TaskRanking]


class SpeedRequest(InputModel):
    version_ids: list[str] = Field(min_length=1, max_length=5)

    @field_validator("version_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        return distinct_ids(value)
    dataset_id: str | None = Field(default=None, max_length=40, pattern=ID, description="Rows to time; empty: each "
                                   "version's training dataset")
    dataset_version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    batch_sizes: list[int] = Field(default=[1, 8, 64], min_length=1, max_length=6)
    repetitions: int = Field(default=50, ge=5, le=500)
    warmup: int = Field(default=3, ge=0, le=50)

    @field_validator("batch_sizes")
    @classmethod
    def _sizes(cls, value: list[int]) -> list[int]:
        if any(v < 1 or v > 256 for v in value):
            raise ValueError("batch sizes are 1-256")
        return sorted(set(value))


class SpeedPoint(ReadModel):
    batch_size: int
    throughput: float = Field(description="Predictions per second")
    latency_ms: float = Field(description="Mean time per call (ms)")


class SpeedRow(ReadModel):
    model_version_id: str
    model_id: str
    model_name: str
    version: str
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    points: list[SpeedPoint]


class SpeedReport(ReadModel):
    device: str
    device_name: str
    repetitions: int
    warmup: int
    versions: list[SpeedRow]
    measured_at: UtcDateTime
