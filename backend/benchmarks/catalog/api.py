"""`POST /catalog/models/benchmark` and `GET /catalog/models/rankings` (the design's catalog aliases of
benchmarks). Mounted before `backend.catalog.model_registry`, whose `GET /catalog/models/{modelId}` would
otherwise answer `/catalog/models/rankings` with MODEL_001."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.benchmarks import service
from backend.benchmarks import tasks as _tasks  # noqa: F401  (registers the job type in this process)
from backend.benchmarks.schemas import BenchmarkRead, CatalogBenchmarkRequest, Rankings, Task
from backend.core.http import COMMON_ERRORS, error_responses, get_session

router = APIRouter(prefix="/catalog/models", tags=["catalog: models"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]


@router.post("/benchmark", response_model=BenchmarkRead, status_code=202,
             summary="Benchmark versions of a catalog model", responses=error_responses(404, 409))
def benchmark_model(body: CatalogBenchmarkRequest, session: SessionDep,
                    principal: Principal = require("benchmark:create")) -> dict[str, Any]:
    """`POST /benchmark/run` for versions of one model, named by number (all its packaged versions, newest
    first, at most 10, when `versions` is empty). MODEL_001: no such model or version; the other errors as
    for `/benchmark/run`."""
    run = service.benchmark_model(session=session, actor=principal, model_id=body.model_id, versions=body.versions,
                                  dataset_id=body.dataset_id, dataset_version=body.dataset_version, task=body.task,
                                  split=body.split, settings=body.settings.model_dump())
    session.commit()
    return service.get_benchmark(session=session, actor=principal, run_id=run.id)


@router.get("/rankings", response_model=Rankings, summary="Models ranked by their best benchmark result")
def rankings(session: SessionDep,
             task: Annotated[Task | None, Query(description="One task; empty: every task with results")] = None,
             dataset_id: Annotated[str | None, Query(alias="datasetId", max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$",
                                                     description="Only results on this dataset")] = None,
             principal: Principal = require("benchmark:read")) -> dict[str, Any]:
    """Per task, the models you may read ranked by their best result on the task's primary metric (accuracy;
    RMSE for regression, lower first) over their versions' newest results; ties share a rank."""
    return service.rankings(session=session, actor=principal, task=task, dataset_id=dataset_id)
