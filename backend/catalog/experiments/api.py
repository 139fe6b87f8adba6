"""REST routes of experiment tracking: /api/v1/catalog/experiments (thin: the service does the work).

Scripts outside the platform log into runs with an API key (`X-API-Key`), like the platform's own
training: start a run (`POST /{experimentId}/runs`), send params, metric batches, tags, log lines and
files to `/runs/{runId}/...`, then end it (`PUT /runs/{runId}` with a status).
"""

from __future__ import annotations

import dataclasses
import posixpath
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.catalog.experiments import analysis, service
from backend.catalog.experiments.schemas import (
    MAX_KEY,
    BatchResult,
    CompareRequest,
    CompareResult,
    ExperimentAnalysis,
    ExperimentCreate,
    ExperimentRead,
    ExperimentUpdate,
    Leaderboard,
    LogBatch,
    LogLinesIn,
    LogLinesResult,
    MetricsBatch,
    ParamsBatch,
    RunArtifactList,
    RunArtifactRead,
    RunCreate,
    RunLogs,
    RunMetrics,
    RunRead,
    RunUpdate,
    TagsBatch,
)
from backend.core import artifacts
from backend.core.config import get_settings
from backend.core.errors import InvalidRequest
from backend.core.http import COMMON_ERRORS, error_responses, get_read_session, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page

router = APIRouter(prefix="/catalog/experiments", tags=["experiments"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
ExperimentId = Annotated[str, Path(max_length=64, description="The experiment id (`experiment_…`)")]
RunId = Annotated[str, Path(max_length=64, description="The run id (`run_…`)")]
NOT_FOUND = error_responses(404)
RUN_WRITE_ERRORS = error_responses(404, 409)
ExperimentSort = Literal["createdAt", "-createdAt", "updatedAt", "-updatedAt", "name", "-name"]


def _experiment(session: Session, experiment) -> ExperimentRead:  # noqa: ANN001
    return ExperimentRead.model_validate(service.experiment_document(session=session, experiment=experiment))


def _run(session: Session, run) -> RunRead:  # noqa: ANN001
    return RunRead.model_validate(service.run_document(session=session, run=run))


def _batch(counts: service.BatchCounts) -> BatchResult:
    return BatchResult(run_id=counts.run_id, metrics=counts.metrics, params=counts.params, tags=counts.tags)


# --- experiments -------------------------------------------------------------------------------------------


@router.get("", response_model=Page[ExperimentRead], summary="List experiments")
def list_experiments(
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=100, description="Name contains (case-insensitive)")] = None,
    type: Annotated[Literal["training", "hyperparameter_optimization", "fine_tuning", "evaluation"] | None,  # noqa: A002
                    Query()] = None,
    status: Annotated[Literal["created", "running", "completed", "failed", "stopped"] | None, Query()] = None,
    task: Annotated[str | None, Query(max_length=40)] = None,
    model_id: Annotated[str | None, Query(alias="modelId", max_length=64)] = None,
    dataset_id: Annotated[str | None, Query(alias="datasetId", max_length=64)] = None,
    created_by: Annotated[str | None, Query(alias="createdBy", max_length=40)] = None,
    lifecycle_stage: Annotated[Literal["active", "deleted", "all"], Query(alias="lifecycleStage")] = "active",
    sort: Annotated[ExperimentSort, Query()] = "-createdAt",
    params: PageParams = Depends(page_params),
    principal: Principal = require("experiment:read"),
) -> Page[ExperimentRead]:
    """Every experiment (all holders of experiment:read see all of them), filtered; deleted ones with
    `lifecycleStage=deleted` or `all`. `bestRun` is filled on the single read only."""
    rows, cursor = service.list_experiments(
        session=session, actor=principal, params=params, q=q, type=type, status=status, task=task,
        model_id=model_id, dataset_id=dataset_id, created_by=created_by, lifecycle_stage=lifecycle_stage, sort=sort)
    documents = service.experiment_documents(session=session, experiments=rows)
    return Page[ExperimentRead](items=[ExperimentRead.model_validate(d) for d in documents], next_cursor=cursor)


@router.post("", response_model=ExperimentRead, status_code=201, summary="Create an experiment",
             responses=error_responses(404, 409))
def create_experiment(body: ExperimentCreate, session: SessionDep,
                      principal: Principal = require("experiment:create")) -> ExperimentRead:
    """The name is unique on the platform (EXP_004). `modelId` and `datasetId` must name a model and a
    dataset you may see (MODEL_001, DATA_001). `objective` is `maximize_<metric>` or `minimize_<metric>`."""
    experiment = service.create_experiment(session=session, actor=principal, data=body)
    session.commit()
    return _experiment(session, experiment)


@router.get("/leaderboard", response_model=Leaderboard, summary="Best runs across experiments by a metric")
def get_leaderboard(
    session: SessionDep,
    metric: Annotated[str, Query(min_length=1, max_length=MAX_KEY, description="A metric key, e.g. accuracy")],
    goal: Annotated[Literal["max", "min"] | None, Query(
        description="Default: min for loss/error-like names, else max")] = None,
    aggregate: Annotated[Literal["latest", "min", "max"], Query(
        description="Rank by each run's latest value, or its smallest or largest")] = "latest",
    dataset_id: Annotated[str | None, Query(alias="datasetId", max_length=64)] = None,
    task: Annotated[str | None, Query(max_length=40)] = None,
    model_id: Annotated[str | None, Query(alias="modelId", max_length=64)] = None,
    experiment_type: Annotated[Literal["training", "hyperparameter_optimization", "fine_tuning", "evaluation"] | None,
                               Query(alias="type")] = None,
    best_per_experiment: Annotated[bool, Query(alias="bestPerExperiment",
                                               description="Keep each experiment's best run only")] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    principal: Principal = require("experiment:read"),
) -> Leaderboard:
    """Finished runs (not deleted, in experiments not deleted) that logged `metric`, best first; ties go
    to the run that ended first. Filter by the experiments' dataset, task, model or type."""
    return service.leaderboard(session=session, actor=principal, metric=metric, goal=goal, aggregate=aggregate,
                               dataset_id=dataset_id, task=task, model_id=model_id, experiment_type=experiment_type,
                               best_per_experiment=best_per_experiment, limit=limit)


@router.post("/compare", response_model=CompareResult, summary="Compare experiments side by side",
             responses=NOT_FOUND)
def compare_experiments(body: CompareRequest, session: ReadSessionDep,
                        principal: Principal = require("experiment:read", read_only=True)) -> CompareResult:
    """Best metrics (each experiment's best latest value per metric, and which run), each one's best run
    and the parameters where the best runs differ, and the best runs' curves (downsampled to
    `curvePoints`). Runs of every status count; deleted ones do not."""
    return service.compare_experiments(session=session, actor=principal, request=body)


# --- runs (before /{experimentId}: `runs` is no experiment id) ---------------------------------------------------


@router.get("/runs/{runId}", response_model=RunRead, summary="One run: status, params, latest metrics, tags",
            responses=NOT_FOUND)
def get_run(runId: RunId, session: SessionDep, principal: Principal = require("experiment:read")) -> RunRead:  # noqa: N803
    return _run(session, service.get_run(session=session, actor=principal, run_id=runId))


@router.put("/runs/{runId}", response_model=RunRead, summary="Rename, end or resume a run",
            responses=RUN_WRITE_ERRORS)
def update_run(runId: RunId, body: RunUpdate, session: SessionDep,  # noqa: N803
               principal: Principal = require("experiment:write")) -> RunRead:
    """A script ends its run with `{"status": "FINISHED"}` (or FAILED, KILLED; `endTime` defaults to now)
    and may resume it with RUNNING. A platform run's status belongs to its training job (EXP_003)."""
    run = service.update_run(session=session, actor=principal, run_id=runId, data=body)
    session.commit()
    return _run(session, run)


@router.post("/runs/{runId}/stop", response_model=RunRead, summary="Stop a run", responses=RUN_WRITE_ERRORS)
def stop_run(runId: RunId, session: SessionDep, principal: Principal = require("experiment:write")) -> RunRead:  # noqa: N803
    """The run ends KILLED now; a run driven by a training job asks the job to end. EXP_003 when it has
    already ended."""
    run = service.stop_run(session=session, actor=principal, run_id=runId)
    session.commit()
    return _run(session, run)


@router.get("/runs/{runId}/logs", response_model=RunLogs, summary="A run's log lines", responses=NOT_FOUND)
def get_logs(
    runId: RunId, session: SessionDep,  # noqa: N803
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Lines after this position (`lastId`)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    tail: Annotated[int | None, Query(ge=1, le=10_000, description="The last N lines instead")] = None,
    principal: Principal = require("experiment:read"),
) -> RunLogs:
    """In order. Follow a live log by passing the answer's `lastId` as `after` on the next call."""
    return RunLogs.model_validate(service.read_logs(session=session, actor=principal, run_id=runId, after=after,
                                                    limit=limit, tail=tail))


@router.post("/runs/{runId}/logs", response_model=LogLinesResult, summary="Append log lines to a run",
             responses=RUN_WRITE_ERRORS)
def post_logs(runId: RunId, body: LogLinesIn, session: SessionDep,  # noqa: N803
              principal: Principal = require("experiment:write")) -> LogLinesResult:
    """Up to 1,000 lines per call, stored in one insert."""
    count, last_id = service.append_logs(session=session, actor=principal, run_id=runId, lines=body.lines)
    session.commit()
    return LogLinesResult(run_id=runId, lines=count, last_id=last_id)


@router.get("/runs/{runId}/metrics", response_model=RunMetrics, summary="A run's metrics and their histories",
            responses=NOT_FOUND)
def get_metrics(
    runId: RunId, session: SessionDep,  # noqa: N803
    key: Annotated[list[str], Query(max_length=10, description="Metrics whose history to return (repeat the "
                                                               "parameter for several)")] = [],  # noqa: B006
    max_points: Annotated[int | None, Query(alias="maxPoints", ge=2, le=10_000,
                                            description="Downsample each history to this many points")] = None,
    min_step: Annotated[int | None, Query(alias="minStep", ge=-(2**63) + 1, le=2**63 - 1)] = None,
    max_step: Annotated[int | None, Query(alias="maxStep", ge=-(2**63) + 1, le=2**63 - 1)] = None,
    principal: Principal = require("experiment:read"),
) -> RunMetrics:
    """Every metric's latest value, minimum, maximum and count; with `key`, the history of those metrics
    in step order (between `minStep` and `maxStep`), each bucket's minimum and maximum kept when
    `maxPoints` downsamples it. NaN values read as "NaN"."""
    return service.run_metrics(session=session, actor=principal, run_id=runId, keys=key, max_points=max_points,
                               min_step=min_step, max_step=max_step)


@router.post("/runs/{runId}/metrics", response_model=BatchResult, summary="Log a batch of metric points",
             responses=RUN_WRITE_ERRORS)
def post_metrics(runId: RunId, body: MetricsBatch, session: SessionDep,  # noqa: N803
                 principal: Principal = require("experiment:write")) -> BatchResult:
    """Up to 10,000 points `{key, value, timestamp?, step?}` in one insert. A value is a number or
    "NaN", "Infinity", "-Infinity" (stored as MLflow stores them); a bad point is REQ_001 naming it and
    nothing of the batch is stored."""
    counts = service.log_batch(session=session, actor=principal, run_id=runId, metrics=body.metrics)
    session.commit()
    return _batch(counts)


@router.post("/runs/{runId}/params", response_model=BatchResult, summary="Log params",
             responses=RUN_WRITE_ERRORS)
def post_params(runId: RunId, body: ParamsBatch, session: SessionDep,  # noqa: N803
                principal: Principal = require("experiment:write")) -> BatchResult:
    """Params are strings (numbers and booleans are stored as their text) and never change: logging a key
    again with the same value is fine, with another is EXP_005."""
    counts = service.log_batch(session=session, actor=principal, run_id=runId, params=body.params)
    session.commit()
    return _batch(counts)


@router.post("/runs/{runId}/tags", response_model=BatchResult, summary="Set tags", responses=RUN_WRITE_ERRORS)
def post_tags(runId: RunId, body: TagsBatch, session: SessionDep,  # noqa: N803
              principal: Principal = require("experiment:write")) -> BatchResult:
    """Tags may be overwritten (the last value of a key in a batch wins)."""
    counts = service.log_batch(session=session, actor=principal, run_id=runId, tags=body.tags)
    session.commit()
    return _batch(counts)


@router.post("/runs/{runId}/log-batch", response_model=BatchResult, summary="Log metrics, params and tags at once",
             responses=RUN_WRITE_ERRORS)
def post_log_batch(runId: RunId, body: LogBatch, session: SessionDep,  # noqa: N803
                   principal: Principal = require("experiment:write")) -> BatchResult:
    """MLflow's log-batch: validated whole, stored together or not at all."""
    counts = service.log_batch(session=session, actor=principal, run_id=runId, metrics=body.metrics,
                               params=body.params, tags=body.tags)
    session.commit()
    return _batch(counts)


UPLOAD_BODY = {"required": True, "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                     "format": "binary"}}}}


@router.post("/runs/{runId}/artifacts", response_model=RunArtifactRead, status_code=201,
             summary="Upload a file to a run (streamed)", openapi_extra={"requestBody": UPLOAD_BODY},
             responses=RUN_WRITE_ERRORS)
async def upload_artifact(
    runId: RunId, request: Request, session: SessionDep,  # noqa: N803
    path: Annotated[str, Query(min_length=1, max_length=500, description="Its path in the run, e.g. plots/loss.png")],
    principal: Principal = require("experiment:write"),
) -> RunArtifactRead:
    """The raw bytes as `application/octet-stream`. A file at an existing path replaces it. The body
    streams to a local spool with the upload size limit, then into the artifact store."""
    if not request.headers.get("content-type", "").lower().startswith("application/octet-stream"):
        raise InvalidRequest("Send the file as application/octet-stream", {"content-type": "unsupported"})
    await run_in_threadpool(service.check_artifact_upload, session=session, actor=principal, run_id=runId, path=path)
    await run_in_threadpool(session.commit)  # hold no database lock while the bytes arrive
    spool = artifacts.spool(limit=get_settings().max_upload_bytes)
    try:
        async for chunk in request.stream():
            spool.write(chunk)
        stored = spool.close()
        row = await run_in_threadpool(service.store_run_artifact, session=session, actor=principal, run_id=runId,
                                      path=path, source=spool.path, sha256=stored.sha256, move=True)
        await run_in_threadpool(session.commit)
    finally:
        spool.abort()  # removes the spool unless the store took it
    return RunArtifactRead.model_validate(row)


@router.get("/runs/{runId}/artifacts", response_model=RunArtifactList, summary="A run's files", responses=NOT_FOUND)
def list_artifacts(runId: RunId, session: SessionDep,  # noqa: N803
                   prefix: Annotated[str | None, Query(max_length=500, description="Paths starting with")] = None,
                   principal: Principal = require("experiment:read")) -> RunArtifactList:
    run, rows = service.list_run_artifacts(session=session, actor=principal, run_id=runId, prefix=prefix)
    return RunArtifactList(run_id=run.id, artifact_uri=run.artifact_uri,
                           items=[RunArtifactRead.model_validate(r) for r in rows])


@router.get("/runs/{runId}/artifacts/{path:path}", response_class=FileResponse, summary="Download a run's file",
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                 "format": "binary"}}},
                             "description": "The file; `X-Artifact-SHA256` carries its hash"}, **NOT_FOUND})
def download_artifact(runId: RunId, path: str, session: SessionDep,  # noqa: N803
                      principal: Principal = require("experiment:read")) -> FileResponse:
    row = service.get_run_artifact(session=session, actor=principal, run_id=runId, path=path)
    local = artifacts.get_store().local_path(row.key)
    return FileResponse(local, media_type="application/octet-stream",
                        filename=artifacts.download_name(posixpath.basename(row.path)),
                        headers={"X-Artifact-SHA256": row.sha256})


# --- one experiment ----------------------------------------------------------------------------------------------


@router.get("/{experimentId}", response_model=ExperimentRead, summary="One experiment, with its best run",
            responses=NOT_FOUND)
def get_experiment(experimentId: ExperimentId, session: SessionDep,  # noqa: N803
                   principal: Principal = require("experiment:read")) -> ExperimentRead:
    return _experiment(session, service.get_experiment(session=session, actor=principal, experiment_id=experimentId))


@router.get("/{experimentId}/analysis", response_model=ExperimentAnalysis,
            summary="Optimisation history, parameter importance and best parameters of an experiment",
            responses=error_responses(404, 422))
def analyse_experiment(
    experimentId: ExperimentId, session: ReadSessionDep,  # noqa: N803
    metric: Annotated[str | None, Query(max_length=MAX_KEY, description="Default: the experiment's objective")] = None,
    goal: Annotated[Literal["max", "min"] | None, Query(
        description="Default: the objective's, else the metric's usual direction (losses and errors: min)")] = None,
    principal: Principal = require("experiment:read"),
) -> ExperimentAnalysis:
    """Computed from the runs' params and latest metric values (any run, including runs logged from
    outside): the metric per run in start order with the best so far, each varying parameter's share of
    the metric's variance (fANOVA on an in-memory Optuna study of the runs), and the best run's params."""
    result = analysis.analyse(session=session, actor=principal, experiment_id=experimentId, metric=metric, goal=goal)
    return ExperimentAnalysis.model_validate(
        {**dataclasses.asdict(result), "best_params": result.best_params}, from_attributes=False)


@router.put("/{experimentId}", response_model=ExperimentRead, summary="Update an experiment",
            responses=error_responses(404, 409))
def update_experiment(experimentId: ExperimentId, body: ExperimentUpdate, session: SessionDep,  # noqa: N803
                      principal: Principal = require("experiment:write")) -> ExperimentRead:
    """The fields sent change; `tags` merge (null removes one). Its owner and experiment managers only."""
    experiment = service.update_experiment(session=session, actor=principal, experiment_id=experimentId, data=body)
    session.commit()
    return _experiment(session, experiment)


@router.delete("/{experimentId}", status_code=204, summary="Delete an experiment (soft; restorable)",
               responses=error_responses(404, 409))
def delete_experiment(experimentId: ExperimentId, session: SessionDep,  # noqa: N803
                      principal: Principal = require("experiment:delete")) -> Response:
    """Its runs are deleted with it; `POST /{experimentId}/restore` brings both back."""
    service.delete_experiment(session=session, actor=principal, experiment_id=experimentId)
    session.commit()
    return Response(status_code=204)


@router.post("/{experimentId}/restore", response_model=ExperimentRead, summary="Restore a deleted experiment",
             responses=error_responses(404, 409))
def restore_experiment(experimentId: ExperimentId, session: SessionDep,  # noqa: N803
                       principal: Principal = require("experiment:delete")) -> ExperimentRead:
    experiment = service.restore_experiment(session=session, actor=principal, experiment_id=experimentId)
    session.commit()
    return _experiment(session, experiment)


@router.post("/{experimentId}/runs", response_model=RunRead, status_code=201, summary="Start a run",
             responses=error_responses(404, 409, 422))
def start_run(experimentId: ExperimentId, body: RunCreate, session: SessionDep,  # noqa: N803
              principal: Principal = require("experiment:write")) -> RunRead:
    """Without `training`: a run logged by hand or from a script elsewhere (status RUNNING): log into it
    under `/runs/{runId}/…` and end it with `PUT /runs/{runId}`.

    With `training` (dataset version, family, hyperparameters, trainer settings, target model): a training
    job inside this experiment (needs `training:create` too), checked before anything is queued (TRAIN_003,
    DATA_004, TRAIN_007 as `POST /training/jobs`). The run it returns is the job's: SCHEDULED, source
    `platform`, `jobId` the platform job; its `trainingJobId` tag names the training job to follow under
    `/training/jobs/{id}`, and `POST /runs/{runId}/stop` stops it gracefully."""
    run = service.start_run(session=session, actor=principal, experiment_id=experimentId, data=body)
    session.commit()
    return _run(session, run)


@router.get("/{experimentId}/runs", response_model=Page[RunRead], summary="List an experiment's runs",
            responses=NOT_FOUND)
def list_runs(
    experimentId: ExperimentId, session: SessionDep,  # noqa: N803
    status: Annotated[Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"] | None, Query()] = None,
    filter_: Annotated[str | None, Query(alias="filter", max_length=2000, description=(
        'MLflow search syntax: `metrics.accuracy > 0.9 and params.optimizer = "adam"`; metrics compare with '
        "numbers, params, tags, status, name, source, userId with quoted text (=, !=, LIKE, ILIKE), startTime "
        "and endTime with epoch ms"))] = None,
    sort: Annotated[str, Query(max_length=300, description=(
        "startTime, endTime, name, status, metrics.<key> or params.<key>; `-` for descending. Runs without "
        "the metric or param come last"))] = "-startTime",
    metric_value: Annotated[Literal["latest", "min", "max"], Query(
        alias="metricValue", description="Which value of a metric sorts: its latest, smallest or largest")] = "latest",
    lifecycle_stage: Annotated[Literal["active", "deleted", "all"], Query(alias="lifecycleStage")] = "active",
    params: PageParams = Depends(page_params),
    principal: Principal = require("experiment:read"),
) -> Page[RunRead]:
    rows, cursor = service.list_runs(session=session, actor=principal, experiment_id=experimentId, params=params,
                                     filter=filter_, status=status, sort=sort, metric_value=metric_value,
                                     lifecycle_stage=lifecycle_stage)
    documents = service.run_documents(session=session, runs=rows)
    return Page[RunRead](items=[RunRead.model_validate(d) for d in documents], next_cursor=cursor)
