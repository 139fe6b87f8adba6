"""Wire documents of the model registry: the design's "AI Model" document, versions, history, lineage.

Inputs refuse unknown fields (so there is no `source`/`artifactLocation` a client could point at the
filesystem), non-finite numbers, and values out of range; outputs are camelCase.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, field_validator, model_validator

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

ModelType = Literal["NLP", "Vision", "Tabular", "Speech", "Generative", "Multimodal", "TimeSeries",
                    "Recommendation", "Other"]
LifecycleStatus = Literal["development", "training", "validation", "deployment", "monitoring", "retirement"]
Stage = Literal["none", "staging", "production", "archived"]
DeploymentType = Literal["cloud", "on_premise", "edge", "hybrid", "serverless"]
PricingModel = Literal["free", "per_request", "per_token", "subscription", "fixed"]
ArtifactFormat = Literal["safetensors", "onnx", "opaque"]
SEMVER_RE = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.+\-]{0,63}$")
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,119}$")

# SPDX ids the UI offers; any other short text is accepted as a free-text licence.
KNOWN_LICENSES = ("Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause", "GPL-2.0", "GPL-3.0", "LGPL-3.0",
                  "AGPL-3.0", "MPL-2.0", "CC0-1.0", "CC-BY-4.0", "CC-BY-SA-4.0", "CC-BY-NC-4.0",
                  "CC-BY-NC-SA-4.0", "OpenRAIL", "OpenRAIL-M", "CreativeML-OpenRAIL-M", "Llama-2", "Llama-3",
                  "Gemma", "Proprietary", "Unlicense")
_LICENSE_BY_KEY = {name.lower(): name for name in KNOWN_LICENSES}


def parse_semver(value: str) -> tuple[int, int, int]:
    """(major, minor, patch) of a MAJOR.MINOR.PATCH string; ValueError otherwise."""
    match = SEMVER_RE.match(value or "")
    if not match:
        raise ValueError("must be a semantic version MAJOR.MINOR.PATCH, e.g. 2.1.0")
    return int(match[1]), int(match[2]), int(match[3])


def _plain_text(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _display_name(value: str) -> str:
    value = _plain_text(value)
    if value != value.strip():
        raise ValueError("must not start or end with white space")
    if "/" in value or "\\" in value or value in (".", "..") or value.startswith("."):
        raise ValueError("must not look like a path (no '/', '\\' or leading '.')")
    return value


def _http_url(value: str) -> str:
    value = _plain_text(value)
    if not re.match(r"^https?://[^\s/?#]+[^\s]*$", value, re.I):
        raise ValueError("must be an http(s) URL")
    return value


def _slug(value: str) -> str:
    value = value.strip().lower()
    if not _SLUG.match(value):
        raise ValueError("must be 1–64 characters: lower-case letters, digits and _ . + -")
    return value


def _ref(value: str) -> str:
    if not _REF.match(value):
        raise ValueError("must be an id: letters, digits and _ . : @ - (at most 120)")
    return value


def _license(value: str) -> str:
    value = _plain_text(value).strip()
    if not value:
        raise ValueError("must not be empty")
    return _LICENSE_BY_KEY.get(value.lower(), value)


def _semver(value: str) -> str:
    parse_semver(value)
    return value


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(_display_name)]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_plain_text)]
Text60 = Annotated[str, StringConstraints(min_length=1, max_length=60), AfterValidator(_plain_text)]
Text120 = Annotated[str, StringConstraints(min_length=1, max_length=120), AfterValidator(_plain_text)]
Text40 = Annotated[str, StringConstraints(min_length=1, max_length=40), AfterValidator(_plain_text)]
Url = Annotated[str, StringConstraints(max_length=500), AfterValidator(_http_url)]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_slug)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=120), AfterValidator(_ref)]
License = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_license)]
SemVer = Annotated[str, StringConstraints(min_length=5, max_length=20), AfterValidator(_semver)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
Reason = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_plain_text)]
LongText = Annotated[str, StringConstraints(max_length=5000), AfterValidator(_no_nul)]


class StrictInput(InputModel):
    model_config = ConfigDict(allow_inf_nan=False)


# --- the AI Model document -----------------------------------------------------------------------


class ModelMetadata(StrictInput, ReadModel):
    description: LongText | None = None
    tags: Annotated[list[Slug], Field(max_length=30)] = Field(default_factory=list)
    documentation: Url | None = None
    paper: Url | None = None
    license: License | None = Field(default=None, description="An SPDX id (normalised) or free text")

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("tags")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return _unique(value)


class ComputeResources(StrictInput, ReadModel):
    gpu: Text100 | None = None
    memory: Text40 | None = None
    storage: Text40 | None = None

    model_config = ConfigDict(extra="forbid")


class Training(StrictInput, ReadModel):
    dataset: Ref | None = Field(default=None, description="Dataset id, e.g. dataset_789")
    epochs: Annotated[int, Field(ge=0, le=1_000_000)] | None = None
    batch_size: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    learning_rate: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] | None = None
    optimizer: Text40 | None = None
    loss: Text60 | None = None
    training_time: Text40 | None = Field(default=None, examples=["48 hours"])
    compute_resources: ComputeResources | None = None

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Latency(StrictInput, ReadModel):
    p50: NonNegative | None = None
    p95: NonNegative | None = None
    p99: NonNegative | None = None

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        known = [v for v in (self.p50, self.p95, self.p99) if v is not None]
        if known != sorted(known):
            raise ValueError("latency percentiles must satisfy p50 ≤ p95 ≤ p99")
        return self


class Performance(StrictInput, ReadModel):
    accuracy: Fraction | None = None
    precision: Fraction | None = None
    recall: Fraction | None = None
    f1_score: Fraction | None = None
    latency: Latency | None = Field(default=None, description="Milliseconds")
    throughput: NonNegative | None = Field(default=None, description="Requests per second")

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Pricing(StrictInput, ReadModel):
    model: PricingModel | None = None
    input_tokens: NonNegative | None = None
    output_tokens: NonNegative | None = None
    fixed_cost: NonNegative | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Deployment(StrictInput, ReadModel):
    endpoints: Annotated[list[Ref], Field(max_length=50)] = Field(default_factory=list)
    replicas: Annotated[int, Field(ge=0, le=10_000)] | None = None
    auto_scaling: bool | None = None
    min_replicas: Annotated[int, Field(ge=0, le=10_000)] | None = None
    max_replicas: Annotated[int, Field(ge=0, le=10_000)] | None = None
    target_utilization: Annotated[int, Field(ge=1, le=100)] | None = None

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _bounds(self) -> Deployment:
        if self.min_replicas is not None and self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError("minReplicas must not exceed maxReplicas")
        self.endpoints = _unique(self.endpoints)
        return self


class _ModelFields(StrictInput):
    category: Text100 | None = None
    framework: Text60 | None = None
    architecture: Text120 | None = None
    deployment_type: DeploymentType | None = None
    parameters: Annotated[int, Field(ge=0, le=10**14)] | None = None
    context_length: Annotated[int, Field(ge=0, le=10**9)] | None = None
    capabilities: Annotated[list[Slug], Field(max_length=50)] | None = None
    metadata: ModelMetadata | None = None
    training: Training | None = None
    performance: Performance | None = None
    pricing: Pricing | None = None
    deployment: Deployment | None = None

    @field_validator("capabilities")
    @classmethod
    def _dedupe(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique(value)


class ModelCreate(_ModelFields):
    """Register a model. `version`, when given, registers that first version too."""

    name: Name
    type: ModelType
    category: Text100
    framework: Text60
    status: LifecycleStatus = "development"
    version: SemVer | None = None


class ModelUpdate(_ModelFields):
    """Change a model: fields left out keep their value; nested objects given are replaced whole."""

    name: Name | None = None
    type: ModelType | None = None


class ModelRead(ReadModel):
    """The design's AI Model document."""

    id: str
    name: str
    type: str
    category: str
    framework: str
    architecture: str | None = None
    version: str | None = Field(default=None, description="The production version, else the highest one")
    status: LifecycleStatus
    deployment_type: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime
    created_by: str | None = None
    parameters: int | None = None
    context_length: int | None = None
    capabilities: list[str] = Field(default_factory=list)
    metadata: ModelMetadata
    training: Training
    performance: Performance
    pricing: Pricing
    deployment: Deployment


class StatusChange(StrictInput):
    status: LifecycleStatus
    reason: Reason | None = None


# --- versions ------------------------------------------------------------------------------------


class DatasetRef(StrictInput, ReadModel):
    id: Ref
    version: SemVer | Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,39}$")] | None = None

    model_config = ConfigDict(extra="forbid")


class ParentRef(StrictInput, ReadModel):
    """The version this one was fine-tuned from (another model's, or this model's)."""

    model_id: Ref
    version: SemVer

    model_config = ConfigDict(extra="forbid")


class VersionSource(StrictInput, ReadModel):
    experiment_run_id: Ref | None = None
    training_job_id: Ref | None = None
    datasets: Annotated[list[DatasetRef], Field(max_length=50)] = Field(default_factory=list)
    git_commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,40}$")] | None = None
    parent: ParentRef | None = None

    model_config = ConfigDict(extra="forbid")


MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")]
ParamName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")]
MetricValue = Annotated[float, Field(allow_inf_nan=False, ge=-1e15, le=1e15)]
ParamValue = Annotated[str, StringConstraints(max_length=500), AfterValidator(_no_nul)] | Annotated[
    float, Field(allow_inf_nan=False)] | bool | None


class VersionCreate(StrictInput):
    version: SemVer
    source: VersionSource | None = None
    hyperparameters: Annotated[dict[ParamName, ParamValue], Field(max_length=200)] = Field(default_factory=dict)
    metrics: Annotated[dict[MetricName, MetricValue], Field(max_length=200)] = Field(default_factory=dict)
    notes: LongText | None = None


class VersionUpdate(StrictInput):
    """Notes, metrics and hyperparameters may change; the source and the artifact stay as recorded."""

    hyperparameters: Annotated[dict[ParamName, ParamValue], Field(max_length=200)] | None = None
    metrics: Annotated[dict[MetricName, MetricValue], Field(max_length=200)] | None = None
    notes: LongText | None = None


class ArtifactRead(ReadModel):
    format: ArtifactFormat
    size_bytes: int
    sha256: str
    file_name: str | None = Field(default=None, description="The uploaded name, sanitised; for display only")
    uploaded_at: UtcDateTime | None = None
    uploaded_by: str | None = None
    integrity: Literal["unverified", "ok", "mismatch", "missing"] = "unverified"
    verified_at: UtcDateTime | None = None
    handling: Literal["inspected", "opaque"] = Field(
        default="inspected",
        description="`inspected`: the file was parsed (safetensors header, ONNX protobuf) and its details read; "
                    "`opaque`: declared `format=opaque`, stored, hashed and downloadable, never loaded")
    notice: str | None = Field(default=None, description="What the platform did and did not do with the file")
    parameters: int | None = Field(
        default=None, description="Parameters counted from the file as the framework counts them "
                                  "(PyTorch's `model.parameters()`): buffers such as BatchNorm running statistics "
                                  "and counters are left out (`details.buffers`). Null for opaque files")
    declared_parameters: int | None = Field(
        default=None, description="The parameter count the model declares (its `parameters`), given only when it "
                                  "differs from the count in the file")
    details: dict[str, Any] = Field(default_factory=dict)


class VersionRead(ReadModel):
    id: str
    model_id: str
    version: str
    stage: Stage
    stage_changed_at: UtcDateTime
    source: dict[str, Any] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    notes: str | None = None
    artifact: ArtifactRead | None = None
    created_by: str | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class PromoteRequest(StrictInput):
    stage: Stage
    reason: Reason | None = None
    expected_current_version: SemVer | None = Field(
        default=None,
        description="Optimistic concurrency: the production version you saw. If it changed meanwhile the "
                    "promotion is refused (MODEL_002), so of two racing promotions exactly one wins.",
    )


class RollbackRequest(StrictInput):
    reason: Reason | None = None
    to_version: SemVer | None = Field(default=None, description="Default: the version in production before")


class StageHistoryRead(ReadModel):
    id: str
    model_id: str
    version: str
    stage: Stage
    from_stage: str | None = None
    action: str
    started_at: UtcDateTime
    ended_at: UtcDateTime | None = None
    moved_by: str | None = None
    moved_by_name: str | None = None
    reason: str | None = None


class PromotionResult(ReadModel):
    model: ModelRead
    version: VersionRead
    replaced: VersionRead | None = Field(default=None, description="The production version this one archived")


# --- metrics ---------------------------------------------------------------------------------------


class VersionMetrics(ReadModel):
    version: str
    stage: Stage
    created_at: UtcDateTime
    metrics: dict[str, Any]


class SeriesPoint(ReadModel):
    version: str
    value: float
    created_at: UtcDateTime


class MetricsRead(ReadModel):
    model_id: str
    performance: Performance
    versions: list[VersionMetrics]
    series: dict[str, list[SeriesPoint]]


# --- discovery ------------------------------------------------------------------------------------


class SearchHit(ReadModel):
    model: ModelRead
    score: float = Field(description="keyword: the database's text rank (BM25 on SQLite, ts_rank on PostgreSQL); "
                                     "semantic: cosine similarity of the query and the model's text (-1 to 1); "
                                     "hybrid: the reciprocal-rank fusion of both")
    matched_by: list[Literal["keyword", "semantic"]]
    highlights: dict[str, str] = Field(
        default_factory=dict, description="HTML-escaped text with matches wrapped in <mark>…</mark>")


class RelevanceCutoff(ReadModel):
    """Which models a semantic search keeps: similarity at least `minScore` and at least
    `relativeToBest` times the best match's (together: `threshold`), the `maxResults` best of them."""

    min_score: float
    relative_to_best: float
    max_results: int
    threshold: float = Field(description="The lowest similarity this search kept")


class SearchPage(ReadModel):
    items: list[SearchHit]
    next_cursor: str | None = None
    mode: Literal["keyword", "semantic", "hybrid"]
    total: int = Field(description="Results across every page (after the relevance cut-off)")
    left_out: int | None = Field(
        default=None, description="semantic and hybrid: models passing the filters that the relevance cut-off "
                                  "left out")
    cutoff: RelevanceCutoff | None = Field(default=None, description="semantic and hybrid: the cut-off applied")


class Recommendation(ReadModel):
    model: ModelRead
    score: float
    reason: str = Field(examples=["because you used dataset_789"])
    reason_type: Literal["dataset", "similar", "role", "trending"]


class RecommendationList(ReadModel):
    items: list[Recommendation]


class FacetCount(ReadModel):
    value: str
    count: int


class ModelFacets(ReadModel):
    """How many live models have each value, each facet counted under the other filters (so a
    chosen value does not hide its alternatives); the most common values first."""

    type: list[FacetCount]
    status: list[FacetCount]
    framework: list[FacetCount]
    category: list[FacetCount]
    license: list[FacetCount]
    tag: list[FacetCount]


class TrendingItem(ReadModel):
    model: ModelRead
    score: float
    events: dict[str, int]


class TrendingList(ReadModel):
    window: str
    items: list[TrendingItem]
