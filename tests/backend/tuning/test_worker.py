"""A study on two real Celery worker processes with parallelTrials=2: both trials train at once, one on
each worker (the training queue), and each trial's end runs the study's short step inline in the worker
that ended it — no job ever waits for another, so a single worker could not deadlock either."""

from __future__ import annotations

import pytest

from backend.core.db import session_scope
from backend.training.models import TrainingJob
from tests.backend.jobs.conftest import wait_until
from tests.backend.jobs.test_worker import (  # noqa: F401  (fixtures)
    embedded_broker,
    fast_timings,
    logs,
    start_worker,
    use_broker,
)
from tests.backend.tuning.conftest import request, study_row, trial_rows

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_two_workers_run_two_trials_at_once_and_complete_the_study(
        embedded_broker, api, auth, start_worker, experiment):  # noqa: F811 (fixtures)
    # Fresh runner processes (seconds each), so that the two trials overlap for sure: forked from a warm
    # process a trial of this size ends in under a second, possibly before the other worker has warmed up.
    # (Warm runners on two workers: tests/e2e/test_tuning.py.)
    cold = {"AISYSTEM_TRAINING_WARM_RUNNER": "false"}
    workers = [start_worker("first", env=cold), start_worker("second", env=cold)]
    response = api.post(f"/api/v1/catalog/experiments/{experiment}/optimize", headers=auth.headers("data_scientist"),
                        json=request(maxTrials=2, parallelTrials=2, strategy="random"))
    assert response.status_code == 202, response.text
    study_id = response.json()["id"]

    wait_until(lambda: study_row(study_id).status != "running", timeout=120, describe=lambda: logs(*workers))
    assert study_row(study_id).status == "completed", study_row(study_id).error
    trials = trial_rows(study_id)
    assert [t.status for t in trials] == ["completed", "completed"]
    with session_scope(write=False) as session:
        jobs = [session.get(TrainingJob, t.training_job_id) for t in trials]
    # Both trained at the same time, on different workers.
    (a, b) = sorted(jobs, key=lambda j: j.started_at)
    assert b.started_at < a.finished_at, "the second trial waited for the first"
    best = api.get(f"/api/v1/catalog/experiments/{experiment}/best-params", headers=auth.headers("data_scientist"))
    assert best.json()["bestTrial"]["values"] == max((t.values for t in trials), key=lambda v: v[0])
