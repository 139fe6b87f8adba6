"""/catalog/experiments/[experiment_id]: runs (sorted on the server by any metric or param), charts of the
selected runs' curves (re-read every few seconds while one of them runs), best parameters, and one run's
params, metrics, tags, logs and files. Tab, sort, selection and open run live in the URL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.downloads import run_file_url
from aisystem_app.state.catalog.experiments.optimise import STRATEGIES
from aisystem_app.state.catalog.experiments.view import (
    curves_figure,
    history_figure,
    importance_figure,
    metric_text,
    objective_text,
    parallel_figure,
    usernames,
)
from aisystem_app.state.session import invoke
from aisystem_app.state.url import TabsMixin
from backend.auth.principal import Principal
from backend.catalog.experiments import analysis, service
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.jobs.models import Job
from backend.tuning import service as tuning

TABS = ("runs", "charts", "best")
URL_KEYS = ("sort", "sel", "run")
MAX_RUNS = 200
MAX_CHARTED = 8
MAX_CURVES = 6
CURVE_POINTS = 500
LIVE_SECONDS = 2.5
ACTIVE = ("RUNNING", "SCHEDULED")


@dataclass
class Page:
    experiment: dict[str, Any]
    runs: list[dict[str, Any]]
    owner: str
    histories: dict[str, list[tuple[str, list[tuple[int, object]]]]] = field(default_factory=dict)
    charted: list[str] = field(default_factory=list)
    run: dict[str, Any] | None = None
    analysis: analysis.Analysis | None = None
    study: dict[str, Any] | None = None
    may_optimise: bool = False


def _sort_spec(sort: str) -> str:
    body = sort.lstrip("-")
    if body in ("startTime", "name", "status") or body.startswith(("metrics.", "params.")):
        return sort
    return "-startTime"


def _histories(session: Session, principal: Principal, runs: list[dict[str, Any]], keys: list[str]):
    out: dict[str, list[tuple[str, list[tuple[int, object]]]]] = {k: [] for k in keys}
    for run in runs:
        for key in keys:
            if key not in run["metrics"]:
                continue
            history = service.metric_history(session=session, actor=principal, run_id=run["id"], key=key,
                                             max_points=CURVE_POINTS)
            out[key].append((run["name"], [(p.step, p.value) for p in history.points]))
    return {k: v for k, v in out.items() if v}


def curve_keys(runs: list[dict[str, Any]], objective: str | None) -> list[str]:
    """The metrics to chart: the objective first, then epoch-level ones, then the rest (a few at most)."""
    keys = sorted({k for r in runs for k in r["metrics"]})
    keys.sort(key=lambda k: (k != objective, not k.startswith(("val_", "train_")), k))
    return keys[:MAX_CURVES]


def read_page(experiment_id: str, sort: str, selected: list[str], run_id: str, with_analysis: bool = True):
    """A unit of work reading the experiment, its runs in `sort` order and the charted runs' curves."""

    def work(session: Session, principal: Principal) -> Page:
        experiment = service.get_experiment(session=session, actor=principal, experiment_id=experiment_id)
        doc = service.experiment_document(session=session, experiment=experiment)
        runs, _ = service.list_runs(session=session, actor=principal, experiment_id=experiment_id,
                                    params=PageParams(limit=MAX_RUNS), sort=_sort_spec(sort))
        docs = service.run_documents(session=session, runs=runs)
        chosen = [r for r in docs if r["id"] in selected] or docs[:MAX_CHARTED]
        objective = service.objective_of(doc["objective"])
        keys = curve_keys(chosen, objective[0] if objective else None)
        page = Page(doc, docs, usernames(session, {doc["createdBy"]}).get(doc["createdBy"], doc["createdBy"]),
                    _histories(session, principal, chosen, keys), [r["id"] for r in chosen])
        if run_id:
            page.run = read_run(session, principal, run_id, experiment_id)
        if with_analysis:  # history and importance: only for the Charts tab (fANOVA takes up to a second)
            page.analysis = analysis.analyse(session=session, actor=principal, experiment_id=experiment_id)
        page.study = read_study(session, principal, experiment_id)
        page.may_optimise = may_optimise(session, principal, experiment_id)
        return page

    return work


def may_optimise(session: Session, principal: Principal, experiment_id: str) -> bool:
    """Whether the user may start training in this experiment (what starting a study needs)."""
    if not principal.can("training:create"):
        return False
    try:
        experiment = service.get_experiment(session=session, actor=principal, experiment_id=experiment_id,
                                            need="write")
    except AISystemError:
        return False
    return experiment.lifecycle_stage == "active"


FINISHED_TRIALS = ("completed", "pruned", "failed", "cancelled")
STUDY_WORDS = {"running": "Running", "completed": "Finished", "failed": "Failed", "stopped": "Stopped"}
STRATEGY_WORDS = {s["value"]: s["text"] for s in STRATEGIES}


def read_study(session: Session, principal: Principal, experiment_id: str) -> dict[str, Any] | None:
    """The experiment's latest study for the Study panel (None when it has none): status in words, trials
    finished of the total, and the best trial so far."""
    try:
        study = tuning.study_of(session=session, actor=principal, experiment_id=experiment_id)
    except AISystemError as error:
        if error.code == "TUNE_001":
            return None
        raise
    trials = tuning.trials_of(session, study)
    done = sum(1 for t in trials if t.status in FINISHED_TRIALS)
    total = max(tuning.total_trials(study), 1)
    best = tuning.best_trials(study, trials)
    objective = study.objectives[0] if study.objectives else {"metric": "", "direction": "maximize"}
    words = f"{'Maximise' if objective['direction'] == 'maximize' else 'Minimise'} {fmt.label(objective['metric']).lower()}"
    return {
        "status": study.status, "statusText": STUDY_WORDS.get(study.status, fmt.label(study.status)),
        "strategy": STRATEGY_WORDS.get(study.strategy, fmt.label(study.strategy)), "objective": words, "error": study.error or "",
        "done": done, "total": total, "percent": min(100, round(done * 100 / total)),
        "progress": f"{fmt.count(done)} of {fmt.plural(total, 'trial')} done",
        "bestName": f"Trial {best[0].number}" if best else "",
        "bestObjective": metric_text(objective["metric"], best[0].values[0]) if best and best[0].values else "",
        "bestParams": [{"key": fmt.label(k), "value": fmt.number(v)} for k, v in sorted(best[0].parameters.items())]
        if best else [],
    }


def read_live(run_ids: list[str], keys: list[str], experiment_id: str = ""):
    """A unit of work re-reading the charted runs (status and curves) and the study while one of them runs."""

    def work(session: Session, principal: Principal):
        runs = [service.run_document(session=session, run=service.get_run(session=session, actor=principal,
                                                                        run_id=i)) for i in run_ids]
        objective_keys = keys or curve_keys(runs, None)
        study = read_study(session, principal, experiment_id) if experiment_id else None
        return runs, _histories(session, principal, runs, objective_keys), study

    return work


def read_run(session: Session, principal: Principal, run_id: str, experiment_id: str) -> dict[str, Any] | None:
    """One run for the drawer: params, metric summaries, tags, the last log lines, files, its job."""
    run = service.get_run(session=session, actor=principal, run_id=run_id)
    if run.experiment_id != experiment_id:
        return None
    doc = service.run_document(session=session, run=run)
    metrics = service.run_metrics(session=session, actor=principal, run_id=run_id)
    logs = service.read_logs(session=session, actor=principal, run_id=run_id, tail=200)
    _run, files = service.list_run_artifacts(session=session, actor=principal, run_id=run_id)
    job = session.get(Job, run.job_id) if run.job_id else None
    return {
        "id": run.id, "name": run.name, "status": run.status, "source": fmt.label(run.source),
        "started": fmt.moment(doc["startedAt"]), "duration": fmt.duration(doc["durationSeconds"]),
        "job": f"{fmt.label(job.status)} ({job.id})" if job else fmt.NONE,
        "params": [{"key": fmt.label(k), "value": v} for k, v in sorted(doc["params"].items())],
        "tags": [{"key": k, "value": v} for k, v in sorted(doc["tags"].items())],
        "metrics": [{"key": fmt.label(m.key), "latest": metric_text(m.key, m.value),
                     "min": metric_text(m.key, m.min), "max": metric_text(m.key, m.max), "step": fmt.count(m.step),
                     "count": fmt.count(m.count)} for m in metrics.metrics],
        "logs": [{"time": fmt.moment(service.ms_to_datetime(line["timestamp"])),
                  "level": fmt.label(line["level"].lower()), "message": line["message"]} for line in logs["lines"]],
        "files": [{"path": a.path, "size": fmt.size(a.size), "href": run_file_url(run.id, a.path)} for a in files],
    }


def run_row(run: dict[str, Any], selected: set[str]) -> dict[str, str]:
    row = {"id": run["id"], "name": run["name"], "status": run["status"],
           "started": fmt.moment(run["startedAt"]), "duration": fmt.duration(run["durationSeconds"]),
           "selected": "true" if run["id"] in selected else ""}
    for key, value in run["params"].items():
        row[f"p:{key}"] = value
    for key, value in run["metrics"].items():
        row[f"m:{key}"] = metric_text(key, value)
    return row


class ExperimentState(TabsMixin, rx.State):
    """One experiment; reads need `experiment:read`."""

    experiment_id: str = ""
    found: bool = True
    loading: bool = True
    name: str = ""
    description: str = ""
    facts: list[dict[str, str]] = []
    status: str = ""
    objective: str = ""
    objective_key: str = ""
    rows: list[dict[str, str]] = []
    param_keys: list[str] = []
    metric_keys: list[str] = []
    key_labels: dict[str, str] = {}
    sort: str = ""
    selected: list[str] = []
    charted_names: list[str] = []
    curves: go.Figure = go.Figure()
    has_curves: bool = False
    parallel: go.Figure = go.Figure()
    has_parallel: bool = False
    history: go.Figure = go.Figure()
    has_history: bool = False
    importance: go.Figure = go.Figure()
    has_importance: bool = False
    importance_top: str = ""
    best_name: str = ""
    best_params: list[dict[str, str]] = []
    best_metrics: list[dict[str, str]] = []
    live: bool = False
    may_optimise: bool = False
    dataset_id: str = ""
    has_study: bool = False
    study: dict[str, Any] = {}
    run_open: bool = False
    run: dict[str, Any] = {}
    _charted: list[str] = []
    _curve_keys: list[str] = []
    _live_token: int = 0

    @rx.event(background=True)
    async def load(self):
        """Show the experiment, tab, sort, selection and run that the URL names."""
        async with self:
            experiment_id = routes.id_in_path(self.router.url.path, 64)
            self._read_tab(TABS, URL_KEYS)
            params = dict(self._url_params)
            if experiment_id != self.experiment_id:
                self.rows, self.name, self.found = [], "", True
            self.experiment_id, self.loading = experiment_id, True
            self.sort = _sort_spec(params.get("sort", ""))
            self.selected = [s for s in params.get("sel", "").split(",") if s][:MAX_CHARTED]
            run_id = params.get("run", "")
            self._live_token += 1
        outcome = await invoke(self, read_page(experiment_id, self.sort, list(self.selected), run_id,
                                               with_analysis=self.tab == "charts"))
        async with self:
            self.loading = False
            if not outcome.ok:
                self.found = outcome.code not in ("EXP_001", "AUTH_002")
                self.may_optimise = False
                return outcome.events if self.found else None
            self._show(outcome.value)
            live = self.live
        return ExperimentState.follow_live if live else None

    def _show(self, page: Page) -> None:
        doc = page.experiment
        self.found, self.name, self.description = True, doc["name"], doc["description"]
        self.status = doc["status"]
        parsed = service.objective_of(doc["objective"])
        self.objective_key = parsed[0] if parsed else ""
        self.objective = objective_text(doc["objective"])
        self.facts = [
            {"label": "Type", "value": fmt.label(doc["type"])},
            {"label": "Task", "value": fmt.label(doc["task"])},
            {"label": "Objective", "value": self.objective},
            {"label": "Runs", "value": fmt.count(doc["runCount"])},
            {"label": "Owner", "value": page.owner},
            {"label": "Updated", "value": fmt.ago(doc["updatedAt"])},
        ]
        runs = page.runs
        selected = set(self.selected)
        # Parameters that differ between the runs first (what the runs compare), then those they share.
        keys = sorted({k for r in runs for k in r["params"]})
        self.param_keys = sorted(keys, key=lambda k: len({r["params"].get(k) for r in runs}) < 2)
        blank = {f"p:{k}": fmt.NONE for k in self.param_keys} | {f"m:{k}": fmt.NONE for r in runs for k in r["metrics"]}
        self.rows = [blank | run_row(r, selected) for r in runs]
        metric_keys = sorted({k for r in runs for k in r["metrics"]})
        metric_keys.sort(key=lambda k: (k != self.objective_key, k))
        self.metric_keys = metric_keys
        self.key_labels = {**{f"p:{k}": fmt.label(k) for k in self.param_keys},
                           **{f"m:{k}": fmt.label(k) for k in metric_keys}}
        self._charted = page.charted
        names = {r["id"]: r["name"] for r in runs}
        self.charted_names = [names[i] for i in page.charted if i in names]
        self._curve_keys = list(page.histories)
        self._show_curves(page.histories)
        figure = parallel_figure(runs, self.objective_key) if self.objective_key else None
        self.has_parallel = figure is not None
        self.parallel = figure if figure is not None else go.Figure()
        self._show_analysis(page.analysis)
        best = doc.get("bestRun")
        self.best_name = best.name if best else ""
        self.best_params = [{"key": fmt.label(k), "value": v} for k, v in sorted(best.parameters.items())] if best else []
        self.best_metrics = [{"key": fmt.label(k), "value": metric_text(k, v)}
                             for k, v in sorted(best.metrics.items())] if best else []
        self.may_optimise = page.may_optimise
        self.dataset_id = doc.get("datasetId") or ""
        self._show_study(page.study)
        self.live = any(r["status"] in ACTIVE for r in runs if r["id"] in page.charted) or self._study_running()
        self.run = page.run or {}
        self.run_open = page.run is not None

    def _show_analysis(self, result: analysis.Analysis | None) -> None:
        points = result.history if result and result.metric else []
        self.has_history = bool(points)
        self.history = history_figure(points, result.metric, result.goal) if points else go.Figure()
        shares = result.importance if result else {}
        self.has_importance = bool(shares)
        self.importance = importance_figure(shares) if shares else go.Figure()
        top = next(iter(shares), None)
        metric = fmt.label(result.metric).lower() if result and result.metric else ""
        if top and len(shares) == 1:
            self.importance_top = (f"Only {fmt.label(top).lower()} varies between these runs, so all of the "
                                   f"variation in {metric} is put down to it.")
        else:
            self.importance_top = (f"{fmt.label(top)} explains {shares[top] * 100:.0f}% of the variation in "
                                   f"{metric} across {fmt.plural(len(points), 'run')}." if top else "")

    def _show_study(self, study: dict[str, Any] | None) -> None:
        self.has_study, self.study = study is not None, study or {}

    def _study_running(self) -> bool:
        return self.has_study and self.study.get("status") == "running"

    def _show_curves(self, histories) -> None:  # noqa: ANN001
        self.has_curves = bool(histories)
        self.curves = curves_figure(histories) if histories else go.Figure()

    @rx.event
    def sort_runs(self, key: str):
        """Sort the runs on the server by a column (`metrics.<key>`, `params.<key>`, name, status, startTime);
        the same column again flips the direction. Metrics start best-first (descending)."""
        key = key[:260]
        if self.sort.lstrip("-") == key:
            chosen = key if self.sort.startswith("-") else f"-{key}"
        else:
            chosen = f"-{key}" if key.startswith("metrics.") or key == "startTime" else key
        return self._go({"sort": chosen})

    @rx.event
    def toggle_run(self, run_id: str):
        """Pick a run for the charts (or drop it); the selection lives in the URL."""
        chosen = [s for s in self.selected if s != run_id]
        if len(chosen) == len(self.selected):
            chosen.append(run_id)
        return self._go({"sel": ",".join(chosen[:MAX_CHARTED])}, push=False)

    @rx.event
    def open_run(self, run_id: str):
        return self._go({"run": run_id[:64]})

    @rx.event
    def close_run(self, value: bool = False):
        if value:
            return None
        self.run_open = False
        return self._go_view({"run": ""})

    @rx.event
    def download_file(self, href: str):
        """Download one of the open run's files (the server checks the reader again)."""
        if not any(f.get("href") == href for f in self.run.get("files", [])):
            return None
        return rx.download(url=href, filename=href.rsplit("/", 1)[-1])

    @rx.event(background=True)
    async def follow_live(self):
        """While a charted run is running, re-read the charted runs' curves every few seconds (no reload).
        Stops when none runs any more, when the page loads again or when the tab leaves the page."""
        async with self:
            self._live_token += 1
            token, run_ids, keys = self._live_token, list(self._charted), list(self._curve_keys)
            experiment_id = self.experiment_id
            page = self.router.url.path
        while True:
            await asyncio.sleep(LIVE_SECONDS)
            async with self:
                if token != self._live_token or self.router.url.path != page:
                    return None
            outcome = await invoke(self, read_live(run_ids, keys, experiment_id))
            async with self:
                if token != self._live_token:
                    return None
                if not outcome.ok:
                    self.live = False
                    return outcome.events
                runs, histories, study = outcome.value
                self._show_curves(histories)
                finished = self.has_study and study is not None and study["done"] != self.study.get("done")
                self._show_study(study)
                if finished:  # a trial ended: re-read the page so its run, charts and best run show
                    return ExperimentState.load
                statuses = {r["id"]: r["status"] for r in runs}
                self.rows = [{**row, "status": statuses.get(row["id"], row["status"])} for row in self.rows]
                self.live = any(s in ACTIVE for s in statuses.values()) or self._study_running()
                if not self.live:
                    return ExperimentState.load


