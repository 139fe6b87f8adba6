"""Routes of hyperparameter optimisation, under the experiment they optimise (the design's
`/catalog/experiments/{experimentId}/optimize`, `/trials`, `/best-params`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.http import COMMON_ERRORS, error_responses, get_session
from backend.tuning import service
from backend.tuning.schemas import BestParams, OptimizeRequest, StudyRead, TrialList

router = APIRouter(prefix="/catalog/experiments", tags=["experiments"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ExperimentId = Annotated[str, Path(max_length=64, description="The experiment id (`experiment_…`)")]


@router.post("/{experimentId}/optimize", response_model=StudyRead, status_code=202,
             summary="Start a hyperparameter optimisation", responses=error_responses(404, 409, 422))
def optimize(experimentId: ExperimentId, body: OptimizeRequest, session: SessionDep,  # noqa: N803
             principal: Principal = require("experiment:write")) -> StudyRead:
    """Run an Optuna study over the experiment: each trial is a training job and a run of the experiment
    (params = the trial's values), `parallelTrials` at a time. The configuration is the design's
    Experiment `configuration` (default: the experiment's own); an invalid one is TRAIN_003 naming each
    field. Also needs `training:create`. TUNE_002 while the experiment's previous study runs; TRAIN_007
    when no trial can start under your cap on concurrent training jobs."""
    study = service.start_study(session=session, actor=principal, experiment_id=experimentId, data=body)
    session.commit()
    return StudyRead.model_validate(service.study_document(session, study))


@router.post("/{experimentId}/optimize/stop", response_model=StudyRead,
             summary="Stop the experiment's hyperparameter optimisation", responses=error_responses(404, 409))
def stop_optimization(experimentId: ExperimentId, session: SessionDep,  # noqa: N803
                      principal: Principal = require("experiment:write")) -> StudyRead:
    """End the running study now: no further trial starts, trials still queued or training are cancelled,
    and the trials that ended keep their results (`best-params` still answers). The study's status becomes
    `stopped`. TUNE_001 when the experiment has no optimisation; TUNE_004 when it has already ended."""
    study = service.stop_study(session=session, actor=principal, experiment_id=experimentId)
    session.commit()
    return StudyRead.model_validate(service.study_document(session, study))


@router.get("/{experimentId}/trials", response_model=TrialList, summary="The trials of the experiment's optimisation",
            responses=error_responses(404))
def trials(experimentId: ExperimentId, session: SessionDep,  # noqa: N803
           principal: Principal = require("experiment:read")) -> TrialList:
    """Every trial of the latest study: status (waiting, running, completed, pruned, failed, cancelled),
    parameters, metrics, objective values, run and training job. TUNE_001 when there is no study."""
    return TrialList.model_validate(service.list_trials(session=session, actor=principal, experiment_id=experimentId))


@router.get("/{experimentId}/best-params", response_model=BestParams,
            summary="The best parameters of the experiment's optimisation", responses=error_responses(404))
def best_params(experimentId: ExperimentId, session: SessionDep,  # noqa: N803
                principal: Principal = require("experiment:read")) -> BestParams:
    """The best completed trial's parameters and metrics; with several objectives, the Pareto front
    (trials no other beats on every objective). TUNE_001 when there is no study."""
    return BestParams.model_validate(service.best_params(session=session, actor=principal, experiment_id=experimentId))
