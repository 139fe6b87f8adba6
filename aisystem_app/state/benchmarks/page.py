"""/compare/benchmarks: choose model versions and a dataset version, run a benchmark (an `inference` job,
followed live), read its figures (quality, latency, throughput, each labelled with its unit), the
latency and throughput charts, and a leaderboard. `?run=` and `?board=` keep the view in the URL."""

from __future__ import annotations

from functools import partial
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.components.charts import _LAYOUT
from aisystem_app.components.plots import PALETTE
from aisystem_app.state.jobs import JobProgressMixin
from aisystem_app.state.session import invoke
from aisystem_app.state.url import UrlStateMixin
from backend.auth.principal import Principal
from backend.benchmarks import measure, service
from backend.catalog.datasets import service as datasets
from backend.core.pagination import PageParams

URL_KEYS = ("run", "board")
RUN = "benchmark:create"  # only to show or hide the form: the service decides
SPLITS = {"test": "Test split", "validation": "Validation split", "train": "Training split",
          "all": "All labelled rows"}
# The columns of the results table: metric key -> heading (with its unit).
QUALITY_COLUMNS = {"classification": (("accuracy", "Accuracy"), ("precision_macro", "Precision (macro)"),
                                      ("recall_macro", "Recall (macro)"), ("f1_macro", "F1 (macro)"),
                                      ("roc_auc", "ROC-AUC")),
                   "regression": (("rmse", "RMSE"), ("mae", "MAE"), ("r2", "R²"))}
SPEED_COLUMNS = (("latency_p50_ms", "Latency p50"), ("latency_p95_ms", "Latency p95"),
                 ("latency_p99_ms", "Latency p99"), ("throughput_b1", "Throughput, batch 1"),
                 ("throughput_b8", "Throughput, batch 8"), ("throughput_b64", "Throughput, batch 64"))
SHARES = {"accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"}


def figure_text(key: str, value: Any) -> str:
    """A metric as the page shows it: shares as percentages, latency in ms, throughput in predictions/s."""
    if value is None:
        return fmt.NONE
    if key in SHARES:
        return fmt.percent(value)
    if key.startswith("latency"):
        return fmt.with_unit(round(value, 3), "ms")
    if key.startswith("throughput"):
        return fmt.with_unit(round(value, 1), "predictions/s")
    return fmt.number(value)


def columns_of(task: str) -> list[dict[str, str]]:
    return [{"key": k, "label": label} for k, label in (*QUALITY_COLUMNS.get(task, ()), *SPEED_COLUMNS)]


def result_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per version: its name and each figure as text, in the order of `columns_of(task)`."""
    keys = [c["key"] for c in columns_of(doc["task"])]
    return [{"name": f"{r.get('model_name') or r['model_id']} {r['version']}", "version_id": r["model_version_id"],
             "result_id": r["id"], "rows": fmt.count(r["rows"]),
             "cells": [figure_text(k, r["metrics"].get(k)) for k in keys]} for r in doc["results"]]


def class_rows(doc: dict[str, Any]) -> list[dict[str, str]]:
    return [{"model": f"{r.get('model_name') or r['model_id']} {r['version']}", "label": c["label"],
             "precision": fmt.percent(c["precision"]), "recall": fmt.percent(c["recall"]), "f1": fmt.percent(c["f1"]),
             "support": fmt.count(c["support"])} for r in doc["results"] for c in r["per_class"]]


def latency_figure(doc: dict[str, Any]) -> go.Figure:
    """Grouped bars: p50, p95, p99 of a single prediction per version, in milliseconds."""
    names = [f"{r.get('model_name') or r['model_id']} {r['version']}" for r in doc["results"]]
    figure = go.Figure([
        go.Bar(name=label, x=names, y=[r["metrics"].get(key) for r in doc["results"]],
               marker_color=PALETTE[i], hovertemplate="%{x}: %{y:.3f} ms<extra>" + label + "</extra>")
        for i, (key, label) in enumerate(SPEED_COLUMNS[:3])])
    figure.update_layout(**{**_LAYOUT, "hovermode": "closest"}, barmode="group",
                         title={"text": "Single-prediction latency", "x": 0, "font": {"size": 13}})
    figure.update_layout(margin={"l": 56, "r": 16, "t": 36, "b": 40})
    figure.update_xaxes(type="category", title_text="Model version")
    figure.update_yaxes(title_text="Latency (ms)")
    return figure


def throughput_figure(doc: dict[str, Any]) -> go.Figure:
    """Lines: predictions per second at batch sizes 1, 8 and 64, one line per version (log axes)."""
    sizes = list(measure.BATCH_SIZES)
    figure = go.Figure([
        go.Scatter(name=f"{r.get('model_name') or r['model_id']} {r['version']}", x=sizes,
                   y=[r["metrics"].get(f"throughput_b{b}") for b in sizes], mode="lines+markers",
                   line={"color": PALETTE[i % len(PALETTE)], "width": 2}, marker={"size": 8},
                   hovertemplate="batch %{x}: %{y:,.0f} predictions/s<extra>%{fullData.name}</extra>")
        for i, r in enumerate(doc["results"])])
    figure.update_layout(**{**_LAYOUT, "hovermode": "closest"},
                         title={"text": "Throughput by batch size", "x": 0, "font": {"size": 13}})
    figure.update_layout(margin={"l": 56, "r": 16, "t": 36, "b": 40})
    figure.update_xaxes(type="log", tickvals=sizes, ticktext=[str(s) for s in sizes], title_text="Batch size (rows per call)")
    figure.update_yaxes(type="log", rangemode="normal", title_text="Throughput (predictions/s)")
    return figure


def board_rows(board: dict[str, Any]) -> list[dict[str, str]]:
    return [{"rank": str(e["rank"]), "name": f"{e['model_name']} {e['version']}",
             "value": figure_text(board["metric"], e["value"]),
             "latency": figure_text("latency_p95_ms", e["metrics"].get("latency_p95_ms")),
             "throughput": figure_text("throughput_b64", e["metrics"].get("throughput_b64")),
             "device": f"{fmt.label(e['device'])} · {e['device_name']}", "measured": fmt.moment(e["measured_at"])}
            for e in board["entries"]]


def read_options(session: Session, principal: Principal) -> dict[str, Any]:
    """The versions and datasets the form offers (empty for a reader who may not run benchmarks), and the
    leaderboards."""
    versions, dataset_options = [], {}
    if principal.can(RUN):
        versions = service.benchmarkable_versions(session=session, actor=principal)
        if principal.can("dataset:read"):
            found, _cursor = datasets.list_datasets(session=session, actor=principal, params=PageParams(limit=100),
                                                    sort="name")
            dataset_options = {d.id: f"{d.name} (v{d.current_version}, {fmt.label(d.type)})" for d in found
                               if d.type in service.TABULAR_TYPES and d.current_version}
    boards = service.leaderboards(session=session, actor=principal)
    return {"versions": versions, "datasets": dataset_options, "boards": boards, "can_run": principal.can(RUN)}


def board_key(board: dict[str, Any]) -> str:
    return f"named:{board['name']}" if board["kind"] == "named" else f"default:{board['dataset_id']}:{board['task']}"


def read_board(key: str):
    def work(session: Session, principal: Principal) -> dict[str, Any]:
        kind, _, rest = key.partition(":")
        if kind == "named":
            return service.leaderboard(session=session, actor=principal, name=rest)
        dataset_id, _, task = rest.partition(":")
        return service.leaderboard(session=session, actor=principal, dataset_id=dataset_id, task=task or None)

    return work


def read_run(run_id: str, session: Session, principal: Principal) -> dict[str, Any]:
    return service.get_benchmark(session=session, actor=principal, run_id=run_id)


def start_run(version_ids: list[str], dataset_id: str, split: str):
    def work(session: Session, principal: Principal) -> tuple[str, str]:
        run = service.run_benchmark(session=session, actor=principal, version_ids=version_ids, dataset_id=dataset_id,
                                    split=split)
        return run.id, run.job_id or ""

    return work


class BenchmarksState(JobProgressMixin, UrlStateMixin, rx.State):
    """The benchmark form, the followed run and its results, and a leaderboard."""

    loading: bool = True
    can_run: bool = False
    version_options: list[dict[str, str]] = []
    selected: list[str] = []
    dataset_options: dict[str, str] = {}
    dataset_id: str = ""
    split: str = "test"
    starting: bool = False
    form_error: str = ""
    run_id: str = ""
    run_summary: str = ""
    run_status: str = ""
    columns: list[dict[str, str]] = []
    results: list[dict[str, Any]] = []
    classes: list[dict[str, str]] = []
    latency_chart: go.Figure = go.Figure()
    throughput_chart: go.Figure = go.Figure()
    board_options: dict[str, str] = {}
    board: str = ""
    board_title: str = ""
    board_metric: str = ""
    board_entries: list[dict[str, str]] = []

    @rx.var
    def split_options(self) -> dict[str, str]:
        return SPLITS

    @rx.var
    def has_results(self) -> bool:
        return len(self.results) > 0

    @rx.event(background=True)
    async def load(self):
        async with self:
            params = self._read_url(URL_KEYS)
            self.loading = True
        outcome = await invoke(self, read_options)
        async with self:
            self.loading = False
            if not outcome.ok:
                return outcome.events
            value = outcome.value
            self.can_run = value["can_run"]
            self.version_options = [{"id": v["version_id"], "label": f"{v['model_name']} {v['version']}",
                                     "task": fmt.label(v["task"]), "dataset_id": v["dataset_id"] or ""}
                                    for v in value["versions"]]
            known = {v["id"] for v in self.version_options}
            self.selected = [v for v in self.selected if v in known]
            self.dataset_options = value["datasets"]
            if self.dataset_id not in self.dataset_options:
                self.dataset_id = next(iter(self.dataset_options), "")
            self.board_options = {board_key(b): f"{b['name']} ({fmt.label(b['kind'])}, {fmt.plural(b['entries'], 'result')})"
                                  for b in value["boards"]}
            self.board = params.get("board") if params.get("board") in self.board_options else \
                next(iter(self.board_options), "")
            run_id = params.get("run", "")
            board = self.board
        events = []
        if run_id:
            events += await self._show_run(run_id) or []
        if board:
            events += await self._show_board(board) or []
        return events or None

    async def _show_run(self, run_id: str) -> list | None:
        outcome = await invoke(self, partial(read_run, run_id))
        async with self:
            if not outcome.ok:
                self.run_id = ""
                return outcome.events
            doc = outcome.value
            self.run_id, self.run_status = doc["id"], doc["status"]
            device = doc["results"][0]["device_name"] if doc["results"] else ""
            kind = fmt.label(doc["results"][0]["device"]) if doc["results"] else ""
            dataset = self.dataset_options.get(doc["dataset_id"], doc["dataset_id"]).split(" (")[0]
            parts = [fmt.label(doc["status"]), f"{dataset} v{doc['dataset_version']}", SPLITS[doc["split"]],
                     fmt.label(doc["task"])]
            if doc["results"]:
                parts.append(f"{fmt.count(doc['results'][0]['rows'])} rows scored")
                parts.append(f"measured on {kind}: {device}")
            self.run_summary = " · ".join(parts)
            self.columns = columns_of(doc["task"])
            self.results = result_rows(doc)
            self.classes = class_rows(doc)
            self.latency_chart = latency_figure(doc) if doc["results"] else go.Figure()
            self.throughput_chart = throughput_figure(doc) if doc["results"] else go.Figure()
            follow = doc["job_id"] if doc["status"] in ("queued", "running") and doc["job_id"] != self.job_id else ""
        return [BenchmarksState.follow_job(follow)] if follow else None

    async def _show_board(self, key: str) -> list | None:
        outcome = await invoke(self, read_board(key))
        async with self:
            if not outcome.ok:
                self.board_entries = []
                return outcome.events
            board = outcome.value
            self.board_title = board["name"]
            direction = "higher is better" if board["higher_is_better"] else "lower is better"
            self.board_metric = f"Ranked by {fmt.label(board['metric'])} ({direction})"
            self.board_entries = board_rows(board)
        return None

    @rx.event
    def toggle_version(self, version_id: str, checked: bool):
        if checked and version_id not in self.selected:
            self.selected = [*self.selected, version_id][:10]
        elif not checked:
            self.selected = [v for v in self.selected if v != version_id]

    @rx.event
    def pick_dataset(self, value: str):
        self.dataset_id = value

    @rx.event
    def pick_split(self, value: str):
        if value in SPLITS:
            self.split = value

    @rx.event
    def pick_board(self, value: str):
        return self._go({"board": value})

    @rx.event(background=True)
    async def run(self):
        async with self:
            if self.starting:
                return None
            if not self.selected or not self.dataset_id:
                self.form_error = "Choose at least one model version and a dataset."
                return None
            self.starting, self.form_error = True, ""
            version_ids, dataset_id, split = list(self.selected), self.dataset_id, self.split
        outcome = await invoke(self, start_run(version_ids, dataset_id, split), write=True)
        async with self:
            self.starting = False
            if not outcome.ok:
                return outcome.events
            run_id, _job_id = outcome.value
            self.run_id, self.run_status, self.results, self.classes = run_id, "queued", [], []
            self.run_summary = "Queued"
            # The page's load for the new URL reads the run and follows its job.
            return self._go({"run": run_id})

    async def _job_finished(self, job: dict[str, Any]) -> list | None:
        async with self:
            run_id, board = self.run_id, self.board
        events = await self._show_run(run_id) or [] if run_id else []
        outcome = await invoke(self, read_options)
        if outcome.ok:
            async with self:
                self.board_options = {board_key(b): f"{b['name']} ({fmt.label(b['kind'])}, "
                                                    f"{fmt.plural(b['entries'], 'result')})" for b in outcome.value["boards"]}
                if board not in self.board_options:
                    board = self.board = next(iter(self.board_options), "")
        if board:
            events += await self._show_board(board) or []
        return events or None
