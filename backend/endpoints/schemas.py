"""Wire documents of model endpoints (camelCase; unknown input fields refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

SEMVER = r"^\d+\.\d+\.\d+$"
MAX_EXAMPLES = 50


class Example(InputModel):
    input: dict[str, Any] = Field(description="One instance, keyed by input column")
    expected: dict[str, Any] | None = Field(
        default=None, description="What the model should answer: {label} (classification) or {value, tolerance?}")


class EndpointCreate(InputModel):
    name: str = Field(min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    rate_limit_per_minute: int = Field(default=600, ge=1, le=1_000_000, description="Predictions a minute per key")
    burst: int = Field(default=60, ge=1, le=100_000, description="Predictions a key may save up")
    timeout_ms: int | None = Field(default=None, ge=10, le=600_000,
                                   description="Per-request timeout (INFER_003); empty: the platform's default")
    examples: list[Example] = Field(default_factory=list, max_length=MAX_EXAMPLES)


class EndpointUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    description: str | None = Field(default=None, max_length=2000)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    burst: int | None = Field(default=None, ge=1, le=100_000)
    timeout_ms: int | None = Field(default=None, ge=10, le=600_000)
    examples: list[Example] | None = Field(default=None, max_length=MAX_EXAMPLES)


class DeployRequest(InputModel):
    """Deploy a model version, by number or by stage ("the production version of model X")."""

    model_id: str = Field(min_length=1, max_length=40)
    version: str | None = Field(default=None, max_length=20, pattern=SEMVER)
    stage: Literal["production", "staging"] | None = None
    follow_stage: bool = Field(default=True, description="With `stage`: re-resolve when the stage moves")

    @model_validator(mode="after")
    def _one_of(self) -> DeployRequest:
        if (self.version is None) == (self.stage is None):
            raise ValueError("name either a version or a stage")
        return self


class ScaleRequest(InputModel):
    """The design's deployment block: replicas within [minReplicas, maxReplicas] and the autoscaling policy."""

    replicas: int = Field(ge=1, le=64)
    min_replicas: int | None = Field(default=None, ge=1, le=64)
    max_replicas: int | None = Field(default=None, ge=1, le=64)
    auto_scaling: bool | None = None
    target_utilization: int | None = Field(default=None, ge=1, le=100)


class TrafficRequest(InputModel):
    """single: the primary answers everything; canary: `candidatePercent` % of requests go to the candidate;
    shadow: the primary answers and the candidate gets a copy whose answers are only logged."""

    mode: Literal["single", "canary", "shadow"]
    candidate_version: str | None = Field(default=None, max_length=20, pattern=SEMVER)
    candidate_percent: float = Field(default=0, ge=0, le=100)


class PredictRequest(InputModel):
    instances: list[dict[str, Any]] = Field(min_length=1, description="Rows keyed by input column")


class ExplainRequest(InputModel):
    instances: list[dict[str, Any]] = Field(min_length=1, max_length=100)
    steps: int = Field(default=32, ge=4, le=256, description="Integrated Gradients steps")
    target: str | None = Field(default=None, max_length=200, description="The class to explain (default: predicted)")


class BatchPredictRequest(InputModel):
    dataset_id: str = Field(min_length=1, max_length=40)
    dataset_version: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1, le=1_000_000,
                                   description="Rows per model call; capped by AISYSTEM_ENDPOINT_BATCH_PREDICT_CHUNK")


class KeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class Traffic(ReadModel):
    mode: str = "single"
    candidate_version: str | None = None
    candidate_percent: float = 0


class Autoscaling(ReadModel):
    auto_scaling: bool = False
    target_utilization: int | None = None


class EndpointRead(ReadModel):
    id: str
    name: str
    description: str | None
    status: str
    model_id: str | None
    version: str | None
    follow_stage: str | None
    traffic: Traffic
    replicas: int
    min_replicas: int
    max_replicas: int
    autoscaling: Autoscaling
    rate_limit_per_minute: int
    burst: int
    timeout_ms: int
    examples: list[dict[str, Any]]
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    deployed_at: UtcDateTime | None


class EndpointStatus(ReadModel):
    id: str
    status: str
    model_id: str | None
    versions: list[dict[str, Any]] = Field(description="The versions serving and the share of traffic each gets")
    input_schema: dict[str, Any] | None
    task: str | None
    label_names: list[str] | None
    loaded_here: list[str] = Field(description="Versions loaded in the answering process's cache")


class Health(ReadModel):
    status: Literal["healthy", "unhealthy", "undeployed"]
    checks: list[dict[str, Any]]


class PredictResponse(ReadModel):
    predictions: list[dict[str, Any]]
    model_id: str
    version: str
    role: str = Field(description="primary or canary: which side of the traffic split answered")
    latency_ms: float


class Explanation(ReadModel):
    method: str
    model_id: str
    version: str
    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]] = Field(
        description="Per instance: `target`, `attributions` (per input column; per token for a text model; per "
                    "cell `r<row>c<col>` for an image model), `delta` (completeness gap), and `tokens` (text) or "
                    "`grid` (image, 8×8)")


class Importance(ReadModel):
    method: str
    model_id: str
    version: str
    dataset_id: str
    dataset_version: int
    metric: str
    baseline: float
    rows: int
    repeats: int
    importances: dict[str, dict[str, float]]


class KeyRead(ReadModel):
    id: str
    name: str
    prefix: str
    user_id: str
    created_at: UtcDateTime
    expires_at: UtcDateTime | None
    last_used_at: UtcDateTime | None
    revoked_at: UtcDateTime | None


class KeyCreated(KeyRead):
    key: str = Field(description="The key itself, shown once: send it as `X-Model-Key`")


class LogEntry(ReadModel):
    id: int
    model_id: str | None
    version: str | None
    role: str
    key_id: str | None
    user_id: str | None
    status: str
    error_code: str | None
    instances: int
    inputs: list[Any]
    outputs: list[Any]
    latency_ms: float
    created_at: UtcDateTime


class Metrics(ReadModel):
    window_minutes: int
    requests: int
    errors: int
    error_rate: float
    throughput_per_second: float
    predictions: int
    latency_ms: dict[str, float | None]
    by_version: list[dict[str, Any]]
    series: list[dict[str, Any]] = Field(description="Per minute: requests, errors, p95 latency")


class DriftFeature(ReadModel):
    feature: str
    kind: str = Field(description="numeric | categorical")
    drifted: bool
    training_mean: float | None = None
    training_std: float | None = None
    recent_mean: float | None = None
    recent_std: float | None = None
    mean_shift: float | None = Field(default=None, description="|recent mean - training mean| / training std")
    spread_ratio: float | None = Field(default=None, description="recent std / training std")
    unseen_share: float | None = Field(default=None, description="Share of values the training data did not have")
    top_unseen: list[dict[str, Any]] | None = None


class Drift(ReadModel):
    """Input drift of a version's recent predictions against its training statistics."""

    window_minutes: int
    version: str
    available: bool = Field(description="False when there is no verdict; `reason` says why")
    reason: str | None
    instances: int = Field(description="Input rows compared (newest first, at most 50,000)")
    features: list[DriftFeature]
    drifted: list[str] = Field(description="Features that drifted")


class TestReport(ReadModel):
    passed: int
    failed: int
    results: list[dict[str, Any]]


class BatchJob(ReadModel):
    job_id: str
    status: str


class BatchUploadJob(BatchJob):
    dataset_id: str = Field(description="The new dataset holding the uploaded rows (version 1)")
