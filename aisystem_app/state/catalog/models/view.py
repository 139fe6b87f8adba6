"""How the model registry pages word the service's documents: rows, facts, version cards, history rows,
charts, the lineage graph and the register / version forms. Plain Python, no Reflex state.

Everything here is text for the browser; user-written values are never treated as markup (plotly
labels are HTML-escaped, because plotly reads a few tags in text).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go
from pydantic import BaseModel, ValidationError

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.facts import Fact
from aisystem_app.components.plots import line_chart
from backend.catalog.model_registry import schemas as s

NONE = fmt.NONE
MODEL_TYPES = list(s.ModelType.__args__)
STATUSES = list(s.LifecycleStatus.__args__)
# Frameworks offered as filter chips (the service filters on any value; these are the common ones).
FRAMEWORKS = ["PyTorch", "TensorFlow", "JAX", "scikit-learn", "XGBoost", "LightGBM", "ONNX", "Hugging Face"]
# The filter chips of the list page, each shown with its model count.
CHIPS = {"type": MODEL_TYPES, "status": STATUSES, "framework": FRAMEWORKS}
SORTS = {"-createdAt": "Newest", "createdAt": "Oldest", "name": "Name A–Z", "-name": "Name Z–A",
         "-updatedAt": "Recently updated", "-accuracy": "Accuracy", "-parameters": "Parameters"}
STAGE_ACTIONS = {"staging": "Promote to staging", "production": "Promote to production",
                 "archived": "Archive", "none": "Back to none"}
FORMATS = {"auto": "Detect", "safetensors": "safetensors", "onnx": "ONNX", "opaque": "Opaque (stored, never loaded)"}


def model_href(model_id: str) -> str:
    """The detail page of a model."""
    return routes.MODEL_DETAIL.replace("[model_id]", model_id)


# --- the list ----------------------------------------------------------------------------------------


def model_row(doc: s.ModelRead, snippet: str = "", score: float | None = None) -> dict[str, str]:
    """One model as the list shows it (text only); `score` is a semantic search's similarity."""
    return {
        "id": doc.id, "href": model_href(doc.id), "name": doc.name, "type": fmt.label(doc.type), "category": doc.category,
        "framework": doc.framework, "status": doc.status, "version": doc.version or NONE,
        "accuracy": fmt.percent(doc.performance.accuracy), "updated": fmt.day(doc.updated_at),
        "tags": ",".join(doc.metadata.tags[:5]), "snippet": snippet,
        "score": fmt.score(score) if score is not None else "",
    }


def search_summary(page: s.SearchPage) -> str:
    """What a search returned and why those: how many, ranked how, and what the relevance cut-off left out."""
    found = fmt.plural(page.total, "model")
    if page.cutoff is None:
        return f"{found} {'matches' if page.total == 1 else 'match'} every word, best match first."
    cut = page.cutoff
    kept = f"similarity at least {fmt.score(cut.threshold)}"
    if cut.threshold > cut.min_score:
        kept += f" ({fmt.percent(cut.relative_to_best, 0)} of the best match's; never below {fmt.score(cut.min_score)})"
    if page.total >= cut.max_results:
        kept += f", the {cut.max_results} most similar"
    left = page.left_out or 0
    left_text = f" {fmt.plural(left, 'less similar model')} left out." if left else ""
    return f"{found} by meaning, most similar first: {kept}.{left_text}"


def plain_snippet(highlights: dict[str, str]) -> str:
    """The search's best highlight as plain text (its `<mark>` tags dropped, entities decoded)."""
    marked = highlights.get("description") or next(iter(highlights.values()), "")
    return html.unescape(marked.replace("<mark>", "").replace("</mark>", ""))


# --- overview ----------------------------------------------------------------------------------------


@dataclass
class FactGroup:
    title: str = ""
    facts: list[Fact] = field(default_factory=list)


def _facts(pairs: Iterable[tuple[str, Any]]) -> list[Fact]:
    return [Fact(label, str(value)) for label, value in pairs if value not in (None, "", [], NONE)]


def _latency(latency: s.Latency | None) -> str | None:
    if latency is None:
        return None
    parts = [f"{name} {fmt.with_unit(value, 'ms')}" for name, value in (("p50", latency.p50), ("p95", latency.p95),
                                                          ("p99", latency.p99)) if value is not None]
    return " · ".join(parts) or None


def _price(pricing: s.Pricing) -> list[tuple[str, Any]]:
    currency = pricing.currency or "USD"
    money = (lambda v: fmt.money(v, currency) if v is not None else None)  # noqa: E731
    return [("Pricing model", pricing.model and fmt.label(pricing.model)), ("Input tokens (per 1K)", money(pricing.input_tokens)),
            ("Output tokens (per 1K)", money(pricing.output_tokens)), ("Fixed cost", money(pricing.fixed_cost))]


def overview_groups(doc: s.ModelRead, creator: str) -> list[FactGroup]:
    """The document's fields in readable groups; empty groups are left out."""
    t, p, d = doc.training, doc.performance, doc.deployment
    compute = t.compute_resources
    groups = [
        FactGroup("General", _facts([
            ("Type", doc.type), ("Category", doc.category), ("Framework", doc.framework),
            ("Architecture", doc.architecture), ("Parameters", fmt.compact(doc.parameters) if doc.parameters else None),
            ("Context length", fmt.with_unit(doc.context_length, "tokens") if doc.context_length else None),
            ("Deployment type", doc.deployment_type and fmt.label(doc.deployment_type)), ("Licence", doc.metadata.license),
            ("Created", fmt.moment(doc.created_at)), ("Created by", creator), ("Updated", fmt.moment(doc.updated_at)),
        ])),
        FactGroup("Training", _facts([
            ("Dataset", t.dataset), ("Epochs", t.epochs), ("Batch size", t.batch_size),
            ("Learning rate", fmt.number(t.learning_rate) if t.learning_rate else None), ("Optimizer", t.optimizer),
            ("Loss", t.loss), ("Training time", t.training_time),
            ("GPU", compute.gpu if compute else None), ("Memory", compute.memory if compute else None),
            ("Storage", compute.storage if compute else None),
        ])),
        FactGroup("Performance", _facts([
            ("Accuracy", fmt.percent(p.accuracy)), ("Precision", fmt.percent(p.precision)), ("Recall", fmt.percent(p.recall)),
            ("F1 score", fmt.percent(p.f1_score)), ("Latency", _latency(p.latency)),
            ("Throughput", fmt.with_unit(p.throughput, "requests/s") if p.throughput is not None else None),
        ])),
        FactGroup("Pricing", _facts(_price(doc.pricing))),
        FactGroup("Deployment", _facts([
            ("Endpoints", ", ".join(d.endpoints)), ("Replicas", d.replicas),
            ("Auto-scaling", None if d.auto_scaling is None else ("on" if d.auto_scaling else "off")),
            ("Replicas (min–max)", f"{d.min_replicas}–{d.max_replicas}"
             if d.min_replicas is not None and d.max_replicas is not None else None),
            ("Target utilisation", f"{d.target_utilization}%" if d.target_utilization else None),
        ])),
    ]
    return [g for g in groups if g.facts]


# --- versions and history ------------------------------------------------------------------------------


@dataclass
class VersionView:
    version: str = ""
    stage: str = ""
    created: str = ""
    created_by: str = ""
    metrics: list[Fact] = field(default_factory=list)
    has_artifact: bool = False
    artifact: str = ""
    integrity: str = ""
    parameters: str = ""
    declared: str = ""
    signature: str = ""
    notice: str = ""
    notes: str = ""
    moves: list[str] = field(default_factory=list)
    uploadable: bool = False


FORMAT_NAMES = {"safetensors": "safetensors", "onnx": "ONNX", "opaque": "Opaque file"}


def _parameters(art: s.ArtifactRead) -> tuple[str, str]:
    """("83 parameters", "declared: 100") — the count read from the file, and the model's declared
    count when it differs; with the buffers the count leaves out."""
    if art.parameters is None:
        return "", ""
    text = f"{fmt.count(art.parameters)} parameters"
    buffers = art.details.get("buffers") if isinstance(art.details.get("buffers"), dict) else None
    if buffers and buffers.get("elements"):
        text += f" (not counting {fmt.count(buffers['elements'])} buffer values such as running statistics)"
    declared = f"the model declares {fmt.count(art.declared_parameters)}" if art.declared_parameters is not None else ""
    return text, declared


def _shape(value: dict[str, Any]) -> str:
    shape = value.get("shape")
    dims = "?" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
    dtype = value.get("dtype")
    return f"{value.get('name') or NONE} {dims}" + (f" {dtype}" if dtype else "")


def _signature(art: s.ArtifactRead) -> str:
    """An ONNX model's opset, inputs and outputs: `opset 17 · in: pixels [batch, 3, 32, 32] float · out: …`."""
    if art.format != "onnx":
        return ""
    d = art.details
    parts = [f"opset {d['opset']}"] if d.get("opset") is not None else []
    for key, label in (("inputs", "in"), ("outputs", "out")):
        values = [v for v in d.get(key) or [] if isinstance(v, dict)]
        if values:
            parts.append(f"{label}: " + ", ".join(_shape(v) for v in values[:4]) + (" …" if len(values) > 4 else ""))
    if d.get("initializers"):
        parts.append(fmt.plural(int(d["initializers"]), "initializer"))
    return " · ".join(parts)


def version_view(v: s.VersionRead, creator: str, moves: Iterable[str]) -> VersionView:
    """A version card: stage, who and when, metrics, artifact (its parameters, ONNX signature, or that
    it is an opaque file never loaded), notes and the stage moves offered."""
    art = v.artifact
    artifact = (f"{FORMAT_NAMES.get(art.format, art.format)} · {fmt.size(art.size_bytes)} · "
                f"sha256 {art.sha256[:12]}…") if art else ""
    parameters, declared = _parameters(art) if art else ("", "")
    replaceable = art is None or v.stage == "none"
    return VersionView(
        version=v.version, stage=v.stage, created=fmt.moment(v.created_at), created_by=creator,
        metrics=[Fact(fmt.label(k), fmt.metric(k, val)) for k, val in sorted(v.metrics.items())],
        has_artifact=art is not None, artifact=artifact, integrity=art.integrity if art else "",
        parameters=parameters, declared=declared, signature=_signature(art) if art else "",
        notice=(art.notice or "") if art else "",
        notes=v.notes or "", moves=list(moves), uploadable=replaceable,
    )


def history_row(h: s.StageHistoryRead) -> dict[str, str]:
    """One stage-history row (text only)."""
    return {
        "id": h.id, "version": h.version, "stage": h.stage, "from": h.from_stage or NONE, "action": h.action,
        "started": fmt.moment(h.started_at), "ended": fmt.moment(h.ended_at) if h.ended_at else "current",
        "by": h.moved_by_name or NONE, "reason": h.reason or "",
    }


# --- charts ---------------------------------------------------------------------------------------


def _is_score(points: list[s.SeriesPoint]) -> bool:
    return all(0 <= p.value <= 1 for p in points)


SCORE_STEP = 0.05  # the score axis starts and ends on a multiple of this


def score_range(values: Iterable[float]) -> tuple[float, float]:
    """The score axis: from a little below the lowest score to a little above the highest, on
    multiples of SCORE_STEP, never outside [0, 1] (so 0.90-0.945 reads on 0.85-1)."""
    values = list(values)
    low = max(0.0, math.floor((min(values) - SCORE_STEP / 2) / SCORE_STEP) * SCORE_STEP)
    high = min(1.0, math.ceil((max(values) + SCORE_STEP / 2) / SCORE_STEP) * SCORE_STEP)
    return round(low, 2), round(high, 2)


@dataclass
class MetricCharts:
    """The two metric charts (None when there is nothing for one) and the captions that describe them."""

    scores: go.Figure | None = None
    others: go.Figure | None = None
    score_caption: str = ""
    other_caption: str = ""


def metric_figures(metrics: s.MetricsRead) -> MetricCharts:
    """Two charts of metrics across versions: scores (every value in [0, 1]) on an axis that stays
    within 0-1 and says where it starts, and every other metric."""
    versions = [v.version for v in metrics.versions]
    scores = {k: pts for k, pts in metrics.series.items() if _is_score(pts)}
    others = {k: pts for k, pts in metrics.series.items() if k not in scores}

    def figure(series: dict[str, list[s.SeriesPoint]], y_title: str) -> go.Figure | None:
        if not series:
            return None
        lines = {html.escape(fmt.label(k)): ([p.version for p in pts], [p.value for p in pts]) for k, pts in series.items()}
        chart = line_chart(versions, lines)
        chart.update_xaxes(title_text="Version")
        chart.update_yaxes(title_text=y_title)
        return chart

    other_names = [fmt.label(k) for k in others]
    # One other metric names its own axis (escaped: plotly reads tags); several share one, each in its own unit.
    other_axis = html.escape(other_names[0]) if len(other_names) == 1 else "Value (in each metric's unit)"
    charts = MetricCharts(scores=figure(scores, "Score"), others=figure(others, other_axis))
    if charts.scores is not None:
        low, high = score_range(p.value for pts in scores.values() for p in pts)
        charts.scores.update_yaxes(range=[low, high], autorange=False)
        charts.scores.update_traces(cliponaxis=False)  # a marker at exactly 1 is drawn whole
        names = ", ".join(fmt.label(k) for k in scores)
        span = "the whole range" if (low, high) == (0.0, 1.0) else f"{low:g} to {high:g}"
        charts.score_caption = f"{names}: scores between 0 and 1. The axis shows {span}."
    if charts.others is not None:
        listed = ", ".join(other_names)
        charts.other_caption = (f"{listed}, as recorded." if len(other_names) == 1
                                else f"{listed}: each in its own unit, as recorded.")
    return charts


def metric_table(metrics: s.MetricsRead) -> tuple[list[str], list[list[str]]]:
    """(metric names, one row per version: version then each metric's value)."""
    names = sorted(metrics.series)
    rows = [[v.version, *[fmt.number(v.metrics.get(n)) for n in names]] for v in metrics.versions]
    return [fmt.label(n) for n in names], rows


# --- forms ----------------------------------------------------------------------------------------


def _problems(error: ValidationError, field_of) -> dict[str, str]:  # noqa: ANN001
    problems: dict[str, str] = {}
    for item in error.errors():
        name = field_of(tuple(str(part) for part in item["loc"]))
        empty = item["type"] == "missing" or (item["type"] == "string_too_short" and item["ctx"]["min_length"] == 1)
        message = "Required" if empty else item["msg"].removeprefix("Value error, ")
        problems.setdefault(name, message)
    return problems


def _validated(model: type[BaseModel], data: dict, field_of) -> tuple[dict[str, str], Any]:  # noqa: ANN001
    try:
        return {}, model.model_validate(data)
    except ValidationError as error:
        return _problems(error, field_of), None


def _text(form: dict, name: str) -> str:
    return str(form.get(name) or "").strip()


def _words(value: str) -> list[str]:
    return [w.strip() for w in value.replace("\n", ",").split(",") if w.strip()]


_META_FIELDS = {"description", "tags", "license", "documentation", "paper"}


def _model_field(loc: tuple[str, ...]) -> str:
    if loc and loc[0] == "metadata" and len(loc) > 1:
        return loc[1]
    return loc[0] if loc else "form"


def model_form(form: dict) -> tuple[dict[str, str], s.ModelCreate | None]:
    """Check the register form against the service's rules: per-field messages, or the document."""
    data: dict[str, Any] = {k: _text(form, k) or None for k in ("name", "type", "category", "framework",
                                                                "architecture", "version")}
    data["name"] = str(form.get("name") or "")  # leading / trailing blanks are the user's to fix
    meta = {"description": _text(form, "description") or None, "tags": _words(_text(form, "tags")),
            "license": _text(form, "license") or None, "documentation": _text(form, "documentation") or None}
    data["metadata"] = {k: v for k, v in meta.items() if v}
    if _text(form, "parameters"):
        data["parameters"] = _text(form, "parameters").replace(",", "").replace("_", "")
    return _validated(s.ModelCreate, {k: v for k, v in data.items() if v not in (None, {})}, _model_field)


def pairs(text: str, field_name: str) -> dict[str, Any]:
    """`name=value` lines (or a JSON object) as a dict; numbers become numbers. ValueError names the line."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValueError("is not a valid JSON object") from exc
        if not isinstance(value, dict):
            raise ValueError("must be a JSON object")
        return value
    out: dict[str, Any] = {}
    for line in filter(None, (raw.strip() for raw in text.replace(",", "\n").splitlines())):
        name, sep, raw = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"write one name=value per line ({line[:40]!r} has no '=')")
        out[name.strip()] = _number(raw.strip())
    return out


def _number(raw: str) -> Any:
    try:
        return float(raw) if any(c in raw for c in ".eE") else int(raw)
    except ValueError:
        return raw


def _version_field(loc: tuple[str, ...]) -> str:
    if loc and loc[0] == "source":
        return {"experiment_run_id": "run", "datasets": "datasets"}.get(loc[1] if len(loc) > 1 else "", "datasets")
    return loc[0] if loc else "form"


def version_form(form: dict) -> tuple[dict[str, str], s.VersionCreate | None]:
    """Check the new-version form: per-field messages, or the version to create."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"version": _text(form, "version"), "notes": _text(form, "notes") or None}
    for name in ("metrics", "hyperparameters"):
        try:
            data[name] = pairs(str(form.get(name) or ""), name)
        except ValueError as exc:
            errors[name] = str(exc)
    source: dict[str, Any] = {}
    if _text(form, "run"):
        source["experiment_run_id"] = _text(form, "run")
    datasets = [dict(zip(("id", "version"), w.split("@", 1), strict=False)) for w in _words(_text(form, "datasets"))]
    if datasets:
        source["datasets"] = datasets
    if source:
        data["source"] = source
    problems, version = _validated(s.VersionCreate, {k: v for k, v in data.items() if v is not None}, _version_field)
    errors = {**problems, **errors}
    return errors, (version if not errors else None)
