"""Distribution drift between a reference and a current sample, per column — reusable by monitoring.

    from backend.catalog.datasets.drift import drift_report
    report = drift_report(reference_frame, current_frame)        # polars DataFrame or LazyFrame

Numeric columns: PSI over the reference's decile bins (nulls as their own bin) and the two-sample
Kolmogorov–Smirnov statistic D = max |F_ref(x) − F_cur(x)| with its asymptotic p-value.
Categorical columns: PSI over the reference's top categories (+ "other", + null).

    PSI = Σ_bins (a − e) · ln(a / e),  e, a = shares of reference / current in the bin (floored at 1e-4)

Reading: PSI < 0.1 stable, 0.1–0.25 moderate, > 0.25 significant. A column drifts when PSI > 0.25 or
(KS p < 0.05 and D > 0.1); `driftScore` is the share of compared columns that drift.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

PSI_FLOOR = 1e-4
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
KS_ALPHA = 0.05
KS_MIN_D = 0.1
TOP_CATEGORIES = 50


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two count (or share) vectors over the same bins."""
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.sum() == 0 or a.sum() == 0:
        return 0.0
    e = np.clip(e / e.sum(), PSI_FLOOR, None)
    a = np.clip(a / a.sum(), PSI_FLOOR, None)
    return float(np.sum((a - e) * np.log(a / e)))


def ks_2samp(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(D, p) of the two-sample Kolmogorov–Smirnov test (asymptotic p-value, Stephens' correction)."""
    x = np.sort(np.asarray(reference, dtype=float))
    y = np.sort(np.asarray(current, dtype=float))
    n, m = len(x), len(y)
    if n == 0 or m == 0:
        return 0.0, 1.0
    grid = np.concatenate([x, y])
    d = float(np.max(np.abs(np.searchsorted(x, grid, side="right") / n - np.searchsorted(y, grid, side="right") / m)))
    en = math.sqrt(n * m / (n + m))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 1e-3:
        return d, 1.0
    terms = [2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101)]
    return d, float(min(1.0, max(0.0, sum(terms))))


def _severity(value: float) -> str:
    return "significant" if value > PSI_SIGNIFICANT else "moderate" if value > PSI_MODERATE else "stable"


def numeric_drift(reference: pl.Series, current: pl.Series, bins: int = 10) -> dict[str, Any]:
    ref = reference.cast(pl.Float64)
    cur = current.cast(pl.Float64)
    ref_values = ref.drop_nulls().drop_nans().to_numpy()
    cur_values = cur.drop_nulls().drop_nans().to_numpy()
    if len(ref_values) == 0 or len(cur_values) == 0:
        return {"kind": "numeric", "psi": None, "ks": None, "pValue": None, "drift": False, "note": "no values"}
    edges = np.unique(np.quantile(ref_values, np.linspace(0, 1, bins + 1)[1:-1]))
    ref_counts = np.bincount(np.searchsorted(edges, ref_values, side="right"), minlength=len(edges) + 1)
    cur_counts = np.bincount(np.searchsorted(edges, cur_values, side="right"), minlength=len(edges) + 1)
    ref_counts = np.append(ref_counts, ref.null_count())
    cur_counts = np.append(cur_counts, cur.null_count())
    value = psi(ref_counts, cur_counts)
    d, p = ks_2samp(ref_values, cur_values)
    return {"kind": "numeric", "psi": round(value, 6), "ks": round(d, 6), "pValue": round(p, 6),
            "severity": _severity(value), "drift": value > PSI_SIGNIFICANT or (p < KS_ALPHA and d > KS_MIN_D),
            "referenceMean": float(np.mean(ref_values)), "currentMean": float(np.mean(cur_values))}


def categorical_drift(reference: pl.Series, current: pl.Series) -> dict[str, Any]:
    ref = reference.cast(pl.String)
    cur = current.cast(pl.String)
    top = ref.drop_nulls().value_counts(sort=True).head(TOP_CATEGORIES)[ref.name].to_list()
    keys = [*top, "__other__", "__null__"]

    def counts(series: pl.Series) -> np.ndarray:
        mapped = (pl.when(series.is_null()).then(pl.lit("__null__"))
                  .when(series.is_in(top)).then(series).otherwise(pl.lit("__other__")))
        vc = pl.select(mapped.alias("k")).to_series().value_counts()
        lookup = dict(zip(vc["k"].to_list(), vc["count"].to_list(), strict=True))
        return np.array([lookup.get(k, 0) for k in keys], dtype=float)

    value = psi(counts(ref), counts(cur))
    return {"kind": "categorical", "psi": round(value, 6), "ks": None, "pValue": None,
            "severity": _severity(value), "drift": value > PSI_SIGNIFICANT}


def drift_report(reference: pl.DataFrame | pl.LazyFrame, current: pl.DataFrame | pl.LazyFrame, *,
                 columns: list[str] | None = None, bins: int = 10, sample_rows: int = 200_000,
                 seed: int = 0) -> dict[str, Any]:
    """Per-column PSI/KS between `reference` and `current` over their shared columns (sampled)."""
    ref_lf, cur_lf = reference.lazy(), current.lazy()
    ref_schema, cur_schema = ref_lf.collect_schema(), cur_lf.collect_schema()
    shared = [c for c in ref_schema.names() if c in cur_schema and (columns is None or c in columns)]
    comparable = [c for c in shared if ref_schema[c].is_numeric() or ref_schema[c] in (pl.String, pl.Boolean)
                  or isinstance(ref_schema[c], pl.Categorical | pl.Enum)]
    ref_df = _sample(ref_lf.select(comparable), sample_rows, seed)
    cur_df = _sample(cur_lf.select(comparable), sample_rows, seed)
    results: dict[str, Any] = {}
    for col in comparable:
        if ref_schema[col].is_numeric() and cur_schema[col].is_numeric():
            results[col] = numeric_drift(ref_df[col], cur_df[col], bins)
        else:
            results[col] = categorical_drift(ref_df[col], cur_df[col])
    drifted = [c for c, r in results.items() if r.get("drift")]
    return {
        "columns": results,
        "driftedColumns": drifted,
        "driftScore": round(len(drifted) / len(results), 6) if results else 0.0,
        "referenceRows": ref_df.height,
        "currentRows": cur_df.height,
        "skippedColumns": [c for c in shared if c not in comparable],
        "method": {"psiBins": bins, "psiSignificant": PSI_SIGNIFICANT, "ksAlpha": KS_ALPHA, "sampleRows": sample_rows},
    }


def _sample(lf: pl.LazyFrame, n: int, seed: int) -> pl.DataFrame:
    df = lf.collect()
    return df.sample(n=n, seed=seed) if df.height > n else df
