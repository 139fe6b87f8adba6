"""A tabular model trained in-process in about a second (plain torch: full-batch Adam on the encoded
rows, no Lightning, no DataLoader), packaged and registered like the training jobs' output. The demo
seed serves one; the endpoint tests use it to get real registered versions quickly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl
import torch
import torch.nn.functional as F
from sqlmodel import Session

from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.ml import packaging
from backend.ml.base import FORMAT, encode_targets, label_values, mean_std
from backend.ml.families import get_family
from backend.ml.hyperparameters import dump


def train_tabular(frame: pl.DataFrame, *, label: str, task: str = "classification", steps: int = 150,
                  seed: int = 0, hyperparameters: Mapping[str, Any] | None = None,
                  dataset: Mapping[str, Any] | None = None) -> tuple[bytes, dict[str, Any]]:
    """(safetensors weights, package config) of a tabular MLP fitted to `frame`; the config's metrics are
    its accuracy (or RMSE) on the rows it learnt from."""
    family = get_family("tabular_mlp")
    hp = family.validate({"hiddenSizes": [32], "dropout": 0.0, "seed": seed, **(hyperparameters or {})})
    inputs = [c for c in frame.columns if c != label]
    input_schema, preprocessing = family.fit(frame, inputs=inputs, hp=hp, task=task)
    if task == "regression":
        mean, std = mean_std(frame[label])
        preprocessing = {**preprocessing, "target": {"mean": mean, "std": std}}
    config: dict[str, Any] = {
        "format": FORMAT, "family": family.name, "task": task, "hyperparameters": dump(hp),
        "dataset": dict(dataset or {}), "label": {"name": label, "dtype": str(frame.schema[label])},
        "labelNames": sorted(set(label_values(frame[label]))) if task == "classification" else None,
        "inputSchema": input_schema, "preprocessing": preprocessing,
    }
    torch.manual_seed(seed)
    module = family.build_module(config)
    encoded = family.encode(config, frame)
    targets = encode_targets(config, frame)
    everything = encoded.take(torch.arange(len(encoded)))
    optimizer = torch.optim.Adam(module.parameters(), lr=0.02)
    module.train()
    for _ in range(steps):
        optimizer.zero_grad()
        out = module(everything)
        loss = F.cross_entropy(out, targets) if task == "classification" else F.mse_loss(out.reshape(-1), targets)
        loss.backward()
        optimizer.step()
    module.eval()
    with torch.no_grad():
        out = module(everything)
    if task == "classification":
        metrics = {"accuracy": float((out.argmax(1) == targets).float().mean()), "loss": float(loss.detach())}
    else:
        std = preprocessing["target"]["std"]
        metrics = {"rmse": float(torch.sqrt(F.mse_loss(out.reshape(-1), targets)) * std), "loss": float(loss.detach())}
    return packaging.package(module, config, metrics=metrics)


def register(session: Session, actor: Principal, *, weights: bytes, config: dict[str, Any], version: str,
             model_id: str | None = None, name: str | None = None) -> tuple[str, str]:
    """Register the package as `version` of a model (created when `model_id` is None); (model id, version)."""
    if model_id is None:
        model = registry.create_model(session=session, actor=actor, embed=False, data=ModelCreate(
            name=name or "tabular model", type="Tabular", category=config["task"], framework="PyTorch Lightning"))
        model_id = model.id
    registry.create_version(session=session, actor=actor, model_id=model_id, data=VersionCreate(
        version=version, metrics={k: v for k, v in config["metrics"].items() if v is not None},
        hyperparameters={k: v for k, v in config["hyperparameters"].items() if isinstance(v, str | int | float | bool)},
        notes="Trained in-process (full-batch Adam)"))
    registry.store_artifact(session=session, actor=actor, model_id=model_id, version=version, chunks=iter([weights]),
                            file_name="model.safetensors", config=config, declared_format="safetensors")
    return model_id, version
