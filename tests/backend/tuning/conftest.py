"""Studies over a tiny dataset (the training tests' blobs), an experiment to optimise, and helpers that
play the worker: run a trial's training job, then any `tuning.advance` job queued (a failed inline step)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.catalog.experiments import service as experiments
from backend.core.db import session_scope
from backend.tuning.models import Study, Trial
from tests.backend.training.conftest import (  # noqa: F401  (fixtures)
    cpu_worker,
    dataset,
    make_dataset,
    quick_training,
    scientist,
)


@pytest.fixture
def experiment(session, scientist, dataset) -> str:  # noqa: F811 (fixtures)
    created = experiments.create_experiment(session=session, actor=scientist, data={
        "name": "blobs tuning", "datasetId": dataset, "type": "hyperparameter_optimization",
        "objective": "maximize_accuracy"})
    session.commit()
    return created.id


def request(**configuration) -> dict:
    """An optimize request: tiny trials (one hidden layer of 8, two epochs)."""
    base = {"searchSpace": {"learning_rate": {"type": "float", "min": 0.001, "max": 0.1, "scale": "log"}},
            "strategy": "random", "maxTrials": 2, "parallelTrials": 1}
    base.update(configuration)
    return {"configuration": base, "modelName": "blobs tuned",
            "hyperparameters": {"maxEpochs": 2, "batchSize": 64, "hiddenSizes": [8]}}


def study_row(study_id: str) -> Study:
    with session_scope(write=False) as session:
        study = session.get(Study, study_id)
        session.expunge(study)
        return study


def trial_rows(study_id: str) -> list[Trial]:
    with session_scope(write=False) as session:
        rows = list(session.exec(select(Trial).where(Trial.study_id == study_id).order_by(Trial.number)).all())
        for row in rows:
            session.expunge(row)
        return rows


def play(sent, run_job, *, limit: int = 40) -> list[str]:
    """Run every job sent (training jobs and advance steps) until none is left; the ids run, in order."""
    ran: list[str] = []
    for _ in range(limit):
        pending = [job_id for job_id in sent if job_id not in ran]
        if not pending:
            return ran
        run_job(pending[0])
        ran.append(pending[0])
    raise AssertionError("the study did not settle")
