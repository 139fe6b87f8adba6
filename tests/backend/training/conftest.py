"""Tiny datasets for training-job tests (made through the datasets service, split and labelled), a quick
CPU setting for the runner processes, and helpers that play the worker."""

from __future__ import annotations

import io
import os
import threading
import time

import numpy as np
import polars as pl
import pytest

from backend.auth.principal import Principal
from backend.catalog.datasets import service as datasets_service
from backend.core.config import reset_settings
from backend.core.db import session_scope
from backend.training import service
from backend.training.models import TrainingJob

SPLIT = {"train": 0.6, "validation": 0.2, "test": 0.2, "seed": 3, "stratifyBy": "label"}
QUICK = {"AISYSTEM_TRAINING_THREADS": "1"}


def blobs_csv(rows: int = 240, seed: int = 5) -> bytes:
    """Two noisy Gaussian blobs in four columns plus a categorical one: learnable in an epoch or two."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=rows)
    centres = np.where(labels[:, None] == 1, 1.0, -1.0)
    values = centres + rng.normal(0, 0.8, size=(rows, 4))
    frame = pl.DataFrame({f"x{i}": values[:, i] for i in range(4)})
    frame = frame.with_columns(pl.Series("colour", rng.choice(["red", "blue"], size=rows)),
                               pl.Series("label", np.where(labels == 1, "yes", "no")))
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    return buffer.getvalue()


def make_dataset(session, actor, *, split: dict | None = SPLIT, rows: int = 240, name: str = "blobs",
                 seed: int = 5) -> str:
    dataset = datasets_service.create_dataset(session=session, actor=actor,
                                              data={"name": name, "type": "tabular", "labelColumn": "label"})
    session.commit()
    datasets_service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(blobs_csv(rows, seed)),
                            filename="blobs.csv")
    session.commit()
    if split:
        datasets_service.split(session=session, actor=actor, dataset_id=dataset.id, request=split)
        session.commit()
    return dataset.id


@pytest.fixture(autouse=True)
def quick_training(monkeypatch):
    """One torch thread per training process (two shared cores)."""
    for key, value in QUICK.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    yield
    reset_settings()


@pytest.fixture
def scientist(principals):
    return principals["data_scientist"]


@pytest.fixture
def dataset(session, scientist) -> str:
    return make_dataset(session, scientist)


@pytest.fixture
def cpu_worker(monkeypatch, sent):
    """Play the worker in this process: `run(job_id)` runs the platform job; CPU only."""
    import backend.jobs.tasks as job_tasks
    from backend.jobs.devices import CPU_ONLY

    monkeypatch.setitem(job_tasks._this_worker, "devices", CPU_ONLY)
    return job_tasks.run_job


def body(dataset_id: str, **overrides) -> dict:
    base = {"datasetId": dataset_id, "family": "tabular_mlp", "modelName": f"blobs model {os.getpid()}",
            "hyperparameters": {"maxEpochs": 2, "batchSize": 32, "hiddenSizes": [16]}}
    base.update(overrides)
    return base


def read_training_job(training_job_id: str) -> TrainingJob:
    with session_scope(write=False) as session:
        job = session.get(TrainingJob, training_job_id)
        session.expunge(job)
        return job


def _control_when(control, training_job_id: str, when, timeout: float = 60.0) -> threading.Thread:  # noqa: ANN001
    """In another thread: once `when(job)` holds, call `control` (a service function) as the job's owner."""
    def act() -> None:
        deadline = time.monotonic() + timeout
        while not when(read_training_job(training_job_id)):
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        job = read_training_job(training_job_id)
        owner = Principal(user_id=job.created_by, username="owner", role="data_scientist")
        with session_scope() as s:
            control(session=s, actor=owner, training_job_id=training_job_id)

    thread = threading.Thread(target=act, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def train_controlled(monkeypatch, session, scientist, dataset, cpu_worker):
    """`train_controlled(control, when=..., epochs=6)`: create a job whose steps are slowed down, run it on
    this process's worker while another thread calls `control` (pause, stop, cancel) once `when(job)`
    holds; returns the job as created."""
    monkeypatch.setenv("AISYSTEM_TRAINING_STEP_DELAY_SECONDS", "0.08")
    reset_settings()

    def run(control, *, when, epochs: int = 6) -> TrainingJob:  # noqa: ANN001
        job = service.create_training_job(session=session, actor=scientist,
                                          data=body(dataset, hyperparameters={"maxEpochs": epochs, "batchSize": 32}))
        session.commit()
        controller = _control_when(control, job.id, when)
        cpu_worker(job.job_id)
        controller.join(timeout=30)
        assert not controller.is_alive(), "the control call did not return"
        return job

    return run
