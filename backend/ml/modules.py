"""The LightningModule every family's model extends: loss, optimizer, scheduler and the metrics it logs.

Metric names (what `self.log` writes, so what a logger or `trainer.callback_metrics` sees):

    per training step     loss, accuracy | rmse, learning_rate
    per training epoch    train_loss, train_accuracy | train_rmse
    per validation epoch  val_loss, val_accuracy | val_rmse
    per test epoch        test_loss, test_accuracy | test_rmse

`accuracy` for classification, `rmse` for regression (in the label's own units: the model learns a
standardised target, the metric undoes it). Epoch figures are summed over every DDP rank's rows.

Why the module keeps its own sums instead of calling `self.log` every step: one `self.log` costs Lightning
~0.4 ms on a CPU (it walks its result objects each call), more than a small model's whole step, so the
platform's training was 2-3x slower than a plain loop. Each step's figures are kept in `step_metrics`
(the platform's callback reads them every step); the epoch figures are running sums of detached tensors.
Both go through `self.log` once per epoch, after its last batch (or the batch a stop request ends it on),
so callbacks and early stopping find them in `trainer.callback_metrics` at `on_train_epoch_end` as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

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
            self.output_size = len(self.config["labelNames"])
        else:
            self.output_size = 1
            stats = self.config["preprocessing"]["target"]
            self.target_mean, self.target_std = float(stats["mean"]), float(stats["std"])
        self.step_metrics: dict[str, torch.Tensor | float] = {}  # the last training step's figures
        self._sums: dict[str, torch.Tensor] = {}  # per stage: [loss × rows, right | squared error, rows]
        loss = self.hp.get("loss", "auto")
        self.loss_name = ("cross_entropy" if self.task == "classification" else "mse") if loss == "auto" else loss

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning names the running hook here before each of the dozen hook calls a step makes; nn.Module's
        # __setattr__ checks parameters, buffers and submodules every time (~9 % of a small model's step).
        # A string or None is none of those, so set it directly.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        # Batches are gathered from CPU tensors: on the CPU there is nothing to move, and Lightning's generic
        # walk over the batch costs more than a small model's forward pass.
        if device.type == "cpu":
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

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
        with torch.no_grad():
            pred, truth = self.quality_inputs(output.detach().float(), target)
            n = target.shape[0]
            if self.task == "classification":
                quality_sum = (pred == truth).sum().float()
            else:
                quality_sum = ((pred - truth) ** 2).sum()
            step = torch.stack([loss.detach().float() * n, quality_sum, torch.tensor(float(n), device=loss.device)])
            self._sums[stage] = self._sums[stage] + step if stage in self._sums else step
            if stage == "train":
                batch_quality = quality_sum / n if self.task == "classification" else torch.sqrt(quality_sum / n)
                trainer = self._trainer
                lr = float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer is not None and trainer.optimizers \
                    else float(self.hp["learningRate"])
                self.step_metrics = {"loss": loss.detach(), quality_metric(self.task): batch_quality,
                                     "learning_rate": lr}
        return loss

    def _epoch_figures(self, stage: str) -> dict[str, torch.Tensor]:
        """`{stage}_loss` and `{stage}_accuracy | _rmse` of the rows seen since the stage's last figures,
        summed over every rank; the sums start again."""
        sums = self._sums.pop(stage, None)
        if sums is None:
            return {}
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            sums = trainer.strategy.reduce(sums, reduce_op="sum")
        rows = sums[2].clamp(min=1)
        quality = sums[1] / rows if self.task == "classification" else torch.sqrt(sums[1] / rows)
        return {f"{stage}_loss": sums[0] / rows, f"{stage}_{quality_metric(self.task)}": quality}

    def _log_figures(self, figures: Mapping[str, torch.Tensor | float], *, on_step: bool) -> None:
        for key, value in figures.items():
            self.log(key, value, on_step=on_step, on_epoch=not on_step, batch_size=1)

    def training_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # After the callbacks' own batch end: a stop request set there ends the epoch on this batch.
        trainer = self._trainer
        last = trainer is None or trainer.should_stop or batch_idx + 1 >= trainer.num_training_batches
        if last:
            self._log_figures(self.step_metrics, on_step=True)
            self._log_figures(self._epoch_figures("train"), on_step=False)

    def on_train_epoch_start(self) -> None:
        self._sums.pop("train", None)  # a resumed epoch or a restart counts its own rows only

    def validation_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._log_figures(self._epoch_figures("val"), on_step=False)

    def test_step(self, batch: tuple[Any, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._log_figures(self._epoch_figures("test"), on_step=False)

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
