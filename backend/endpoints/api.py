"""REST routes of model endpoints: /api/v1/catalog/endpoints (thin: the service does the work).

Prediction routes (predict, batch-predict, explain) accept a bearer token or API key with
`endpoint:invoke`, or an `X-Model-Key` made for that endpoint; every other route refuses model keys."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.catalog.datasets import body, storage
from backend.core.errors import InvalidRequest
from backend.core.http import COMMON_ERRORS, error_responses, get_read_session, get_session, json_response
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.endpoints import fastlane, predlog, service
from backend.endpoints.schemas import (
    BatchJob,
    BatchPredictRequest,
    BatchUploadJob,
    DeployRequest,
    Drift,
    EndpointCreate,
    EndpointRead,
    EndpointStatus,
    EndpointUpdate,
    ExplainRequest,
    Explanation,
    Health,
    Importance,
    KeyCreate,
    KeyCreated,
    KeyRead,
    LogEntry,
    Metrics,
    PredictRequest,
    PredictResponse,
    ScaleRequest,
    TestReport,
    TrafficRequest,
)

router = APIRouter(prefix="/catalog/endpoints", tags=["endpoints"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
EndpointId = Annotated[str, Path(max_length=64, description="The endpoint id (`endpoint_…`)")]
NOT_FOUND = error_responses(404)
STATE_ERRORS = error_responses(404, 409)
INFER_ERRORS = {**error_responses(404, 429, 504), 503: {"description": "Endpoint not deployed (INFER_005)"}}
INFER_DOC = ("Errors: INFER_002 (422) names the input field that does not fit the model's input schema; "
             "INFER_003 (504) the model did not answer within the endpoint's timeout; INFER_004 (429) the "
             "key's token bucket is empty (`Retry-After` says when to retry); INFER_005 (503) the endpoint "
             "is not deployed.")


def _log_written() -> None:
    """Write this process's queued prediction-log rows before the request's read transaction starts (a
    read session sees the database as of its first query, which the permission check makes)."""
    predlog.flush()


LogWritten = Depends(_log_written)


def _read(endpoint: Any) -> EndpointRead:
    return EndpointRead.model_validate(endpoint)


@router.get("", response_model=Page[EndpointRead], summary="List endpoints")
def list_endpoints(session: SessionDep, params: PageParams = Depends(page_params),
                   status: Annotated[str | None, Query(max_length=16, description="undeployed or running")] = None,
                   principal: Principal = require("endpoint:read")) -> Page[EndpointRead]:
    """Every endpoint, by name, with its version, traffic split and scaling."""
    rows, cursor = service.list_endpoints(session=session, actor=principal, params=params, status=status)
    return Page[EndpointRead](items=[_read(r) for r in rows], next_cursor=cursor)


@router.post("", response_model=EndpointRead, status_code=201, summary="Create an endpoint",
             responses=error_responses(409))
def create_endpoint(body: EndpointCreate, session: SessionDep,
                    principal: Principal = require("endpoint:create")) -> EndpointRead:
    """An undeployed endpoint with its rate limit, timeout and stored examples; ENDPOINT_002 when the name
    is taken. Deploy a model version to it next."""
    endpoint = service.create_endpoint(session=session, actor=principal, data=body)
    session.commit()
    return _read(endpoint)


@router.get("/{endpointId}", response_model=EndpointRead, summary="Get an endpoint", responses=NOT_FOUND)
def get_endpoint(endpointId: EndpointId, session: SessionDep,  # noqa: N803
                 principal: Principal = require("endpoint:read")) -> EndpointRead:
    return _read(service.get_endpoint(session=session, actor=principal, endpoint_id=endpointId))


@router.put("/{endpointId}", response_model=EndpointRead, summary="Update an endpoint", responses=STATE_ERRORS)
def update_endpoint(endpointId: EndpointId, body: EndpointUpdate, session: SessionDep,  # noqa: N803
                    principal: Principal = require("endpoint:write")) -> EndpointRead:
    """Name, description, rate limit, burst, timeout and stored examples."""
    endpoint = service.update_endpoint(session=session, actor=principal, endpoint_id=endpointId, data=body)
    session.commit()
    return _read(endpoint)


@router.delete("/{endpointId}", status_code=204, response_class=Response, summary="Delete an endpoint",
               responses=STATE_ERRORS)
def delete_endpoint(endpointId: EndpointId, session: SessionDep,  # noqa: N803
                    principal: Principal = require("endpoint:delete")) -> Response:
    """Only an undeployed endpoint (ENDPOINT_002 otherwise); its model keys are revoked, its prediction log kept."""
    service.delete_endpoint(session=session, actor=principal, endpoint_id=endpointId)
    session.commit()
    return Response(status_code=204)


@router.post("/{endpointId}/deploy", response_model=EndpointRead, summary="Deploy a model version",
             responses=STATE_ERRORS)
def deploy(endpointId: EndpointId, body: DeployRequest, session: SessionDep,  # noqa: N803
           principal: Principal = require("endpoint:write")) -> EndpointRead:
    """Serve `version` of `modelId`, or the version in `stage` (production or staging); with
    `followStage` the endpoint moves with the stage (promotion and rollback re-point it). The version is
    loaded and its artifact's hash verified first: ENDPOINT_002 when it is no platform package, MODEL_004
    when its file fails the hash check, MODEL_001 when it does not exist."""
    endpoint = service.deploy(session=session, actor=principal, endpoint_id=endpointId, data=body)
    session.commit()
    return _read(endpoint)


@router.post("/{endpointId}/undeploy", response_model=EndpointRead, summary="Undeploy an endpoint",
             responses=STATE_ERRORS)
def undeploy(endpointId: EndpointId, session: SessionDep,  # noqa: N803
             principal: Principal = require("endpoint:write")) -> EndpointRead:
    """Stop serving: predictions answer INFER_005 until the next deploy."""
    endpoint = service.undeploy(session=session, actor=principal, endpoint_id=endpointId)
    session.commit()
    return _read(endpoint)


@router.get("/{endpointId}/status", response_model=EndpointStatus, summary="Get an endpoint's status",
            responses=NOT_FOUND)
def get_status(endpointId: EndpointId, session: SessionDep,  # noqa: N803
               principal: Principal = require("endpoint:read")) -> dict[str, Any]:
    """Status, the versions serving with their traffic shares, the input schema, and what this process has loaded."""
    return service.status(session=session, actor=principal, endpoint_id=endpointId)


@router.post("/{endpointId}/scale", response_model=EndpointRead, summary="Scale an endpoint", responses=STATE_ERRORS)
def scale(endpointId: EndpointId, body: ScaleRequest, session: SessionDep,  # noqa: N803
          principal: Principal = require("endpoint:write")) -> EndpointRead:
    """Replicas within [minReplicas, maxReplicas] (REQ_001 otherwise): the inference threads of each
    serving version in every web process. The autoscaling policy (`autoScaling`, `targetUtilization`) is recorded."""
    endpoint = service.scale(session=session, actor=principal, endpoint_id=endpointId, data=body)
    session.commit()
    return _read(endpoint)


@router.put("/{endpointId}/traffic", response_model=EndpointRead, summary="Split an endpoint's traffic",
            responses=STATE_ERRORS)
def set_traffic(endpointId: EndpointId, body: TrafficRequest, session: SessionDep,  # noqa: N803
                principal: Principal = require("endpoint:write")) -> EndpointRead:
    """`canary`: `candidatePercent` % of requests answered by `candidateVersion`; `shadow`: the candidate
    gets a copy of every request, its answers logged and never returned; `single`: the primary only.
    The candidate is loaded first (ENDPOINT_002 when it cannot be served)."""
    endpoint = service.set_traffic(session=session, actor=principal, endpoint_id=endpointId, data=body)
    session.commit()
    return _read(endpoint)


@router.post("/{endpointId}/traffic/switch", response_model=EndpointRead, summary="Blue-green switch",
             responses=STATE_ERRORS)
def switch(endpointId: EndpointId, session: SessionDep,  # noqa: N803
           principal: Principal = require("endpoint:write")) -> EndpointRead:
    """The candidate becomes the primary at once; the old primary stays loaded as the candidate at 0 %, so
    switching again rolls back. ENDPOINT_002 when there is no candidate."""
    endpoint = service.switch(session=session, actor=principal, endpoint_id=endpointId)
    session.commit()
    return _read(endpoint)


@router.get("/{endpointId}/health", response_model=Health, summary="Check an endpoint's health", responses=NOT_FOUND)
def health(endpointId: EndpointId, session: SessionDep,  # noqa: N803
           principal: Principal = require("endpoint:read")) -> dict[str, Any]:
    """Each serving version loads (hash verified) and answers the first stored example in time."""
    return service.health(session=session, actor=principal, endpoint_id=endpointId)


@router.get("/{endpointId}/logs", response_model=Page[LogEntry], summary="Read the prediction log",
            responses=NOT_FOUND)
def logs(endpointId: EndpointId, session: ReadSessionDep, params: PageParams = Depends(page_params),  # noqa: N803
         status: Annotated[str | None, Query(max_length=16, description="ok or error")] = None,
         version: Annotated[str | None, Query(max_length=20)] = None, _written: None = LogWritten,
         principal: Principal = require("endpoint:read", read_only=True)) -> Page[LogEntry]:
    """Predictions newest first: inputs, outputs, latency, the version and role (primary, canary, shadow)
    that answered, the key used."""
    rows, cursor = service.logs(session=session, actor=principal, endpoint_id=endpointId, params=params,
                                status=status, version=version)
    return Page[LogEntry](items=[LogEntry.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/{endpointId}/metrics", response_model=Metrics, summary="Get an endpoint's metrics", responses=NOT_FOUND)
def metrics(endpointId: EndpointId, session: ReadSessionDep,  # noqa: N803
            minutes: Annotated[int, Query(ge=1, le=7 * 24 * 60, description="The window, in minutes")] = 60,
            _written: None = LogWritten,
            principal: Principal = require("endpoint:read", read_only=True)) -> dict[str, Any]:
    """Latency p50/p95/p99, throughput and error rate from the prediction log, per version and per minute."""
    return service.metrics(session=session, actor=principal, endpoint_id=endpointId, minutes=minutes)


@router.get("/{endpointId}/drift", response_model=Drift, summary="Check an endpoint's input drift",
            responses={**STATE_ERRORS, 503: INFER_ERRORS[503]})
def drift(endpointId: EndpointId, session: ReadSessionDep,  # noqa: N803
          minutes: Annotated[int, Query(ge=1, le=7 * 24 * 60, description="The window, in minutes")] = 60,
          version: Annotated[str | None, Query(max_length=20, description="A version (default: the primary)")] = None,
          _written: None = LogWritten, principal: Principal = require("endpoint:read", read_only=True)) -> Drift:
    """The inputs a version answered in the window against its training statistics: per numeric feature the
    mean shift in training standard deviations and the spread ratio, per categorical feature the share of
    unseen values; `drifted` lists the features past the limits (docs/endpoints.md). 503 INFER_005 when the
    endpoint is not deployed; 409 ENDPOINT_002 when the version has no platform package."""
    return Drift.model_validate(service.drift(session=session, actor=principal, endpoint_id=endpointId,
                                              minutes=minutes, version=version))


@router.post("/{endpointId}/test", response_model=TestReport, summary="Run the stored examples", responses=STATE_ERRORS)
def run_test(endpointId: EndpointId, session: ReadSessionDep,  # noqa: N803
             principal: Principal = require("endpoint:write", read_only=True)) -> dict[str, Any]:
    """Predict every stored example with the primary version and compare with its expected answer (the
    label, or the value within `tolerance`). ENDPOINT_002 when none are stored, INFER_005 when undeployed."""
    return service.run_examples(session=session, actor=principal, endpoint_id=endpointId)


@router.post("/{endpointId}/predict", response_model=PredictResponse, summary="Predict",
             responses=INFER_ERRORS)
async def predict(endpointId: EndpointId, body: PredictRequest, request: Request, session: ReadSessionDep,  # noqa: N803
                  principal: Principal = require("endpoint:invoke", accept_model_key=True,
                                                 read_only=True)) -> Response:
    """Predictions for `instances` (rows keyed by input column): `{label, probabilities}` for a classifier,
    `{value}` for a regressor, and which version answered. Concurrent requests are batched together. """
    model_key = request.headers.get("x-model-key")

    def seen(endpoint: service.EndpointView) -> None:
        if model_key:
            fastlane.remember(key=model_key, principal=principal, endpoint=endpoint)

    answer = await service.predict_async(session=session, actor=principal, endpoint_id=endpointId,
                                         instances=body.instances, seen=seen)
    # The hot route writes its document with orjson (the response model documents it): the predictions are
    # the package's own plain JSON, re-validating them would cost more than the model.
    return json_response(service.answer_document(answer))


predict.__doc__ = (predict.__doc__ or "") + INFER_DOC


@router.post("/{endpointId}/explain", response_model=Explanation, summary="Explain predictions",
             responses=INFER_ERRORS)
def explain(endpointId: EndpointId, body: ExplainRequest, session: ReadSessionDep,  # noqa: N803
            principal: Principal = require("endpoint:invoke", accept_model_key=True, read_only=True)) -> dict[str, Any]:
    """Integrated Gradients attributions per input column for each instance's predicted class (or
    `target`), from a baseline of training means and unknown categories; `delta` is the completeness
    gap. Tabular models: one number per input column. Text models: `tokens` (each word n-gram or word
    piece with its attribution, along a path of token embeddings from zero) and `attributions` per
    distinct token. Image models: `grid`, an 8×8 grid of summed pixel attributions (row-major) from the
    training-mean image, and `attributions` per cell (`r<row>c<col>`)."""
    return service.explain(session=session, actor=principal, endpoint_id=endpointId, instances=body.instances,
                           steps=body.steps, target=body.target)


@router.get("/{endpointId}/explain", response_model=Importance, summary="Explain the model (permutation importance)",
            responses=INFER_ERRORS)
def importance(endpointId: EndpointId, session: ReadSessionDep,  # noqa: N803
               datasetId: Annotated[str, Query(max_length=40, description="A labelled dataset")],  # noqa: N803
               datasetVersion: Annotated[int | None, Query(ge=1)] = None,  # noqa: N803
               rows: Annotated[int, Query(ge=10, le=20_000, description="Rows sampled from its start")] = 1000,
               repeats: Annotated[int, Query(ge=1, le=10)] = 3,
               principal: Principal = require("endpoint:invoke", accept_model_key=True, read_only=True)) -> dict[str, Any]:
    """How much the primary version's score (accuracy, or negative RMSE) drops when each input column is
    shuffled, on a dataset version that carries the label column (the caller needs `dataset:read`)."""
    return service.importance(session=session, actor=principal, endpoint_id=endpointId, dataset_id=datasetId,
                              dataset_version=datasetVersion, rows=rows, repeats=repeats)


@router.post("/{endpointId}/batch-predict", response_model=BatchJob, status_code=202, summary="Batch prediction",
             responses=INFER_ERRORS)
def batch_predict(endpointId: EndpointId, body: BatchPredictRequest, session: SessionDep,  # noqa: N803
                  principal: Principal = require("endpoint:invoke", accept_model_key=True)) -> dict[str, Any]:
    """Queue a job on the `inference` queue: the dataset version predicted in chunks of `batchSize` rows
    (capped), stored as a new dataset with a prediction column (and one probability column per class).
    Follow it at /jobs/{jobId}; its result names the new dataset. Needs `dataset:read` on the input and
    `dataset:create` for the output."""
    job = service.batch_predict(session=session, actor=principal, endpoint_id=endpointId, dataset_id=body.dataset_id,
                                dataset_version=body.dataset_version, batch_size=body.batch_size)
    session.commit()
    return {"job_id": job.id, "status": job.status}


BATCH_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "The rows to predict: CSV/TSV, Parquet, JSON or JSON Lines (as a dataset upload)"},
                "batchSize": {"type": "integer", "minimum": 1, "maximum": 1_000_000,
                              "description": "Rows per model call; capped by AISYSTEM_ENDPOINT_BATCH_PREDICT_CHUNK"},
                "options": {"type": "string", "description": "CSV/TSV import options as a JSON object (see the "
                                                             "datasets upload)"},
            },
        }}},
    }
}


def _batch_size(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise InvalidRequest("'batchSize' must be a whole number from 1 to 1000000", {"batchSize": "1..1000000"})
    return value


def _import_options(text: str | None) -> dict | None:
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest("The import options must be a JSON object", {"options": "a JSON object"})
    return value


@router.post("/{endpointId}/batch-predict/upload", response_model=BatchUploadJob, status_code=202,
             openapi_extra=BATCH_UPLOAD_BODY, summary="Batch prediction of an uploaded file",
             responses={**INFER_ERRORS, **error_responses(413)})
async def batch_predict_upload(endpointId: EndpointId, request: Request, session: SessionDep,  # noqa: N803
                               principal: Principal = require("endpoint:invoke", accept_model_key=True)) -> dict[str, Any]:
    """`batch-predict` of a file sent as the multipart field `file` instead of a dataset version: the file
    becomes version 1 of a new tabular dataset of the caller's through the datasets upload path (format
    detection, size limit, sandboxed parsing; `options` as for an upload), then the job is queued on it.
    The answer names the job and the new input dataset. Needs `dataset:create` (the input and the output
    are both new datasets); a file that cannot be read is DATASET_/REQ_ errors as for an upload, and
    leaves nothing behind."""
    await run_in_threadpool(service.get_endpoint, session=session, actor=principal, endpoint_id=endpointId,
                            need="invoke")
    await run_in_threadpool(session.rollback)  # do not hold a transaction while the body streams in
    with storage.staging() as work:
        form = await body.read_upload(request, work, files={"file": None}, texts=("batchSize", "options"))
        file = form.files.get("file")
        if file is None:
            raise InvalidRequest("Send the rows as the multipart file field 'file'", {"file": "required"})
        job, dataset_id = await run_in_threadpool(
            service.batch_predict_upload, session=session, actor=principal, endpoint_id=endpointId, source=file,
            filename=form.filenames.get("file"), batch_size=_batch_size(form.fields.get("batchSize")),
            options=_import_options(form.fields.get("options")))
        await run_in_threadpool(session.commit)
    return {"job_id": job.id, "status": job.status, "dataset_id": dataset_id}


@router.get("/{endpointId}/export", response_class=Response, summary="Export a deployed version as ONNX",
            responses={**STATE_ERRORS, 200: {"content": {"application/octet-stream": {}},
                                             "description": "The ONNX model"}})
def export(endpointId: EndpointId, session: SessionDep,  # noqa: N803
           version: Annotated[str | None, Query(max_length=20, description="A serving version; default: primary")] = None,
           principal: Principal = require("endpoint:write")) -> Response:
    """An ONNX file of a version the endpoint serves; the package config (input schema, preprocessing,
    label names) is in its metadata as `aisystem.config`. Tabular models (ENDPOINT_002 otherwise)."""
    data, name = service.export_onnx(session=session, actor=principal, endpoint_id=endpointId, version=version)
    session.commit()
    return Response(content=data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{_ascii(name)}"'})


def _ascii(name: str) -> str:
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in name)


@router.post("/{endpointId}/keys", response_model=KeyCreated, status_code=201, summary="Create a model key",
             responses=NOT_FOUND)
def create_key(endpointId: EndpointId, body: KeyCreate, session: SessionDep,  # noqa: N803
               principal: Principal = require("endpoint:write")) -> KeyCreated:
    """A key for this endpoint's predict, batch-predict and explain only, sent as `X-Model-Key`. The key is
    shown once; only its HMAC is kept."""
    row, key = service.create_key(session=session, actor=principal, endpoint_id=endpointId, data=body)
    session.commit()
    return KeyCreated.model_validate({**KeyRead.model_validate(row).model_dump(), "key": key})


@router.get("/{endpointId}/keys", response_model=Page[KeyRead], summary="List an endpoint's model keys",
            responses=NOT_FOUND)
def list_keys(endpointId: EndpointId, session: SessionDep, params: PageParams = Depends(page_params),  # noqa: N803
              principal: Principal = require("endpoint:write")) -> Page[KeyRead]:
    rows, cursor = service.list_keys(session=session, actor=principal, endpoint_id=endpointId, params=params)
    return Page[KeyRead](items=[KeyRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.delete("/{endpointId}/keys/{keyId}", response_model=KeyRead, summary="Revoke a model key", responses=NOT_FOUND)
def revoke_key(endpointId: EndpointId, session: SessionDep,  # noqa: N803
               keyId: Annotated[str, Path(max_length=64)],  # noqa: N803
               principal: Principal = require("endpoint:write")) -> KeyRead:
    """Effective on the next request."""
    row = service.revoke_key(session=session, actor=principal, endpoint_id=endpointId, key_id=keyId)
    session.commit()
    return KeyRead.model_validate(row)
