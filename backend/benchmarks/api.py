"""REST routes of benchmarks: /api/v1/benchmark (run, results, leaderboards, submit) and
/api/v1/analysis/inference-speed. The design's catalog aliases (`/catalog/models/benchmark`,
`/catalog/models/rankings`) are in `backend.benchmarks.catalog.api`, mounted before the model registry so
`/catalog/models/{modelId}` does not take them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.benchmarks import service
from backend.benchmarks import tasks as _tasks  # noqa: F401  (registers the job type in this process)
from backend.benchmarks.schemas import (
    BOARD_NAME,
    BenchmarkRead,
    BenchmarkRunRequest,
    Leaderboard,
    LeaderboardSummary,
    SpeedReport,
    SpeedRequest,
    Submission,
    SubmitRequest,
    Task,
)
from backend.core.http import COMMON_ERRORS, error_responses, get_session

router = APIRouter(tags=["benchmarks"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
BenchmarkId = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_\-]+$", description="Benchmark id, e.g. bench_0193…")]
METRIC_HELP = ("Sort by this metric key instead of the task's primary metric (accuracy; rmse for regression): "
               "accuracy, precision_macro, recall_macro, f1_macro, roc_auc, rmse, mae, r2, latency_p50_ms, "
               "latency_p95_ms, latency_p99_ms, throughput_b1, throughput_b8, throughput_b64")


@router.post("/benchmark/run", response_model=BenchmarkRead, status_code=202, summary="Run a benchmark",
             responses=error_responses(404, 409))
def run_benchmark(body: BenchmarkRunRequest, session: SessionDep,
                  principal: Principal = require("benchmark:create")) -> dict[str, Any]:
    """Queue a job on the `inference` queue that runs each model version on the dataset version's split
    (`test` by default) and measures accuracy, precision/recall/F1 (macro and per class) and ROC-AUC
    (binary) or RMSE/MAE/R², single-prediction latency p50/p95/p99 (ms) and throughput at batch sizes 1, 8
    and 64 (predictions/s) on the worker's device. Checked before queueing: MODEL_001 (no such version),
    DATA_001 (no such dataset), BENCH_002 (the dataset's columns do not fit a model's input schema: missing
    or mistyped inputs, no label column), BENCH_003 (no package, tasks that differ, no stored split).
    Follow it at `GET /benchmark/{benchmarkId}` or `/jobs/{jobId}`."""
    run = service.run_benchmark(session=session, actor=principal, version_ids=body.version_ids,
                                dataset_id=body.dataset_id, dataset_version=body.dataset_version, task=body.task,
                                split=body.split, settings=body.settings.model_dump())
    session.commit()
    return service.get_benchmark(session=session, actor=principal, run_id=run.id)


@router.get("/benchmark/leaderboard", response_model=Leaderboard, summary="A leaderboard",
            responses=error_responses(404))
def get_leaderboard(
    session: SessionDep,
    name: Annotated[str | None, Query(pattern=BOARD_NAME, description="A named public leaderboard")] = None,
    dataset_id: Annotated[str | None, Query(alias="datasetId", max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$",
                                            description="Without `name`: the default leaderboard of this dataset")] = None,
    dataset_version: Annotated[int | None, Query(alias="datasetVersion", ge=1, le=2**31 - 1)] = None,
    task: Annotated[Task | None, Query(description="Empty: the task measured last on the dataset")] = None,
    metric: Annotated[str | None, Query(max_length=40, description=METRIC_HELP)] = None,
    principal: Principal = require("benchmark:read"),
) -> dict[str, Any]:
    """A named public leaderboard (`name`: the results submitted to it), or the default leaderboard of a
    dataset and task (`datasetId`, `task`: the newest result of every version benchmarked on it), ranked by
    the task's primary metric (ties share a rank). BENCH_004: no leaderboard of that name; DATA_001: a
    dataset you may not read."""
    return service.leaderboard(session=session, actor=principal, name=name, dataset_id=dataset_id,
                               dataset_version=dataset_version, task=task, metric=metric)


@router.get("/benchmark/leaderboards", response_model=list[LeaderboardSummary], summary="The leaderboards")
def list_leaderboards(session: SessionDep, principal: Principal = require("benchmark:read")) -> list[dict[str, Any]]:
    """Every named public leaderboard, and one default leaderboard per dataset and task with results."""
    return service.leaderboards(session=session, actor=principal)


@router.post("/benchmark/submit", response_model=Submission, status_code=201,
             summary="Submit a result to a named public leaderboard", responses=error_responses(404, 409))
def submit(body: SubmitRequest, session: SessionDep, principal: Principal = require("benchmark:submit")) -> dict[str, Any]:
    """Add one of your benchmark results to a named public leaderboard; the first submission creates it and
    fixes its dataset and task. BENCH_001: no such result of yours; BENCH_005: a result of another dataset or
    task than the board's, or one already on it."""
    entry = service.submit(session=session, actor=principal, result_id=body.result_id, board=body.leaderboard,
                           note=body.note)
    session.commit()
    return entry


@router.get("/benchmark/{benchmarkId}", response_model=BenchmarkRead, summary="A benchmark and its results",
            responses=error_responses(404))
def get_benchmark(benchmarkId: BenchmarkId, session: SessionDep,  # noqa: N803
                  principal: Principal = require("benchmark:read")) -> dict[str, Any]:
    """The run's status and progress, and per version its measured figures, per-class scores and the device
    they were measured on. Yours only (admins see all); BENCH_001 otherwise."""
    return service.get_benchmark(session=session, actor=principal, run_id=benchmarkId)


@router.post("/analysis/inference-speed", response_model=SpeedReport, summary="Time inference now",
             responses=error_responses(404))
def inference_speed(body: SpeedRequest, session: SessionDep,
                    principal: Principal = require("benchmark:create")) -> dict[str, Any]:
    """A timed inference sweep run now, in the web process (nothing queued or stored): per version the
    single-prediction latency p50/p95/p99 (ms) and, per batch size (at most 256), the throughput
    (predictions/s) and mean time per call, on rows of the dataset (each version's training dataset when
    none is named). Small sizes only: at most 5 versions and 500 repetitions. BENCH_002/BENCH_003 as for a
    benchmark."""
    return service.inference_speed(session=session, actor=principal, version_ids=body.version_ids,
                                   dataset_id=body.dataset_id, dataset_version=body.dataset_version,
                                   batch_sizes=body.batch_sizes, repetitions=body.repetitions, warmup=body.warmup)
