"""/compare: pick catalog models, model versions and marketplace listings, weigh the metrics, read the radar, the ranking,
insights, recommendations and the weight sensitivity; export CSV, JSON (and PNG from the chart's mode bar).

The database is read once per set of picked models (`service.prepare`: raw values and 0–100 scores);
moving a weight slider re-evaluates in this process with the pure `backend.comparison.engine.evaluate`,
so the radar and the winner follow the slider without a query. "Save" stores the comparison through
`service.compare` (then `GET /api/v1/comparison/{id}` returns it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from functools import partial
from typing import Any

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session, col, select

from aisystem_app.state.comparison import view
from aisystem_app.state.session import invoke
from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.models import RegisteredModel
from backend.comparison import engine
from backend.comparison import service as comparison
from backend.comparison.engine import MetricDef, Subject
from backend.comparison.metrics import PROFILES
from backend.comparison.schemas import CompareRequest
from backend.core.authorization import authorize
from backend.marketplace.models import Listing
from backend.marketplace.service.access import visible

MAX_PICK = comparison.MAX_MODELS
MAX_OPTIONS = 12
# Picked on a first visit: the design's example (marketplace listings by slug), when the marketplace has them.
DEFAULT_SLUGS = ("gpt-4", "claude-3-opus", "llama-2-70b-chat")


def read_options(session: Session, principal: Principal, wanted: Sequence[str] = ()) -> list[dict[str, str]]:
    """Every catalog model and marketplace listing the user may compare, and a bounded choice of model versions
    (`comparison.version_choices`, with the versions in `wanted`, a link's picks): {value, label, group, slug}."""
    authorize(principal, comparison.CREATE)
    options: list[dict[str, str]] = []
    if principal.can("model:read"):
        for m in session.exec(registry.live_models_query().order_by(RegisteredModel.name_key).limit(2000)).all():
            options.append({"value": m.id, "label": m.name, "group": "Catalog", "slug": ""})
    if principal.can("marketplace:read"):
        rows = session.exec(select(Listing).where(visible(principal)).order_by(col(Listing.name)).limit(2000)).all()
        options += [{"value": r.id, "label": r.name, "group": "Marketplace", "slug": r.slug} for r in rows]
    # A version's id is what `CompareRequest(models=...)` takes for it; the label is the name the comparison gives it.
    options += [{"value": v.id, "label": f"{m.name} {v.version}", "group": "Model versions", "slug": ""}
                for m, v in comparison.version_choices(session=session, actor=principal, include=wanted)]
    return options


def prepare(ids: list[str]):
    """A unit of work: the picked models' raw values and scores (no weights applied, nothing stored)."""

    def work(session: Session, principal: Principal) -> dict[str, Any]:
        prepared = comparison.prepare(session=session, actor=principal,
                                      data=CompareRequest(models=ids))
        boot = prepared["bootstrap"]
        return {"metrics": [asdict(m) for m in prepared["metrics"]],
                "subjects": [{"id": x.id, "name": x.name, "kind": x.kind, "raw": x.raw, "sources": x.sources}
                             for x in prepared["subjects"]],
                "scores": prepared["scores"],
                # The resampled values (not the rows): a slider move re-ranks them without the database.
                "bootstrap": {"resamples": boot.resamples, "seed": boot.seed, "about": boot.about, "note": boot.note,
                              "values": {k: {i: [float(v) for v in draws] for i, draws in per.items()}
                                         for k, per in boot.values.items()}}}

    return work


def save(ids: list[str], weights: dict[str, float], title: str | None):
    def work(session: Session, principal: Principal) -> str:
        result = comparison.compare(session=session, actor=principal, data=CompareRequest(
            models=ids, weights=weights, title=title))
        return result.id

    return work


def evaluate(prepared: dict[str, Any], weights: dict[str, float]) -> dict[str, Any]:
    """The comparison document for these weights, in-process (what a slider move runs)."""
    if not prepared:
        return {}
    metrics = [MetricDef(**{**m, "sources": tuple(m["sources"])}) for m in prepared["metrics"]]
    subjects = [Subject(id=x["id"], name=x["name"], kind=x["kind"], raw=dict(x["raw"]), sources=dict(x["sources"]))
                for x in prepared["subjects"]]
    if sum(weights.get(m.key, 0.0) for m in metrics) <= 0:
        weights = dict.fromkeys((m.key for m in metrics), 1.0)
    boot = prepared.get("bootstrap")
    return engine.evaluate(metrics=metrics, subjects=subjects, scores=prepared["scores"], weights=weights,
                           bootstrap=engine.Bootstrap(**boot) if boot else None)


def profile_weights(profile: str, keys: list[str]) -> dict[str, float]:
    """Slider positions (0–100) of a profile."""
    base = PROFILES[profile]["weights"]
    mean = sum(base.values()) / len(base)
    return {k: round(100 * base.get(k, mean)) for k in keys}


class ComparisonState(rx.State):
    """The comparison page."""

    allowed: bool = True
    loading: bool = False
    query: str = ""
    options: list[dict[str, str]] = []
    selected: list[str] = []
    profile: str = "balanced"
    weights: dict[str, float] = {}
    metric_list: list[dict[str, str]] = []
    document: dict[str, Any] = {}
    radar: go.Figure = go.Figure()
    sensitivity_chart: go.Figure = go.Figure()
    rows: list[dict[str, Any]] = []
    cards: list[dict[str, str]] = []
    insights: list[str] = []
    missing_lines: list[str] = []
    confidence_caption: str = ""
    winner: str = ""
    saved_id: str = ""
    _prepared: dict[str, Any] = {}

    @rx.var
    def matches(self) -> list[dict[str, str]]:
        """Options whose name contains the search words (not yet picked), at most a dozen."""
        words = self.query.lower().split()
        picked = set(self.selected)
        found = [o for o in self.options if o["value"] not in picked
                 and all(w in o["label"].lower() for w in words)]
        return found[:MAX_OPTIONS]

    @rx.var
    def chips(self) -> list[dict[str, str]]:
        labels = {o["value"]: o for o in self.options}
        return [{"value": v, "label": labels.get(v, {}).get("label", v), "group": labels.get(v, {}).get("group", "")}
                for v in self.selected]

    @rx.var
    def can_compare(self) -> bool:
        return 2 <= len(self.selected) <= MAX_PICK

    @rx.var
    def profile_options(self) -> dict[str, str]:
        return {key: p["label"] for key, p in PROFILES.items()}

    @rx.var
    def has_confidence(self) -> bool:
        """Whether the ranking shows bootstrap columns (only where benchmark samples were resampled)."""
        return self.confidence_caption != ""

    @rx.var
    def metric_headers(self) -> list[str]:
        return [m["label"] for m in self.document.get("metrics", [])]

    def _recompute(self) -> None:
        document = evaluate(self._prepared, {k: float(v) for k, v in self.weights.items()})
        self.document = document
        self.radar = view.radar_figure(document) if document else go.Figure()
        self.sensitivity_chart = view.sensitivity_figure(document) if document else go.Figure()
        self.rows = view.ranking_rows(document) if document else []
        self.cards = view.recommendation_cards(document) if document else []
        self.insights = list(document.get("insights", [])) if document else []
        self.confidence_caption = view.confidence_caption(document) if document else ""
        names = {m["modelId"]: m["modelName"] for m in document.get("models", [])} if document else {}
        winner = (document.get("recommendations") or {}).get("bestOverall") if document else None
        self.winner = names.get(winner or "", "")
        self.missing_lines = []
        if document:
            labels = {m["key"]: m["label"] for m in document["metrics"]}
            missing = document.get("missing", {})
            everyone = [k for k in labels if len(missing) == len(names) and all(k in v for v in missing.values())]
            if everyone:
                self.missing_lines.append(f"No compared model has a value for {', '.join(labels[k] for k in everyone)}"
                                          " (left out of every score)")
            for model_id, keys in missing.items():
                rest = [k for k in keys if k not in everyone]
                if rest:
                    self.missing_lines.append(f"{names.get(model_id, model_id)}: no value for "
                                              f"{', '.join(labels[k] for k in rest)} (left out of its score)")

    @rx.event(background=True)
    async def load(self):
        async with self:
            self.loading = True
            wanted = self.router.url.query_parameters.get("models", "")
        ids = [i for i in str(wanted).split(",") if i][:MAX_PICK]
        outcome = await invoke(self, partial(read_options, wanted=ids))
        async with self:
            self.allowed = outcome.code != "AUTH_002"
            self.options = outcome.value if outcome.ok else []
            known = {o["value"] for o in self.options}
            by_slug = {o["slug"]: o["value"] for o in self.options if o.get("slug")}
            picked = [i for i in str(wanted).split(",") if i in known][:MAX_PICK] if wanted else []
            if not picked and not self.selected:
                picked = [by_slug[slug] for slug in DEFAULT_SLUGS if slug in by_slug]
            if picked:
                self.selected = picked
            self.loading = False
        if not outcome.ok:
            return outcome.events if self.allowed else None
        return ComparisonState.run_comparison

    @rx.event(background=True)
    async def run_comparison(self):
        async with self:
            if not (2 <= len(self.selected) <= MAX_PICK):
                self._prepared = {}
                self._recompute()
                return None
            self.loading = True
            ids = list(self.selected)
        outcome = await invoke(self, prepare(ids))
        async with self:
            self.loading = False
            self.saved_id = ""
            if not outcome.ok:
                return outcome.events
            self._prepared = outcome.value
            keys = [m["key"] for m in outcome.value["metrics"]]
            self.metric_list = [{"key": m["key"], "label": m["label"], "description": m["description"]}
                                for m in outcome.value["metrics"]]
            if set(self.weights) != set(keys):
                self.weights = profile_weights(self.profile, keys)
            self._recompute()
        return None

    @rx.event
    def set_query(self, value: str):
        self.query = str(value)[:120]

    @rx.event
    def pick(self, value: str):
        if value not in self.selected and len(self.selected) < MAX_PICK:
            self.selected = [*self.selected, value]
            self.query = ""
            return ComparisonState.run_comparison
        return None

    @rx.event
    def unpick(self, value: str):
        self.selected = [v for v in self.selected if v != value]
        return ComparisonState.run_comparison

    @rx.event
    def set_weight(self, key: str, value: list[float] | float):
        number = value[0] if isinstance(value, list | tuple) else value
        self.weights = {**self.weights, str(key): max(0.0, min(100.0, float(number)))}
        self.profile = ""
        self._recompute()

    @rx.event
    def use_profile(self, profile: str):
        if profile not in PROFILES:
            return
        self.profile = profile
        self.weights = profile_weights(profile, [m["key"] for m in self.metric_list])
        self._recompute()

    @rx.event
    def export_csv(self):
        if not self.document:
            return None
        return rx.download(data=view.to_csv(self.document), filename="comparison.csv")

    @rx.event
    def export_json(self):
        if not self.document:
            return None
        return rx.download(data=view.to_json(self.document), filename="comparison.json")

    @rx.event(background=True)
    async def save(self):
        async with self:
            if not self._prepared:
                return None
            ids = list(self.selected)
            weights = {k: float(v) for k, v in self.weights.items()}
            title = " vs ".join(c["label"] for c in self.chips)[:200]
        outcome = await invoke(self, save(ids, weights, title), write=True)
        if not outcome.ok:
            return outcome.events
        async with self:
            self.saved_id = outcome.value
        return rx.toast.success(f"Comparison saved as {outcome.value}")
