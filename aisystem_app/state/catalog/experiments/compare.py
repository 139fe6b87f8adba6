"""/catalog/experiments/compare?ids=a,b: several experiments side by side (best metrics, parameter
differences, overlaid curves of their best runs), through the service's `compare_experiments`."""

from __future__ import annotations

from collections import defaultdict

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.state.catalog.experiments.view import curves_figure, metric_text
from aisystem_app.state.session import invoke
from aisystem_app.state.url import UrlStateMixin
from backend.auth.principal import Principal
from backend.catalog.experiments import service
from backend.catalog.experiments.schemas import CompareResult

MAX_COMPARED = 10


def read_compare(ids: list[str]):
    def work(session: Session, principal: Principal) -> CompareResult:
        return service.compare_experiments(session=session, actor=principal, request={"experimentIds": ids})

    return work


def compare_tables(result: CompareResult) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Rows of the metrics table and the parameters table: one column per experiment (`e0`, `e1`, …),
    the best value marked with `*` in `best`."""
    metrics = []
    for metric in result.metrics:
        values = {e.id: e.best_metrics.get(metric.key) for e in result.experiments}
        present = [v.value for v in values.values() if v is not None]
        top = (max(present) if metric.goal == "max" else min(present)) if present else None
        row = {"key": f"{fmt.label(metric.key)} ({'higher' if metric.goal == 'max' else 'lower'} is better)"}
        for i, e in enumerate(result.experiments):
            value = values[e.id]
            row[f"e{i}"] = metric_text(metric.key, value.value) if value else fmt.NONE
            row[f"b{i}"] = "true" if value is not None and value.value == top and len(present) > 1 else ""
        metrics.append(row)
    parameters = []
    ranked = [e for e in result.experiments if e.best_run is not None]
    for difference in result.parameters:
        # Differs between the experiments that have a best run (one without runs has no settings to differ).
        differs = len({difference.values.get(e.id) for e in ranked}) > 1
        row = {"key": fmt.label(difference.key), "differs": "true" if differs else ""}
        for i, e in enumerate(result.experiments):
            row[f"e{i}"] = difference.values.get(e.id) or fmt.NONE
        parameters.append(row)
    parameters.sort(key=lambda r: (not r["differs"], r["key"]))
    return metrics, parameters


def compare_curves(result: CompareResult) -> dict[str, list[tuple[str, list[tuple[int, object]]]]]:
    names = {e.id: e.name for e in result.experiments}
    runs = {e.id: e.best_run.name for e in result.experiments if e.best_run}
    curves: dict[str, list] = defaultdict(list)
    for curve in result.curves:
        label = f"{names[curve.experiment_id]} · {runs.get(curve.experiment_id, '')}"
        curves[curve.key].append((label, [(p.step, p.value) for p in curve.points]))
    return dict(curves)


class CompareState(UrlStateMixin, rx.State):
    """The compare view; needs `experiment:read`."""

    loading: bool = False
    ids: list[str] = []
    names: list[str] = []
    best_runs: list[str] = []
    metric_rows: list[dict[str, str]] = []
    param_rows: list[dict[str, str]] = []
    curves: go.Figure = go.Figure()
    has_curves: bool = False
    message: str = ""

    @rx.event(background=True)
    async def load(self):
        async with self:
            params = self._read_url(("ids",))
            ids = list(dict.fromkeys(i for i in params.get("ids", "").split(",") if i))[:MAX_COMPARED]
            self.ids, self.loading = ids, True
            if len(ids) < 2:
                self.loading, self.names, self.metric_rows, self.param_rows = False, [], [], []
                self.has_curves = False
                self.message = "Pick two experiments or more on the Experiments page, then choose Compare."
                return None
        outcome = await invoke(self, read_compare(ids))
        async with self:
            self.loading = False
            if not outcome.ok:
                self.names, self.message = [], "These experiments could not be compared."
                return outcome.events
            result = outcome.value
            self.message = ""
            self.names = [e.name for e in result.experiments]
            self.best_runs = [f"best run {e.best_run.name}" if e.best_run else "no run with metrics yet"
                              for e in result.experiments]
            self.metric_rows, self.param_rows = compare_tables(result)
            curves = compare_curves(result)
            self.has_curves = bool(curves)
            self.curves = curves_figure(curves) if curves else go.Figure()
        return None
