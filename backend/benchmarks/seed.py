"""The demo benchmark: two trained versions of the demo endpoint's "Wine classifier" measured for real on
the test split of the demo Wine dataset, in-process, on this machine's device.

Wine gets the stratified 70/15/15 split (seed 42) the demo experiment gives its dataset, when it has none;
version 1.1.0 (hidden layers 64-32) is trained here on the training split only (plain torch, about a second
of CPU, `backend.endpoints.demo.train_tabular`) next to the endpoint's 1.0.0. Then both are benchmarked
with the same code the `benchmarks.run` job runs (`service.measure_run`) and the results go on the public
leaderboard "Wine cultivars". Idempotent: nothing is done when a benchmark of that dataset exists."""

from __future__ import annotations

from sqlmodel import Session, col, select

from backend.auth.principal import SYSTEM
from backend.benchmarks import service
from backend.benchmarks.models import BenchmarkRun
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets.models import Dataset
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.models import ModelVersion, RegisteredModel
from backend.endpoints import demo
from backend.endpoints.seed import DATASET_NAME, MODEL_NAME
from backend.ml import data as ml_data

SECOND_VERSION = "1.1.0"
LEADERBOARD = "Wine cultivars"
SETTINGS = {"repetitions": 40, "warmup": 5}


def _ensure_split(session: Session, dataset: Dataset) -> None:
    _dataset, version = datasets.get_version(session=session, actor=SYSTEM, dataset_id=dataset.id)
    if not version.split:
        datasets.split(session=session, actor=SYSTEM, dataset_id=dataset.id, request={
            "train": 0.7, "validation": 0.15, "test": 0.15, "stratifyBy": dataset.label_column or "target",
            "seed": 42})


def _second_version(session: Session, dataset: Dataset, model: RegisteredModel) -> None:
    if registry.find_version(session=session, model_id=model.id, version=SECOND_VERSION) is not None:
        return
    label = dataset.label_column or "target"
    source = ml_data.open_source(session=session, dataset_id=dataset.id)
    columns = [c for c in source.columns if c != label]
    train = ml_data.read_split(source, columns, label=label)["train"]
    weights, config = demo.train_tabular(train, label=label, seed=1, steps=120,
                                         hyperparameters={"hiddenSizes": [64, 32]}, dataset={
        "datasetId": dataset.id, "name": dataset.name, "type": "tabular", "version": source.version,
        "splitSha256": source.split_sha256})
    demo.register(session, SYSTEM, weights=weights, config=config, version=SECOND_VERSION, model_id=model.id)


def seed_demo_benchmark(session: Session) -> str:
    dataset = session.exec(select(Dataset).where(Dataset.name == DATASET_NAME, Dataset.created_by == SYSTEM.user_id,
                                                 col(Dataset.deleted_at).is_(None))).first()
    model = session.exec(select(RegisteredModel).where(RegisteredModel.name == MODEL_NAME,
                                                       col(RegisteredModel.deleted_at).is_(None))).first()
    if dataset is None or model is None or dataset.current_version is None:
        return "no demo Wine model: demo benchmark skipped"
    if session.exec(select(BenchmarkRun.id).where(BenchmarkRun.dataset_id == dataset.id)).first() is not None:
        return "demo benchmark already present"
    _ensure_split(session, dataset)
    _second_version(session, dataset, model)
    session.flush()
    versions = session.exec(select(ModelVersion).where(ModelVersion.model_id == model.id)
                            .order_by(ModelVersion.major, ModelVersion.minor, ModelVersion.patch)).all()
    run = service.run_benchmark(session=session, actor=SYSTEM, version_ids=[v.id for v in versions][-2:],
                                dataset_id=dataset.id, split="test", settings=SETTINGS, queue=False)
    measured = service.measure_run(session=session, actor=SYSTEM, run=run)
    results = service.store_results(session=session, actor=SYSTEM, run_id=run.id, measured=measured)
    for result in results:
        service.submit(session=session, actor=SYSTEM, result_id=result.id, board=LEADERBOARD,
                       note="Demo: measured at seed time")
    figures = ", ".join(f"{r.version} accuracy {r.metrics['accuracy']:.3f}" for r in results)
    return f"benchmarked {MODEL_NAME} on {DATASET_NAME} ({figures}) on {measured['deviceName']}"
