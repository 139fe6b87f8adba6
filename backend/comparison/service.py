"""Comparison, scoring and analysis services: resolve what is compared, gather its facts from the catalog,
the marketplace, benchmark results and endpoint monitoring, score it with the pure engine, store it.

Facts per subject (the namespaces metric paths read, see `backend.comparison.metrics`) are gathered once
per request; `benchmark` comes from `backend.benchmarks.service.latest_results` when that package exists
(imported lazily: without it a comparison simply has no benchmark values), `monitoring` from the endpoints'
prediction log (read-only aggregate over the last 30 days).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.models import ModelVersion, RegisteredModel
from backend.comparison import engine, formula
from backend.comparison import schemas as s
from backend.comparison.engine import MetricDef, Subject
from backend.comparison.metrics import BUILTIN_KEYS, BUILTIN_METRICS, PATH, PROFILES, raw_value
from backend.comparison.models import Comparison, MetricDefinition, ModelScore
from backend.core.authorization import authorize, is_authorized
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.timeutil import isoformat_z, utcnow
from backend.marketplace.models import License, Listing, PricingTier
from backend.marketplace.service.access import visible as listing_visible

READ, CREATE, WRITE = "comparison:read", "comparison:create", "comparison:write"
MIN_MODELS, MAX_MODELS = 2, 10
# The comparison page's picker offers model versions too, bounded: see `version_choices`.
VERSION_CHOICES, RECENT_MODELS = 200, 20
MAX_WEIGHT = 1e9  # weights are relative; a bound keeps their sum finite
# A token-priced model's prediction, for cost per 1,000 predictions: 750 input and 250 output tokens.
INPUT_TOKENS, OUTPUT_TOKENS = 750, 250
MONITORING_DAYS, MONITORING_MIN_REQUESTS = 30, 20
COST_ASSUMPTIONS = (f"Cost of 1,000 predictions in USD: token prices at {INPUT_TOKENS} input and {OUTPUT_TOKENS} "
                    "output tokens per prediction; else the cheapest paid tier's price per request; free or open "
                    "weights count as 0 (hosting is not counted).")


def invalid(message: str, **details: Any) -> AISystemError:
    return AISystemError("COMPARE_002", message, details)


# --- metric definitions --------------------------------------------------------------------------------


def _def_of(row: MetricDefinition) -> MetricDef:
    return MetricDef(key=row.key, label=row.label, sources=tuple(row.sources), direction=row.direction,
                     normalization=row.normalization, reference=row.reference, scale=row.scale, unit=row.unit,
                     description=row.description)


def metric_catalogue(session: Session) -> dict[str, MetricDef]:
    """Every metric by key: the built-ins, then the user-defined ones in creation order."""
    out = {m.key: m for m in BUILTIN_METRICS}
    rows = session.exec(select(MetricDefinition).order_by(MetricDefinition.created_at, MetricDefinition.id)).all()
    out.update({row.key: _def_of(row) for row in rows})
    return out


def metric_read(m: MetricDef, row: MetricDefinition | None = None) -> s.MetricRead:
    return s.MetricRead(key=m.key, label=m.label, description=m.description, sources=list(m.sources),
                        direction=m.direction, normalization=m.normalization, reference=m.reference, scale=m.scale,
                        unit=m.unit, builtin=m.builtin, created_by=row.created_by if row else None,
                        created_at=row.created_at if row else None)


def list_metrics(*, session: Session, actor: Principal) -> s.MetricCatalogue:
    authorize(actor, READ)
    rows = {r.key: r for r in session.exec(select(MetricDefinition)).all()}
    items = [metric_read(m, rows.get(k)) for k, m in metric_catalogue(session).items()]
    profiles = [s.ProfileRead(key=k, label=p["label"], description=p["description"], weights=p["weights"])
                for k, p in PROFILES.items()]
    return s.MetricCatalogue(items=items, profiles=profiles)


def define_metric(*, session: Session, actor: Principal, data: s.MetricCreate) -> s.MetricRead:
    """Store a user-defined metric; COMPARE_005 when the key is taken, REQ_001 for a path outside the namespaces."""
    authorize(actor, WRITE)
    bad = [p for p in data.sources if not PATH.match(p)]
    if bad:
        from backend.core.errors import InvalidRequest

        raise InvalidRequest("A source is not a field path of model, version, listing, benchmark, monitoring or "
                             "derived", {"sources": ", ".join(bad)})
    if data.key in BUILTIN_KEYS or session.exec(select(MetricDefinition.id).where(MetricDefinition.key == data.key)).first():
        raise AISystemError("COMPARE_005", f"A metric with the key {data.key} exists", {"key": data.key})
    row = MetricDefinition(id=new_id("metricdef"), key=data.key, label=data.label, description=data.description,
                           sources=list(data.sources), direction=data.direction, normalization=data.normalization,
                           reference=data.reference, scale=data.scale, unit=data.unit, created_by=actor.user_id)
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="comparison.metric.create", entity_type="comparison_metric",
                 entity_id=row.id, summary={"key": row.key, "sources": row.sources})
    return metric_read(_def_of(row), row)


# --- subjects and their facts ------------------------------------------------------------------------------


def _newest_version(session: Session, model_id: str) -> ModelVersion | None:
    versions = session.exec(select(ModelVersion).where(ModelVersion.model_id == model_id)).all()
    production = [v for v in versions if v.stage == "production"]
    if production:
        return production[0]
    return max(versions, key=lambda v: (v.major, v.minor, v.patch), default=None)


def _fraction(value: Any) -> float | None:
    """A quality figure as a 0–1 fraction (a percentage above 1 is divided by 100)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value / 100.0 if value > 1 else float(value)


def _first(*values: Any) -> float | None:
    for v in values:
        f = _fraction(v)
        if f is not None:
            return f
    return None


def _monitoring(session: Session, model_ids: Sequence[str]) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Requests, error rate, availability and p95 latency per (model, version) and per (model, None), from
    the endpoints' prediction log of the last 30 days (shadow copies excluded)."""
    if not model_ids:
        return {}
    from backend.endpoints import predlog
    from backend.endpoints.models import PredictionLog

    predlog.flush()
    since = utcnow() - timedelta(days=MONITORING_DAYS)
    rows = session.exec(select(PredictionLog.model_id, PredictionLog.version, PredictionLog.status,
                               PredictionLog.latency_ms)
                        .where(col(PredictionLog.model_id).in_(list(model_ids)), PredictionLog.created_at >= since,
                               PredictionLog.role != "shadow").limit(200_000)).all()
    groups: dict[tuple[str, str | None], list] = {}
    for r in rows:
        groups.setdefault((r.model_id, r.version), []).append(r)
        groups.setdefault((r.model_id, None), []).append(r)
    out = {}
    for key, group in groups.items():
        errors = sum(1 for g in group if g.status == "error")
        latencies = sorted(g.latency_ms for g in group if g.status == "ok")
        summary: dict[str, Any] = {"requests": len(group), "errors": errors, "errorRate": errors / len(group)}
        if latencies:
            summary["latencyP95Ms"] = latencies[min(len(latencies) - 1, math.ceil(0.95 * len(latencies)) - 1)]
        if len(group) >= MONITORING_MIN_REQUESTS:
            summary["availability"] = 1 - summary["errorRate"]
        out[key] = summary
    return out


def _benchmarks(session: Session, version_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """The newest benchmark results per version id, when the benchmarks domain is installed."""
    if not version_ids:
        return {}
    try:
        from backend.benchmarks.service import latest_results  # type: ignore[import-not-found]
    except ImportError:
        return {}
    try:
        return latest_results(session, version_ids=list(version_ids)) or {}
    except Exception:  # noqa: BLE001 - a benchmark read that fails leaves the values missing, reported as such
        return {}


def _measured(session: Session, subjects: Sequence[Subject], metrics: Sequence[MetricDef]) -> dict[str, Any]:
    """Subject id -> its newest benchmark result with its per-row samples (`bootstrap.Measured`), for the
    subjects with a metric valued from a benchmark; empty without the benchmarks domain."""
    wanted = {x.id: x.details["versionId"] for x in subjects if x.details.get("versionId")
              and any((x.sources.get(m.key) or "").startswith("benchmark.") for m in metrics)}
    if not wanted:
        return {}
    try:
        from backend.benchmarks import samples as bench_samples
        from backend.benchmarks.service import latest_result_rows
        from backend.comparison.bootstrap import Measured
    except ImportError:
        return {}
    try:
        rows = latest_result_rows(session, version_ids=sorted(set(wanted.values())))
    except Exception:  # noqa: BLE001 - as `_benchmarks`: no confidence, and the document says so
        return {}
    out = {}
    for subject_id, version_id in wanted.items():
        row = rows.get(version_id)
        if row is None:
            continue
        kept, problem = None, None
        if row.samples:
            try:
                kept = bench_samples.load(row.samples)
            except bench_samples.SamplesUnavailable as exc:
                problem = str(exc)
        out[subject_id] = Measured(result_id=row.id, dataset_id=row.dataset_id, dataset_version=row.dataset_version,
                                   split=row.split, samples=kept, problem=problem)
    return out


def confidence_inputs(session: Session, subjects: Sequence[Subject], metrics: Sequence[MetricDef]) -> engine.Bootstrap:
    """The paired bootstrap of the subjects' sample-based metrics (`backend.comparison.bootstrap`), or an
    empty one whose note says why nothing could be resampled."""
    try:
        from backend.comparison import bootstrap
    except ImportError:  # the benchmarks domain is not installed
        return engine.Bootstrap(0, 0, note="Benchmarks are not installed: there are no benchmark rows to resample")
    return bootstrap.plan(subjects=subjects, metrics=metrics, measured=_measured(session, subjects, metrics))


def _model_cost(pricing: dict[str, Any]) -> float | None:
    if pricing.get("model") == "free":
        return 0.0
    inp, out = pricing.get("inputTokens"), pricing.get("outputTokens")
    if isinstance(inp, int | float) and isinstance(out, int | float):
        return round(1000 * (INPUT_TOKENS * inp + OUTPUT_TOKENS * out), 6)
    fixed = pricing.get("fixedCost")
    if isinstance(fixed, int | float):
        return round(1000 * fixed, 6)
    return None


def _model_options(model: RegisteredModel, version: ModelVersion | None) -> list[str]:
    kind = model.deployment_type or ""
    options = {"cloud": ["cloud"], "on_premise": ["on_premise"], "edge": ["edge"],
               "hybrid": ["cloud", "on_premise"]}.get(kind, [])
    if (model.deployment or {}).get("autoScaling"):
        options.append("autoscaling")
    if version is not None and version.artifact_format in ("safetensors", "onnx"):
        options.append("downloadable_artifact")
    return options


def _model_subject(session: Session, model: RegisteredModel, version: ModelVersion | None, *, as_version: bool) -> Subject:
    doc = registry.model_document(model)
    vdoc = {"version": version.version, "stage": version.stage, "metrics": dict(version.metrics or {})} if version else {}
    vm = vdoc.get("metrics", {})
    perf = doc.get("performance") or {}
    derived = {
        "quality": _first(vm.get("accuracy"), vm.get("f1Score"), vm.get("f1"), perf.get("accuracy"),
                          perf.get("f1Score")),
        "costPer1kPredictionsUsd": _model_cost(doc.get("pricing") or {}),
        "capabilities": list(model.capabilities or []),
        "deploymentOptions": _model_options(model, version),
    }
    subject_id = version.id if as_version else model.id
    name = f"{model.name} {version.version}" if as_version and version else model.name
    facts = {"model": doc, "version": vdoc, "derived": {k: v for k, v in derived.items() if v is not None}}
    return Subject(id=subject_id, name=name, kind="version" if as_version else "model",
                   details={"facts": facts, "modelId": model.id, "versionId": version.id if version else None,
                            "version": version.version if version else None})


def _listing_subject(session: Session, listing: Listing) -> Subject:
    specs = dict(listing.specifications or {})
    tiers = session.exec(select(PricingTier).where(PricingTier.listing_id == listing.id)).all()
    licences = session.exec(select(License).where(License.listing_id == listing.id)).all()
    features = list(listing.features or [])
    from backend.marketplace.models import ListingTag

    tag_set = set(session.exec(select(ListingTag.tag).where(ListingTag.listing_id == listing.id)).all())
    cost: float | None = None
    pin, pout = specs.get("price_per_thousand_input_tokens"), specs.get("price_per_thousand_output_tokens")
    if isinstance(pin, int | float) and isinstance(pout, int | float):
        cost = round(1000 * (INPUT_TOKENS / 1000 * pin + OUTPUT_TOKENS / 1000 * pout), 6)
    elif listing.pricing_model == "free" or "open-weights" in tag_set:
        cost = 0.0
    else:
        paid = [t.price_cents / 100 / t.requests * 1000 for t in tiers
                if t.price_cents and t.requests and t.price_cents > 0]
        cost = round(min(paid), 6) if paid else None
    options = []
    if "api" in tag_set or listing.pricing_model in ("subscription", "per_request"):
        options.append("hosted_api")
    if "open-weights" in tag_set:
        options += ["open_weights", "on_premise"]
        if any(lic.modification_allowed for lic in licences):
            options.append("fine_tuning")
    elif any("on-premise" in f.lower() for t in tiers for f in (t.features or [])):
        options.append("on_premise")
    if tag_set & {"on-device", "edge"}:
        options.append("edge")
    benchmarks = specs.get("benchmarks") or {}
    quality = _first(specs.get("accuracy"), benchmarks.get("mmlu") if isinstance(benchmarks, dict) else None)
    capabilities = specs.get("capabilities") if isinstance(specs.get("capabilities"), list) else features
    doc = {"id": listing.id, "name": listing.name, "contextLength": listing.context_length,
           "parameterCount": listing.parameter_count, "specifications": specs, "features": list(listing.features or []),
           "tags": sorted(tag_set), "pricingModel": listing.pricing_model, "status": listing.status,
           "version": listing.version}
    derived = {"quality": quality, "costPer1kPredictionsUsd": cost, "capabilities": list(capabilities or []),
               "deploymentOptions": options}
    facts = {"listing": doc, "derived": {k: v for k, v in derived.items() if v is not None}}
    return Subject(id=listing.id, name=listing.name, kind="listing", details={"facts": facts})


def _ref_key(ref: str | s.SubjectRef) -> str:
    if isinstance(ref, str):
        return ref
    return ref.id or f"{ref.model_id}@{ref.version}"


def resolve_subjects(*, session: Session, actor: Principal, refs: Sequence[str | s.SubjectRef | dict]) -> list[Subject]:
    """The subjects the references name, with their facts; COMPARE_004 naming every unknown reference."""
    subjects: list[Subject] = []
    unknown: list[str] = []
    parsed = [s.SubjectRef.model_validate(r) if isinstance(r, dict) else r for r in refs]
    for ref in parsed:
        ident = ref if isinstance(ref, str) else ref.id
        subject: Subject | None = None
        if isinstance(ref, s.SubjectRef) and ref.model_id:
            model = registry.find_model(session=session, model_id=ref.model_id)
            version = registry.find_version(session=session, model_id=ref.model_id, version=ref.version) \
                if model else None
            if model and version:
                authorize(actor, "model:read", model)
                subject = _model_subject(session, model, version, as_version=True)
        elif ident and ident.startswith("modelver_"):
            version = session.get(ModelVersion, ident)
            model = registry.find_model(session=session, model_id=version.model_id) if version else None
            if model and version:
                authorize(actor, "model:read", model)
                subject = _model_subject(session, model, version, as_version=True)
        elif ident:
            model = registry.find_model(session=session, model_id=ident)
            if model is not None:
                authorize(actor, "model:read", model)
                subject = _model_subject(session, model, _newest_version(session, model.id), as_version=False)
            else:
                listing = session.exec(select(Listing).where(or_(Listing.id == ident, Listing.slug == ident),
                                                             listing_visible(actor))).first()
                if listing is not None:
                    authorize(actor, "marketplace:read", listing)
                    subject = _listing_subject(session, listing)
        if subject is None:
            unknown.append(_ref_key(ref))
        else:
            subjects.append(subject)
    if unknown:
        raise AISystemError("COMPARE_004", f"Not found: {', '.join(unknown)}", {"unknown": unknown})
    # Measured facts, in two batched reads.
    version_ids = [x.details["versionId"] for x in subjects if x.details.get("versionId")]
    bench = _benchmarks(session, version_ids)
    monitoring = _monitoring(session, sorted({x.details["modelId"] for x in subjects if x.details.get("modelId")}))
    for x in subjects:
        facts = x.details["facts"]
        if x.details.get("versionId") in bench:
            facts["benchmark"] = dict(bench[x.details["versionId"]])
        if x.details.get("modelId"):
            key = (x.details["modelId"], x.details["version"] if x.kind == "version" else None)
            if key in monitoring:
                facts["monitoring"] = monitoring[key]
    return subjects


def fill_raw(subjects: Sequence[Subject], metrics: Sequence[MetricDef]) -> None:
    for x in subjects:
        for m in metrics:
            value, path = raw_value(m, x.details["facts"])
            x.raw[m.key] = value
            if path:
                x.sources[m.key] = path


def score_matrix(subjects: Sequence[Subject], metrics: Sequence[MetricDef]) -> dict[str, dict[str, float | None]]:
    """Per metric key: subject id -> 0–100 score (None where missing)."""
    return {m.key: engine.normalise(m, {x.id: x.raw.get(m.key) for x in subjects}) for m in metrics}


# --- weighting ---------------------------------------------------------------------------------------------


def weighting(session: Session, *, profile: str | None, weights: dict[str, float] | None,
              metrics: list[str] | None) -> tuple[list[MetricDef], dict[str, float], dict[str, Any]]:
    """The metrics compared, their (raw) weights, and the weighting's description; COMPARE_003 for unknown
    keys, COMPARE_002 for a negative, non-finite or all-zero weighting."""
    catalogue = metric_catalogue(session)
    asked = list(dict.fromkeys([*(weights or {}), *(metrics or [])]))
    unknown = [k for k in asked if k not in catalogue]
    if unknown:
        raise AISystemError("COMPARE_003", f"Unknown metric: {', '.join(unknown)}", {"unknown": unknown})
    if weights is not None:
        bad = {k: w for k, w in weights.items()
               if not (isinstance(w, int | float) and math.isfinite(w) and 0 <= w <= MAX_WEIGHT)}
        if bad:
            raise invalid(f"Weights must be non-negative numbers of at most {MAX_WEIGHT:g}", negative=sorted(bad))
        keys = list(dict.fromkeys(metrics or list(weights)))
        raw = {k: float(weights.get(k, 0.0)) for k in keys}
        described = {"profile": None, "weights": engine.normalise_weights(raw)}
    else:
        name = profile or "balanced"
        base = PROFILES[name]["weights"]
        keys = list(dict.fromkeys(metrics or list(BUILTIN_KEYS)))
        mean = sum(base.values()) / len(base)
        raw = {k: float(base.get(k, mean)) for k in keys}
        described = {"profile": name, "weights": engine.normalise_weights(raw)}
    if not keys:
        raise invalid("Name at least one metric")
    if sum(raw.values()) <= 0:
        raise invalid("At least one weight must be above zero")
    described["weights"] = {k: round(v, 6) for k, v in described["weights"].items()}
    return [catalogue[k] for k in keys], raw, described


def version_choices(*, session: Session, actor: Principal, limit: int = VERSION_CHOICES,
                    include: Sequence[str] = ()) -> list[tuple[RegisteredModel, ModelVersion]]:
    """Model versions to offer as comparison subjects, of live models `actor` may read, by model name then
    semantic version: the benchmarked versions first (most recently measured; only they can show a rank
    confidence), then every version of the `RECENT_MODELS` most recently updated models, at most `limit`
    in all; plus the versions named in `include` (a shared link's picks) whatever the bound."""
    if not actor.can("model:read"):
        return []
    from backend.benchmarks.models import BenchmarkResult

    measured = func.max(col(BenchmarkResult.created_at))
    ranked: list[str] = list(session.exec(
        select(BenchmarkResult.model_version_id).group_by(BenchmarkResult.model_version_id)
        .order_by(measured.desc()).limit(limit)).all())
    recent = select(RegisteredModel.id).where(col(RegisteredModel.deleted_at).is_(None)) \
        .order_by(col(RegisteredModel.updated_at).desc()).limit(RECENT_MODELS)
    ranked += session.exec(select(ModelVersion.id).where(col(ModelVersion.model_id).in_(recent.scalar_subquery()))
                           .order_by(col(ModelVersion.created_at).desc())).all()
    wanted = list(dict.fromkeys(ranked))[:limit]
    wanted += [i for i in include if i not in wanted][:MAX_MODELS]
    if not wanted:
        return []
    rows = session.exec(select(RegisteredModel, ModelVersion).join(ModelVersion,
                                                                    col(ModelVersion.model_id) == RegisteredModel.id)
                        .where(col(ModelVersion.id).in_(wanted), col(RegisteredModel.deleted_at).is_(None))).all()
    models = {model.id: model for model, _version in rows}
    readable = {i for i, model in models.items() if is_authorized(actor, "model:read", model)}
    return sorted(((m, v) for m, v in rows if m.id in readable),
                  key=lambda row: (row[0].name_key, row[0].id, row[1].major, row[1].minor, row[1].patch))


def _check_count(refs: Sequence[Any]) -> None:
    keys = [_ref_key(r if not isinstance(r, dict) else s.SubjectRef.model_validate(r)) for r in refs]
    if not MIN_MODELS <= len(keys) <= MAX_MODELS:
        raise invalid(f"Compare between {MIN_MODELS} and {MAX_MODELS} models; got {len(keys)}", count=len(keys))
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise invalid("A model is named twice", duplicates=dupes)


# --- comparisons ---------------------------------------------------------------------------------------------


def prepare(*, session: Session, actor: Principal, data: s.CompareRequest) -> dict[str, Any]:
    """Everything a comparison needs, without storing it: subjects with raw values, scores, metrics and
    weights (the comparison page keeps this and re-weights in-process with `engine.evaluate`)."""
    authorize(actor, CREATE)
    _check_count(data.models)
    metrics, raw_weights, described = weighting(session, profile=data.profile, weights=data.weights,
                                                metrics=data.metrics)
    subjects = resolve_subjects(session=session, actor=actor, refs=data.models)
    ids = [x.id for x in subjects]
    if len(set(ids)) != len(ids):
        raise invalid("A model is named twice", duplicates=sorted({i for i in ids if ids.count(i) > 1}))
    fill_raw(subjects, metrics)
    return {"subjects": subjects, "metrics": metrics, "weights": raw_weights, "weighting": described,
            "scores": score_matrix(subjects, metrics), "bootstrap": confidence_inputs(session, subjects, metrics)}


def compare(*, session: Session, actor: Principal, data: s.CompareRequest) -> s.ComparisonResult:
    """Score 2–10 models under a weighting and store the result (fetch it later with `get_comparison`)."""
    prepared = prepare(session=session, actor=actor, data=data)
    document = engine.evaluate(metrics=prepared["metrics"], subjects=prepared["subjects"],
                               scores=prepared["scores"], weights=prepared["weights"], bootstrap=prepared["bootstrap"])
    row = Comparison(id=new_id("comparison"), title=data.title, request=data.model_dump(mode="json", by_alias=True),
                     subject_ids=[x.id for x in prepared["subjects"]], created_by=actor.user_id)
    document |= {"id": row.id, "title": data.title, "weighting": prepared["weighting"],
                 "timestamp": isoformat_z(row.created_at)}
    row.document = document
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="comparison.create", entity_type="comparison",
                 entity_id=row.id, summary={"models": row.subject_ids, "weighting": prepared["weighting"]})
    return s.ComparisonResult.model_validate(document)


def get_comparison(*, session: Session, actor: Principal, comparison_id: str) -> s.ComparisonResult:
    """A stored comparison: the author's (an admin sees every one); COMPARE_001 otherwise."""
    authorize(actor, READ)
    row = session.get(Comparison, comparison_id)
    if row is None or (row.created_by != actor.user_id and not actor.is_admin):
        raise AISystemError("COMPARE_001", f"Comparison {comparison_id} does not exist",
                            {"comparisonId": comparison_id})
    return s.ComparisonResult.model_validate(row.document)


def list_comparisons(*, session: Session, actor: Principal, limit: int = 20) -> list[Comparison]:
    authorize(actor, READ)
    return list(session.exec(select(Comparison).where(Comparison.created_by == actor.user_id)
                             .order_by(col(Comparison.created_at).desc(), col(Comparison.id).desc()).limit(limit)).all())


# --- scoring -------------------------------------------------------------------------------------------------------


def _score_read(row: ModelScore, rank: int | None = None) -> s.ScoreRead:
    return s.ScoreRead(id=row.id, subject_id=row.subject_id, subject_name=row.subject_name, method=row.method,
                       weighting=row.weighting, score=row.score, rank=rank, metric_scores=row.metric_scores,
                       raw_values=row.raw_values, created_at=row.created_at)


def _store_scores(session: Session, actor: Principal, subjects: Sequence[Subject], values: dict[str, float | None],
                  scores: dict[str, dict[str, float | None]], method: str, described: dict[str, Any]) -> list[s.ScoreRead]:
    ranks = engine.ranks(values)
    rows = []
    for x in subjects:
        row = ModelScore(id=new_id("score"), subject_id=x.id, subject_name=x.name, method=method, weighting=described,
                         score=engine.r1(values[x.id]),
                         metric_scores={k: engine.r1(v.get(x.id)) for k, v in scores.items()},
                         raw_values=dict(x.raw), created_by=actor.user_id)
        session.add(row)
        rows.append(row)
    session.flush()
    audit.record(session=session, actor=actor, action=f"comparison.score.{method}", entity_type="comparison_score",
                 entity_id=rows[0].id if rows else None,
                 summary={"subjects": [x.id for x in subjects], "weighting": described})
    order = engine.tie_order(values, {x.id: x.name for x in subjects})
    by_id = {r.subject_id: r for r in rows}
    return [_score_read(by_id[i], ranks[i]) for i in order]


def calculate_scores(*, session: Session, actor: Principal, data: s.ScoreRequest) -> s.ScoreList:
    """Weighted overall scores of 1–50 models (normalised across the scored set), stored per model."""
    authorize(actor, CREATE)
    metrics, raw_weights, described = weighting(session, profile=data.profile, weights=data.weights,
                                                metrics=data.metrics)
    subjects = resolve_subjects(session=session, actor=actor, refs=data.models)
    fill_raw(subjects, metrics)
    scores = score_matrix(subjects, metrics)
    values = engine.overall_scores(scores, engine.normalise_weights(raw_weights), [x.id for x in subjects])
    items = _store_scores(session, actor, subjects, values, scores, "weighted", described)
    missing = {x.id: [m.key for m in metrics if x.raw.get(m.key) is None] for x in subjects}
    return s.ScoreList(items=items, missing={k: v for k, v in missing.items() if v})


def custom_scores(*, session: Session, actor: Principal, data: s.CustomScoreRequest) -> s.ScoreList:
    """A user-defined formula over metric keys (`backend.comparison.formula`), per model; a model missing a
    metric the formula reads gets no score and is listed in `missing`."""
    authorize(actor, CREATE)
    tree, keys = formula.parse(data.formula)
    catalogue = metric_catalogue(session)
    unknown = sorted(k for k in keys if k not in catalogue)
    if unknown:
        raise AISystemError("COMPARE_003", f"Unknown metric: {', '.join(unknown)}", {"unknown": unknown})
    metrics = [catalogue[k] for k in catalogue if k in keys]
    subjects = resolve_subjects(session=session, actor=actor, refs=data.models)
    fill_raw(subjects, metrics)
    scores = score_matrix(subjects, metrics)
    values: dict[str, float | None] = {}
    missing: dict[str, list[str]] = {}
    for x in subjects:
        try:
            values[x.id] = formula.evaluate(tree, {k: v.get(x.id) for k, v in scores.items()}, x.raw)
        except formula.Missing:
            values[x.id] = None
            missing[x.id] = [m.key for m in metrics if scores[m.key].get(x.id) is None]
    described = {"formula": data.formula, "name": data.name}
    items = _store_scores(session, actor, subjects, values, scores, "formula", described)
    return s.ScoreList(items=items, missing=missing)


def model_scores(*, session: Session, actor: Principal, model_id: str, limit: int = 20) -> s.ModelScores:
    """A model's (version's, listing's) metric values now and its stored scores, newest first."""
    authorize(actor, READ)
    try:
        subject = resolve_subjects(session=session, actor=actor, refs=[model_id])[0]
    except AISystemError as exc:
        if exc.code != "COMPARE_004":
            raise
        raise AISystemError("COMPARE_001", f"No model, version or listing {model_id}", {"modelId": model_id}) from None
    metrics = list(metric_catalogue(session).values())
    fill_raw([subject], metrics)
    rows = session.exec(select(ModelScore).where(ModelScore.subject_id == subject.id,
                                                 ModelScore.created_by == actor.user_id)
                        .order_by(col(ModelScore.created_at).desc(), col(ModelScore.id).desc()).limit(limit)).all()
    return s.ModelScores(subject_id=subject.id, subject_name=subject.name, kind=subject.kind, raw_values=subject.raw,
                         sources=subject.sources, history=[_score_read(r) for r in rows])


def rankings(*, session: Session, actor: Principal, profile: str = "balanced", type: str | None = None,  # noqa: A002
             category: str | None = None, limit: int = 50) -> s.Rankings:
    """Live catalog models ranked under a profile (scores normalised across the ranked set)."""
    authorize(actor, READ)
    if profile not in PROFILES:
        raise invalid(f"Unknown profile {profile}", profiles=list(PROFILES))
    query = registry.live_models_query()
    if type:
        query = query.where(RegisteredModel.type == type)
    if category:
        query = query.where(RegisteredModel.category == category)
    models = session.exec(query.order_by(RegisteredModel.name_key, RegisteredModel.id).limit(500)).all()
    models = [m for m in models if actor.can("model:read")]
    subjects = [_model_subject(session, m, _newest_version(session, m.id), as_version=False) for m in models]
    metrics, raw_weights, described = weighting(session, profile=profile, weights=None, metrics=None)
    fill_raw(subjects, metrics)
    scores = score_matrix(subjects, metrics)
    weights = engine.normalise_weights(raw_weights)
    ids = [x.id for x in subjects]
    overall = engine.overall_scores(scores, weights, ids)
    names = {x.id: x.name for x in subjects}
    ranks = engine.ranks(overall)
    items = []
    for i in engine.tie_order(overall, names)[:limit]:
        coverage = sum(w for k, w in weights.items() if scores[k].get(i) is not None)
        items.append(s.RankingEntry(rank=ranks[i], model_id=i, model_name=names[i],
                                    overall_score=engine.r1(overall[i]), coverage=round(coverage, 4)))
    missing = {x.id: [m.key for m in metrics if x.raw.get(m.key) is None] for x in subjects}
    shown = {e.model_id for e in items}
    return s.Rankings(profile=profile, weights=described["weights"], items=items,
                      missing={k: v for k, v in missing.items() if v and k in shown})


# --- analysis ------------------------------------------------------------------------------------------------------


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in (d or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)}


LOWER_IS_BETTER = ("latency", "loss", "rmse", "mae", "error", "ms")


def _lower_better(key: str) -> bool:
    return any(word in key.lower() for word in LOWER_IS_BETTER)


def performance_analysis(*, session: Session, actor: Principal, model_id: str) -> s.PerformanceAnalysis:
    """A model's metrics across its versions (semantic order, with benchmark results where measured) and
    over time from its experiments' runs, each metric's trend, and the versions that regressed."""
    authorize(actor, READ)
    model = registry.get_model(session=session, actor=actor, model_id=model_id)
    versions = sorted(session.exec(select(ModelVersion).where(ModelVersion.model_id == model.id)).all(),
                      key=lambda v: (v.major, v.minor, v.patch))
    bench = _benchmarks(session, [v.id for v in versions])
    points = [s.VersionPoint(version=v.version, stage=v.stage, created_at=v.created_at, metrics=_numbers(v.metrics),
                             benchmark=_numbers(bench.get(v.id, {}))) for v in versions]
    runs: list[s.RunPoint] = []
    if actor.can("experiment:read"):
        from backend.catalog.experiments.models import Experiment, LatestMetric, Run

        experiments = session.exec(select(Experiment).where(Experiment.model_id == model.id,
                                                            col(Experiment.deleted_at).is_(None))).all()
        readable = []
        for e in experiments:
            try:
                authorize(actor, "experiment:read", e)
                readable.append(e.id)
            except AISystemError:
                continue
        if readable:
            rows = session.exec(select(Run).where(col(Run.experiment_id).in_(readable), col(Run.deleted_at).is_(None))
                                .order_by(Run.start_time, Run.id).limit(500)).all()
            latest: dict[str, dict[str, float]] = {}
            if rows:
                for m in session.exec(select(LatestMetric).where(col(LatestMetric.run_id).in_([r.id for r in rows]),
                                                                 col(LatestMetric.is_nan).is_(False))).all():
                    latest.setdefault(m.run_id, {})[m.key] = m.value
            from datetime import UTC, datetime

            runs = [s.RunPoint(run_id=r.id, experiment_id=r.experiment_id, name=r.name,
                               at=datetime.fromtimestamp(r.start_time / 1000, tz=UTC), metrics=latest.get(r.id, {}))
                    for r in rows if latest.get(r.id)]
    trends, regressions = [], []
    keys = sorted({k for p in points for k in p.metrics})
    for key in keys:
        series = [(p.version, p.metrics[key]) for p in points if key in p.metrics]
        if not series:
            continue
        lower = _lower_better(key)
        best = min(series, key=lambda x: x[1]) if lower else max(series, key=lambda x: x[1])
        trends.append(s.MetricTrend(key=key, first=series[0][1], last=series[-1][1], best=best[1],
                                    best_version=best[0], change=round(series[-1][1] - series[0][1], 6)))
        for (v0, a), (v1, b) in zip(series, series[1:], strict=False):
            worse = b > a if lower else b < a
            if worse and abs(b - a) > 1e-9:
                regressions.append(f"{key} got {'higher' if lower else 'lower'} from {v0} to {v1}: "
                                   f"{engine._fmt(a)} → {engine._fmt(b)}")
    return s.PerformanceAnalysis(model_id=model.id, model_name=model.name, versions=points, runs=runs, trends=trends,
                                 regressions=regressions)


def cost_efficiency(*, session: Session, actor: Principal, data: s.CostEfficiencyRequest) -> s.CostEfficiency:
    """Cost per 1,000 predictions against quality for each model, with the Pareto front (cheaper or better:
    no other model is at least as cheap and at least as good, and strictly one of them)."""
    authorize(actor, READ)
    catalogue = metric_catalogue(session)
    if data.quality_metric not in catalogue:
        raise AISystemError("COMPARE_003", f"Unknown metric: {data.quality_metric}", {"unknown": [data.quality_metric]})
    quality_metric = catalogue[data.quality_metric]
    cost_metric = catalogue["cost_efficiency"]
    subjects = resolve_subjects(session=session, actor=actor, refs=data.models)
    fill_raw(subjects, [quality_metric, cost_metric])
    known = [x for x in subjects if x.raw.get(quality_metric.key) is not None and x.raw.get("cost_efficiency") is not None]
    sign = 1 if quality_metric.direction == "higher" else -1
    front = []
    for x in known:
        cx, qx = x.raw["cost_efficiency"], sign * x.raw[quality_metric.key]
        beaten = any(y is not x and y.raw["cost_efficiency"] <= cx and sign * y.raw[quality_metric.key] >= qx
                     and (y.raw["cost_efficiency"] < cx or sign * y.raw[quality_metric.key] > qx) for y in known)
        if not beaten:
            front.append(x.id)
    points = []
    for x in subjects:
        cost, quality = x.raw.get("cost_efficiency"), x.raw.get(quality_metric.key)
        per_dollar = quality / cost * 1000 if cost and quality is not None else None
        points.append(s.CostPoint(model_id=x.id, model_name=x.name, cost_per_thousand_predictions=cost, quality=quality,
                                  quality_per_dollar=round(per_dollar, 6) if per_dollar is not None else None,
                                  on_pareto_front=x.id in front))
    lines = []
    if known:
        best_q = max(known, key=lambda x: sign * x.raw[quality_metric.key])
        cheapest = min(known, key=lambda x: (x.raw["cost_efficiency"], -sign * x.raw[quality_metric.key]))
        lines.append(f"{cheapest.name} is the cheapest at {engine._fmt(cheapest.raw['cost_efficiency'], 'USD')} per "
                     f"1,000 predictions")
        lines.append(f"{best_q.name} has the best {quality_metric.label} ({engine._fmt(best_q.raw[quality_metric.key])})")
        if best_q.id != cheapest.id:
            gap = abs(best_q.raw[quality_metric.key] - cheapest.raw[quality_metric.key])
            extra = best_q.raw["cost_efficiency"] - cheapest.raw["cost_efficiency"]
            lines.append(f"{best_q.name} costs {engine._fmt(extra, 'USD')} more per 1,000 predictions than "
                         f"{cheapest.name} for {engine._fmt(gap)} more {quality_metric.label}")
    return s.CostEfficiency(quality_metric=quality_metric.key, assumptions=COST_ASSUMPTIONS, points=points,
                            pareto_front=front, missing=[x.id for x in subjects if x not in known], insights=lines)


def insights(*, session: Session, actor: Principal, limit: int = 50) -> s.InsightList:
    """Notable changes across the catalog: a newer version that regressed on a logged metric, a newer version
    that improved, and a cheaper model within 1 point (0.01) of the best quality of its category."""
    authorize(actor, READ)
    if not actor.can("model:read"):
        return s.InsightList(items=[])
    models = session.exec(registry.live_models_query().order_by(RegisteredModel.name_key, RegisteredModel.id)
                          .limit(1000)).all()
    by_model: dict[str, list[ModelVersion]] = {}
    for v in session.exec(select(ModelVersion).where(col(ModelVersion.model_id).in_([m.id for m in models]))).all():
        by_model.setdefault(v.model_id, []).append(v)
    items: list[s.Insight] = []
    for m in models:
        versions = sorted(by_model.get(m.id, []), key=lambda v: (v.major, v.minor, v.patch))
        if len(versions) < 2:
            continue
        prev, last = versions[-2], versions[-1]
        a, b = _numbers(prev.metrics), _numbers(last.metrics)
        for key in sorted(set(a) & set(b)):
            lower = _lower_better(key)
            delta = b[key] - a[key]
            if abs(delta) < 1e-9:
                continue
            worse = delta > 0 if lower else delta < 0
            kind = "regression" if worse else "improvement"
            items.append(s.Insight(kind=kind, model_id=m.id, message=(
                f"{m.name} {last.version} {'regressed' if worse else 'improved'} on {key}: "
                f"{engine._fmt(a[key])} in {prev.version} → {engine._fmt(b[key])}"),
                details={"metric": key, "from": prev.version, "to": last.version, "before": a[key], "after": b[key]}))
    # Cheaper alternatives: per category, among models with a quality figure and a cost.
    subjects = [_model_subject(session, m, _newest_version(session, m.id), as_version=False) for m in models]
    quality, cost = BUILTIN_METRICS[0], BUILTIN_METRICS[1]
    fill_raw(subjects, [quality, cost])
    by_category: dict[str, list[Subject]] = {}
    for x, m in zip(subjects, models, strict=True):
        if x.raw.get("performance") is not None and x.raw.get("cost_efficiency") is not None:
            by_category.setdefault(m.category, []).append(x)
    for category, group in sorted(by_category.items()):
        if len(group) < 2:
            continue
        best = max(group, key=lambda x: (x.raw["performance"], -x.raw["cost_efficiency"]))
        for x in group:
            if x is best or x.raw["cost_efficiency"] >= best.raw["cost_efficiency"]:
                continue
            if best.raw["performance"] - x.raw["performance"] <= 0.01:
                items.append(s.Insight(kind="cheaper_alternative", model_id=x.id, message=(
                    f"{x.name} is within {100 * (best.raw['performance'] - x.raw['performance']):.1f} points of "
                    f"{best.name} in {category} and costs {engine._fmt(x.raw['cost_efficiency'], 'USD')} instead "
                    f"of {engine._fmt(best.raw['cost_efficiency'], 'USD')} per 1,000 predictions"),
                    details={"best": best.id, "category": category}))
    order = {"regression": 0, "cheaper_alternative": 1, "improvement": 2}
    items.sort(key=lambda i: (order[i.kind], i.message))
    return s.InsightList(items=items[:limit])


def count_comparisons(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Comparison)).one())
