"""What the training pages show, as text and plotly figures, from the training service's documents."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from aisystem_app import format as fmt
from aisystem_app.components.charts import _LAYOUT
from aisystem_app.components.plots import PALETTE
from backend.core.timeutil import utcnow

JOBS = "/training/jobs"
NEW_JOB = "/training/jobs/new"
STATUS_WORDS = {"created": "Not started", "queued": "Queued", "running": "Training", "paused": "Paused",
                "succeeded": "Finished", "failed": "Failed", "cancelled": "Cancelled"}
STATUS_COLORS = {"created": "gray", "queued": "gray", "running": "blue", "paused": "amber", "succeeded": "green",
                 "failed": "red", "cancelled": "orange"}
CONTROL_WORDS = {"pause": "Pausing at the end of this epoch", "stop": "Stopping: keeping the best checkpoint",
                 "cancel": "Cancelling"}
LIVE = ("queued", "running")
FAMILY_WORDS = {"tabular_mlp": "Tabular MLP", "text_classifier": "Text classifier", "image_cnn": "Image CNN"}


def family_text(family: str) -> str:
    return FAMILY_WORDS.get(family, fmt.label(family))


def job_href(job_id: str) -> str:
    return f"{JOBS}/{job_id}"


def elapsed_seconds(doc: Mapping[str, Any], now: datetime | None = None) -> float | None:
    """Seconds since the job started (to its end once it ended)."""
    started = doc.get("started_at")
    if started is None:
        return None
    end = doc.get("finished_at") or now or utcnow()
    return max(0.0, (end - started).total_seconds())


def eta_text(doc: Mapping[str, Any], now: datetime | None = None) -> str:
    """Time left, extrapolated from the progress so far and the time it took: `about 2 min left`."""
    status, progress = doc["status"], float(doc.get("progress") or 0)
    if status == "succeeded":
        return "Done"
    if status != "running":
        return fmt.NONE
    elapsed = elapsed_seconds(doc, now)
    if not elapsed or progress <= 0.01:
        return "Estimating…"
    left = elapsed * (1 - progress) / progress
    return f"about {fmt.duration(left)} left"


def progress_percent(doc: Mapping[str, Any]) -> int:
    return 100 if doc["status"] == "succeeded" else int(round(float(doc.get("progress") or 0) * 100))


def status_text(doc: Mapping[str, Any]) -> str:
    control = doc.get("control")
    if doc["status"] == "running" and control in CONTROL_WORDS:
        return CONTROL_WORDS[control]
    return STATUS_WORDS.get(doc["status"], fmt.label(doc["status"]))


def job_row(doc: Mapping[str, Any], names: Mapping[str, str], datasets: Mapping[str, str]) -> dict[str, str]:
    """One training job as the jobs table shows it (text only; `*_sort` keys sort the columns)."""
    target = doc.get("model_name") or doc.get("model_id") or ""
    started = doc.get("started_at")
    return {
        "id": doc["id"], "href": job_href(doc["id"]), "name": doc["name"],
        "model": f"→ {target}" + (f" v{doc['model_version']}" if doc.get("model_version") else "") if target else "",
        "family": family_text(doc["family"]),
        "dataset": f"{datasets.get(doc['dataset_id'], doc['dataset_id'])} v{doc['dataset_version']}",
        "status": doc["status"], "status_text": status_text(doc),
        "progress": str(progress_percent(doc)), "progress_sort": f"{progress_percent(doc):03d}",
        "eta": eta_text(doc), "started": fmt.ago(started) if started else "Not started",
        "started_sort": started.isoformat() if started else "",
        "created_sort": doc["created_at"].isoformat(),
        "owner": names.get(doc["created_by"], doc["created_by"]),
    }


def _plotted(key: str, value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        return None
    return value * 100 if "accuracy" in key else float(value)


def _series_name(key: str) -> str:
    return {"loss": "Training (per step)", "accuracy": "Training (per step)", "rmse": "Training (per step)",
            "train_loss": "Training (epoch)", "val_loss": "Validation", "train_accuracy": "Training (epoch)",
            "val_accuracy": "Validation", "train_rmse": "Training (epoch)", "val_rmse": "Validation"}.get(
        key, fmt.label(key))


LOSS_KEYS = ("loss", "train_loss", "val_loss")
QUALITY_KEYS = ("accuracy", "train_accuracy", "val_accuracy", "rmse", "train_rmse", "val_rmse")


def curve_panels(histories: Mapping[str, Sequence[tuple[int, object]]], unit: str = "") -> list[tuple[str, list[str]]]:
    """(axis title, metric keys) of the panels to draw: loss, then accuracy or RMSE when logged."""
    panels = [("Loss", [k for k in LOSS_KEYS if k in histories])]
    quality = [k for k in QUALITY_KEYS if k in histories]
    if quality:
        rmse = quality[0].endswith("rmse")
        panels.append(((f"RMSE ({unit})" if unit else "RMSE (label units)") if rmse else "Accuracy (%)", quality))
    return [p for p in panels if p[1]]


def curve_figure(histories: Mapping[str, Sequence[tuple[int, object]]], title: str, keys: Sequence[str]) -> go.Figure:
    """One panel over the training step: the per-step training values thin, the epoch values of the training
    and validation splits with markers. One figure per panel, so that a phone stacks them."""
    colours = {"Training (per step)": "rgba(62,99,221,0.35)", "Training (epoch)": PALETTE[0], "Validation": PALETTE[1]}
    figure = go.Figure()
    for key in keys:
        points = histories[key]
        name = _series_name(key)
        step_level = "_" not in key
        figure.add_trace(go.Scatter(
            x=[p[0] for p in points], y=[_plotted(key, p[1]) for p in points], name=name,
            mode="lines" if step_level else "lines+markers",
            line={"color": colours.get(name, PALETTE[2]), "width": 1 if step_level else 2},
            marker={"size": 6}, hovertemplate=f"{name}<br>Step %{{x}}: %{{y:.4g}}<extra></extra>"))
    figure.update_layout(**{**_LAYOUT, "height": 320, "hovermode": "closest",
                            "margin": {"l": 60, "r": 16, "t": 16, "b": 50},
                            "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"}})
    figure.update_xaxes(title_text="Training step")
    figure.update_yaxes(title_text=html.escape(title), rangemode="normal")
    return figure


def resources_facts(resources: Mapping[str, Any], elapsed: float | None) -> list[dict[str, str]]:
    """Resources used, labelled with units."""
    compute = resources.get("compute_type")
    device = resources.get("device_name")
    peak = resources.get("peak_memory_mb")
    devices = int(resources.get("devices") or 1)
    hours = float(resources.get("gpu_hours") or 0)
    return [
        {"label": "Compute", "value": (f"{compute.upper() if compute in ('cpu', 'gpu') else fmt.label(compute)}"
                                       + (f" ({device})" if device and device.lower() != compute else "") + (f" × {devices}" if devices > 1 else ""))
         if compute else "Not started yet"},
        {"label": "GPU hours", "value": f"{hours:.4f} h" if hours else ("None (trained on the CPU)" if compute == "cpu"
                                                                          else "0 h")},
        {"label": "Training time", "value": fmt.duration(resources.get("wall_seconds") or elapsed)},
        {"label": "Peak memory", "value": fmt.size(int(peak * 1024 * 1024)) if peak else fmt.NONE},
        {"label": "Cost", "value": fmt.money(float(resources.get("cost") or 0), resources.get("currency") or "USD")},
    ]
