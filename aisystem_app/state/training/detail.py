"""/training/jobs/[job_id]: one training job, live. Status, progress and time left, loss and metric curves,
the last log lines, checkpoints (restore one), resources used and, once done, the registered model version.
While the job is queued or training (or a pause or stop is on its way) everything is re-read every couple
of seconds, so the curves move without a reload. The buttons show only when the user may control the job
and its state allows; the service decides again on each click."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.state.catalog.experiments.view import usernames
from aisystem_app.state.session import invoke
from aisystem_app.state.training.index import dataset_names
from aisystem_app.state.training.view import (
    LIVE,
    STATUS_WORDS,
    curve_figure,
    curve_panels,
    elapsed_seconds,
    eta_text,
    family_text,
    progress_percent,
    resources_facts,
    status_text,
)
from backend.auth.principal import Principal
from backend.catalog.experiments.schemas import RunMetrics
from backend.catalog.experiments.service import ms_to_datetime
from backend.training import service

WRITE = "training:write"  # only to show or hide the buttons: the service decides
LIVE_SECONDS = 2.0
CURVE_POINTS = 400
OFF_WHEN_EMPTY = ("patience", "gradientClipVal")  # trainer settings whose empty value means "not used"
LOG_TAIL = 40
CURVE_KEYS = ("loss", "train_loss", "val_loss", "accuracy", "train_accuracy", "val_accuracy", "rmse", "train_rmse",
              "val_rmse")
ACTIONS = {"pause": service.pause_training_job, "resume": service.resume_training_job,
           "stop": service.stop_training_job, "cancel": service.cancel_training_job}
DONE_WORDS = {"pause": "Pausing: the job checkpoints at the end of this epoch, then stops",
              "resume": "Resumed from the last checkpoint", "stop": "Stopping: the best checkpoint will be registered",
              "cancel": "Cancelled: its checkpoints are discarded"}


@dataclass
class JobView:
    doc: dict[str, Any]
    histories: dict[str, list[tuple[int, object]]]
    logs: list[dict[str, str]]
    checkpoints: list[dict[str, str]]
    owner: str
    dataset: str
    may_write: bool


def _value_text(value: object) -> str:
    if value is None:
        return "Automatic"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "None"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _histories(metrics: RunMetrics) -> dict[str, list[tuple[int, object]]]:
    return {h.key: [(p.step, p.value) for p in h.points] for h in metrics.histories if h.points}


def read_job(training_job_id: str):
    """A unit of work reading the job, its curves, its last log lines and its checkpoints."""

    def work(session: Session, principal: Principal) -> JobView:
        job = service.get_training_job(session=session, actor=principal, training_job_id=training_job_id)
        doc = service.read(job).model_dump()
        summary = service.training_metrics(session=session, actor=principal, training_job_id=job.id, keys=[])
        logged = {m.key for m in summary.metrics}
        keys = [k for k in CURVE_KEYS if k in logged]
        metrics = service.training_metrics(session=session, actor=principal, training_job_id=job.id, keys=keys,
                                           max_points=CURVE_POINTS) if keys else summary
        logs = service.training_logs(session=session, actor=principal, training_job_id=job.id, after=None,
                                     limit=LOG_TAIL, tail=LOG_TAIL)
        # A checkpoint's epoch counts the epochs completed when it was saved.
        checkpoints = [{"name": c.name, "epoch": fmt.count(c.epoch), "step": fmt.count(c.step),
                        "value": (f"{fmt.label(c.monitor)} {c.value:.4g}" if c.value is not None and c.monitor
                                  else fmt.NONE),
                        "size": fmt.size(c.size_bytes), "saved": fmt.moment(c.created_at),
                        "best": "true" if c.best else "", "corrupted": "true" if c.corrupted else ""}
                       for c in service.checkpoints_of(job)]
        lines = [{"time": fmt.moment(ms_to_datetime(line["timestamp"])),
                  "level": line["level"].upper(), "message": line["message"]} for line in logs["lines"]]
        owner = usernames(session, {job.created_by}).get(job.created_by, job.created_by)
        dataset = dataset_names(session, {job.dataset_id}).get(job.dataset_id, job.dataset_id)
        return JobView(doc, _histories(metrics), lines, checkpoints, owner, dataset, principal.can(WRITE))

    return work


def act(action: str, training_job_id: str, checkpoint: str | None = None):
    """A unit of work pausing, resuming (from `checkpoint`), stopping or cancelling the job."""

    def work(session: Session, principal: Principal) -> None:
        if checkpoint is not None:
            service.restore_checkpoint(session=session, actor=principal, training_job_id=training_job_id,
                                       checkpoint=checkpoint)
        else:
            ACTIONS[action](session=session, actor=principal, training_job_id=training_job_id)

    return work


class TrainingJobState(rx.State):
    """One training job; reading needs `training:read` (and the job being one's own, or `training:manage`)."""

    job_id: str = ""
    found: bool = True
    loading: bool = True
    name: str = ""
    status: str = ""
    status_words: str = ""
    control: str = ""
    progress: int = 0
    eta: str = ""
    epoch_text: str = ""
    facts: list[dict[str, str]] = []
    resources: list[dict[str, str]] = []
    hyperparameters: list[dict[str, str]] = []
    loss_curves: go.Figure = go.Figure()
    quality_curves: go.Figure = go.Figure()
    has_curves: bool = False
    has_quality: bool = False
    logs: list[dict[str, str]] = []
    checkpoints: list[dict[str, str]] = []
    error: str = ""
    model_href: str = ""
    model_text: str = ""
    experiment_href: str = ""
    may_write: bool = False
    busy: bool = False
    _live_token: int = 0

    @rx.var
    def live(self) -> bool:
        return self.status in LIVE

    @rx.var
    def can_pause(self) -> bool:
        return self.may_write and self.status == "running" and self.control == ""

    @rx.var
    def can_resume(self) -> bool:
        return self.may_write and self.status in ("paused", "failed")

    @rx.var
    def can_stop(self) -> bool:
        return self.may_write and self.status in ("running", "paused") and self.control == ""

    @rx.var
    def can_cancel(self) -> bool:
        return self.may_write and self.status in ("created", "queued", "running", "paused") and self.control != "cancel"

    @rx.var
    def can_restore(self) -> bool:
        return self.may_write and self.status in ("paused", "failed")

    @rx.event(background=True)
    async def load(self):
        """Show the job the URL names; follow it while it runs."""
        async with self:
            job_id = routes.id_in_path(self.router.url.path, 40)
            if job_id != self.job_id:
                self.name, self.found, self.has_curves = "", True, False
            self.job_id, self.loading = job_id, True
            self._live_token += 1
        outcome = await invoke(self, read_job(job_id))
        async with self:
            self.loading = False
            if not outcome.ok:
                self.found = outcome.code not in ("TRAIN_006", "AUTH_002")
                return outcome.events if self.found else None
            self._show(outcome.value)
        return TrainingJobState.follow

    def _show(self, view: JobView) -> None:
        doc = view.doc
        self.found, self.name, self.status = True, doc["name"], doc["status"]
        self.control = doc.get("control") or ""
        words = status_text(doc)  # beside the badge only when it says more (a pause or stop on its way)
        self.status_words = "" if words == STATUS_WORDS.get(doc["status"]) else words
        self.progress = progress_percent(doc)
        self.eta = eta_text(doc)
        hp = doc["hyperparameters"]
        self.epoch_text = (f"Epoch {doc['epoch'] + 1 if doc['status'] == 'running' else doc['epoch']} of "
                           f"{hp.get('maxEpochs', '?')}, step {fmt.count(doc['global_step'])}")
        self.facts = [
            {"label": "Family", "value": family_text(doc["family"])},
            {"label": "Task", "value": fmt.label(doc["task"])},
            {"label": "Dataset", "value": f"{view.dataset}, version {doc['dataset_version']}"},
            {"label": "Label column", "value": doc["label_column"]},
            {"label": "Started by", "value": view.owner},
            {"label": "Created", "value": fmt.moment(doc["created_at"])},
            {"label": "Started", "value": fmt.moment(doc["started_at"]) if doc["started_at"] else "Not yet"},
            {"label": "Ended", "value": fmt.moment(doc["finished_at"]) if doc["finished_at"] else fmt.NONE},
        ]
        self.hyperparameters = [{"key": fmt.label(k), "value": "Off" if v is None and k in OFF_WHEN_EMPTY else _value_text(v)}
                                for k, v in {**hp, **doc["trainer"]}.items()]
        self.resources = resources_facts(doc["resources"], elapsed_seconds(doc))
        panels = curve_panels(view.histories, doc["label_column"])
        figures = [curve_figure(view.histories, title, keys) for title, keys in panels]
        self.has_curves, self.has_quality = bool(figures), len(figures) > 1
        self.loss_curves = figures[0] if figures else go.Figure()
        self.quality_curves = figures[1] if len(figures) > 1 else go.Figure()
        self.logs = view.logs
        self.checkpoints = view.checkpoints
        self.error = f"{doc['error']} ({doc['error_code']})" if doc.get("error") else ""
        model_id, version = doc.get("model_id"), doc.get("model_version")
        self.model_href = f"/catalog/models/{model_id}?tab=versions" if model_id and version else ""
        self.model_text = f"{doc.get('model_name') or model_id}, version {version}" if version else ""
        self.experiment_href = f"/catalog/experiments/{doc['experiment_id']}?run={doc['run_id']}"
        self.may_write = view.may_write

    @rx.event(background=True)
    async def follow(self):
        """Re-read the job every couple of seconds while it is queued or training (no reload); stops when
        it ends or pauses, when the page loads again, or when the tab leaves the page."""
        async with self:
            self._live_token += 1
            token, job_id, page = self._live_token, self.job_id, self.router.url.path
            if not (self.live or self.control):
                return None
        while True:
            await asyncio.sleep(LIVE_SECONDS)
            async with self:
                if token != self._live_token or self.router.url.path != page:
                    return None
            outcome = await invoke(self, read_job(job_id))
            async with self:
                if token != self._live_token:
                    return None
                if not outcome.ok:
                    return outcome.events
                self._show(outcome.value)
                if not (self.live or self.control):
                    return None

    async def _act(self, action: str, checkpoint: str | None = None):
        async with self:
            if self.busy:
                return None
            self.busy, job_id = True, self.job_id
        outcome = await invoke(self, act(action, job_id, checkpoint), write=True)
        async with self:
            self.busy = False
        if not outcome.ok:
            return [*outcome.events, TrainingJobState.load]
        words = f"Restarting from checkpoint {checkpoint}" if checkpoint else DONE_WORDS[action]
        return [rx.toast.info(words), TrainingJobState.load]

    @rx.event(background=True)
    async def pause(self):
        return await self._act("pause")

    @rx.event(background=True)
    async def resume(self):
        return await self._act("resume")

    @rx.event(background=True)
    async def stop(self):
        return await self._act("stop")

    @rx.event(background=True)
    async def cancel(self):
        return await self._act("cancel")

    @rx.event(background=True)
    async def restore(self, checkpoint: str):
        async with self:
            known = any(c["name"] == checkpoint for c in self.checkpoints)
        if not known:
            return None
        return await self._act("resume", checkpoint)


__all__ = ["STATUS_WORDS", "TrainingJobState"]
