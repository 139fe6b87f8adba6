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


def run_done(session, engineer, ids, dataset_id, **kw) -> dict:  # noqa: ANN001
    """Run a benchmark of `ids` on the dataset to its end (the job in this process); its document."""
    from backend.benchmarks import service

    run = service.run_benchmark(session=session, actor=engineer, version_ids=ids, dataset_id=dataset_id,
                                settings=FAST, **kw)
    session.commit()
    job_tasks.run_job(run.job_id)
    session.expire_all()
    return service.get_benchmark(session=session, actor=engineer, run_id=run.id)


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


def stored_result(session, *, version_id: str, truth, predicted, labels=("no", "yes"), dataset_id: str = "dataset_x",
                  dataset_version: int = 1, split: str = "test", with_samples: bool = True, created_by: str = "user_x"):
    """A benchmark result of a version as the job stores it (a run, its metrics from `measure.quality`, and the
    per-row samples in the artifact store), from given true and predicted label codes, without running a model."""
    import numpy as np
    import polars as pl

    from backend.benchmarks import measure, samples
    from backend.benchmarks.models import BenchmarkResult, BenchmarkRun
    from backend.catalog.model_registry.models import ModelVersion
    from backend.core.ids import new_id

    version = session.get(ModelVersion, version_id)
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    config = {"task": "classification", "labelNames": list(labels)}
    outputs = [{"label": labels[p], "probabilities": {label: float(label == labels[p]) for label in labels}}
               for p in predicted]
    truth_labels = [labels[t] for t in truth]
    metrics, per_class = measure.quality(config, outputs, pl.Series(truth_labels))
    run = BenchmarkRun(id=new_id("bench"), status="succeeded", dataset_id=dataset_id, dataset_version=dataset_version,
                       task="classification", split=split, version_ids=[version_id], created_by=created_by)
    session.add(run)
    session.flush()
    result_id = new_id("bres")
    reference = samples.store(samples.from_outputs(config, outputs, truth_labels), run_id=run.id,
                              result_id=result_id) if with_samples else None
    row = BenchmarkResult(id=result_id, run_id=run.id, model_version_id=version_id, model_id=version.model_id,
                          version=version.version, dataset_id=dataset_id, dataset_version=dataset_version,
                          task="classification", split=split, rows=len(truth), metrics=metrics, per_class=per_class,
                          device="cpu", device_name="test", samples=reference, created_by=created_by)
    session.add(row)
    session.flush()
    from backend.audit import service as audit

    audit.record(session=session, actor=None, action="benchmark.finish", entity_type="benchmark", entity_id=run.id,
                 summary={"results": 1, "device": "cpu", "deviceName": "test"})
    return row
