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
platform's training was 2-3x slower than a plain loop. Each step's figures are kept as tensors and read
in one go per DataLoader item (`step_log`, which the platform's callback streams); the epoch figures are
running sums of detached tensors.
Both go through `self.log` once per epoch, after its last batch (or the batch a stop request ends it on),
so callbacks and early stopping find them in `trainer.callback_metrics` at `on_train_epoch_end` as before.

The module steps its optimizer itself (Lightning's manual optimization): a DataLoader item may carry several
batches (`Steps`, see backend/ml/base.py) and each gets its own optimizer step, so Lightning's per-item loop
is paid once for several steps. Gradient clipping, gradient accumulation and the per-epoch learning-rate
schedule, which Lightning applies only under automatic optimization, are applied here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.plugins.precision import Precision
from torch import nn

from backend.ml.base import Steps

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
        self.automatic_optimization = False
        self.gradient_clip_val: float | None = None  # trainer settings applied by `training_step`
        self.accumulate_grad_batches = 1
        # (global step, {loss, accuracy | rmse, learning_rate}) of each optimizer step of the last training item
        self.step_log: list[tuple[int, dict[str, float]]] = []
        self._waiting = 0  # batches whose gradients wait for the next optimizer step
        self._direct = False  # set at the start of training (see on_train_start)
        self._epoch_complete = False
        # Per stage: each batch's (loss, right | squared error, rows) as tensors until the item ends, then the
        # stage's running [loss × rows, right | squared error, rows] as numbers.
        self._pending: dict[str, list[tuple[torch.Tensor, torch.Tensor, int]]] = {}
        self._totals: dict[str, list[float]] = {}
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
            quality = (pred == truth).sum() if self.task == "classification" else ((pred - truth) ** 2).sum()
        self._pending.setdefault(stage, []).append((loss.detach(), quality, int(target.shape[0])))
        return loss

    def _settle(self, stage: str) -> list[tuple[float, float, int]]:
        """The stage's batches since the last call as numbers — two tensor reads for a whole item instead of
        several small tensor operations per batch — added to the stage's running totals."""
        pending = self._pending.pop(stage, None)
        if not pending:
            return []
        losses = torch.stack([loss for loss, _quality, _n in pending]).tolist()
        qualities = torch.stack([quality for _loss, quality, _n in pending]).tolist()
        totals = self._totals.setdefault(stage, [0.0, 0.0, 0.0])
        settled = []
        for loss, quality, (_loss, _quality, n) in zip(losses, qualities, pending, strict=True):
            totals[0] += loss * n
            totals[1] += quality
            totals[2] += n
            settled.append((loss, quality, n))
        return settled

    def _learning_rate(self) -> float:
        trainer = self._trainer
        if trainer is not None and trainer.optimizers:
            return float(trainer.optimizers[0].param_groups[0]["lr"])
        return float(self.hp["learningRate"])

    def _step_figures(self, loss: float, quality: float, n: int, learning_rate: float) -> dict[str, float]:
        value = quality / n if self.task == "classification" else math.sqrt(quality / n)
        return {"loss": loss, quality_metric(self.task): value, "learning_rate": learning_rate}

    def _epoch_figures(self, stage: str) -> dict[str, torch.Tensor]:
        """`{stage}_loss` and `{stage}_accuracy | _rmse` of the rows seen since the stage's last figures,
        summed over every rank; the sums start again."""
        self._settle(stage)
        totals = self._totals.pop(stage, None)
        if totals is None:
            return {}
        sums = torch.tensor(totals, dtype=torch.float64 if self.device.type == "cpu" else torch.float32,
                            device=self.device)
        trainer = self._trainer
        if trainer is not None and trainer.world_size > 1:
            sums = trainer.strategy.reduce(sums, reduce_op="sum")
        count = sums[2].clamp(min=1)
        quality = sums[1] / count if self.task == "classification" else torch.sqrt(sums[1] / count)
        return {f"{stage}_loss": (sums[0] / count).float(), f"{stage}_{quality_metric(self.task)}": quality.float()}

    def _log_figures(self, figures: Mapping[str, torch.Tensor | float], *, on_step: bool) -> None:
        for key, value in figures.items():
            self.log(key, value, on_step=on_step, on_epoch=not on_step, batch_size=1)

    def training_step(self, batch: tuple[Any, torch.Tensor] | Steps, batch_idx: int) -> None:
        parts = batch if isinstance(batch, Steps) else (batch,)
        optimizer = self.optimizers()
        trainer = self._trainer
        last_item = trainer is None or batch_idx + 1 >= trainer.num_training_batches
        stepped: list[tuple[int, int, float]] = []  # (batch index in the item, global step, learning rate)
        for index, part in enumerate(parts):
            loss = self._shared_step(part, "train")
            if self.accumulate_grad_batches > 1:
                loss = loss / self.accumulate_grad_batches
            if self._direct:
                loss.backward()
            else:
                self.manual_backward(loss)
            self._waiting += 1
            # As Lightning does: step after `accumulate_grad_batches` batches and at the end of the epoch.
            if self._waiting >= self.accumulate_grad_batches or (last_item and index == len(parts) - 1):
                if self.gradient_clip_val:
                    self.clip_gradients(optimizer, gradient_clip_val=self.gradient_clip_val,
                                        gradient_clip_algorithm="norm")
                learning_rate = self._learning_rate()
                if self._direct:
                    # What LightningOptimizer.step does around the step: count it (the global step).
                    optimizer._on_before_step()
                    optimizer.optimizer.step()
                    optimizer._on_after_step()
                else:
                    optimizer.step()
                optimizer.zero_grad()
                self._waiting = 0
                stepped.append((index, trainer.global_step if trainer is not None else 0, learning_rate))
        settled = self._settle("train")
        self.step_log = [(step, self._step_figures(*settled[index], learning_rate))
                         for index, step, learning_rate in stepped]

    @property
    def step_metrics(self) -> dict[str, float]:
        """The last optimizer step's figures."""
        return self.step_log[-1][1] if self.step_log else {}

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # After the callbacks' own batch end: a stop request set there ends the epoch on this batch.
        trainer = self._trainer
        self._epoch_complete = trainer is None or batch_idx + 1 >= trainer.num_training_batches
        if self._epoch_complete or trainer.should_stop:
            self._log_figures(self.step_metrics, on_step=True)
            self._log_figures(self._epoch_figures("train"), on_step=False)

    def on_train_start(self) -> None:
        # On one device at 32-bit precision, Lightning's backward and optimizer step (strategy, precision plugin
        # and their hooks) do nothing but cost ~0.1 ms a step, ~8 % of a small MLP's step on a CPU thread: the
        # module then calls them directly. Mixed precision and DDP keep Lightning's path (scaler, gradient sync).
        trainer = self._trainer
        self._direct = trainer.world_size == 1 and type(trainer.precision_plugin) is Precision

    def on_train_epoch_start(self) -> None:
        self._totals.pop("train", None)  # a resumed epoch or a restart counts its own rows only
        self._pending.pop("train", None)
        self._epoch_complete = False

    def on_train_epoch_end(self) -> None:
        # Lightning's rule for epoch schedules (after the callbacks' epoch end, so after the epoch's checkpoint):
        # only an epoch that ran all its batches moves the schedule, and not while the loop is restarting.
        trainer = self._trainer
        if trainer is None or not self._epoch_complete or trainer.fit_loop.restarting:
            return
        schedulers = self.lr_schedulers()
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers] if schedulers else []:
            scheduler.step()

    def validation_step(self, batch: tuple[Any, torch.Tensor] | Steps, batch_idx: int) -> None:
        for part in batch if isinstance(batch, Steps) else (batch,):
            self._shared_step(part, "val")
        self._settle("val")

    def on_validation_epoch_end(self) -> None:
        self._log_figures(self._epoch_figures("val"), on_step=False)

    def test_step(self, batch: tuple[Any, torch.Tensor] | Steps, batch_idx: int) -> None:
        for part in batch if isinstance(batch, Steps) else (batch,):
            self._shared_step(part, "test")
        self._settle("test")

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
