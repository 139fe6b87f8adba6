"""Wire documents of comparison, scoring and analysis (camelCase; unknown input fields refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

KEY_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
Profile = Literal["balanced", "cheapest_good_enough", "best_quality"]


class SubjectRef(InputModel):
    """One compared thing: a catalog model (`model_…`), a model version (`modelver_…`, or `modelId` with
    `version`), or a marketplace listing (`market_model_…` or its slug)."""

    id: str | None = Field(default=None, min_length=1, max_length=140)
    model_id: str | None = Field(default=None, min_length=1, max_length=40)
    version: str | None = Field(default=None, max_length=20, pattern=r"^\d+\.\d+\.\d+$")

    @model_validator(mode="after")
    def _one(self) -> SubjectRef:
        if (self.id is None) == (self.model_id is None):
            raise ValueError("give either `id` or `modelId` (with `version`)")
        if self.model_id is not None and self.version is None:
            raise ValueError("`modelId` needs `version`; a whole model is compared by its `id`")
        return self


class CompareRequest(InputModel):
    """Models to compare and how to weigh the metrics.

    `models`: 2–10 ids (strings) or `{modelId, version}` objects, mixed freely. Weighting: a named `profile`
    (default balanced), or explicit `weights` {metricKey: weight ≥ 0} (normalised to sum to 1; the metrics
    compared are then the weighted ones). `metrics` limits or extends the metrics of a profile."""

    models: list[str | SubjectRef] = Field(description="2–10 catalog models, versions or listings")
    profile: Profile | None = Field(default=None, description="balanced, cheapest_good_enough or best_quality")
    weights: dict[str, float] | None = Field(default=None, description="Explicit weights per metric key (≥ 0)")
    metrics: list[str] | None = Field(default=None, max_length=30, description="Metric keys to compare")
    title: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _weighting(self) -> CompareRequest:
        if self.profile is not None and self.weights is not None:
            raise ValueError("give either `profile` or `weights`, not both")
        return self


class ModelScoreEntry(ReadModel):
    model_id: str
    model_name: str
    overall_score: float | None
    kind: str = Field(description="model, version or listing")
    coverage: float = Field(description="Share of the weight this model has values for (1 = every metric)")


class MetricScores(ReadModel):
    key: str
    label: str
    weight: float
    scores: dict[str, float | None] = Field(description="Model id -> score 0–100 (null: value missing)")
    values: dict[str, float | None] = Field(default_factory=dict, description="Model id -> raw value")
    sources: dict[str, str] = Field(default_factory=dict, description="Model id -> the field path of the value")
    direction: str = "higher"
    normalization: str = "minmax"
    scale: str = "linear"
    unit: str = ""


class Recommendations(ReadModel):
    best_overall: str | None
    best_value: str | None = Field(description="Best mean of the performance and cost-efficiency scores")
    best_performance: str | None
    most_flexible: str | None


class WeightChange(ReadModel):
    weight: float = Field(description="The metric's weight at which the winner changes")
    change: float = Field(description="weight − current weight")
    new_winner: str


class Sensitivity(ReadModel):
    key: str
    weight: float
    winner: str | None
    increase: WeightChange | None
    decrease: WeightChange | None
    min_change: float | None = Field(description="The smaller of the two moves; null: no weight of this metric "
                                                 "changes the winner")


class ModelConfidence(ReadModel):
    model_id: str
    probability_first: float = Field(description="Share of the bootstrap resamples in which the model ranks first "
                                                 "overall (a tie for first shares its resample equally)")
    rank_interval: list[int] | None = Field(description="Central 95 % interval [low, high] of its overall rank "
                                                        "over the resamples; null without an overall score")
    score_interval: list[float] | None = Field(description="Central 95 % interval [low, high] of its overall "
                                                           "score (0–100, one decimal) over the resamples")
    resampled: bool = Field(description="Whether any of its values was resampled (else they stay as measured)")


class ConfidenceDataset(ReadModel):
    dataset_id: str
    dataset_version: int
    split: str
    rows: int = Field(description="Rows of the benchmark split; each resample draws this many with replacement")


class RankConfidence(ReadModel):
    """How sure the ranking is where scores come from benchmark samples: a paired bootstrap over the rows of
    the benchmark split (the same drawn rows for every model). Each resample recomputes the sample-based
    metrics, then normalises, weighs and ranks exactly as the comparison does."""

    available: bool = Field(description="False when nothing could be resampled: `note` says why")
    resamples: int = Field(description="Bootstrap resamples drawn (0 when none)")
    seed: int = Field(description="Seed of the draws: the same inputs give the same confidence")
    level: float = Field(default=0.95, description="Coverage of the intervals")
    metrics: list[str] = Field(default_factory=list, description="Metric keys whose values were resampled")
    sources: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Metric key -> model id -> the benchmark metric resampled")
    dataset: ConfidenceDataset | None = None
    unsampled: dict[str, str] = Field(default_factory=dict,
                                      description="Model id -> why its benchmark values stay fixed (e.g. a result "
                                                  "measured before per-row samples were kept)")
    models: list[ModelConfidence] = Field(default_factory=list, description="Most likely first first")
    note: str | None = Field(default=None, description="In words, why there is no confidence (or what limits it)")


class ComparisonResult(ReadModel):
    """The design's Model Comparison Result, plus the sensitivity, the Pareto front and what was missing."""

    id: str
    title: str | None = None
    models: list[ModelScoreEntry]
    metrics: list[MetricScores]
    rankings: dict[str, dict[str, int | None]]
    insights: list[str]
    recommendations: Recommendations
    sensitivity: list[Sensitivity]
    pareto_front: list[str]
    dominated_by: dict[str, str] = Field(default_factory=dict)
    missing: dict[str, list[str]] = Field(default_factory=dict, description="Model id -> metric keys without a value")
    weighting: dict[str, Any] = Field(default_factory=dict)
    rank_confidence: RankConfidence | None = Field(
        default=None, description="Bootstrap confidence on the ranking where scores come from benchmark samples "
                                  "(null in comparisons stored before it existed)")
    timestamp: UtcDateTime


class MetricCreate(InputModel):
    key: str = Field(pattern=KEY_PATTERN)
    label: str = Field(min_length=1, max_length=80)
    description: str = Field(default="", max_length=1000)
    sources: list[str] = Field(min_length=1, max_length=8,
                               description="Field paths, first present wins: model.*, version.*, listing.*, "
                                           "benchmark.*, monitoring.*, derived.*")
    direction: Literal["higher", "lower"] = "higher"
    normalization: Literal["minmax", "reference"] = "minmax"
    reference: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    scale: Literal["linear", "log"] = "linear"
    unit: str = Field(default="", max_length=24)

    @model_validator(mode="after")
    def _reference(self) -> MetricCreate:
        if self.normalization == "reference" and self.reference is None:
            raise ValueError("normalization `reference` needs `reference`")
        return self


class MetricRead(ReadModel):
    key: str
    label: str
    description: str
    sources: list[str]
    direction: str
    normalization: str
    reference: float | None
    scale: str
    unit: str
    builtin: bool
    missing_policy: str = "excluded_and_reported"
    created_by: str | None = None
    created_at: UtcDateTime | None = None


class ProfileRead(ReadModel):
    key: str
    label: str
    description: str
    weights: dict[str, float]


class MetricCatalogue(ReadModel):
    items: list[MetricRead]
    profiles: list[ProfileRead]


class ScoreRequest(InputModel):
    """Score models under a weighting; the scores are stored per model (`GET /scoring/{modelId}`)."""

    models: list[str | SubjectRef] = Field(min_length=1, max_length=50)
    profile: Profile | None = None
    weights: dict[str, float] | None = None
    metrics: list[str] | None = Field(default=None, max_length=30)


class CustomScoreRequest(InputModel):
    models: list[str | SubjectRef] = Field(min_length=1, max_length=50)
    formula: str = Field(min_length=1, max_length=500,
                         examples=["0.6 * performance + 0.4 * cost_efficiency"])
    name: str | None = Field(default=None, max_length=80)


class ScoreRead(ReadModel):
    id: str
    subject_id: str
    subject_name: str
    method: str
    weighting: dict[str, Any]
    score: float | None
    rank: int | None = None
    metric_scores: dict[str, float | None]
    raw_values: dict[str, float | None]
    created_at: UtcDateTime


class ScoreList(ReadModel):
    items: list[ScoreRead]
    missing: dict[str, list[str]] = Field(default_factory=dict)


class ModelScores(ReadModel):
    """One subject's metrics now (raw and against the fixed references) and its stored scores."""

    subject_id: str
    subject_name: str
    kind: str
    raw_values: dict[str, float | None]
    sources: dict[str, str]
    history: list[ScoreRead]


class RankingEntry(ReadModel):
    rank: int | None
    model_id: str
    model_name: str
    overall_score: float | None
    coverage: float


class Rankings(ReadModel):
    profile: str
    weights: dict[str, float]
    items: list[RankingEntry]
    missing: dict[str, list[str]] = Field(default_factory=dict)


class VersionPoint(ReadModel):
    version: str
    stage: str
    created_at: UtcDateTime
    metrics: dict[str, float]
    benchmark: dict[str, float] = Field(default_factory=dict)


class RunPoint(ReadModel):
    run_id: str
    experiment_id: str
    name: str | None = None
    at: UtcDateTime
    metrics: dict[str, float]


class MetricTrend(ReadModel):
    key: str
    first: float
    last: float
    best: float
    best_version: str
    change: float


class PerformanceAnalysis(ReadModel):
    model_id: str
    model_name: str
    versions: list[VersionPoint]
    runs: list[RunPoint]
    trends: list[MetricTrend]
    regressions: list[str]


class CostEfficiencyRequest(InputModel):
    models: list[str | SubjectRef] = Field(min_length=1, max_length=50)
    quality_metric: str = Field(default="performance", pattern=KEY_PATTERN)


class CostPoint(ReadModel):
    model_id: str
    model_name: str
    cost_per_thousand_predictions: float | None
    quality: float | None = Field(description="The quality metric's raw value")
    quality_per_dollar: float | None
    on_pareto_front: bool


class CostEfficiency(ReadModel):
    quality_metric: str
    assumptions: str
    points: list[CostPoint]
    pareto_front: list[str]
    missing: list[str]
    insights: list[str]


class Insight(ReadModel):
    kind: str = Field(description="regression, cheaper_alternative or improvement")
    model_id: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class InsightList(ReadModel):
    items: list[Insight]
