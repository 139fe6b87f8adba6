"""REST routes of the model registry: /api/v1/catalog/models (the design's "AI Catalog - Models")."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.catalog.model_registry import artifacts, discovery, filters, search, service
from backend.catalog.model_registry import tasks as _tasks  # noqa: F401  (registers the embedding job)
from backend.catalog.model_registry.models import RegisteredModel
from backend.catalog.model_registry.schemas import (
    LifecycleStatus,
    MetricsRead,
    ModelCreate,
    ModelFacets,
    ModelMetadata,
    ModelRead,
    ModelType,
    ModelUpdate,
    PromoteRequest,
    PromotionResult,
    RecommendationList,
    RollbackRequest,
    SearchPage,
    Stage,
    StageHistoryRead,
    StatusChange,
    TrendingList,
    VersionCreate,
    VersionRead,
    VersionUpdate,
)
from backend.core.errors import InvalidRequest
from backend.core.http import (
    COMMON_ERRORS,
    error_responses,
    get_read_session,
    get_session,
    hot_read,
    json_response,
    run_short_read,
)
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page, UtcInstant
from backend.lineage.schemas import MAX_DEPTH, LineageGraph

router = APIRouter(prefix="/catalog/models", tags=["catalog: models"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ModelId = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$", description="Model id, e.g. model_0192…")]
VersionPath = Annotated[str, Path(max_length=20, pattern=r"^[0-9A-Za-z._\-]+$", description="Semantic version MAJOR.MINOR.PATCH")]
NO_NUL = r"^[^\x00]*$"
SortParam = Annotated[Literal[service.SORT_CHOICES], Query(description="Sort key; `-` for descending")]  # type: ignore[valid-type]
VIEW_THROTTLE_SECONDS = 600


ReadSessionDep = Annotated[Session, Depends(get_read_session)]


def _list_page(session: Session, principal: Principal, params: PageParams, sort: str,
               list_filters: service.ModelFilters | None, where: Any, indexed_ranges: Any) -> dict[str, Any]:
    """One `Page[ModelRead]` of the list or of `POST /filter`, built straight from the rows'
    documents (see `model_document`); the routes serve it through `hot_read`."""
    rows, cursor = service.list_models(session=session, actor=principal, params=params, sort=sort,
                                       filters=list_filters, where=where, indexed_ranges=indexed_ranges)
    return {"items": [service.model_document(r) for r in rows], "nextCursor": cursor}


def _promotion(model, version, replaced) -> PromotionResult:  # noqa: ANN001
    declared = model.parameters
    return PromotionResult(model=service.model_read(model), version=service.version_read(version, declared),
                           replaced=service.version_read(replaced, declared) if replaced else None)


# --- discovery (before /{modelId}) -----------------------------------------------------------------


async def model_filters(
    type: Annotated[ModelType | None, Query()] = None,  # noqa: A002
    category: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    framework: Annotated[str | None, Query(max_length=60, pattern=NO_NUL)] = None,
    status: Annotated[LifecycleStatus | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    license: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,  # noqa: A002
    createdBy: Annotated[str | None, Query(max_length=40, pattern=NO_NUL)] = None,  # noqa: N803
) -> service.ModelFilters:
    """The list filters, shared by list, search and facets (async: pure parsing, no thread hop)."""
    return service.ModelFilters(type=type, category=category, framework=framework, status=status, tag=tag,
                                license=license, created_by=createdBy)


FiltersDep = Annotated[service.ModelFilters, Depends(model_filters)]


@router.get("", response_model=Page[ModelRead], summary="List models with filters, sort and keyset pagination")
async def list_models(
    session: SessionDep,
    filters: FiltersDep,
    sort: SortParam = "-createdAt",
    params: PageParams = Depends(page_params),
    principal: Principal = require("model:read"),
) -> Page[ModelRead]:
    """Sort by `name`, `createdAt`, `updatedAt`, `accuracy` or `parameters` (prefix `-` for descending;
    models without accuracy or parameters come last when descending). Pages never use OFFSET."""
    return await hot_read(session, _list_page, session, principal, params, sort, filters, None, ())


@router.post("", response_model=ModelRead, status_code=201, summary="Register a model",
             responses=error_responses(409))
def create_model(body: ModelCreate, session: SessionDep, principal: Principal = require("model:create")) -> Response:
    """The AI Model document without `id`, timestamps and `createdBy`. `version`, if given, registers
    that first version. A live model with the same name (any case) is a conflict (MODEL_002)."""
    model = service.create_model(session=session, actor=principal, data=body)
    session.commit()
    # Written as the GET route writes it: the document comes from the row just validated on its way in.
    return json_response(service.model_document(model), status_code=201)


_CUT = search.SEMANTIC_CUTOFF
SEARCH_DESCRIPTION = (
    "`keyword`: ranked full-text search over name, description, tags, capabilities and architecture (every "
    "word must match, as a prefix), with `<mark>` highlights. `semantic`: by meaning (\"reads customer emails "
    "and tells me if they are angry\" finds a sentiment model), each hit's `score` its cosine similarity; only "
    f"relevant models are returned: similarity at least {_CUT.min_score} and at least {_CUT.relative_to_best:g} "
    f"times the best match's, the {_CUT.max_results} best (`cutoff`), and `leftOut` says how many models the "
    "cut-off dropped. `hybrid`: the keyword and the semantic matches, fused by reciprocal rank. The list "
    "filters (type, category, framework, status, tag, license, createdBy) narrow every mode; `total` counts "
    "the results over every page. Results are ordered by relevance only."
)


@router.get("/search", response_model=SearchPage, summary="Search models: keyword, semantic or hybrid",
            description=SEARCH_DESCRIPTION)
def search_models(
    session: SessionDep,
    filters: FiltersDep,
    q: Annotated[str, Query(min_length=1, max_length=500, pattern=NO_NUL, description="Words, or a question in plain language")],
    mode: Annotated[Literal["keyword", "semantic", "hybrid"], Query()] = "keyword",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    principal: Principal = require("model:read"),
) -> SearchPage:
    document = search.search_document(session=session, actor=principal, q=q, mode=mode, limit=limit, cursor=cursor, filters=filters)
    return json_response(document)


@router.get("/facets", response_model=ModelFacets, summary="Counts per type, status, framework, category, license, tag")
def facets(
    session: SessionDep,
    filters: FiltersDep,
    q: Annotated[str | None, Query(min_length=1, max_length=500, pattern=NO_NUL,
                                   description="Count only the models a search for these words returns")] = None,
    mode: Annotated[Literal["keyword", "semantic", "hybrid"], Query(
        description="How `q` searches (as `GET /search`)")] = "keyword",
    principal: Principal = require("model:read"),
) -> ModelFacets:
    """For filter chips: how many live models have each value (the 30 most common per facet). Each
    facet is counted under the other filters given, so choosing a type still shows the other types.
    With `q`, among the search's results: a keyword search's matches (a `q` without words is REQ_001),
    or a semantic search's models above its relevance cut-off, so each count is what that filter
    would show."""
    return service.model_facets(session=session, actor=principal, filters=filters, q=q, mode=mode)


FILTER_EXAMPLE = {"all": [{"field": "performance.accuracy", "op": "gte", "value": 0.9},
                          {"any": [{"field": "type", "op": "eq", "value": "NLP"},
                                   {"field": "metadata.tags", "op": "contains", "value": "vision"}]}]}


@router.post("/filter", response_model=Page[ModelRead], summary="Filter models with a JSON condition tree")
async def filter_models(
    reader: ReadSessionDep,
    body: Annotated[dict[str, Any], Body(examples=[FILTER_EXAMPLE])],
    sort: SortParam = "-createdAt",
    params: PageParams = Depends(page_params),
    principal: Principal = require("model:read", read_only=True),
) -> Page[ModelRead]:
    """Conditions `{"field", "op", "value"}` grouped by `all` / `any`. Fields are the document's paths
    (`performance.accuracy`, `metadata.tags`, `training.dataset`, …); ops: eq, ne, gt, gte, lt, lte, in,
    contains, exists. An unknown field or op is REQ_001 naming where it is."""
    return await hot_read(reader, _list_page, reader, principal, params, sort, None, filters.compile_filter(body),
                                filters.indexed_ranges(body))


@router.get("/recommended", response_model=RecommendationList, summary="Models recommended to you, explained")
def recommended(session: SessionDep, limit: Annotated[int, Query(ge=1, le=50)] = 10,
                principal: Principal = require("model:read")) -> RecommendationList:
    """From the models you viewed, favourited, deployed or trained (shared datasets, tags and
    capabilities), what your role uses, and what is trending; each with a one-phrase reason."""
    return discovery.recommended(session=session, actor=principal, limit=limit)


@router.get("/trending", response_model=TrendingList, summary="Models by recent activity")
def trending(session: SessionDep,
             window: Annotated[str, Query(max_length=5, description="e.g. 24h, 7d, 2w (at most 90d)")] = "7d",
             limit: Annotated[int, Query(ge=1, le=100)] = 20,
             type: Annotated[ModelType | None, Query()] = None,  # noqa: A002
             principal: Principal = require("model:read")) -> TrendingList:
    """Views, downloads, new versions, deployments and predictions in the window, each weighted and
    decaying with age (half-life a third of the window)."""
    return discovery.trending(session=session, actor=principal, window=window, limit=limit, type=type)


# --- one model --------------------------------------------------------------------------------------


@router.get("/{modelId}", response_model=ModelRead, summary="One model", responses=error_responses(404))
async def get_model(modelId: ModelId, session: SessionDep, background: BackgroundTasks,  # noqa: N803
                    principal: Principal = require("model:read")) -> ModelRead:
    model = await run_short_read(session, lambda: service.get_model(session=session, actor=principal, model_id=modelId))
    background.add_task(service.record_activity_now, model_id=model.id, user_id=principal.user_id, kind="view",
                        throttle_seconds=VIEW_THROTTLE_SECONDS)
    return json_response(service.model_document(model))


@router.put("/{modelId}", response_model=ModelRead, summary="Update a model",
            responses=error_responses(404, 409))
def update_model(modelId: ModelId, body: ModelUpdate, session: SessionDep,  # noqa: N803
                 principal: Principal = require("model:write")) -> Response:
    """Fields left out keep their value; nested objects given (metadata, training, performance,
    pricing, deployment) replace the stored ones."""
    model = service.update_model(session=session, actor=principal, model_id=modelId, data=body)
    session.commit()
    return json_response(service.model_document(model))


@router.delete("/{modelId}", status_code=204, response_class=Response, summary="Delete a model (soft)",
               responses=error_responses(404, 409))
def delete_model(modelId: ModelId, session: SessionDep,  # noqa: N803
                 force: Annotated[bool, Query(description="Admins only: delete even when in use")] = False,
                 principal: Principal = require("model:delete")) -> Response:
    """Refused (MODEL_002) while a version is in production or endpoints serve the model, unless an
    admin passes `force=true`. The model disappears from lists and search; its history is kept."""
    service.delete_model(session=session, actor=principal, model_id=modelId, force=force)
    session.commit()
    return Response(status_code=204)


@router.patch("/{modelId}/status", response_model=ModelRead, summary="Move the model along its lifecycle",
              responses=error_responses(404, 409))
def change_status(modelId: ModelId, body: StatusChange, session: SessionDep,  # noqa: N803
                  principal: Principal = require("model:write")) -> ModelRead:
    """development → training → validation → deployment → monitoring → retirement, plus the ways back
    that make sense (validation → development, training → development, deployment → validation,
    monitoring → training). Any other move is MODEL_002 naming the allowed ones."""
    model = service.change_status(session=session, actor=principal, model_id=modelId, status=body.status,
                                  reason=body.reason)
    session.commit()
    return service.model_read(model)


# --- versions -----------------------------------------------------------------------------------------


@router.get("/{modelId}/versions", response_model=Page[VersionRead], summary="Versions in semantic order",
            responses=error_responses(404))
def list_versions(modelId: ModelId, session: SessionDep,  # noqa: N803
                  order: Annotated[Literal["asc", "desc"], Query()] = "asc",
                  params: PageParams = Depends(page_params),
                  principal: Principal = require("model:read")) -> Page[VersionRead]:
    """2.9.0 comes before 2.10.0 (`order=desc` for newest first)."""
    rows, cursor = service.list_versions(session=session, actor=principal, model_id=modelId, params=params,
                                         descending=order == "desc")
    return Page[VersionRead](items=[service.read_version(session=session, version=r) for r in rows], next_cursor=cursor)


@router.post("/{modelId}/versions", response_model=VersionRead, status_code=201, summary="Register a version",
             responses=error_responses(404, 409))
def create_version(modelId: ModelId, body: VersionCreate, session: SessionDep,  # noqa: N803
                   principal: Principal = require("model:create")) -> Response:
    """A new version in stage `none`. Its `source` (run, training job, datasets, parent) becomes
    lineage. A duplicate number is MODEL_002."""
    row = service.create_version(session=session, actor=principal, model_id=modelId, data=body)
    # Held across the commit (which drops the transaction's memo of it): the document, built after the
    # commit so that the write lock is not held for it, needs the model's row without loading it again.
    model = session.get(RegisteredModel, row.model_id)
    session.commit()
    document = service.version_read(row, model.parameters if model is not None else None)
    # Dumped here as FastAPI would, without its second validation of what `version_read` just built.
    return json_response(document.model_dump(mode="json", by_alias=True), status_code=201)


@router.get("/{modelId}/versions/history", response_model=Page[StageHistoryRead],
            summary="Stage history: who moved which version where, when and why", responses=error_responses(404))
def stage_history(
    modelId: ModelId, session: SessionDep,  # noqa: N803
    at: Annotated[UtcInstant | None, Query(description="Only what held its stage at this instant (ISO-8601)")] = None,
    stage: Annotated[Stage | None, Query()] = None,
    version: Annotated[str | None, Query(max_length=20, pattern=NO_NUL)] = None,
    params: PageParams = Depends(page_params),
    principal: Principal = require("model:read"),
) -> Page[StageHistoryRead]:
    """Newest first. `?at=2026-01-01T00:00:00Z&stage=production` answers which version was in
    production then."""
    rows, cursor = service.list_stage_history(session=session, actor=principal, model_id=modelId, params=params, at=at,
                                              stage=stage, version=version)
    return Page[StageHistoryRead](items=[service.history_read(r) for r in rows], next_cursor=cursor)


@router.get("/{modelId}/versions/{version}", response_model=VersionRead, summary="One version",
            responses=error_responses(404))
def get_version(modelId: ModelId, version: VersionPath, session: SessionDep,  # noqa: N803
                principal: Principal = require("model:read")) -> VersionRead:
    row = service.get_version(session=session, actor=principal, model_id=modelId, version=version)
    return service.read_version(session=session, version=row)


@router.put("/{modelId}/versions/{version}", response_model=VersionRead, summary="Update a version",
            responses=error_responses(404))
def update_version(modelId: ModelId, version: VersionPath, body: VersionUpdate, session: SessionDep,  # noqa: N803
                   principal: Principal = require("model:write")) -> VersionRead:
    """Notes, metrics and hyperparameters; the source and artifact stay as recorded."""
    row = service.update_version(session=session, actor=principal, model_id=modelId, version=version, data=body)
    document = service.read_version(session=session, version=row)  # before the commit (see create_version)
    session.commit()
    return document


UPLOAD_BODY = {
    "required": True,
    "content": {
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"},
                           "config": {"type": "string", "description": "JSON object (safetensors)"}}}},
    },
}


@router.put("/{modelId}/versions/{version}/artifact", response_model=VersionRead,
            summary="Upload the version's artifact (streamed)", openapi_extra={"requestBody": UPLOAD_BODY},
            responses=error_responses(404, 409))
async def upload_artifact(
    modelId: ModelId, version: VersionPath, request: Request, session: SessionDep,  # noqa: N803
    format: Annotated[Literal["safetensors", "onnx", "opaque"] | None, Query(  # noqa: A002
        description="Default: detected (safetensors or ONNX); `opaque` stores any other file as it is, never "
                    "loaded")] = None,
    principal: Principal = require("model:write"),
) -> VersionRead:
    """Send the file as the raw body (`application/octet-stream`, config in the safetensors metadata
    under `config`) or as `multipart/form-data` with a `file` part and an optional `config` part (JSON).
    The body streams to disk with a size limit; its sha256 is stored. Pickle-based files (.pt, .pkl,
    joblib, ZIPs holding pickles) are refused (MODEL_004). The client's file name never reaches the
    file system. A cut-off upload leaves nothing behind.

    safetensors and ONNX files are read (never run): `artifact.parameters` counts parameters as the
    framework does (buffers such as BatchNorm running statistics left out), beside the model's declared
    count when they differ; ONNX details name the inputs and outputs with their shapes, the opset and the
    initializers. Any other file is refused (MODEL_004, naming what it looks like) unless `format=opaque`
    is declared: it is then stored, hashed and downloadable but never loaded, and the response says so
    (`artifact.handling` = `opaque`, `artifact.notice`)."""
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith(("application/octet-stream", "multipart/form-data")):
        raise InvalidRequest("Send the artifact as application/octet-stream or multipart/form-data",
                             {"content-type": "unsupported"})
    await run_in_threadpool(service.check_artifact_upload, session=session, actor=principal, model_id=modelId, version=version)
    await run_in_threadpool(session.commit)  # hold no database lock while the bytes arrive
    sink = artifacts.UploadSink()
    try:
        if content_type.startswith("multipart/form-data"):
            receiver = artifacts.MultipartReceiver(content_type, sink)
            async for chunk in request.stream():
                receiver.feed(chunk)
            received = receiver.finish()
        else:
            async for chunk in request.stream():
                sink.write(chunk)
            received = sink.finish(file_name=request.headers.get("x-file-name"))
    except BaseException:
        sink.abort()
        raise
    row = await run_in_threadpool(service.attach_artifact, session=session, actor=principal, model_id=modelId,
                                  version=version, received=received, declared_format=format)
    await run_in_threadpool(session.commit)
    return await run_in_threadpool(service.read_version, session=session, version=row)


@router.get("/{modelId}/versions/{version}/artifact", response_class=FileResponse,
            summary="Download the version's artifact (hash-checked)",
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                  "format": "binary"}}},
                             "description": "The file; `X-Artifact-SHA256` and `Digest` carry its hash, "
                                            "`X-Artifact-Format` its format, and for an opaque file "
                                            "`X-Artifact-Notice` says the platform never loaded or checked it"},
                       **error_responses(404, 422)})
def download_artifact(modelId: ModelId, version: VersionPath, session: SessionDep,  # noqa: N803
                      background: BackgroundTasks, principal: Principal = require("model:read")) -> FileResponse:
    """The file is re-hashed before it is sent; a mismatch is MODEL_004 and flags the version."""
    handle = service.open_artifact(session=session, actor=principal, model_id=modelId, version=version)
    background.add_task(service.record_activity_now, model_id=modelId, user_id=principal.user_id, kind="download")
    digest = base64.b64encode(bytes.fromhex(handle.sha256)).decode()
    headers = {"X-Artifact-SHA256": handle.sha256, "Digest": f"sha-256={digest}", "X-Artifact-Format": handle.format}
    if handle.format == "opaque":
        # Whoever downloads it is told what the platform did not do: it never loaded or checked the content.
        headers["X-Artifact-Notice"] = artifacts.OPAQUE_NOTICE
    return FileResponse(handle.path, media_type="application/octet-stream", filename=handle.download_name,
                        headers=headers)


@router.post("/{modelId}/versions/{version}/promote", response_model=PromotionResult,
             summary="Move a version to a stage", responses=error_responses(404, 409))
def promote_version(modelId: ModelId, version: VersionPath, body: PromoteRequest, session: SessionDep,  # noqa: N803
                    principal: Principal = require("model:promote")) -> PromotionResult:
    """`{"stage": "production", "reason": "..."}`. To production: the previous production version is
    archived and the model's `version` follows; the version needs an intact artifact and metrics
    (MODEL_004 otherwise). Send `expectedCurrentVersion` to refuse the move if production changed."""
    model, row, replaced = service.promote_version(
        session=session, actor=principal, model_id=modelId, version=version, stage=body.stage, reason=body.reason,
        expected_current_version=body.expected_current_version)
    session.commit()
    return _promotion(model, row, replaced)


@router.post("/{modelId}/rollback", response_model=PromotionResult, summary="Roll production back",
             responses=error_responses(404, 409))
def rollback(modelId: ModelId, body: RollbackRequest, session: SessionDep,  # noqa: N803
             principal: Principal = require("model:promote")) -> PromotionResult:
    """Restores the version that was in production before the current one (or `toVersion`)."""
    model, row, replaced = service.rollback(session=session, actor=principal, model_id=modelId, reason=body.reason,
                                            to_version=body.to_version)
    session.commit()
    return _promotion(model, row, replaced)


# --- metadata, metrics, lineage --------------------------------------------------------------------------


@router.get("/{modelId}/metadata", response_model=ModelMetadata, summary="The model's metadata",
            responses=error_responses(404))
def get_metadata(modelId: ModelId, session: SessionDep,  # noqa: N803
                 principal: Principal = require("model:read")) -> ModelMetadata:
    return service.get_metadata(session=session, actor=principal, model_id=modelId)


@router.put("/{modelId}/metadata", response_model=ModelMetadata, summary="Replace the model's metadata",
            responses=error_responses(404))
def put_metadata(modelId: ModelId, body: ModelMetadata, session: SessionDep,  # noqa: N803
                 principal: Principal = require("model:write")) -> ModelMetadata:
    metadata = service.update_metadata(session=session, actor=principal, model_id=modelId, metadata=body)
    session.commit()
    return metadata


@router.get("/{modelId}/metrics", response_model=MetricsRead, summary="Metrics per version and series",
            responses=error_responses(404))
def get_metrics(modelId: ModelId, session: SessionDep,  # noqa: N803
                principal: Principal = require("model:read")) -> MetricsRead:
    return service.model_metrics(session=session, actor=principal, model_id=modelId)


@router.get("/{modelId}/lineage", response_model=LineageGraph, summary="The model's lineage graph",
            responses=error_responses(404))
def get_lineage(modelId: ModelId, session: SessionDep,  # noqa: N803
                depth: Annotated[int, Query(ge=1, le=MAX_DEPTH, description="Steps to follow each way")] = 3,
                principal: Principal = require("model:read")) -> LineageGraph:
    """The platform lineage (W3C PROV) around the model and its versions: the registrations and
    trainings that made them, the dataset versions and parent versions they derive from, and what
    derives from them (endpoints, generated apps). The same document as
    `GET /governance/provenance/lineage/model:{modelId}`."""
    return service.lineage_graph(session=session, actor=principal, model_id=modelId, depth=depth)
