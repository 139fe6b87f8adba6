"""The pure scoring engine of comparisons: no database, no I/O, so the REST service and the comparison
page (which re-weights live as sliders move) compute with the very same functions.

Inputs are plain data: metric definitions (`MetricDef`), the raw values of each subject, and weights.

- `normalise`: raw values of one metric -> scores 0–100 (min-max across the compared set, on a linear or
  log10 scale, or against a fixed reference); a missing raw value stays missing (never zero).
- `evaluate`: scores + weights -> the comparison document's numeric parts: overall scores, rankings
  (ties: equal when equal at one decimal, the displayed precision; competition ranking 1, 1, 3),
  recommendations, the Pareto front, the weight sensitivity and insight sentences generated from the numbers.
- `rank_confidence`: with raw values of sample-based metrics on bootstrap resamples (`Bootstrap`), how sure
  the overall ranking is; each resample goes through `normalise`, `overall_scores` and `ranks` above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DIRECTIONS = ("higher", "lower")
NORMALISATIONS = ("minmax", "reference")
SCALES = ("linear", "log")


@dataclass(frozen=True)
class MetricDef:
    """Where a metric's raw value comes from and how it becomes a 0–100 score."""

    key: str
    label: str
    sources: tuple[str, ...]  # field paths, first present wins: "model.performance.accuracy", "benchmark.f1_macro"
    direction: str = "higher"  # higher | lower is better
    normalization: str = "minmax"  # minmax | reference
    reference: float | None = None  # minmax: unused; reference: the raw value worth 100
    scale: str = "linear"  # linear | log (log10 before min-max: context windows span orders of magnitude)
    unit: str = ""
    description: str = ""
    builtin: bool = False


@dataclass
class Subject:
    """One compared thing (catalog model, model version or marketplace listing) and its raw values."""

    id: str
    name: str
    kind: str
    raw: dict[str, float | None] = field(default_factory=dict)  # metric key -> raw value
    sources: dict[str, str] = field(default_factory=dict)  # metric key -> the path the value came from
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Bootstrap:
    """Raw values of sample-based metrics on paired bootstrap resamples (see `backend.comparison.bootstrap`):
    `values[metric key][subject id]` holds one raw value per resample (the same resampled rows for every
    subject); every other raw value stays as measured. `about` describes what was resampled (dataset,
    rows, sources, subjects left fixed and why); `note` says in words why nothing was, when nothing was."""

    resamples: int
    seed: int
    values: dict[str, dict[str, Sequence[float]]] = field(default_factory=dict)
    about: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


CONFIDENCE_LEVEL = 0.95


def r1(value: float | None) -> float | None:
    """One decimal: the precision shown and the precision ties are judged at."""
    return None if value is None else round(float(value) + 0.0, 1)


def normalise(metric: MetricDef, raw: Mapping[str, float | None]) -> dict[str, float | None]:
    """Scores 0–100 (higher is better) of one metric; None where the raw value is missing."""
    present = {k: float(v) for k, v in raw.items() if v is not None and math.isfinite(float(v))}
    out: dict[str, float | None] = dict.fromkeys(raw)
    if not present:
        return out
    if metric.normalization == "reference":
        ref = float(metric.reference or 0.0)
        for k, v in present.items():
            if metric.direction == "higher":
                score = 100.0 * v / ref if ref > 0 else (100.0 if v > 0 else 0.0)
            else:
                score = 100.0 if v <= ref else (100.0 * ref / v if v > 0 else 100.0)
            out[k] = min(100.0, max(0.0, score))
        return out
    values = {k: (math.log10(max(v, 1e-12)) if metric.scale == "log" else v) for k, v in present.items()}
    low, high = min(values.values()), max(values.values())
    for k, v in values.items():
        if high - low <= 1e-12:
            out[k] = 100.0  # nothing separates the compared set on this metric
        elif metric.direction == "higher":
            out[k] = 100.0 * (v - low) / (high - low)
        else:
            out[k] = 100.0 * (high - v) / (high - low)
    return out


def normalise_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Weights scaled to sum to 1 (they are checked non-negative before)."""
    total = sum(max(0.0, float(w)) for w in weights.values())
    if total <= 0:
        return dict.fromkeys(weights, 0.0)
    return {k: max(0.0, float(w)) / total for k, w in weights.items()}


def overall_scores(scores: Mapping[str, Mapping[str, float | None]], weights: Mapping[str, float],
                   ids: Sequence[str]) -> dict[str, float | None]:
    """Weighted mean of each subject's available scores; a missing score is left out and the subject's
    weights are renormalised over the metrics it has (None when it has none of the weighted metrics)."""
    out: dict[str, float | None] = {}
    for i in ids:
        num = den = 0.0
        for key, w in weights.items():
            s = scores.get(key, {}).get(i)
            if s is not None and w > 0:
                num += w * s
                den += w
        out[i] = num / den if den > 0 else None
    return out


def tie_order(values: Mapping[str, float | None], names: Mapping[str, str]) -> list[str]:
    """Ids best first: by the value at one decimal, then by name and id (a stable, documented order)."""
    return sorted(values, key=lambda i: (values[i] is None, -(r1(values[i]) or 0.0), names.get(i, ""), i))


def ranks(values: Mapping[str, float | None]) -> dict[str, int | None]:
    """Competition ranking at one decimal: equal values share a rank, the next rank skips (1, 1, 3)."""
    rounded = {i: r1(v) for i, v in values.items()}
    return {i: None if v is None else 1 + sum(1 for o in rounded.values() if o is not None and o > v)
            for i, v in rounded.items()}


def pareto(scores: Mapping[str, Mapping[str, float | None]], ids: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The subjects no other subject beats on every metric, and for each other one a subject dominating it.

    `a` dominates `b` when `a` has a score wherever `b` has one, is at least as good on each of them (at
    one decimal) and better on one."""
    avail = {i: {k: r1(v[i]) for k, v in scores.items() if v.get(i) is not None} for i in ids}
    dominated_by: dict[str, str] = {}
    for b in ids:
        if not avail[b]:
            continue
        for a in ids:
            if a == b or not set(avail[b]) <= set(avail[a]):
                continue
            pairs = [(avail[a][k], avail[b][k]) for k in avail[b]]
            if all(x >= y for x, y in pairs) and any(x > y for x, y in pairs):
                dominated_by[b] = a
                break
    front = [i for i in ids if avail[i] and i not in dominated_by]
    return front, dominated_by


def _shifted(weights: Mapping[str, float], key: str, t: float) -> dict[str, float]:
    """Weights with `key` at `t` and the others scaled to share 1 - t in their current proportions
    (equally when they were all zero)."""
    rest = {k: w for k, w in weights.items() if k != key}
    total = sum(rest.values())
    if total > 0:
        out = {k: w * (1 - t) / total for k, w in rest.items()}
    else:
        out = {k: (1 - t) / len(rest) for k in rest} if rest else {}
    out[key] = t
    return out


def _winner(scores, weights, ids, names) -> str | None:  # noqa: ANN001
    overall = overall_scores(scores, weights, ids)
    ranked = sorted((i for i in ids if overall[i] is not None), key=lambda i: (-overall[i], names.get(i, ""), i))
    return ranked[0] if ranked else None


def _crossings(scores, weights, ids, key) -> list[float]:  # noqa: ANN001
    """Every weight t in (0, 1) of `key` where two subjects' overall scores are equal.

    With the other weights scaled to share 1 - t, a subject's overall score is (t·a + (1-t)·b) / (t·c + (1-t)·d)
    (a, c: its score and presence on `key`; b, d: the same over the other metrics), so two subjects cross
    where a quadratic in t vanishes: the crossings are exact, not sampled."""
    rest = _shifted(weights, key, 0.0)
    parts = {}
    for i in ids:
        s = scores.get(key, {}).get(i)
        b = sum(w * scores[k][i] for k, w in rest.items() if k != key and scores.get(k, {}).get(i) is not None)
        d = sum(w for k, w in rest.items() if k != key and scores.get(k, {}).get(i) is not None)
        parts[i] = (s or 0.0, b, 1.0 if s is not None else 0.0, d)
    roots: list[float] = []
    for n, i in enumerate(ids):
        for j in ids[n + 1:]:
            # num_i(t)·den_j(t) - num_j(t)·den_i(t), each factor linear in t: p(t) = p0 + t·(p1 - p0).
            ai, bi, ci, di = parts[i]
            aj, bj, cj, dj = parts[j]

            def poly(x0, x1, y0, y1):  # noqa: ANN001, ANN202
                return (x0 * y0, x0 * (y1 - y0) + y0 * (x1 - x0), (x1 - x0) * (y1 - y0))

            p = poly(bi, ai, dj, cj)
            q = poly(bj, aj, di, ci)
            c0, c1, c2 = p[0] - q[0], p[1] - q[1], p[2] - q[2]
            if abs(c2) > 1e-12:
                disc = c1 * c1 - 4 * c2 * c0
                if disc >= 0:
                    roots += [(-c1 + sgn * math.sqrt(disc)) / (2 * c2) for sgn in (1, -1)]
            elif abs(c1) > 1e-12:
                roots.append(-c0 / c1)
    return sorted({round(r, 12) for r in roots if 1e-12 < r < 1 - 1e-12})


def _first_change(scores, weights, ids, names, key, roots, start: float, end: float, base):  # noqa: ANN001
    """Walking the weight of `key` from `start` to `end`: the first crossing after which the winner is not `base`."""
    ahead = [r for r in roots if (r > start + 1e-12 if end > start else r < start - 1e-12)]
    ahead.sort(reverse=end < start)
    points = [start, *ahead, end]
    for p, q in zip(points, points[1:], strict=False):
        who = _winner(scores, _shifted(weights, key, (p + q) / 2), ids, names)
        if who is not None and who != base:
            return p, who
    # At an end of the range a subject may lose every weighted metric it has (its score vanishes there).
    who = _winner(scores, _shifted(weights, key, end), ids, names)
    return (end, who) if who is not None and who != base else None


def sensitivity(scores: Mapping[str, Mapping[str, float | None]], weights: Mapping[str, float],
                ids: Sequence[str], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Per metric: how far its (normalised) weight must rise or fall, the others keeping their proportions,
    before the winner changes, and to whom. Computed exactly from the crossings of the overall scores."""
    base = _winner(scores, weights, ids, names)
    out = []
    for key, w in weights.items():
        entry: dict[str, Any] = {"key": key, "weight": round(w, 4), "winner": base, "increase": None,
                                 "decrease": None, "minChange": None}
        if base is not None and len(weights) > 1:
            roots = _crossings(scores, weights, list(ids), key)
            for direction, end in (("increase", 1.0), ("decrease", 0.0)):
                if abs(end - w) < 1e-12:
                    continue
                found = _first_change(scores, weights, ids, names, key, roots, w, end, base)
                if found:
                    t, who = found
                    entry[direction] = {"weight": round(t, 4), "change": round(t - w, 4), "newWinner": who}
            changes = [abs(entry[d]["change"]) for d in ("increase", "decrease") if entry[d]]
            entry["minChange"] = round(min(changes), 4) if changes else None
        out.append(entry)
    return out


def _interval(values: Sequence[float], *, whole: bool) -> list[float] | None:
    """The central 95 % interval of draws (ranks: the lower and upper draw, so the ends are ranks)."""
    if not len(values):
        return None
    tail = 100 * (1 - CONFIDENCE_LEVEL) / 2
    if whole:
        return [int(np.percentile(values, tail, method="lower")), int(np.percentile(values, 100 - tail, method="higher"))]
    low, high = np.percentile(values, [tail, 100 - tail])
    return [r1(float(low)), r1(float(high))]


def rank_confidence(*, metrics: Sequence[MetricDef], subjects: Sequence[Subject],
                    scores: Mapping[str, Mapping[str, float | None]], weights: Mapping[str, float],
                    bootstrap: Bootstrap) -> dict[str, Any]:
    """How sure the overall ranking is, from paired bootstrap resamples of the sample-based metrics.

    Each resample re-normalises those metrics (`normalise`), re-weights (`overall_scores`, with the same
    normalised `weights` as the document) and ranks (`ranks`, ties at one decimal), exactly as `evaluate`
    does once. Per subject: the share of resamples it ranks first (a tie for first shares the resample
    equally, so the shares sum to 1), and the central 95 % interval of its overall rank and score. A subject
    without an overall score has none of them."""
    ids = [x.id for x in subjects]
    by_key = {m.key: m for m in metrics}
    resampled = {k: v for k, v in bootstrap.values.items() if k in by_key and v}
    block: dict[str, Any] = {
        "available": bool(resampled), "resamples": bootstrap.resamples if resampled else 0, "seed": bootstrap.seed,
        "level": CONFIDENCE_LEVEL, "metrics": sorted(resampled, key=list(by_key).index), **bootstrap.about,
        "models": [], "note": bootstrap.note}
    if not resampled:
        block["note"] = bootstrap.note or "No compared metric comes from benchmark samples: nothing was resampled"
        return block
    raw = {k: {x.id: x.raw.get(k) for x in subjects} for k in resampled}
    first = dict.fromkeys(ids, 0.0)
    drawn_ranks: dict[str, list[int]] = {i: [] for i in ids}
    drawn_scores: dict[str, list[float]] = {i: [] for i in ids}
    current = {k: scores.get(k, {}) for k in by_key}
    for b in range(bootstrap.resamples):
        for key, per_subject in resampled.items():
            values = dict(raw[key])
            values.update({i: float(v[b]) for i, v in per_subject.items()})
            current[key] = normalise(by_key[key], values)
        overall = overall_scores(current, weights, ids)
        ranked = ranks(overall)
        leaders = [i for i in ids if ranked[i] == 1]
        for i in leaders:
            first[i] += 1 / len(leaders)
        for i in ids:
            if ranked[i] is not None:
                drawn_ranks[i].append(ranked[i])
                drawn_scores[i].append(overall[i])
    weight = sum(weights.get(k, 0.0) for k in resampled)
    if weight <= 0:
        block["note"] = "The resampled metrics carry no weight: the ranking cannot move between resamples"
    for i in ids:
        block["models"].append({
            "modelId": i, "probabilityFirst": round(first[i] / bootstrap.resamples, 4),
            "rankInterval": _interval(drawn_ranks[i], whole=True),
            "scoreInterval": _interval(drawn_scores[i], whole=False),
            "resampled": any(i in per_subject for per_subject in resampled.values())})
    block["models"].sort(key=lambda m: (-m["probabilityFirst"], ids.index(m["modelId"])))
    return block


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "unknown"
    if unit == "USD":
        return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"
    if unit == "fraction":
        return f"{100 * value:.1f} %"
    if abs(value) >= 1000 and float(value).is_integer():
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}".rstrip("0").rstrip(".")
    else:
        text = f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip() if unit and unit != "USD" else text


def _names(ids: Sequence[str], names: Mapping[str, str]) -> str:
    parts = [names[i] for i in ids]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _best(scores: Mapping[str, float | None], names: Mapping[str, str]) -> str | None:
    present = {i: v for i, v in scores.items() if v is not None}
    return tie_order(present, names)[0] if present else None


def evaluate(*, metrics: Sequence[MetricDef], subjects: Sequence[Subject], scores: Mapping[str, Mapping[str, float | None]],
             weights: Mapping[str, float], with_sensitivity: bool = True,
             bootstrap: Bootstrap | None = None) -> dict[str, Any]:
    """The comparison document's computed parts from per-metric scores and (raw, non-negative) weights;
    with `bootstrap`, also `rankConfidence` (see `rank_confidence`)."""
    ids = [s.id for s in subjects]
    names = {s.id: s.name for s in subjects}
    weights = normalise_weights({m.key: weights.get(m.key, 0.0) for m in metrics})
    overall = overall_scores(scores, weights, ids)
    order = tie_order(overall, names)
    overall_ranks = ranks(overall)
    metric_ranks = {m.key: ranks(scores.get(m.key, {})) for m in metrics}
    rankings = {i: {"overall": overall_ranks[i], **{m.key: metric_ranks[m.key].get(i) for m in metrics}} for i in ids}
    missing = {i: [m.key for m in metrics if scores.get(m.key, {}).get(i) is None] for i in ids}
    coverage = {i: round(sum(weights[m.key] for m in metrics if scores.get(m.key, {}).get(i) is not None), 4)
                for i in ids}
    front, dominated_by = pareto({m.key: scores.get(m.key, {}) for m in metrics}, ids)
    by_key = {m.key: scores.get(m.key, {}) for m in metrics}
    value_scores = {}
    for i in ids:
        parts = [by_key.get(k, {}).get(i) for k in ("performance", "cost_efficiency") if k in by_key]
        parts = [p for p in parts if p is not None]
        value_scores[i] = sum(parts) / len(parts) if len(parts) == 2 else None
    recommendations = {
        "bestOverall": order[0] if overall[order[0]] is not None else None,
        "bestValue": _best(value_scores, names) or _best(by_key.get("cost_efficiency", {}), names),
        "bestPerformance": _best(by_key.get("performance", {}), names),
        "mostFlexible": _best(by_key.get("deployment_flexibility", {}), names),
    }
    sens = sensitivity(by_key, weights, ids, names) if with_sensitivity else []
    document = {
        "models": [{"modelId": i, "modelName": names[i], "overallScore": r1(overall[i]),
                    "kind": next(s.kind for s in subjects if s.id == i), "coverage": coverage[i]} for i in order],
        "metrics": [{"key": m.key, "label": m.label, "weight": round(weights[m.key], 4),
                     "scores": {i: r1(by_key[m.key].get(i)) for i in ids},
                     "values": {s.id: s.raw.get(m.key) for s in subjects},
                     "sources": {s.id: s.sources.get(m.key) for s in subjects if s.sources.get(m.key)},
                     "direction": m.direction, "normalization": m.normalization, "scale": m.scale,
                     "unit": m.unit} for m in metrics],
        "rankings": rankings,
        "recommendations": recommendations,
        "paretoFront": front,
        "dominatedBy": dominated_by,
        "sensitivity": sens,
        "missing": {i: keys for i, keys in missing.items() if keys},
    }
    if bootstrap is not None:
        document["rankConfidence"] = rank_confidence(metrics=metrics, subjects=subjects, scores=by_key,
                                                     weights=weights, bootstrap=bootstrap)
    document["insights"] = insights(metrics=metrics, subjects=subjects, document=document, overall=overall)
    return document


def insights(*, metrics: Sequence[MetricDef], subjects: Sequence[Subject], document: dict[str, Any],
             overall: Mapping[str, float | None]) -> list[str]:
    """Sentences generated from the numbers of one evaluated comparison (none is fixed text)."""
    names = {s.id: s.name for s in subjects}
    out: list[str] = []
    scored = [m for m in document["models"] if m["overallScore"] is not None]
    if scored:
        top = scored[0]
        tied = [m for m in scored if m["overallScore"] == top["overallScore"]]
        if len(tied) > 1:
            out.append(f"{_names([m['modelId'] for m in tied], names)} tie for the highest overall score of "
                       f"{top['overallScore']:.1f}")
        else:
            line = f"{top['modelName']} has the highest overall score of {top['overallScore']:.1f}"
            if len(scored) > 1:
                gap = top["overallScore"] - scored[1]["overallScore"]
                line += f", {gap:.1f} points ahead of {scored[1]['modelName']}"
            out.append(line)
    for m, doc in zip(metrics, document["metrics"], strict=True):
        present = {i: v for i, v in doc["scores"].items() if v is not None}
        if not present:
            continue
        raw = {s.id: s.raw.get(m.key) for s in subjects if s.raw.get(m.key) is not None}
        leaders = [i for i, v in present.items() if v == max(present.values())]
        leaders.sort(key=lambda i: names[i])
        if len(present) > 1 and len(leaders) == len(present):
            out.append(f"All compared models score the same on {m.label} ({_fmt(next(iter(raw.values())), m.unit)})")
            continue
        who = _names(leaders, names)
        best_raw = raw.get(leaders[0])
        if m.key == "cost_efficiency" and raw:
            line = f"{who} offer{'s' if len(leaders) == 1 else ''} the best cost efficiency at {_fmt(best_raw, 'USD')} per 1,000 predictions"
            worst = max(raw, key=lambda i: raw[i]) if raw else None
            if worst and raw[worst] > (best_raw or 0):
                line += f" against {_fmt(raw[worst], 'USD')} for {names[worst]}"
            out.append(line)
        elif m.key == "context_size" and raw:
            smallest = min(raw, key=lambda i: raw[i])
            line = f"{who} {'has' if len(leaders) == 1 else 'have'} the largest context window ({_fmt(best_raw)} tokens)"
            if best_raw and raw[smallest] and raw[smallest] < best_raw:
                line += f", {best_raw / raw[smallest]:.1f}× that of {names[smallest]} ({_fmt(raw[smallest])})"
            out.append(line)
        else:
            out.append(f"{who} lead{'s' if len(leaders) == 1 else ''} on {m.label} with a score of "
                       f"{max(present.values()):.1f}" + (f" ({_fmt(best_raw, m.unit)})" if best_raw is not None else ""))
        if len(present) > 2:
            low = min(present.values())
            high = max(present.values())
            if high - low < 10:
                out.append(f"{m.label} separates the models by less than 10 points ({low:.1f} to {high:.1f})")
    for m in metrics:
        lacking = [i for i, keys in document["missing"].items() if m.key in keys]
        if lacking:
            if len(lacking) == len(subjects):
                out.append(f"{m.label} is unknown for every compared model and is left out of the scores")
            else:
                out.append(f"{m.label} is unknown for {_names(lacking, names)}: left out of "
                           f"{'its' if len(lacking) == 1 else 'their'} overall score")
    dominated = document["dominatedBy"]
    if dominated:
        for loser, winner in dominated.items():
            out.append(f"{names[loser]} is beaten or matched on every metric by {names[winner]}")
    confidence = document.get("rankConfidence") or {}
    if confidence.get("available") and confidence["models"] and scored:
        top = next((m for m in confidence["models"] if m["modelId"] == scored[0]["modelId"]), None)
        if top is not None:
            out.append(f"{names[top['modelId']]} ranks first in {100 * top['probabilityFirst']:.0f} % of "
                       f"{confidence['resamples']:,} bootstrap resamples of the benchmark rows")
    sens = [s for s in document["sensitivity"] if s["minChange"] is not None]
    if sens:
        tight = min(sens, key=lambda s: s["minChange"])
        label = next(m.label for m in metrics if m.key == tight["key"])
        move = tight["increase"] if tight["increase"] and abs(tight["increase"]["change"]) == tight["minChange"] \
            else tight["decrease"]
        verb = "rises" if move["change"] > 0 else "falls"
        out.append(f"The winner changes to {names[move['newWinner']]} if the weight of {label} {verb} from "
                   f"{tight['weight']:.2f} to {move['weight']:.2f}")
    elif document["sensitivity"] and scored and len(scored) > 1:
        out.append(f"{scored[0]['modelName']} stays the winner whatever the weight of any single metric")
    return out
