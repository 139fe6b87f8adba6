"""Input drift of a served tabular model: the inputs its endpoint received lately, from the prediction
log, against the training statistics its package keeps (`preprocessing`: each numeric column's mean and
standard deviation on the training split, each categorical column's known categories).

Per numeric column: the standardised mean shift |mean(recent) - mean(train)| / std(train) and the ratio
std(recent) / std(train); per categorical column: the share of recent values the training data did not
have (the model reads them all as "other"). A column drifts when the shift is at least `SHIFT_LIMIT`
(half a training standard deviation), the spread changed more than twofold, or at least
`UNSEEN_LIMIT` of its values are unseen. Missing values count as the training mean (numeric) or as
unseen (categorical), as the model itself reads them. Fewer than `MIN_INSTANCES` recent instances
give no verdict.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

SHIFT_LIMIT = 0.5
SPREAD_LIMIT = 2.0
UNSEEN_LIMIT = 0.1
MIN_INSTANCES = 30
MISSING = "(missing)"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _numeric(column: Mapping[str, Any], values: list[Any]) -> dict[str, Any]:
    mean, std = float(column["mean"]), float(column["std"]) or 1.0
    numbers = [n if (n := _number(v)) is not None else mean for v in values]
    recent_mean = sum(numbers) / len(numbers)
    recent_std = math.sqrt(sum((x - recent_mean) ** 2 for x in numbers) / len(numbers))
    shift = abs(recent_mean - mean) / std
    spread = recent_std / std
    drifted = shift >= SHIFT_LIMIT or not (1 / SPREAD_LIMIT <= spread <= SPREAD_LIMIT)
    return {"feature": column["name"], "kind": "numeric", "trainingMean": mean, "trainingStd": std,
            "recentMean": recent_mean, "recentStd": recent_std, "meanShift": shift, "spreadRatio": spread,
            "drifted": drifted}


def _categorical(column: Mapping[str, Any], values: list[Any]) -> dict[str, Any]:
    known = {str(c) for c in column["categories"]}
    unseen = [MISSING if v is None else str(v) for v in values if v is None or str(v) not in known]
    share = len(unseen) / len(values)
    counts: dict[str, int] = {}
    for value in unseen:
        counts[value] = counts.get(value, 0) + 1
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {"feature": column["name"], "kind": "categorical", "unseenShare": share,
            "topUnseen": [{"value": v, "count": n} for v, n in top], "drifted": share >= UNSEEN_LIMIT}


def _instances(count: int) -> str:
    return f"{count:,} instance" if count == 1 else f"{count:,} instances"


def report(config: Mapping[str, Any], instances: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The drift report of `instances` (input rows) against a package's training statistics."""
    pre = config.get("preprocessing") or {}
    columns = [*(("numeric", c) for c in pre.get("numeric", [])), *(("categorical", c) for c in pre.get("categorical", []))]
    if not columns:
        return {"available": False, "reason": "This model family keeps no training statistics of tabular inputs",
                "instances": 0, "features": [], "drifted": []}
    rows = [r for r in instances if isinstance(r, Mapping)]
    if len(rows) < MIN_INSTANCES:
        return {"available": False, "instances": len(rows), "features": [], "drifted": [],
                "reason": f"{_instances(len(rows))} in the window; drift needs at least {MIN_INSTANCES}"}
    features = [(_numeric if kind == "numeric" else _categorical)(column, [r.get(column["name"]) for r in rows])
                for kind, column in columns]
    return {"available": True, "reason": None, "instances": len(rows), "features": features,
            "drifted": [f["feature"] for f in features if f["drifted"]]}
