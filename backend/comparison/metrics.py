"""Metric definitions: the six built-ins of the design, the weighting profiles, and how a field path picks
a raw value out of a subject's facts.

A subject's facts are one JSON-like document per namespace (see `service.facts_of`):

- `model`       the catalog model's document (the design's AI Model: `performance.accuracy`, `contextLength`...)
- `version`     the compared version (a catalog model: its production version, else its newest): `metrics.*`
- `listing`     a marketplace listing: `specifications.*` (snake_case keys as stored: `accuracy`,
                `price_per_thousand_input_tokens`, `benchmarks.mmlu`...), `contextLength`, `features`, `tags`
- `benchmark`   the newest benchmark results of the version (`accuracy`, `f1_macro`, `latency_p95_ms`...)
- `monitoring`  its endpoints' prediction log over the last 30 days: `requests`, `errorRate`, `availability`,
                `latencyP95Ms`
- `derived`     figures computed from the others: `costPer1kPredictionsUsd`, `capabilities` (a list),
                `deploymentOptions` (a list), `quality` (a 0–1 fraction)

A list counts its items. The first path of a metric's `sources` that holds a number (or list) wins, and the
document says which one it was for each model.
"""

from __future__ import annotations

import re
from typing import Any

from backend.comparison.engine import MetricDef

NAMESPACES = ("model", "version", "listing", "benchmark", "monitoring", "derived")
PATH = re.compile(r"^(model|version|listing|benchmark|monitoring|derived)(\.[A-Za-z_][A-Za-z0-9_]{0,63}){1,4}$")
KEY = r"^[a-z][a-z0-9_]{1,39}$"

BUILTIN_METRICS: tuple[MetricDef, ...] = (
    MetricDef(
        "performance", "Performance",
        ("benchmark.accuracy", "benchmark.f1_macro", "benchmark.r2", "derived.quality"),
        direction="higher", normalization="reference", reference=1.0, unit="fraction",
        description="Measured quality first (the newest benchmark's accuracy, macro F1 or R²), else the version's "
                    "logged accuracy or F1, the model's declared accuracy, or a listing's published accuracy or "
                    "MMLU score; a fraction scored against 1.0 = 100.",
        builtin=True),
    MetricDef(
        "cost_efficiency", "Cost Efficiency", ("derived.costPer1kPredictionsUsd",),
        direction="lower", normalization="minmax", unit="USD",
        description="Cost of 1,000 predictions in USD: per-token prices at 750 input and 250 output tokens per "
                    "prediction, else the cheapest paid tier's price per request; free or open weights cost 0 "
                    "(hosting not counted). Min-max across the compared set, cheapest = 100.",
        builtin=True),
    MetricDef(
        "context_size", "Context Size", ("model.contextLength", "listing.contextLength"),
        direction="higher", normalization="minmax", scale="log", unit="tokens",
        description="Context window in tokens; min-max on a log10 scale (4K to 200K is a wide gap, 1.0M to "
                    "1.1M is not).",
        builtin=True),
    MetricDef(
        "capabilities", "Capabilities", ("derived.capabilities",),
        direction="higher", normalization="minmax", unit="capabilities",
        description="How many capabilities the model declares (catalog `capabilities`, a listing's "
                    "`specifications.capabilities` or its features); min-max across the compared set.",
        builtin=True),
    MetricDef(
        "deployment_flexibility", "Deployment Flexibility", ("derived.deploymentOptions",),
        direction="higher", normalization="minmax", unit="options",
        description="How many ways it can be run: cloud, on-premise, edge, autoscaling, a downloadable artifact, "
                    "a hosted API, open weights, fine-tuning allowed; min-max across the compared set.",
        builtin=True),
    MetricDef(
        "reliability", "Reliability", ("monitoring.availability",),
        direction="higher", normalization="reference", reference=1.0, unit="fraction",
        description="Share of predictions answered without error by its endpoints over the last 30 days (at "
                    "least 20 requests); against 1.0 = 100. Marketplace listings have no measured availability.",
        builtin=True),
)
BUILTIN_KEYS = tuple(m.key for m in BUILTIN_METRICS)

# Named weightings over the built-ins; a metric a profile does not name gets the mean of its weights.
PROFILES: dict[str, dict[str, Any]] = {
    "balanced": {
        "label": "Balanced",
        "description": "The design's example weighting: quality and capabilities first, cost close behind.",
        "weights": {"performance": 0.25, "cost_efficiency": 0.20, "context_size": 0.15, "capabilities": 0.20,
                    "deployment_flexibility": 0.10, "reliability": 0.10},
    },
    "cheapest_good_enough": {
        "label": "Cheapest that is good enough",
        "description": "Cost dominates; quality and reliability still count so a poor model does not win on price.",
        "weights": {"performance": 0.25, "cost_efficiency": 0.45, "context_size": 0.05, "capabilities": 0.05,
                    "deployment_flexibility": 0.05, "reliability": 0.15},
    },
    "best_quality": {
        "label": "Best quality",
        "description": "Quality, capabilities and reliability; cost and deployment do not count.",
        "weights": {"performance": 0.45, "cost_efficiency": 0.0, "context_size": 0.15, "capabilities": 0.25,
                    "deployment_flexibility": 0.0, "reliability": 0.15},
    },
}


def lookup(facts: dict[str, Any], path: str) -> float | None:
    """The number at `path` in the facts (a list counts its items; a boolean is 1 or 0), or None."""
    node: Any = facts
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, bool):
        return 1.0 if node else 0.0
    if isinstance(node, list | tuple):
        return float(len(node))
    if isinstance(node, int | float):
        return float(node)
    return None


def raw_value(metric: MetricDef, facts: dict[str, Any]) -> tuple[float | None, str | None]:
    """The first source of the metric that holds a value, and its path."""
    for path in metric.sources:
        value = lookup(facts, path)
        if value is not None:
            return value, path
    return None, None
