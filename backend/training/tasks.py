"""The `training.train` job type (queue `training`): runs one attempt of a training job in its own process
(`backend.training.runner`, forked from the worker's warm process — backend/training/warm.py — or, for DDP,
whose other ranks Lightning starts by re-running the command line, `python -m backend.training.runner`), follows it
(progress to the platform job, each new checkpoint saved as the job's resume state, a cancel passed on),
and records the outcome: registered model version (success), paused, cancelled, or failed.

An attempt that follows a lost worker resumes from the last checkpoint the dead attempt listed (the
type's `resume` hook), with the same global step; the runner discards the metric points logged after it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.tasks import job_handler
from backend.jobs import service as jobs_service
from backend.training import service, warm
from backend.training.models import TERMINAL, TrainingJob
from backend.training.schemas import TrainingPayload

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.5
CANCEL_GRACE_SECONDS = 30


def _kill(proc: subprocess.Popen | warm.ForkedRunner) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def _snapshot(training_job_id: str) -> dict[str, Any] | None:
    with session_scope(write=False) as session:
        job = session.get(TrainingJob, training_job_id)
        if job is None:
            return None
        return {"status": job.status, "jobId": job.job_id, "progress": job.progress, "epoch": job.epoch,
                "step": job.global_step, "control": job.control, "maxEpochs": job.hyperparameters.get("maxEpochs"),
                "devices": int((job.trainer or {}).get("devices") or 1),
                "checkpoint": next((c for c in reversed(job.checkpoints or []) if not c.get("corrupted")), None)}


def _attempt(ctx, resume_from: str | None) -> dict[str, Any] | None:  # noqa: ANN001
    training_job_id = ctx.payload["trainingJobId"]
    before = _snapshot(training_job_id)
    if before is None or before["status"] in TERMINAL or before["jobId"] != ctx.job_id:
        return {"skipped": True, "reason": "the training job has ended or moved to another job"}
    with session_scope() as session:
        service.mark_running(session=session, training_job_id=training_job_id, job_id=ctx.job_id)
    work = Path(tempfile.mkdtemp(prefix=f"training-{training_job_id}-"))
    outcome_path, output = work / "outcome.json", work / "runner.log"
    argv = [training_job_id, str(outcome_path), resume_from or "-"]
    # Forked from the worker's warm process when it can be; DDP re-runs the command line for its other ranks.
    proc = warm.launch(argv, output) if before["devices"] == 1 else None
    if proc is None:
        with open(output, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "backend.training.runner", *argv], cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                    preexec_fn=warm.die_with_parent)  # noqa: PLW1509
    try:
        _follow(ctx, proc, training_job_id, before)
    except BaseException:
        _kill(proc)  # a time limit or a lost lease stops the runner with the handler
        raise
    return _record(ctx, training_job_id, outcome_path, output)


def _follow(ctx, proc: subprocess.Popen | warm.ForkedRunner, training_job_id: str, before: dict[str, Any]) -> None:  # noqa: ANN001
    last_progress, last_checkpoint = None, (before.get("checkpoint") or {}).get("name")
    cancel_seen_at: float | None = None
    last_cancel_check = 0.0
    while proc.poll() is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=POLL_SECONDS)  # returns as soon as the runner ends: no idle half-second
        if ctx.lease_lost.is_set():
            _kill(proc)
            raise jobs_service.LeaseLost(ctx.job_id)
        state = _snapshot(training_job_id)
        if state is None:
            continue
        if state["progress"] != last_progress:
            last_progress = state["progress"]
            ctx.progress(min(float(last_progress), 0.99),
                         f"epoch {state['epoch']} of {state['maxEpochs']}, step {state['step']}")
        checkpoint = state["checkpoint"]
        if checkpoint is not None and checkpoint["name"] != last_checkpoint:
            last_checkpoint = checkpoint["name"]
            ctx.checkpoint({"checkpoint": checkpoint["name"], "step": checkpoint["step"]})
        if time.monotonic() - last_cancel_check >= 2 and cancel_seen_at is None:
            last_cancel_check = time.monotonic()
            if ctx.cancelled():
                cancel_seen_at = time.monotonic()
                if state["control"] != "cancel":
                    from backend.training.runner import _update

                    _update(training_job_id, control="cancel")
        if cancel_seen_at is not None and time.monotonic() - cancel_seen_at > CANCEL_GRACE_SECONDS:
            log.warning("training %s did not stop within %s s of its cancel; killing it", training_job_id,
                        CANCEL_GRACE_SECONDS)
            _kill(proc)


def _record(ctx, training_job_id: str, outcome_path: Path, output: Path) -> dict[str, Any] | None:  # noqa: ANN001
    try:
        outcome = json.loads(outcome_path.read_text())
    except (OSError, ValueError):
        tail = output.read_text(errors="replace")[-1500:] if output.exists() else ""
        if ctx.stop_if_cancelled():
            return None
        raise AISystemError("TRAIN_001", f"The training process ended without an outcome: {tail}",
                            {"jobId": training_job_id}) from None
    kind = outcome.get("outcome")
    if kind == "cancelled" or ctx.cancelled():
        if ctx.stop_if_cancelled():
            return None
        raise AISystemError("TRAIN_001", "The training was cancelled", {"jobId": training_job_id})
    if kind == "failed":
        raise AISystemError(outcome.get("code") or "TRAIN_001", outcome.get("error") or "Training failed",
                            {"jobId": training_job_id})
    if kind == "paused":
        ctx.result = {"trainingJobId": training_job_id, "paused": True, "step": outcome.get("step")}
        with ctx.finishing_transaction() as session:
            service.mark_paused(session=session, training_job_id=training_job_id)
        return ctx.result
    with ctx.finishing_transaction() as session:
        job = service.register_result(session=session, training_job_id=training_job_id,
                                      weights_key=outcome["weightsKey"], config=outcome["config"],
                                      metrics=outcome.get("metrics") or {})
        ctx.result = {"trainingJobId": training_job_id, "modelId": job.model_id, "version": job.model_version,
                      "best": outcome.get("best"), "step": outcome.get("step"), "stopped": kind == "stopped"}
    return ctx.result


def resume_training(ctx, state: dict[str, Any]) -> dict[str, Any] | None:  # noqa: ANN001
    """The attempt after a lost worker: from the last checkpoint the dead attempt listed."""
    return _attempt(ctx, state.get("checkpoint") or ctx.payload.get("resumeFrom"))


@job_handler(service.TRAIN_JOB, description="Train a model (PyTorch Lightning, its own process)",
             payload_model=TrainingPayload, queue="training", resume=resume_training, on_abort=service.on_abort)
def train(ctx) -> dict[str, Any] | None:  # noqa: ANN001
    return _attempt(ctx, ctx.payload.get("resumeFrom"))
