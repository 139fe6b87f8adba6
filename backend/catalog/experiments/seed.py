"""Demo experiment: `tabular_mlp` on the Breast Cancer demo dataset at three learning rates, trained for
real (a few epochs on the CPU) with every per-epoch metric logged through the tracking service.

Idempotent: an experiment of this name that exists is left as it is. Nothing here is invented: each
number on the experiment's pages is what Lightning computed while these runs trained.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlmodel import Session, col, select

from backend.auth.principal import SYSTEM, Principal
from backend.auth.service import find_user_by_username, principal_for
from backend.catalog.datasets import service as datasets_service
from backend.catalog.datasets.models import Dataset
from backend.catalog.experiments import service
from backend.catalog.experiments.models import Experiment

EXPERIMENT_NAME = "Breast cancer MLP: learning rate sweep"
DATASET_NAME = "Breast Cancer Wisconsin"
LEARNING_RATES = (0.0003, 0.003, 0.03)
EPOCHS = 4
EPOCH_METRICS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")


def _demo_dataset(session: Session) -> Dataset | None:
    return session.exec(select(Dataset).where(Dataset.name == DATASET_NAME, Dataset.created_by == SYSTEM.user_id,
                                              col(Dataset.deleted_at).is_(None))).first()


def _ensure_split(session: Session, dataset: Dataset) -> None:
    """Give the current version a stored split (stratified 70/15/15) when it has none."""
    _dataset, version = datasets_service.get_version(session=session, actor=SYSTEM, dataset_id=dataset.id)
    if not version.split:
        datasets_service.split(session=session, actor=SYSTEM, dataset_id=dataset.id, request={
            "train": 0.7, "validation": 0.15, "test": 0.15, "stratifyBy": dataset.label_column or "target",
            "seed": 42})


def train_once(session: Session, dataset_id: str, learning_rate: float
               ) -> tuple[dict[str, Any], list[tuple], dict[str, bytes]]:
    """Train `tabular_mlp` for EPOCHS epochs; returns its hyperparameters, the per-epoch metric points
    (key, value, timestamp ms, step = epoch) that Lightning computed, and the packaged model's files."""
    import lightning as L

    from backend.ml import packaging, training

    prepared = training.prepare(session=session, dataset_id=dataset_id, family="tabular_mlp",
                                hyperparameters={"maxEpochs": EPOCHS, "learningRate": learning_rate,
                                                 "batchSize": 64, "seed": 7})
    points: list[tuple] = []

    class Collect(L.Callback):
        def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            now = int(time.time() * 1000)
            for key in EPOCH_METRICS:
                value = trainer.callback_metrics.get(key)
                if value is not None:
                    points.append((key, float(value), now, trainer.current_epoch))

    training.seed_everything(prepared.config)
    trainer = L.Trainer(max_epochs=EPOCHS, accelerator="cpu", devices=1, enable_progress_bar=False,
                        enable_model_summary=False, logger=False, enable_checkpointing=False,
                        num_sanity_val_steps=0, callbacks=[Collect()])
    trainer.fit(prepared.module, prepared.loaders.train, prepared.loaders.validation)
    final = {key: value for key, value, _ts, step in points if step == EPOCHS - 1}
    weights, config = packaging.package(prepared.module, prepared.config, metrics=final)
    files = {"model/model.safetensors": weights, "model/config.json": json.dumps(config, indent=2).encode()}
    return prepared.config["hyperparameters"], points, files


def _owner(session: Session) -> Principal:
    """The demo data scientist, so that the demo's data scientist may optimise the demo experiment (the
    platform itself when the demo users are not there)."""
    user = find_user_by_username(session=session, username="data_scientist")
    return principal_for(user, credential_id=None, credential_type="system") if user is not None else SYSTEM


def seed_demo_experiment(session: Session) -> str:
    """Create the demo experiment and its trained runs, unless it exists."""
    if session.exec(select(Experiment.id).where(Experiment.name == EXPERIMENT_NAME)).first() is not None:
        return "demo experiment already present"
    dataset = _demo_dataset(session)
    if dataset is None or dataset.current_version is None:
        return "demo experiment skipped: the Breast Cancer demo dataset is missing"
    _ensure_split(session, dataset)
    experiment = service.create_experiment(session=session, actor=_owner(session), data={
        "name": EXPERIMENT_NAME, "type": "training", "task": "classification", "objective": "maximize_val_accuracy",
        "datasetId": dataset.id,
        "description": f"tabular_mlp on {DATASET_NAME}, {EPOCHS} epochs at three learning rates (real CPU training).",
        "tags": {"demo": "true"},
    })
    for learning_rate in LEARNING_RATES:
        hyperparameters, points, files = train_once(session, dataset.id, learning_rate)
        params = {k: v for k, v in hyperparameters.items() if isinstance(v, str | int | float | bool)}
        run = service.create_platform_run(session=session, actor=SYSTEM, experiment_id=experiment.id,
                                          name=f"lr={learning_rate:g}", params={"family": "tabular_mlp", **params})
        service.set_run_status(session=session, actor=SYSTEM, run_id=run.id, status="RUNNING")
        service.log_metrics(session=session, actor=SYSTEM, run_id=run.id, metrics=points)
        service.append_logs(session=session, actor=SYSTEM, run_id=run.id, lines=[
            {"message": f"epoch {step}: {key} = {value:.4f}", "level": "INFO", "timestamp": ts}
            for key, value, ts, step in points if key.startswith("val_")])
        for path, content in files.items():
            service.store_run_artifact(session=session, actor=SYSTEM, run_id=run.id, path=path, source=content)
        service.set_run_status(session=session, actor=SYSTEM, run_id=run.id, status="FINISHED")
    return f"created demo experiment with {len(LEARNING_RATES)} trained runs"
