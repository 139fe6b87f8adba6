"""What the endpoint pages show, as text and plotly figures, from the endpoints service's records."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import plotly.graph_objects as go

from aisystem_app import format as fmt
from aisystem_app.components.charts import _LAYOUT
from aisystem_app.components.plots import PALETTE
from backend.core.security import API_KEY_PREFIX
from backend.core.timeutil import utcnow

ENDPOINTS = "/catalog/endpoints"
STATUS_WORDS = {"running": "Serving", "undeployed": "Not deployed"}
STATUS_COLORS = {"running": "green", "undeployed": "gray"}
ROLE_WORDS = {"primary": "Primary", "canary": "Canary", "shadow": "Shadow (logged only)"}
STAGE_WORDS = {"production": "Production", "staging": "Staging", "development": "Development",
               "archived": "Archived", "none": "No stage"}
METRICS_MINUTES = 60
POSITIVE, NEGATIVE = "#30a46c", "#e5484d"


def endpoint_href(endpoint_id: str) -> str:
    return f"{ENDPOINTS}/{endpoint_id}"


def status_text(status: str) -> str:
    return STATUS_WORDS.get(status, fmt.label(status))


def ms(value: float | None) -> str:
    """A latency in milliseconds: `3.2 ms`."""
    if value is None:
        return fmt.NONE
    return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"


def share_text(shares: Sequence[Mapping[str, Any]]) -> str:
    """`1.0.0 · 90 %, 1.0.1 (canary) · 10 %`; a shadow version is named as such."""
    parts = []
    for s in shares:
        if s["role"] == "shadow":
            parts.append(f"{s['version']} (shadow copy)")
        else:
            role = " (canary)" if s["role"] == "canary" else ""
            parts.append(f"{s['version']}{role} · {s['percent']:g} %")
    return ", ".join(parts) or fmt.NONE


def traffic_text(traffic: Mapping[str, Any]) -> str:
    mode = traffic.get("mode", "single")
    if mode == "canary" and traffic.get("candidateVersion"):
        return f"Canary: {traffic.get('candidatePercent', 0):g} % to {traffic['candidateVersion']}"
    if mode == "shadow" and traffic.get("candidateVersion"):
        return f"Shadow: {traffic['candidateVersion']} gets a copy"
    return "All traffic to one version"


def deployed_text(version: str | None, follow_stage: str | None) -> str:
    if version is None:
        return "Nothing deployed"
    if follow_stage:
        return f"{version} (follows {STAGE_WORDS.get(follow_stage, follow_stage).lower()})"
    return f"{version} (pinned)"


def error_rate_text(metrics: Mapping[str, Any]) -> str:
    return fmt.percent(metrics["error_rate"]) if metrics["requests"] else fmt.NONE


def per_minute(series: Sequence[Mapping[str, Any]], minutes: int = METRICS_MINUTES,
               now: datetime | None = None) -> list[tuple[datetime, Mapping[str, Any] | None]]:
    """Every minute of the window, oldest first, with its row of the service's series (None when quiet)."""
    end = (now or utcnow()).replace(second=0, microsecond=0)
    rows = {s["minute"]: s for s in series}
    out = []
    for i in range(minutes - 1, -1, -1):
        minute = end - timedelta(minutes=i)
        out.append((minute, rows.get(minute.strftime("%Y-%m-%dT%H:%M:00Z"))))
    return out


def sparkline(series: Sequence[Mapping[str, Any]], width: int = 96, height: int = 24) -> str:
    """p95 latency per minute over the last hour as a tiny SVG line, with a red tick under each minute
    that had failed requests, as tall as its error rate (a data URL for an <img>). Quiet minutes break
    the line."""
    minutes = per_minute(series)
    top = max((row["p95"] or 0 for _, row in minutes if row), default=0) or 1
    step = width / max(len(minutes) - 1, 1)
    lines, current, ticks = [], [], []
    for i, (_, row) in enumerate(minutes):
        x = i * step
        if row and row["p95"] is not None:
            current.append(f"{x:.1f},{height - 6 - (row['p95'] / top) * (height - 8):.1f}")
        elif current:
            lines.append(current)
            current = []
        if row and row["errors"]:
            rate = row["errors"] / max(row["requests"], 1)
            ticks.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{height}" y2="{height - 1 - 5 * rate:.1f}" '
                         f'stroke="{PALETTE[1]}" stroke-width="1.5"/>')
    lines.append(current)
    paths = "".join(f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="1.5" points="{" ".join(points)}"/>'
                    if len(points) > 1 else
                    f'<circle cx="{points[0].split(",")[0]}" cy="{points[0].split(",")[1]}" r="1.2" fill="{PALETTE[0]}"/>'
                    for points in lines if points)
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
           f"{paths}{''.join(ticks)}</svg>")
    return "data:image/svg+xml;charset=utf-8," + quote(svg)


def sparkline_label(metrics: Mapping[str, Any]) -> str:
    worst = max((row["p95"] for row in metrics["series"] if row.get("p95") is not None), default=None)
    if worst is None:
        return "No answered requests in the last hour"
    return (f"p95 latency per minute over the last hour (highest {ms(worst)}); red ticks: minutes with errors "
            f"({error_rate_text(metrics)} of {fmt.count(metrics['requests'])} requests failed)")


def drift_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """The drift report's features as table rows, drifted ones first (text only)."""
    rows = []
    for f in sorted(report["features"], key=lambda f: (not f["drifted"], f["feature"])):
        if f["kind"] == "numeric":
            measure = (f"mean moved {fmt.number(round(f['meanShift'], 2))} training std "
                       f"({fmt.number(f['trainingMean'])} → {fmt.number(f['recentMean'])}); "
                       f"spread ×{fmt.number(round(f['spreadRatio'], 2))}")
        else:
            unseen = ", ".join(f"{u['value']} ({fmt.count(u['count'])})" for u in f["topUnseen"]) or "none"
            measure = f"{fmt.percent(f['unseenShare'])} values unseen in training: {unseen}"
        rows.append({"feature": f["feature"], "kind": "Numeric" if f["kind"] == "numeric" else "Categorical",
                     "measure": measure, "verdict": "Drifted" if f["drifted"] else "Steady"})
    return rows


def drift_note(report: Mapping[str, Any] | None) -> str:
    if report is None:
        return "Input drift is measured once the endpoint serves a platform model package."
    if not report["available"]:
        return report["reason"]
    drifted = len(report["drifted"])
    return (f"{fmt.count(report['instances'])} inputs to version {report['version']} in the last hour against its "
            f"training statistics: {drifted} of {len(report['features'])} features drifted.")


def endpoint_row(doc: Mapping[str, Any], model_name: str, shares: Sequence[Mapping[str, Any]],
                 metrics: Mapping[str, Any]) -> dict[str, str]:
    """One endpoint as the list shows it (text only)."""
    p95 = metrics["latency_ms"]["p95"]
    return {
        "id": doc["id"], "href": endpoint_href(doc["id"]), "name": doc["name"],
        "status": doc["status"], "status_text": status_text(doc["status"]),
        "model": model_name or fmt.NONE, "versions": deployed_text(doc["version"], doc["follow_stage"]),
        "traffic": share_text(shares) if doc["status"] == "running" else fmt.NONE,
        "requests": fmt.count(metrics["requests"]), "requests_sort": f"{metrics['requests']:012d}",
        "p95": ms(p95), "p95_sort": f"{p95 or 0:014.3f}",
        "error_rate": error_rate_text(metrics), "error_sort": f"{metrics['error_rate']:.6f}",
        "spark": sparkline(metrics["series"]),
        "spark_label": sparkline_label(metrics),
    }


def _base(figure: go.Figure, *, x_title: str, y_title: str, height: int = 300) -> go.Figure:
    figure.update_layout(**{**_LAYOUT, "height": height, "margin": {"l": 64, "r": 16, "t": 16, "b": 56},
                            "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"}})
    figure.update_xaxes(title_text=html.escape(x_title))
    figure.update_yaxes(title_text=html.escape(y_title))
    return figure


def latency_figure(series: Sequence[Mapping[str, Any]]) -> go.Figure:
    """p95 latency per minute over the window (quiet minutes left as gaps)."""
    minutes = per_minute(series)
    figure = go.Figure(go.Scatter(
        x=[m for m, _ in minutes], y=[row["p95"] if row else None for _, row in minutes], name="p95 latency",
        mode="lines+markers", connectgaps=False, line={"color": PALETTE[0], "width": 2}, marker={"size": 5},
        hovertemplate="%{x|%H:%M} UTC: %{y:.1f} ms<extra>p95</extra>"))
    return _base(figure, x_title="Time (UTC, per minute)", y_title="p95 latency (ms)")


def requests_figure(series: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Answered and failed requests per minute, stacked."""
    minutes = per_minute(series)
    ok = [(row["requests"] - row["errors"]) if row else 0 for _, row in minutes]
    errors = [row["errors"] if row else 0 for _, row in minutes]
    x = [m for m, _ in minutes]
    figure = go.Figure([
        go.Bar(x=x, y=ok, name="Answered", marker_color=PALETTE[2],
               hovertemplate="%{x|%H:%M} UTC: %{y} answered<extra></extra>"),
        go.Bar(x=x, y=errors, name="Failed", marker_color=PALETTE[1],
               hovertemplate="%{x|%H:%M} UTC: %{y} failed<extra></extra>"),
    ])
    figure.update_layout(barmode="stack")
    figure = _base(figure, x_title="Time (UTC, per minute)", y_title="Requests per minute")
    top = max((a + b for a, b in zip(ok, errors, strict=True)), default=0)
    # Whole requests only: without a range plotly ticks a quiet hour at 0.2, 0.4, ...
    figure.update_yaxes(range=[0, max(4, top * 1.1)], tick0=0, dtick=max(1, math.ceil(top / 5)), tickformat=",d")
    figure.update_layout(hovermode="x unified")
    return figure


def explanation_figure(attributions: Mapping[str, float], target: str) -> go.Figure:
    """Each input's attribution to the predicted class (or value) as horizontal bars, largest on top:
    green pushes towards the prediction, red away from it."""
    items = sorted(attributions.items(), key=lambda kv: abs(kv[1]))
    names = [html.escape(k) for k, _ in items]
    values = [v for _, v in items]
    figure = go.Figure()
    for label, colour, keep in (("Pushes towards it", POSITIVE, lambda v: v >= 0),
                                ("Pushes away from it", NEGATIVE, lambda v: v < 0)):
        figure.add_trace(go.Bar(
            y=names, x=[v if keep(v) else 0 for v in values], orientation="h", name=label, marker_color=colour,
            hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    figure.update_layout(barmode="relative")
    figure = _base(figure, x_title=f"Attribution to “{target}” (model score units)", y_title="Input column",
                   height=max(260, 26 * len(items) + 110))
    figure.update_layout(margin={"l": 150, "r": 16, "t": 16, "b": 56}, hovermode="closest")
    figure.update_yaxes(automargin=True, rangemode="normal")
    figure.update_xaxes(zeroline=True, zerolinecolor="rgba(139,141,152,0.6)")
    return figure


def key_row(key: Any) -> dict[str, str]:
    now = utcnow()
    if key.revoked_at is not None:
        state, tone = "Revoked", "gray"
    elif key.expires_at is not None and key.expires_at <= now.replace(tzinfo=key.expires_at.tzinfo):
        state, tone = "Expired", "amber"
    else:
        state, tone = "Active", "green"
    return {"id": key.id, "name": key.name, "prefix": f"{API_KEY_PREFIX['model']}_{key.prefix}_…", "created": fmt.moment(key.created_at),
            "last_used": fmt.ago(key.last_used_at) if key.last_used_at else "Never",
            "expires": fmt.day(key.expires_at) if key.expires_at else "Never", "state": state, "tone": tone,
            "active": "true" if state == "Active" else ""}


def log_row(entry: Any) -> dict[str, str]:
    outcome = "OK" if entry.status == "ok" else f"Failed ({entry.error_code or 'error'})"
    return {"id": str(entry.id), "time": fmt.moment(entry.created_at), "version": entry.version or fmt.NONE,
            "role": ROLE_WORDS.get(entry.role, fmt.label(entry.role)), "latency": ms(entry.latency_ms),
            "rows": fmt.count(entry.instances), "outcome": outcome, "ok": "true" if entry.status == "ok" else ""}
