"""Tiny datasets for training-job tests (made through the datasets service, split and labelled), a quick
CPU setting for the runner processes, and helpers that play the worker."""

from __future__ import annotations

import io
import os

import numpy as np
import polars as pl
import pytest

from backend.catalog.datasets import service as datasets_service
from backend.core.config import reset_settings

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
