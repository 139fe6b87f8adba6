"""Domain errors with stable codes; the edges (REST, UI) translate them once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorCode:
    code: str
    status: int
    title: str
    description: str


def _codes(*rows: tuple[str, int, str, str]) -> dict[str, ErrorCode]:
    return {code: ErrorCode(code, status, title, description) for code, status, title, description in rows}


# The design's catalogue plus the platform's own AUTH/REQ/SYS/JOB codes. Statuses are part of the contract.
ERROR_CATALOGUE: dict[str, ErrorCode] = _codes(
    ("MODEL_001", 404, "Model not found", "The model (or the version) does not exist or you may not see it."),
    ("MODEL_002", 409, "Model version conflict", "A version with that number exists, or the stage move conflicts."),
    ("MODEL_003", 409, "Model deployment failed", "The model could not be deployed in its current state."),
    ("MODEL_004", 422, "Model validation failed", "The model, its artifact or its metadata failed validation."),
    ("MODEL_005", 409, "Model training failed", "The training that should produce this model failed."),
    ("DATA_001", 404, "Dataset not found", "The dataset (or the version) does not exist or you may not see it."),
    ("DATA_002", 422, "Data validation failed", "The data broke one or more validation rules."),
    ("DATA_003", 422, "Data transformation error", "A transformation step failed; the step and column are named."),
    ("DATA_004", 422, "Insufficient data", "There is not enough data for the operation."),
    ("DATA_005", 403, "Data privacy violation", "The operation would expose data the privacy settings protect."),
    ("TRAIN_001", 409, "Training job failed", "The training job failed or is in a state that refuses the action."),
    ("TRAIN_002", 503, "Insufficient resources", "No worker has the resources the job asks for."),
    ("TRAIN_003", 422, "Hyperparameter invalid", "A hyperparameter is out of range or of the wrong type."),
    ("TRAIN_004", 409, "Checkpoint corrupted", "The checkpoint failed its integrity check."),
    ("TRAIN_005", 409, "Early stopping triggered", "Training stopped early; the best checkpoint is kept."),
    ("TRAIN_006", 404, "Training job not found", "The training job does not exist or is not yours."),
    ("TRAIN_007", 409, "Too many training jobs",
     "You have as many training jobs queued or running as the platform allows each user; wait for one to end."),
    ("TRAIN_008", 404, "Checkpoint not found", "The training job has no checkpoint of this name."),
    ("EXP_001", 404, "Experiment not found", "The experiment does not exist or you may not see it."),
    ("EXP_002", 404, "Run not found", "The run (or the parent run named) does not exist or you may not see it."),
    ("EXP_003", 409, "Run state conflict",
     "The run's state refuses the action: it has already ended, it is deleted, or its training job sets its status."),
    ("EXP_004", 409, "Experiment name taken", "An experiment with this name exists (deleted ones keep their names)."),
    ("EXP_005", 409, "Param already logged",
     "The run logged this param with another value; params never change (`details` names the key and both values)."),
    ("EXP_006", 409, "Experiment state conflict",
     "The experiment is deleted (restore it first), is not deleted (nothing to restore), or has training runs "
     "still going (stop them before deleting it)."),
    ("TUNE_001", 404, "No optimisation", "The experiment has no hyperparameter optimisation yet; start one with "
     "`POST /catalog/experiments/{id}/optimize`."),
    ("TUNE_002", 409, "Optimisation running",
     "The experiment's optimisation is still running; wait for it to complete before starting another."),
    ("TUNE_003", 503, "Optimisation storage unavailable",
     "Optuna's database (AISYSTEM_OPTUNA_STORAGE_URL) cannot be used: it is unreachable or is the app's own "
     "database."),
    ("TUNE_004", 409, "Optimisation ended",
     "The experiment's optimisation has already completed, failed or been stopped; there is nothing to stop."),
    ("INFER_001", 422, "Prediction failed", "The model could not produce a prediction for this input."),
    ("INFER_002", 422, "Input validation failed", "The prediction input does not match the model's signature."),
    ("INFER_003", 504, "Model timeout", "The model did not answer in time."),
    ("INFER_004", 429, "Rate limit exceeded", "The endpoint's request quota or rate limit is used up."),
    ("INFER_005", 503, "Endpoint unavailable", "The endpoint is not deployed or not healthy."),
    ("ENDPOINT_001", 404, "Endpoint not found", "The endpoint (or its key) does not exist."),
    ("ENDPOINT_002", 409, "Endpoint state conflict",
     "The endpoint's state refuses the action: a name in use, a version it cannot serve, deployed or not."),
    ("BENCH_001", 404, "Benchmark not found",
     "The benchmark (or the benchmark result) does not exist or is not yours."),
    ("BENCH_002", 422, "Dataset does not fit the model",
     "The dataset version's columns do not match a model's input schema: `details` names the missing and "
     "mistyped input columns, or the missing label column. Nothing was queued."),
    ("BENCH_003", 422, "Not benchmarkable",
     "A version has no platform model package, the models' tasks differ from each other or from the task asked, "
     "the dataset version has no stored split (or the part asked is empty), or the dataset is not tabular or text; "
     "`details.reason` says which."),
    ("BENCH_004", 404, "Leaderboard not found", "No public leaderboard has this name."),
    ("BENCH_005", 409, "Leaderboard submission conflict",
     "The result is already on the leaderboard, or it is of another dataset or task than the leaderboard ranks."),
    ("GEN_001", 422, "Generation failed", "The application could not be generated."),
    ("GEN_002", 422, "Invalid prompt", "The prompt is empty, too long or not understood."),
    ("GEN_003", 404, "Template not found", "The template does not exist."),
    ("GEN_004", 502, "MCP tool error", "An MCP tool failed or is misconfigured."),
    ("GEN_005", 429, "Resource limit exceeded", "The generation would exceed a resource limit."),
    ("GEN_006", 404, "Generated application not found", "The generated application does not exist or is not yours."),
    ("GEN_007", 409, "Generated application state conflict",
     "The application's state refuses the action: a generation is running, it has no generated files yet, or a "
     "re-generation would change files whose diff was not accepted (`details.changed` names them)."),
    ("GEN_008", 404, "MCP tool or capability not found",
     "No MCP tool or AI capability of the generator's catalogue has this id."),
    ("AUTH_001", 401, "Not authenticated", "Sign in, or send a valid bearer token or API key."),
    ("AUTH_002", 403, "Not permitted", "Your role does not grant the permission this action needs."),
    ("AUTH_003", 429, "Too many login attempts", "Too many failed logins; wait before trying again."),
    ("AUTH_004", 404, "API key not found", "The API key does not exist or is not yours."),
    ("REQ_001", 422, "Invalid request", "The body or parameters are invalid; `details.fields` names them."),
    ("REQ_002", 413, "Payload too large", "The request body is over the size limit."),
    ("REQ_003", 404, "Unknown route", "No API route matches this path."),
    ("REQ_004", 405, "Method not allowed", "The route exists but not with this method."),
    ("JOB_001", 404, "Job not found", "The job does not exist or is not yours."),
    ("JOB_002", 409, "Job state conflict", "The job is in a state that refuses the action."),
    ("JOB_003", 504, "Job time limit exceeded",
     "The job ran past its type's time limit and was stopped; it is failed and not retried."),
    ("JOB_004", 500, "Job failed", "The job's work raised an error; the job's `error` says what."),
    ("JOB_005", 500, "Worker lost", "The workers running the job were lost on every attempt it was allowed."),
    ("MARKET_001", 404, "Listing not found",
     "The marketplace listing (or the category, provider, review or subscription the path names) does not "
     "exist or you may not see it."),
    ("MARKET_002", 409, "Marketplace conflict",
     "The action conflicts with what exists: a second review of the same listing, a subscription to the tier "
     "you already have, a licence you already bought, a catalog model that is already listed, a confirmed quote "
     "that no longer holds (`details.reason` quote_expired or price_changed: nothing was billed)."),
    ("MARKET_003", 403, "Not allowed by licence or marketplace terms",
     "The licence or the marketplace's terms refuse this action: a licence that forbids commercial use for a "
     "commercial cost centre, a tier sold only through sales, a review that is not yours; `details.reason` says which."),
    ("COMPARE_001", 404, "Comparison not found", "The comparison (or the scored model) does not exist or is not yours."),
    ("COMPARE_002", 422, "Invalid comparison",
     "A comparison needs 2 to 10 distinct models and non-negative weights, not all zero; `details` says "
     "which rule the request broke."),
    ("COMPARE_003", 422, "Unknown metric",
     "A weight, metric list or formula names a metric key that is neither built in nor defined "
     "(`GET /comparison/metrics` lists them); `details.unknown` names the keys."),
    ("COMPARE_004", 404, "Compared model not found",
     "A compared id is no catalog model, model version or marketplace listing you may see; `details.unknown` "
     "names every such id."),
    ("COMPARE_005", 409, "Metric key taken", "A metric with this key exists (the built-in keys are reserved)."),
    ("COMPARE_006", 422, "Invalid scoring formula",
     "The formula is not valid arithmetic over metric keys (numbers, + - * / **, parentheses, min, max, abs, "
     "sqrt, log); `details.position` points at the problem."),
    ("ARTIFACT_001", 422, "Invalid artifact key",
     "The artifact key is not a relative path of safe parts (no `..`, absolute path, NUL or control character)."),
    ("ARTIFACT_002", 404, "Artifact not found", "No file is stored under this artifact key."),
    ("ARTIFACT_003", 502, "Artifact store failed",
     "The artifact store refused the operation, or the stored bytes do not match their recorded hash."),
    ("LINEAGE_001", 404, "Lineage entity not found",
     "No entity with this id is recorded in the platform's lineage, or you may not see it."),
    ("LINEAGE_002", 422, "Lineage reference invalid",
     "A relation names an entity or activity that is not recorded, or joins kinds the relation does not allow."),
    ("GOV_001", 404, "Policy not found", "The governance policy does not exist."),
    ("GOV_002", 422, "Policy invalid",
     "A rule does not compile, or names an attribute the policy's context does not have; `details.errors` gives "
     "each problem with its rule, line and column."),
    ("GOV_003", 403, "Blocked by policy",
     "An enforced governance policy refuses this action; `details` names the policy, the failing rule and its "
     "condition, and the violation recorded. An admin may waive the violation to let the action through."),
    ("GOV_004", 404, "Violation not found", "The policy violation does not exist."),
    ("GOV_005", 409, "Violation state conflict",
     "The violation's status refuses the action (only an open violation is waived or resolved)."),
    ("COMPLIANCE_001", 404, "Compliance record not found",
     "The framework, control, assessment, attestation or certification request does not exist."),
    ("COMPLIANCE_002", 409, "Compliance state conflict",
     "A certification request is already pending or decided, or no assessment covers the framework yet."),
    ("SYS_001", 500, "Internal error", "Something failed on the server; quote the requestId to an admin."),
    ("SYS_002", 503, "Service unavailable", "The database or another backing service is unavailable."),
)


class AISystemError(Exception):
    """An error with a stable code from `ERROR_CATALOGUE`; the HTTP status follows from the code."""

    def __init__(self, code: str, message: str | None = None, details: dict[str, Any] | None = None):
        if code not in ERROR_CATALOGUE:
            raise ValueError(f"unknown error code {code}")
        self.code = code
        self.message = message or ERROR_CATALOGUE[code].title
        self.details = details or {}
        super().__init__(f"{code}: {self.message}")

    @property
    def status(self) -> int:
        return ERROR_CATALOGUE[self.code].status

    def response_headers(self) -> dict[str, str]:
        """Headers every edge sends with this error: `Retry-After` when the caller should wait."""
        retry_after = getattr(self, "retry_after", None)
        return {"Retry-After": str(retry_after)} if retry_after is not None else {}


class NotAuthenticated(AISystemError):
    def __init__(self, message: str = "Authentication required", details: dict[str, Any] | None = None):
        super().__init__("AUTH_001", message, details)


class PermissionDenied(AISystemError):
    def __init__(self, permission: str, *, reason: str | None = None):
        if reason:
            super().__init__("AUTH_002", f"Not permitted to {permission}: {reason}",
                             {"permission": permission, "reason": reason})
        else:
            super().__init__(
                "AUTH_002", f"This action needs the permission '{permission}'", {"permission": permission}
            )


class TooManyAttempts(AISystemError):
    def __init__(self, retry_after: int):
        super().__init__(
            "AUTH_003", "Too many failed login attempts; try again later", {"retryAfterSeconds": retry_after}
        )
        self.retry_after = retry_after


class InvalidRequest(AISystemError):
    """REQ_001 for rule violations a schema cannot express; `fields` maps a field to its problem."""

    def __init__(self, message: str, fields: dict[str, str] | None = None):
        details = {"fields": [{"field": k, "message": v} for k, v in (fields or {}).items()]}
        super().__init__("REQ_001", message, details)


class PayloadTooLarge(AISystemError):
    def __init__(self, limit: int):
        super().__init__("REQ_002", f"The request body is over the limit of {limit} bytes", {"limitBytes": limit})


class UnauditedChange(RuntimeError):
    """A transaction changed audited tables without writing an audit record (a programming error)."""
