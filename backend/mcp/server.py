"""The MCP server and its tools: each tool checks the caller's permission, runs one `backend.mcp.tools`
function in a worker thread on a read session (as the REST GET routes do), and leaves one audit record
(`mcp.tool_call`, outcome success, denied or failure) whatever happened.

The caller is the principal `backend.mcp.transport` resolved from the HTTP request's `Authorization:
Bearer` or `X-API-Key` header; a domain error becomes a tool error whose text starts with the platform's
error code (`MODEL_001: Model not found …`), so an assistant can tell "not found" from "not allowed".
"""

# No `from __future__ import annotations`: the SDK reads these signatures (the Context parameter, the
# Annotated constraints) at registration to build each tool's JSON Schema.

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.exc import OperationalError

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.context import RequestContext, current_request, reset_request_context, set_request_context
from backend.core.db import new_session, session_scope
from backend.core.errors import AISystemError, PermissionDenied
from backend.mcp import tools

log = logging.getLogger("aisystem.mcp")

PRINCIPAL_KEY = "aisystem.mcp.principal"  # the ASGI scope key the transport puts the caller under
REQUEST_KEY = "aisystem.mcp.request"  # and the request context (request id, client address)
AUDIT_ACTION = "mcp.tool_call"


@dataclass(frozen=True)
class ToolSpec:
    """What a tool needs and what its audit record names."""

    permission: str
    entity_type: str | None
    entity_argument: str | None = None  # the argument holding the entity id, if one
    writes: bool = False  # runs on a write session committed on success (else a read session, rolled back)


# The permission each tool needs (checked here and again by the service it calls), for the docs and tests.
TOOLS: dict[str, ToolSpec] = {
    "search_models": ToolSpec("model:read", "model"),
    "get_model": ToolSpec("model:read", "model", "model_id"),
    "search_datasets": ToolSpec("dataset:read", "dataset"),
    "get_dataset": ToolSpec("dataset:read", "dataset", "dataset_id"),
    "list_experiments": ToolSpec("experiment:read", "experiment"),
    "get_experiment_metrics": ToolSpec("experiment:read", "experiment", "experiment_id"),
    "search_marketplace": ToolSpec("marketplace:read", "listing"),
    "compare_models": ToolSpec("comparison:create", "comparison", writes=True),
    "predict": ToolSpec("endpoint:invoke", "endpoint", "endpoint_id"),
}

INSTRUCTIONS = """\
The AI System platform's catalog: registered models (cards, versions, metrics), datasets (schema,
statistics, quality), experiments and their runs' metrics, the model marketplace, and the deployed
model endpoints. Search first (search_models, search_datasets, list_experiments, search_marketplace),
then read one item by its id (get_model, get_dataset, get_experiment_metrics); compare_models scores and
ranks several models side by side. predict calls a deployed
endpoint with rows keyed by its input columns. Every call acts as the owner of the API key or token the
client sends and is audited; an error's text starts with the platform's error code (AUTH_002: not
permitted, MODEL_001 / DATA_001 / EXP_001 / ENDPOINT_001: not found, REQ_001: invalid arguments)."""


def _version() -> str:
    try:
        return version("aisystem")
    except PackageNotFoundError:  # pragma: no cover  (a source checkout that was never installed)
        return "0"


server = MCPServer(name="aisystem", title="AI System platform", instructions=INSTRUCTIONS, version=_version())
READ_ONLY = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
INVOKES = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)


# --- calling a tool: the caller, the thread, the audit record, the error ---------------------------------


def caller(ctx: Context | None) -> tuple[Principal, RequestContext | None]:
    """The principal the transport resolved for this HTTP request (AUTH_001 outside one)."""
    try:
        request = getattr(ctx.request_context, "request", None) if ctx is not None else None
    except ValueError:  # the SDK's "Context is not available outside of a request"
        request = None
    scope = getattr(request, "scope", None) or {}
    principal = scope.get(PRINCIPAL_KEY)
    if not isinstance(principal, Principal):
        raise ToolError("AUTH_001: Send a bearer token ('Authorization: Bearer <token>') or an API key "
                        "('X-API-Key: <key>') with the MCP request")
    return principal, scope.get(REQUEST_KEY)


def _summary_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """The arguments as the audit record keeps them: prediction rows are the caller's data, only counted."""
    kept = dict(arguments)
    if isinstance(kept.get("instances"), list):
        kept["instances"] = {"count": len(kept["instances"])}
    return kept


def _record(principal: Principal, tool: str, arguments: dict[str, Any], *, outcome: str,
            code: str | None = None, results: int | None = None) -> None:
    spec = TOOLS[tool]
    entity_id = arguments.get(spec.entity_argument) if spec.entity_argument else None
    summary: dict[str, Any] = {"tool": tool, "arguments": _summary_arguments(arguments), "via": "mcp"}
    if code:
        summary["code"] = code
    if results is not None:
        summary["results"] = results
    with session_scope() as session:
        audit.record(session=session, actor=principal, action=AUDIT_ACTION, entity_type=spec.entity_type,
                     entity_id=str(entity_id)[:80] if entity_id else None, summary=summary, outcome=outcome)


def _count(result: dict[str, Any]) -> int | None:
    for key in ("items", "runs", "predictions"):
        if isinstance(result.get(key), list):
            return len(result[key])
    return None


def run_tool(tool: str, fn: Callable[..., dict[str, Any]], principal: Principal, arguments: dict[str, Any],
             request: RequestContext | None = None) -> dict[str, Any]:
    """Run one tool function as `principal` (blocking: call it from a worker thread) and audit the call.

    The work runs on a read session that is rolled back, as a REST GET's is (a tool that `writes` commits
    its own session, as a REST POST does); the audit record is written in its own transaction afterwards,
    also when the call was refused or failed."""
    token = set_request_context(request) if request is not None and current_request() is None else None
    try:
        try:
            if not principal.can(TOOLS[tool].permission):
                raise PermissionDenied(TOOLS[tool].permission)
            session = new_session(write=TOOLS[tool].writes)
            try:
                result = fn(session=session, actor=principal, **arguments)
                if TOOLS[tool].writes:
                    session.commit()
            finally:
                session.rollback()
                session.close()
        except AISystemError as exc:
            outcome = "denied" if exc.code in ("AUTH_001", "AUTH_002") else "failure"
            _record(principal, tool, arguments, outcome=outcome, code=exc.code)
            raise
        except OperationalError as exc:
            _record(principal, tool, arguments, outcome="failure", code="SYS_002")
            raise AISystemError("SYS_002", "The database is unavailable or busy; try again shortly") from exc
        _record(principal, tool, arguments, outcome="success", results=_count(result))
        return result
    finally:
        if token is not None:
            reset_request_context(token)


def tool_error(exc: AISystemError) -> ToolError:
    """The tool error an assistant reads: `CODE: message` and the details, as the REST error body has them."""
    text = f"{exc.code}: {exc.message}"
    if exc.details:
        text += " " + json.dumps(exc.details, default=str, ensure_ascii=False)[:2000]
    return ToolError(text)


async def invoke(ctx: Context | None, tool: str, fn: Callable[..., dict[str, Any]], **arguments: Any) -> dict[str, Any]:
    """Run a tool for the caller of this MCP request; domain errors become tool errors with their code."""
    principal, request = caller(ctx)
    try:
        return await anyio.to_thread.run_sync(lambda: run_tool(tool, fn, principal, arguments, request))
    except AISystemError as exc:
        raise tool_error(exc) from None
    except Exception:
        request_id = request.request_id if request else None
        log.exception("MCP tool %s failed [%s]", tool, request_id)
        raise ToolError(f"SYS_001: Internal error; quote the requestId {request_id} to an admin") from None


# --- the tools ------------------------------------------------------------------------------------------

Limit = Annotated[int, Field(ge=1, le=50, description="How many results to return (1-50)")]
Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


@server.tool(annotations=READ_ONLY)
async def search_models(
    ctx: Context,
    query: Annotated[str, Field(min_length=1, max_length=500, description="What to look for, e.g. 'customer "
                                "sentiment in support e-mails'")],
    mode: Annotated[Literal["keyword", "semantic", "hybrid"], Field(
        description="keyword: every word must match name, description, tags, capabilities or architecture "
                    "(ranked, with highlights); semantic: by meaning (sentence embeddings, cut off by "
                    "relevance); hybrid: both, fused by rank")] = "hybrid",
    limit: Limit = 10,
) -> dict[str, Any]:
    """Search the model catalog. Returns ranked hits, each with the model card (type, framework, metrics,
    licence, tags), its score, how it matched and highlighted snippets. Needs `model:read`."""
    return await invoke(ctx, "search_models", tools.search_models, query=query, mode=mode, limit=limit)


@server.tool(annotations=READ_ONLY)
async def get_model(
    ctx: Context,
    model_id: Annotated[Id, Field(description="The model's id (`model_…`) as search_models returns it")],
    versions: Annotated[int, Field(ge=1, le=50, description="How many versions to include, newest first")] = 20,
) -> dict[str, Any]:
    """Read one model's card: description, metadata, training, performance, pricing, deployment, and its
    newest versions with their stage (production, staging…), metrics and artifact. Needs `model:read`."""
    return await invoke(ctx, "get_model", tools.get_model, model_id=model_id, versions=versions)


@server.tool(annotations=READ_ONLY)
async def search_datasets(
    ctx: Context,
    query: Annotated[str | None, Field(max_length=100, description="Part of the dataset's name "
                                       "(case-insensitive); leave out to list the newest")] = None,
    type: Annotated[Literal["text", "image", "audio", "tabular"] | None, Field(  # noqa: A002
        description="Only datasets of this type")] = None,
    limit: Limit = 10,
) -> dict[str, Any]:
    """Find datasets you may see, newest first, with each one's card (schema, size, version, privacy).
    Needs `dataset:read`."""
    return await invoke(ctx, "search_datasets", tools.search_datasets, query=query, type=type, limit=limit)


@server.tool(annotations=READ_ONLY)
async def get_dataset(
    ctx: Context,
    dataset_id: Annotated[Id, Field(description="The dataset's id (`dataset_…`)")],
) -> dict[str, Any]:
    """Read one dataset's card: columns and types, statistics, quality scores, splits, privacy (PII) and
    storage. Needs `dataset:read` and access to that dataset."""
    return await invoke(ctx, "get_dataset", tools.get_dataset, dataset_id=dataset_id)


@server.tool(annotations=READ_ONLY)
async def list_experiments(
    ctx: Context,
    query: Annotated[str | None, Field(max_length=100, description="Part of the experiment's name")] = None,
    model_id: Annotated[Id | None, Field(description="Only experiments of this model")] = None,
    dataset_id: Annotated[Id | None, Field(description="Only experiments on this dataset")] = None,
    status: Annotated[Literal["created", "running", "completed", "failed", "stopped"] | None, Field(
        description="Only experiments in this state")] = None,
    limit: Limit = 10,
) -> dict[str, Any]:
    """List experiments, newest first: objective, status, run counts, model and dataset. Needs
    `experiment:read`."""
    return await invoke(ctx, "list_experiments", tools.list_experiments, query=query, model_id=model_id,
                        dataset_id=dataset_id, status=status, limit=limit)


@server.tool(annotations=READ_ONLY)
async def get_experiment_metrics(
    ctx: Context,
    experiment_id: Annotated[Id, Field(description="The experiment's id (`experiment_…`)")],
    metric: Annotated[str | None, Field(max_length=250, description="Rank the runs by this metric (e.g. "
                                        "val_accuracy); default: the experiment's objective")] = None,
    limit: Annotated[int, Field(ge=1, le=50, description="How many runs to return, best first")] = 20,
    history: Annotated[bool, Field(description="Also return each run's curve of the metric (50 points "
                                   "at most)")] = False,
) -> dict[str, Any]:
    """Read an experiment's runs and their metrics: the experiment (with its best run), then its runs
    ranked by the metric (largest first, smallest first for loss- or error-like names and `minimize_`
    objectives), each with its parameters and latest metric values. Needs `experiment:read`."""
    return await invoke(ctx, "get_experiment_metrics", tools.get_experiment_metrics, experiment_id=experiment_id,
                        metric=metric, limit=limit, history=history)


@server.tool(annotations=READ_ONLY)
async def search_marketplace(
    ctx: Context,
    query: Annotated[str | None, Field(max_length=200, description="Words to find by keyword and by meaning "
                                       "in name, tags, provider, category, description, features")] = None,
    category: Annotated[str | None, Field(max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$",
                                          description="Only this category (slug or id)")] = None,
    sort: Annotated[Literal["relevance", "rating", "popularity", "newest", "price", "name"], Field(
        description="Order of the results")] = "relevance",
    limit: Limit = 10,
) -> dict[str, Any]:
    """Search the model marketplace: listings with provider, pricing, licences, rating and usage, and
    suggestions when nothing matches. Needs `marketplace:read`."""
    return await invoke(ctx, "search_marketplace", tools.search_marketplace, query=query, category=category,
                        sort=sort, limit=limit)


@server.tool(annotations=INVOKES)
async def compare_models(
    ctx: Context,
    models: Annotated[list[Annotated[str, Field(min_length=1, max_length=140)]], Field(
        min_length=2, max_length=10, description="2-10 model ids (`model_…`), model version ids (`modelver_…`) "
        "or marketplace listing ids")],
    profile: Annotated[Literal["balanced", "cheapest_good_enough", "best_quality"], Field(
        description="How to weigh quality, speed and cost")] = "balanced",
    metrics: Annotated[list[str] | None, Field(max_length=30, description="Metric keys to compare instead of "
                                               "the profile's (e.g. accuracy, latency_p95, cost)")] = None,
) -> dict[str, Any]:
    """Compare models side by side: each model's score per metric and overall, rankings, the Pareto front,
    insights and a recommendation, from the catalog's metrics, benchmarks and endpoint monitoring. The
    comparison is saved (its id opens it in the platform). Needs `comparison:create`."""
    return await invoke(ctx, "compare_models", tools.compare_models, models=models, profile=profile, metrics=metrics)


@server.tool(annotations=INVOKES)
async def predict(
    ctx: Context,
    endpoint_id: Annotated[Id, Field(description="The deployed endpoint's id (`endpoint_…`)")],
    instances: Annotated[list[dict[str, Any]], Field(
        min_length=1, max_length=1000, description="Rows to predict, each keyed by the model's input columns, "
        "e.g. [{\"age\": 42, \"plan\": \"pro\"}]")],
) -> dict[str, Any]:
    """Call a deployed model endpoint: one prediction per row ({label, probabilities} for a classifier,
    {value} for a regressor) and the version that answered. Logged and rate-limited like every prediction.
    Needs `endpoint:invoke`."""
    return await invoke(ctx, "predict", tools.predict, endpoint_id=endpoint_id, instances=instances)
