"""What the experiments pages show, as text and plotly figures, from the tracking service's documents."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.components.charts import _LAYOUT
from aisystem_app.components.plots import PALETTE
from backend.auth import service as auth_service
from backend.catalog.experiments.service import objective_of
from backend.core.errors import NotAuthenticated

EXPERIMENTS = "/catalog/experiments"
SHARE_KEYS = ("accuracy", "precision", "recall", "f1", "auc")


def usernames(session: Session, user_ids: set[str]) -> dict[str, str]:
    """User id → username (the system account and unknown users keep their id)."""
    names = {}
    for user_id in user_ids:
        with suppress(NotAuthenticated, Exception):
            names[user_id] = auth_service.get_user(session=session, user_id=user_id).username
    return names


def is_share(key: str) -> bool:
    """Whether a metric is a share of one (shown as a percentage)."""
    last = key.lower().rsplit("_", 1)[-1].rsplit("/", 1)[-1]
    return last in SHARE_KEYS


def metric_text(key: str, value: object) -> str:
    """A metric value as every experiments page shows it."""
    if value == "NaN":
        return "NaN"
    name = key.lower().rsplit("_", 1)[-1] if is_share(key) else key
    return fmt.metric(name, value)


def metric_axis(key: str) -> str:
    """An axis title with the unit: `Val accuracy (%)`, `Train loss`."""
    words = fmt.label(key)
    return f"{words} (%)" if is_share(key) else words


def objective_text(objective: str | None) -> str:
    """`maximize_val_accuracy` → `Maximise val accuracy`."""
    parsed = objective_of(objective)
    if not parsed:
        return fmt.NONE
    key, goal = parsed
    return f"{'Maximise' if goal == 'max' else 'Minimise'} {fmt.label(key).lower()}"


def run_duration(doc: Mapping[str, Any]) -> str:
    return fmt.duration(doc.get("durationSeconds") if "durationSeconds" in doc else doc.get("duration_seconds"))


def _plotted(key: str, value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return value * 100 if is_share(key) else float(value)


def curves_figure(histories: Mapping[str, Sequence[tuple[str, Sequence[tuple[int, object]]]]]) -> go.Figure:
    """One panel per metric key; in each a line per run over the step; one legend entry per run."""
    keys = list(histories)
    columns = 2 if len(keys) > 1 else 1
    rows = max(1, math.ceil(len(keys) / columns))
    figure = make_subplots(rows=rows, cols=columns, subplot_titles=[html.escape(metric_axis(k)) for k in keys],
                           horizontal_spacing=0.1, vertical_spacing=0.22 if rows > 1 else 0.1)
    colours: dict[str, str] = {}
    for i, key in enumerate(keys):
        row, col = i // columns + 1, i % columns + 1
        for run_name, points in histories[key]:
            colour = colours.setdefault(run_name, PALETTE[len(colours) % len(PALETTE)])
            figure.add_trace(go.Scatter(
                x=[p[0] for p in points], y=[_plotted(key, p[1]) for p in points], name=html.escape(run_name),
                legendgroup=run_name, showlegend=run_name not in {t.name for t in figure.data},
                mode="lines+markers", line={"color": colour, "width": 2}, marker={"size": 6},
                hovertemplate=f"{html.escape(run_name)}<br>Step %{{x}}: %{{y:.4g}}"
                              f"{'%' if is_share(key) else ''}<extra></extra>"), row=row, col=col)
        figure.update_xaxes(title_text="Step", row=row, col=col)
        figure.update_yaxes(title_text=html.escape(metric_axis(key)), row=row, col=col)
    layout = {**_LAYOUT, "height": 300 * rows + 60, "hovermode": "closest",
              "margin": {"l": 60, "r": 16, "t": 40, "b": 60},
              "legend": {"orientation": "h", "y": 1.02 + 0.08 / rows, "x": 0, "yanchor": "bottom",
                         "title": {"text": "Run"}}}
    layout.pop("xaxis"), layout.pop("yaxis")
    figure.update_layout(**layout)
    figure.update_xaxes(gridcolor="rgba(139,141,152,0.15)")
    figure.update_yaxes(gridcolor="rgba(139,141,152,0.15)")
    return figure


def _as_number(value: str) -> float | None:
    with suppress(ValueError):
        number = float(value)
        return number if math.isfinite(number) else None
    return None


def parallel_figure(runs: Sequence[Mapping[str, Any]], objective: str) -> go.Figure | None:
    """Hyperparameters that vary between runs against the objective metric (last axis, and the colour).
    None when fewer than two runs logged the objective."""
    scored = [r for r in runs if _plotted(objective, r["metrics"].get(objective)) is not None]
    if len(scored) < 2:
        return None
    keys = sorted({k for r in scored for k in r["params"]})
    dimensions = []
    for key in keys:
        values = [r["params"].get(key) for r in scored]
        if len(set(values)) < 2:
            continue
        numbers = [_as_number(v) if v is not None else None for v in values]
        if all(n is not None for n in numbers):
            low, high = min(numbers), max(numbers)
            if low > 0 and high / low >= 20:  # a learning rate, a weight decay: spread them on a log scale
                ticks = sorted(set(numbers))
                dimensions.append({"label": f"{fmt.label(key)} (log scale)", "values": [math.log10(n) for n in numbers],
                                   "tickvals": [math.log10(t) for t in ticks], "ticktext": [fmt.number(t) for t in ticks]})
            else:
                dimensions.append({"label": fmt.label(key), "values": numbers})
        else:
            names = sorted({str(v) for v in values})
            dimensions.append({"label": fmt.label(key), "values": [names.index(str(v)) for v in values],
                               "tickvals": list(range(len(names))), "ticktext": names})
    scores = [_plotted(objective, r["metrics"][objective]) for r in scored]
    dimensions.append({"label": metric_axis(objective), "values": scores})
    for dimension in dimensions:  # a little room above and below, so no line runs along the frame
        low, high = min(dimension["values"]), max(dimension["values"])
        pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
        dimension["range"] = [low - pad, high + pad]
    figure = go.Figure(go.Parcoords(
        line={"color": scores, "colorscale": [[0, "#f76b15"], [1, "#3e63dd"]], "showscale": True,  # no pale end
              "colorbar": {"title": {"text": metric_axis(objective)}}},
        dimensions=dimensions, labelfont={"size": 12, "color": "#60646c"},
        # Plotly outlines tick text for contrast, which smudges grey text: a darker colour reads cleanly.
        tickfont={"size": 11, "color": "#1c2024"}, rangefont={"size": 1, "color": "rgba(0,0,0,0)"}))
    figure.update_layout(**{**_LAYOUT, "margin": {"l": 110, "r": 60, "t": 60, "b": 30}, "height": 360})
    return figure


def bars_figure(names: Sequence[str], values: Sequence[float | None], key: str) -> go.Figure:
    """One bar per experiment: its best value of `key`."""
    figure = go.Figure(go.Bar(x=[html.escape(n) for n in names], y=[_plotted(key, v) for v in values],
                              marker_color=PALETTE[0]))
    figure.update_layout(**_LAYOUT)
    figure.update_yaxes(title_text=html.escape(metric_axis(key)))
    return figure


def history_figure(points: Sequence[Any], metric: str, goal: str) -> go.Figure:
    """The optimisation history: the metric of each run in start order (dots) and the best so far (a step
    line). `points` are `analysis.Point`s."""
    xs = list(range(1, len(points) + 1))
    names = [html.escape(p.name) for p in points]
    unit = "%" if is_share(metric) else ""
    figure = go.Figure([
        go.Scatter(x=xs, y=[_plotted(metric, p.value) for p in points], mode="markers", name="Run",
                   marker={"color": PALETTE[0], "size": 8}, customdata=names,
                   hovertemplate=f"%{{customdata}}<br>Run %{{x}}: %{{y:.4g}}{unit}<extra></extra>"),
        go.Scatter(x=xs, y=[_plotted(metric, p.best_so_far) for p in points], mode="lines", line_shape="hv",
                   name=f"Best so far ({'highest' if goal == 'max' else 'lowest'})",
                   line={"color": PALETTE[2], "width": 2},
                   hovertemplate=f"Best after run %{{x}}: %{{y:.4g}}{unit}<extra></extra>"),
    ])
    figure.update_layout(**{**_LAYOUT, "hovermode": "closest", "margin": {"l": 60, "r": 16, "t": 16, "b": 50},
                            "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"}})
    figure.update_xaxes(title_text="Run (in start order)", tickformat="d", range=[0.5, len(points) + 0.5])
    figure.update_yaxes(title_text=html.escape(metric_axis(metric)), rangemode="normal")
    return figure


def importance_figure(importance: Mapping[str, float]) -> go.Figure:
    """Each hyperparameter's share of the objective's variance, largest on top."""
    keys = list(importance)[::-1]
    figure = go.Figure(go.Bar(
        x=[importance[k] * 100 for k in keys], y=[html.escape(fmt.label(k)) for k in keys], orientation="h",
        marker_color=PALETTE[0], text=[f"{importance[k] * 100:.0f}%" for k in keys], textposition="auto",
        hovertemplate="%{y}: %{x:.1f}% of the variance<extra></extra>"))
    figure.update_layout(**{**_LAYOUT, "hovermode": "closest", "height": max(200, 60 + 36 * len(keys)),
                            "margin": {"l": 130, "r": 16, "t": 16, "b": 50}})
    figure.update_xaxes(title_text="Share of the objective's variance (%)", range=[0, 100])
    figure.update_yaxes(rangemode="normal")
    return figure
