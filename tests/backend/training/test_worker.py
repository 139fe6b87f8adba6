"""A training job on real Celery worker processes: the worker is SIGKILLed mid-training (its runner dies
with it), the lease expires, the reaper re-queues the job, and a fresh worker resumes from the last
checkpoint with the same global step; no metric point is duplicated and exactly one version registered."""

from __future__ import annotations

import os

import pytest
from sqlmodel import col, select

from backend.catalog.experiments.models import Metric
from backend.catalog.model_registry.models import ModelVersion
from backend.core.db import session_scope
from tests.backend.jobs.conftest import read_job, wait_for_job, wait_until
from tests.backend.jobs.test_worker import (  # noqa: F401  (fixtures)
    embedded_broker,
    fast_timings,
    logs,
    reaped,
    start_worker,
    use_broker,
)
from tests.backend.training.conftest import body, make_dataset, read_training_job

pytestmark = pytest.mark.broker


def _runner_pids(training_job_id: str) -> set[int]:
    """The runner processes of this job (other tests or benchmarks on the machine run their own)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    command = f.read()
                    if b"backend.training.runner" in command and training_job_id.encode() in command:
                        pids.add(int(entry))
            except OSError:
                continue
    return pids


def test_a_killed_worker_resumes_training_from_its_last_checkpoint(
        monkeypatch, embedded_broker, api, auth, start_worker, session, principals):  # noqa: F811 (fixtures)
    monkeypatch.setenv("AISYSTEM_TRAINING_STEP_DELAY_SECONDS", "0.15")
    dataset = make_dataset(session, principals["data_scientist"])
    first = start_worker("first")
    response = api.post("/api/v1/training/jobs", headers=auth.headers("data_scientist"),
                        json=body(dataset, hyperparameters={"maxEpochs": 4, "batchSize": 32}))
    assert response.status_code == 202, response.text
    training_job_id, job_id = response.json()["id"], response.json()["jobId"]

    def checkpointed() -> bool:
        job = read_job(job_id)
        return job.status == "running" and bool(job.checkpoint)

    wait_until(checkpointed, timeout=90, describe=first.log_tail)
    before = _runner_pids(training_job_id)
    first.kill()
    saved = read_job(job_id).checkpoint
    assert saved["step"] >= 1
    wait_until(lambda: not (_runner_pids(training_job_id) & before), timeout=10, describe="the runner outlived its worker")

    second = start_worker("second")
    wait_until(lambda: reaped(job_id), timeout=30, describe=lambda: logs(first, second))
    job = wait_for_job(job_id, ("succeeded", "failed"), timeout=120, describe=lambda: logs(first, second))
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    done = read_training_job(training_job_id)
    assert done.status == "succeeded", done.error
    per_epoch = done.checkpoints[0]["step"]
    assert done.global_step == 4 * per_epoch
    with session_scope(write=False) as s:
        steps = list(s.exec(select(Metric.step).where(Metric.run_id == done.run_id, Metric.key == "loss")
                            .order_by(col(Metric.step))).all())
        versions = s.exec(select(ModelVersion).where(ModelVersion.model_id == done.model_id)).all()
    assert steps == list(range(min(steps), min(steps) + done.global_step)), "every step once, none twice"
    assert len(versions) == 1
    assert "resumes from its checkpoint" in second.log()
