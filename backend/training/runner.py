"""`python -m backend.training.runner TRAINING_JOB_ID OUTCOME_JSON [CHECKPOINT|-]`: one training attempt in
its own process (started by the `training.train` job handler; Lightning's DDP re-runs this same command
for the other ranks with LOCAL_RANK set).

Rank 0 prepares the module from the dataset version's split (or rebuilds it from the config a previous
attempt saved), restores the checkpoint it is given (checked: sha256, then `torch.load(weights_only=True)`;
a corrupted one is TRAIN_004 in the logs and the previous one is used), discards the metric points logged
after that checkpoint's step, and trains. A callback batches metrics into the experiment run (per step:
loss, accuracy or rmse, learning_rate, samples_per_second, gpu_memory_mb on CUDA; per epoch: train_*,
val_*), captures log lines, writes a checkpoint to the artifact store at every epoch end (atomic; listed
only once written), reports progress, and reads the job's `control` (pause: checkpoint then stop; stop:
end now and keep the best; cancel: end). On completion the best checkpoint is loaded, evaluated on the
test split, packaged (safetensors + JSON config) into the store, and the outcome written for the handler,
which registers it in the job's finishing transaction.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("backend.training.runner")

EPOCH_PREFIXES = ("train_", "val_")
FLUSH_SECONDS = 2.0
CONTROL_SECONDS = 0.5  # how often a pause, stop or cancel request is looked for
PROGRESS_SECONDS = 1.0  # how often the job's progress and step are written while an epoch runs
MAX_BUFFER = 5000


def _now_ms() -> int:
    return int(time.time() * 1000)


def _rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


class RunLogHandler(logging.Handler):
    """Log records of this attempt, kept until the next flush into the run's logs."""

    LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level = record.levelname if record.levelname in self.LEVELS else "INFO"
            self.lines.append({"message": self.format(record)[:4000], "level": level,
                               "timestamp": int(record.created * 1000)})
        except Exception:  # noqa: BLE001 - logging never breaks training
            pass

    def take(self) -> list[dict[str, Any]]:
        lines, self.lines = self.lines, []
        return lines


class Sink:
    """Batches metric points and log lines into the run (one INSERT per batch, rank 0 only)."""

    def __init__(self, run_id: str, logs: RunLogHandler | None) -> None:
        self.run_id = run_id
        self.points: list[tuple[str, float, int, int]] = []
        self.logs = logs
        self.last_flush = time.monotonic()

    def add(self, key: str, value: float, step: int, at_ms: int | None = None) -> None:
        self.points.append((key, float(value), at_ms or _now_ms(), int(step)))

    def maybe_flush(self) -> None:
        if len(self.points) >= MAX_BUFFER or time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        from backend.auth.principal import SYSTEM
        from backend.catalog.experiments import service as experiments
        from backend.core.db import session_scope

        points, self.points = self.points, []
        lines = self.logs.take() if self.logs is not None else []
        self.last_flush = time.monotonic()
        if not points and not lines:
            return
        with session_scope() as session:
            for start in range(0, len(points), 1000):
                experiments.log_metrics(session=session, actor=SYSTEM, run_id=self.run_id,
                                        metrics=points[start:start + 1000])
            for start in range(0, len(lines), 500):
                experiments.append_logs(session=session, actor=SYSTEM, run_id=self.run_id,
                                        lines=lines[start:start + 500])


def _update(training_job_id: str, **values: Any) -> None:
    from sqlalchemy import update
    from sqlmodel import col

    from backend.core.db import session_scope
    from backend.core.timeutil import utcnow
    from backend.training.models import TrainingJob

    with session_scope() as session:
        session.execute(update(TrainingJob).where(col(TrainingJob.id) == training_job_id)
                        .values(updated_at=utcnow(), **values))


def _read_job(training_job_id: str):  # noqa: ANN202
    from backend.core.db import session_scope
    from backend.training.models import TrainingJob

    with session_scope(write=False) as session:
        job = session.get(TrainingJob, training_job_id)
        if job is None:
            raise SystemExit(f"no training job {training_job_id}")
        session.expunge(job)
        return job


def _control(training_job_id: str) -> str | None:
    from sqlmodel import select

    from backend.core.db import session_scope
    from backend.training.models import TrainingJob

    with session_scope(write=False) as session:
        return session.exec(select(TrainingJob.control).where(TrainingJob.id == training_job_id)).first()


class Resources:
    """Wall time, device, peak memory and cost of this attempt, added to what earlier attempts used."""

    def __init__(self, job: Any, devices: int) -> None:
        import torch

        from backend.core.config import get_settings

        self.before = dict(job.resources or {})
        self.start = time.monotonic()
        self.cuda = torch.cuda.is_available() and job.trainer.get("accelerator", "auto") != "cpu"
        self.devices = devices
        self.compute_type = "gpu" if self.cuda else "cpu"
        self.device_name = torch.cuda.get_device_name(0) if self.cuda else "cpu"
        self.rates = get_settings().training_cost_per_device_hour

    def document(self) -> dict[str, Any]:
        import torch

        elapsed = time.monotonic() - self.start
        if self.cuda:
            peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        wall = float(self.before.get("wallSeconds", 0.0)) + elapsed
        device_hours = wall * self.devices / 3600
        rate = self.rates.get(self.device_name, self.rates.get(self.compute_type, 0.0))
        return {"computeType": self.compute_type, "devices": self.devices, "deviceName": self.device_name,
                "wallSeconds": round(wall, 3), "gpuHours": round(device_hours if self.cuda else 0.0, 6),
                "peakMemoryMb": round(max(peak, float(self.before.get("peakMemoryMb") or 0.0)), 1),
                "cost": round(device_hours * float(rate), 6), "currency": "USD"}


def _verified_checkpoint(job: Any, name: str | None) -> tuple[str | None, int | None]:
    """(local path, step) of the named checkpoint, or of the newest sound one before it when it is
    corrupted (TRAIN_004 logged, the entry marked); (None, None) when none is usable."""
    import hashlib

    import torch

    from backend.core import artifacts

    if name is None:
        return None, None
    entries = list(job.checkpoints or [])
    names = [c["name"] for c in entries]
    if name not in names:
        log.warning("TRAIN_004: checkpoint %s is not listed; starting from the newest listed one", name)
        name = names[-1] if names else None
        if name is None:
            return None, None
    index = names.index(name)
    changed = False
    for entry in reversed(entries[: index + 1]):
        if entry.get("corrupted"):
            continue
        try:
            path = artifacts.get_store().local_path(entry["key"])
            digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            if digest != entry["sha256"]:
                raise ValueError("sha256 mismatch")
            torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is corrupted
            log.error("TRAIN_004: checkpoint %s is corrupted (%s); falling back to the previous one",
                      entry["name"], str(exc)[:200])
            entry["corrupted"] = True
            changed = True
            continue
        if changed:
            _update(job.id, checkpoints=entries)
        return str(path), int(entry["step"])
    if changed:
        _update(job.id, checkpoints=entries)
    return None, None


def make_callback(job: Any, sink: Sink | None, resources: Resources, *, quality: str, max_epochs: int):  # noqa: ANN201
    import lightning as L
    import torch

    from backend.core import artifacts
    from backend.core.config import get_settings
    from backend.ml.base import Steps

    delay = get_settings().training_step_delay_seconds
    monitor, mode = job.plan.get("monitor", {}).get("metric", "val_loss"), job.plan.get("monitor", {}).get("mode")

    class PlatformCallback(L.Callback):
        def __init__(self) -> None:
            self.request: str | None = None  # pause | stop | cancel, once seen
            self.last_check = 0.0
            self.last_progress = time.monotonic()
            self.last_batch = time.perf_counter()
            self.checkpoints = list(job.checkpoints or [])

        # --- control -------------------------------------------------------------------------------
        def _decide(self, trainer: L.Trainer) -> None:
            decision = self.request
            if trainer.is_global_zero and decision is None and time.monotonic() - self.last_check >= CONTROL_SECONDS:
                self.last_check = time.monotonic()
                decision = _control(job.id)
            if trainer.world_size > 1:
                decision = trainer.strategy.broadcast(decision, src=0)
            if decision and self.request is None:
                self.request = decision
                log.info("asked to %s", decision)
            if self.request in ("stop", "cancel"):
                trainer.should_stop = True

        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            self.last_batch = time.perf_counter()
            log.info("training %s on %s (%s device%s), from step %s", job.family, resources.device_name,
                     resources.devices, "s" if resources.devices > 1 else "", trainer.global_step)
            self._decide(trainer)

        def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                               batch_idx: int) -> None:
            if delay:  # per optimizer step (tests slow training down with it)
                time.sleep(delay * max(1, len(batch) if isinstance(batch, Steps) else 1))
            if sink is not None:
                now = time.perf_counter()
                step = trainer.global_step
                parts = batch if isinstance(batch, Steps) else (batch,)
                rows = sum(int(part[1].shape[0]) for part in parts) * trainer.world_size
                speed = rows / max(now - self.last_batch, 1e-9)
                gpu_memory = torch.cuda.memory_allocated() / 2**20 if resources.cuda else None
                at_ms = _now_ms()
                for step_done, figures in pl_module.step_log:
                    for key, value in figures.items():
                        sink.add(key, value, step_done, at_ms)
                    sink.add("samples_per_second", speed, step_done, at_ms)
                    if gpu_memory is not None:
                        sink.add("gpu_memory_mb", gpu_memory, step_done, at_ms)
                self.last_batch = now
                sink.maybe_flush()
                if time.monotonic() - self.last_progress >= PROGRESS_SECONDS:
                    self.last_progress = time.monotonic()
                    batches = max(1, int(trainer.num_training_batches or 1))
                    fraction = (trainer.current_epoch + (batch_idx + 1) / batches) / max_epochs
                    _update(job.id, progress=min(fraction, 0.99), global_step=step, epoch=trainer.current_epoch)
            self._decide(trainer)

        def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            step, epoch = trainer.global_step, trainer.current_epoch
            values = {k: float(v) for k, v in trainer.callback_metrics.items()
                      if k.startswith(EPOCH_PREFIXES) and getattr(v, "numel", lambda: 1)() == 1}
            if sink is not None:
                for key, value in values.items():
                    sink.add(key, value, step)
                sink.add("epoch", epoch + 1, step)
                log.info("epoch %s/%s, step %s: %s", epoch + 1, max_epochs, step,
                         ", ".join(f"{k}={v:.4g}" for k, v in sorted(values.items())))
                sink.flush()  # before the checkpoint: a resume from it keeps these points
            if self.request == "cancel":
                return
            handle, local = tempfile.mkstemp(suffix=".ckpt")
            os.close(handle)
            trainer.save_checkpoint(local)
            if trainer.is_global_zero:
                name = f"epoch-{epoch + 1:04d}-step-{step}"
                stored = artifacts.get_store().put(f"training/{job.id}/checkpoints/{name}.ckpt", Path(local),
                                                   move=True)
                value = values.get(monitor)
                self.checkpoints = [c for c in self.checkpoints if c["name"] != name] + [{
                    "name": name, "key": stored.key, "epoch": epoch + 1, "step": step, "monitor": monitor,
                    "value": value, "mode": mode, "sha256": stored.sha256, "sizeBytes": stored.size,
                    "createdAt": _iso_now()}]
                # Listed only now that the file is whole in the store.
                _update(job.id, checkpoints=self.checkpoints, epoch=epoch + 1, global_step=step,
                        progress=min((epoch + 1) / max_epochs, 0.99), resources=resources.document())
            else:
                Path(local).unlink(missing_ok=True)
            self._decide(trainer)
            if self.request == "pause":
                trainer.should_stop = True

    return PlatformCallback()


def _extra_callbacks(job: Any) -> list[Any]:
    """Callbacks other domains add (`training_callbacks` hooks), and for a job warm-started from another
    job's checkpoint one that puts this job's own optimizer settings back after the restore."""
    from backend import domains

    extra = [callback for hook in domains.hooks("training_callbacks") for callback in hook(job) or []]
    if job.plan.get("warmStart"):
        extra.append(_own_optimizer_settings(job.hyperparameters))
    return extra


def _own_optimizer_settings(hyperparameters: dict[str, Any]):  # noqa: ANN202
    """Restoring a checkpoint restores its optimizer state, learning rate included: a warm start keeps the
    weights and moments but trains with the learning rate this job was given (PBT's perturbed one)."""
    import lightning as L

    # The learning rate only: parameter groups may carry their own weight decay (none on biases).
    values = {"lr": hyperparameters.get("learningRate")}

    class OwnOptimizerSettings(L.Callback):
        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            for optimizer in trainer.optimizers:
                for group in optimizer.param_groups:
                    for key, value in values.items():
                        if value is not None and key in group:
                            group[key] = float(value)
                    if "initial_lr" in group and values["lr"] is not None:
                        group["initial_lr"] = float(values["lr"])
            log.info("warm start: optimizer settings of this job applied (%s)", values)

    return OwnOptimizerSettings()


def _load_base(module: Any, job: Any) -> None:
    """A fine-tune starts from its base version's weights (checked against the package's hash; TRAIN_004)."""
    from backend.auth.principal import SYSTEM
    from backend.catalog.model_registry.artifacts import artifact_path
    from backend.core.db import session_scope
    from backend.ml import packaging
    from backend.training import service

    with session_scope(write=False) as session:
        row, config = service.base_package(session, SYSTEM, job.base_model_id, job.base_model_version)
        path = artifact_path(row.artifact_id)
    base = packaging.load_package(path, config)
    module.load_state_dict(base.module.state_dict())
    log.info("starting from %s %s", job.base_model_id, job.base_model_version)


def _iso_now() -> str:
    from backend.core.timeutil import utcnow

    return utcnow().isoformat()


def _best(job_id: str) -> dict[str, Any] | None:
    from backend.training import service

    job = _read_job(job_id)
    name = service.best_checkpoint(job)
    return next((c for c in job.checkpoints if c["name"] == name), None)


def train(training_job_id: str, outcome_path: str, resume_from: str | None) -> dict[str, Any]:
    import lightning as L
    import torch

    from backend.auth.principal import SYSTEM
    from backend.catalog.experiments import service as experiments
    from backend.core.config import get_settings
    from backend.core.db import session_scope
    from backend.ml import packaging, training
    from backend.ml.modules import quality_metric

    settings = get_settings()
    if settings.training_threads:
        torch.set_num_threads(settings.training_threads)
    rank = _rank()
    handler = RunLogHandler() if rank == 0 else None
    if handler is not None:
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
        logging.getLogger().setLevel(logging.INFO)
        logging.captureWarnings(True)
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The libraries' own warnings (deprecations between Lightning and PyTorch, hints about settings the runner
    # chose on purpose) say nothing a job's owner can act on, and would head every job's log.
    for category in (UserWarning, FutureWarning, DeprecationWarning):
        for module in ("lightning", "torch"):
            warnings.filterwarnings("ignore", category=category, module=module)

    job = _read_job(training_job_id)
    sink = Sink(job.run_id, handler) if rank == 0 else None
    try:
        if job.prepared_config is None and rank == 0:
            with session_scope(write=False) as session:
                prepared = training.prepare(session=session, dataset_id=job.dataset_id, version=job.dataset_version,
                                            family=job.family, hyperparameters=job.hyperparameters,
                                            label_column=job.label_column, input_columns=job.input_columns,
                                            task=job.task)
            _update(job.id, prepared_config=prepared.config)
        else:
            with session_scope(write=False) as session:
                prepared = training.rebuild(session=session, config=job.prepared_config)
        config = prepared.config
        training.seed_everything(config)
        resume_path, resume_step = _verified_checkpoint(job, resume_from) if rank == 0 else (None, None)
        devices = int(job.trainer.get("devices", 1))
        if devices > 1:
            # Every rank restores the same checkpoint: rank 0 chose it, the others read its choice.
            if rank == 0:
                os.environ["AISYSTEM_TRAINING_RESUME_PATH"] = resume_path or ""
            else:
                resume_path = os.environ.get("AISYSTEM_TRAINING_RESUME_PATH") or None
        if job.base_model_id and not resume_path:
            _load_base(prepared.module, job)
        if rank == 0:
            with session_scope() as session:
                experiments.discard_metrics_after(session=session, actor=SYSTEM, run_id=job.run_id,
                                                  step=resume_step if resume_step is not None else -1)
            if resume_step is not None:
                log.info("resuming from checkpoint %s at step %s", resume_from, resume_step)
        hp = config["hyperparameters"]
        max_epochs = int(hp["maxEpochs"])
        resources = Resources(job, devices)
        callback = make_callback(job, sink, resources, quality=quality_metric(config["task"]), max_epochs=max_epochs)
        callbacks: list[Any] = [callback, *_extra_callbacks(job)]
        metric, mode = job.plan.get("monitor", {}).get("metric", "val_loss"), job.plan.get("monitor", {}).get(
            "mode", "min")
        if job.trainer.get("patience"):
            callbacks.append(L.pytorch.callbacks.EarlyStopping(
                monitor=metric, mode=mode, patience=int(job.trainer["patience"]),
                min_delta=float(job.trainer.get("minDelta") or 0.0), check_on_train_epoch_end=True))
        options: dict[str, Any] = dict(
            accelerator=job.trainer.get("accelerator", "auto"), devices=devices,
            precision=job.trainer.get("precision", "32-true"), max_epochs=max_epochs, callbacks=callbacks,
            logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, log_every_n_steps=1)
        # The module steps its own optimizer (manual optimization), so it applies these two itself.
        prepared.module.accumulate_grad_batches = int(job.trainer.get("accumulateGradBatches") or 1)
        if job.trainer.get("gradientClipVal"):
            prepared.module.gradient_clip_val = float(job.trainer["gradientClipVal"])
        if devices > 1:
            options["strategy"] = "ddp"
        trainer = L.Trainer(**options)
        trainer.fit(prepared.module, prepared.loaders.train, prepared.loaders.validation, ckpt_path=resume_path,
                    weights_only=True)
        if rank != 0:
            return {}
        request = callback.request
        if sink is not None:
            sink.flush()
        if request == "cancel":
            outcome = {"outcome": "cancelled"}
        elif request == "pause":
            _update(job.id, resources=resources.document())
            outcome = {"outcome": "paused", "step": trainer.global_step}
        else:
            outcome = _finish(job, prepared, trainer, sink, resources, stopped=request == "stop",
                              packaging=packaging, training=training)
        log.info("attempt ended: %s", outcome["outcome"])
        return outcome
    except Exception as exc:
        from backend.core.errors import AISystemError

        log.exception("training failed")
        code = exc.code if isinstance(exc, AISystemError) else "TRAIN_001"
        return {"outcome": "failed", "code": code, "error": f"{type(exc).__name__}: {str(exc)[:1500]}"}
    finally:
        if sink is not None:
            with contextlib.suppress(Exception):
                sink.flush()


def _finish(job: Any, prepared: Any, trainer: Any, sink: Sink | None, resources: Resources, *, stopped: bool,
            packaging: Any, training: Any) -> dict[str, Any]:
    """Load the best checkpoint, evaluate it on the test split, package it into the store."""
    import torch

    from backend.core import artifacts

    module = prepared.module.cpu()
    best = _best(job.id)
    if best is not None:
        path = artifacts.get_store().local_path(best["key"])
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        # A frozen base's weights stay out of checkpoints (`strict_loading` False): the module has them.
        module.load_state_dict(state, strict=module.strict_loading)
    metrics: dict[str, Any] = {}
    for key, value in trainer.callback_metrics.items():
        if key.startswith(EPOCH_PREFIXES) and getattr(value, "numel", lambda: 1)() == 1:
            metrics[key] = float(value)
    if best is not None and best.get("value") is not None:
        metrics[best["monitor"]] = best["value"]
    if prepared.loaders.test is not None:
        result = training.evaluate(module, prepared.loaders.test)
        for key, value in result.items():
            if key != "count":
                metrics[f"test_{key}"] = float(value)
                if sink is not None:
                    sink.add(f"test_{key}", float(value), trainer.global_step)
    metrics["epochs"] = float(best["epoch"] if best else trainer.current_epoch)
    metrics["globalStep"] = float(trainer.global_step)
    if sink is not None:
        sink.flush()
    weights, config = packaging.package(module, prepared.config, metrics=metrics)
    stored = artifacts.get_store().put(f"training/{job.id}/package/model.safetensors", weights)
    _update(job.id, resources=resources.document(), progress=0.99)
    return {"outcome": "stopped" if stopped else "completed", "weightsKey": stored.key, "config": config,
            "metrics": metrics, "best": best["name"] if best else None, "step": trainer.global_step}


def main(argv: list[str]) -> int:
    training_job_id, outcome_path = argv[0], argv[1]
    resume_from = argv[2] if len(argv) > 2 and argv[2] != "-" else None
    outcome = train(training_job_id, outcome_path, resume_from)
    if _rank() == 0:
        tmp = Path(outcome_path).with_suffix(".tmp")
        tmp.write_text(json.dumps(outcome))
        tmp.replace(outcome_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
