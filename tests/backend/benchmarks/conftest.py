"""Real packaged models for the benchmark tests: the endpoint tests' iris classifier (two seeds, trained
in-process in well under a second and cached per session) registered afresh in each test's database, and
the iris rows as a dataset with a stored stratified split."""

from __future__ import annotations

import functools
import io

import pytest

from backend.catalog.datasets import service as datasets
from backend.endpoints import demo, serving
from backend.jobs import tasks as job_tasks
from backend.jobs.devices import CPU_ONLY
from tests.backend.endpoints.conftest import iris_frame, iris_package

FAST = {"repetitions": 5, "warmup": 0}


@functools.cache
def iris_regressor() -> tuple[bytes, dict]:
    frame = iris_frame().drop("species")
    return demo.train_tabular(frame, label="sepal_length", task="regression", seed=0, steps=100)


@pytest.fixture(autouse=True)
def _cpu_worker(monkeypatch):
    """The test plays a CPU worker; no model stays cached between tests."""
    monkeypatch.setitem(job_tasks._this_worker, "devices", CPU_ONLY)
    serving.CACHE.clear()
    yield
    serving.CACHE.clear()


@pytest.fixture
def engineer(principals):
    return principals["ml_engineer"]


def upload(session, actor, frame, name: str, *, split: bool = True) -> str:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    dataset = datasets.create_dataset(session=session, actor=actor, data={"name": name, "type": "tabular"})
    session.commit()
    datasets.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(buffer.getvalue()),
                    filename=f"{name}.parquet")
    session.commit()
    if split:
        datasets.split(session=session, actor=actor, dataset_id=dataset.id, request={
            "train": 0.6, "validation": 0.1, "test": 0.3, "stratifyBy": "species", "seed": 3})
        session.commit()
    return dataset.id


@pytest.fixture
def iris_versions(session, engineer):
    """Version ids of 1.0.0 (seed 0) and 1.0.1 (seed 1) of an iris classifier, and the model id."""
    model_id, ids = None, []
    for patch, seed in ((0, 0), (1, 1)):
        weights, config = iris_package(seed)
        model_id, version = demo.register(session, engineer, weights=weights, config=config, version=f"1.0.{patch}",
                                          model_id=model_id, name="iris")
        session.flush()
        from backend.catalog.model_registry import service as registry

        ids.append(registry.find_version(session=session, model_id=model_id, version=version).id)
    session.commit()
    return {"model_id": model_id, "ids": ids}


@pytest.fixture
def iris_dataset(session, engineer):
    return upload(session, engineer, iris_frame(), "iris rows")
