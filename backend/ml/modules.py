"""The LightningModule every family's model extends: loss, optimizer, scheduler and the metrics it logs.

Metric names (what `self.log` writes, so what a logger or `trainer.callback_metrics` sees):

    per training step     loss, accuracy | rmse, learning_rate
    per training epoch    train_loss, train_accuracy | train_rmse
    per validation epoch  val_loss, val_accuracy | val_rmse
    per test epoch        test_loss, test_accuracy | test_rmse

`accuracy` for classification, `rmse` for regression (in the label's own units: the model learns a
standardised target, the metric undoes it). Epoch figures are synchronised across DDP ranks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanSquaredError
from torchmetrics.classification import MulticlassAccuracy

STEP_METRICS = {"classification": ("loss", "accuracy", "learning_rate"), "regression": ("loss", "rmse", "learning_rate")}


def quality_metric(task: str) -> str:
    """`accuracy` (higher is better) for classification, `rmse` (lower is better) for regression."""
    return "accuracy" if task == "classification" else "rmse"


def monitor(*, has_validation: bool) -> tuple[str, str]:
    """The metric and mode (`min`/`max`) early stopping and the best checkpoint should follow."""
    return ("val_loss" if has_validation else "train_loss", "min")


class SupervisedModule(L.LightningModule):
    """A classifier or regressor built from a package config (plain JSON, kept as the module's
    hyperparameters so a Lightning checkpoint carries it). Subclasses build layers in `__init__` and
    implement `forward(inputs) -> logits (N, classes) | values (N, 1)`."""

    def __init__(self, config: Mapping[str, Any]):
        super().__init__()
        self.save_hyperparameters({"config": dict(config)})
        self.config = dict(config)
        self.task = self.config["task"]
        self.hp = self.config["hyperparameters"]
        if self.task == "classification":
            classes = len(self.config["labelNames"])
            self.output_size = classes
            for stage in ("train", "val", "test"):
                setattr(self, f"{stage}_quality", MulticlassAccuracy(num_classes=classes, average="micro"))
        else:
            self.output_size = 1
            stats = self.config["preprocessing"]["target"]
            self.target_mean, self.target_std = float(stats["mean"]), float(stats["std"])
            for stage in ("train", "val", "test"):
                setattr(self, f"{stage}_quality", MeanSquaredError(squared=False))
        loss = self.hp.get("loss", "auto")
        self.loss_name = ("cross_entropy" if self.task == "classification" else "mse") if loss == "auto" else loss

    # --- what subclasses may override ---

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Optimizer parameter groups (a fine-tuned encoder may learn slower than its head)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def packaged_state_dict(self) -> dict[str, torch.Tensor]:
        """The tensors a package stores (all of them, unless a family keeps frozen weights elsewhere)."""
        return self.state_dict()

    # --- loss and metrics ---

    def compute_loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.task == "classification":
            return F.cross_entropy(output, target)
        pred = output.reshape(-1)
        if self.loss_name == "mae":
            return F.l1_loss(pred, target)
        if self.loss_name == "huber":
            return F.huber_loss(pred, target)
        return F.mse_loss(pred, target)

    def quality_inputs(self, output: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.task == "classification":
            return output.argmax(dim=1), target
        mean, std = self.target_mean, self.target_std
        return output.reshape(-1).detach().float() * std + mean, target.float() * std + mean

    def _shared_step(self, batch: tuple[Any, torch.Tensor], stage: str) -> torch.Tensor:
        inputs, target = batch
        output = self(inputs)
        loss = self.compute_loss(output.float(), target)
        n = int(target.shape[0])
        quality = getattr(self, f"{stage}_quality")
        pred, truth = self.quality_inputs(output.detach().float(), target)
        quality.update(pred, truth)
        name = quality_metric(self.task)
        if stage == "train":
            self.log("loss", loss.detach(), on_step=True, on_epoch=False, batch_size=n)
            if self.task == "classification":
                batch_quality = (pred == truth).float().mean()
            else:
                batch_quality = torch.sqrt(torch.mean((pred - truth) ** 2))
            self.log(name, batch_quality, on_step=True, on_epoch=False, batch_size=n)
            self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
            self.log(f"train_{name}", quality, on_step=False, on_epoch=True)
            trainer = self._trainer
            if trainer is not None and trainer.optimizers:
                self.log("learning_rate", float(trainer.optimizers[0].param_groups[0]["lr"]),
                         on_step=True, on_epoch=False, batch_size=n)
        else:
            self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, batch_size=n, sync_dist=True)
            self.log(f"{stage}_{name}", quality, on_step=False, on_epoch=True)
        return loss

    def training_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "val")

    def test_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "test")

    def predict_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, _target = batch
        return self(inputs)

    # --- optimisation ---

    def configure_optimizers(self) -> Any:
        hp = self.hp
        groups = self.parameter_groups()
        lr, decay = float(hp["learningRate"]), float(hp.get("weightDecay", 0.0))
        name = hp.get("optimizer", "adam")
        if name == "sgd":
            optimizer = torch.optim.SGD(groups, lr=lr, momentum=float(hp.get("momentum", 0.9)), weight_decay=decay)
        elif name == "rmsprop":
            optimizer = torch.optim.RMSprop(groups, lr=lr, momentum=float(hp.get("momentum", 0.0)),
                                            weight_decay=decay)
        elif name == "adamw":
            optimizer = torch.optim.AdamW(groups, lr=lr, weight_decay=decay)
        else:
            optimizer = torch.optim.Adam(groups, lr=lr, weight_decay=decay)
        if hp.get("lrScheduler", "none") == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, int(hp["maxEpochs"])))
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
        return optimizer


def mlp(width: int, hidden: list[int], *, dropout: float, activation: str = "relu") -> tuple[nn.Sequential, int]:
    """Hidden layers (Linear, activation, dropout) and the width they end with."""
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, size), act()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    return nn.Sequential(*layers), width
