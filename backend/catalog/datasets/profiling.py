"""Statistics, profile and quality of one version, computed with polars in two passes over the data.

Pass 1 (one `select`): per column null count, distinct count, min/max/mean/std and quantiles of
numbers, string lengths, empty and numeric-looking strings, invalid floats and dates; plus the row
count and the number of distinct rows (hash of every row). Pass 2 (one `select`, using pass 1):
IQR outlier counts, equal-width histograms, top values, the full value counts of low-cardinality
text columns and the label column's class distribution.

Quality scores (each in [0, 1], QUALITY_FORMULAS says the same on the wire):

    completeness = 1 − null cells / all cells
    validity     = 1 − invalid cells / non-null cells, where a cell is invalid when it is a NaN or
                   ±inf float, an empty or whitespace-only string, or a date/datetime outside
                   1900-01-01 … 2100-12-31
    consistency  = mean(1 − inconsistent cells / non-null text cells, 1 − duplicate rows / rows);
                   a text cell is inconsistent when its column is mostly (≥ 90 %) numeric-looking and
                   it is not, or when its value is a spelling variant (case/whitespace) of a more
                   frequent value in a column with ≤ 1,000 distinct values
    accuracy     = 1 − IQR outlier cells / finite numeric cells (a plausibility proxy: without
                   ground truth, values far outside the bulk of their column are the likely errors)
    overall      = mean of the four

Outliers follow the IQR rule: x < Q1 − 1.5·IQR or x > Q3 + 1.5·IQR.
"""

from __future__ import annotations

import math
import time
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import polars as pl

ALGORITHM = "2"  # 2: distinct counts non-null values; histogram bins compare against exact edges
IN_MEMORY_BYTES = 1024 * 1024 * 1024
HISTOGRAM_BINS = 20
TOP_VALUES = 10
LOW_CARDINALITY = 1000
SCHEMA_VALUES_MAX = 20
LABEL_NAMES = ("label", "target", "class", "sentiment", "y", "category")
QUANTILES = {"p01": 0.01, "p05": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99}
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(2100, 12, 31)

QUALITY_FORMULAS = {
    "completeness": "1 - nullCells / cells",
    "validity": "1 - invalidCells / nonNullCells (NaN/inf floats, empty strings, dates outside 1900-2100)",
    "consistency": "mean(1 - inconsistentTextCells / nonNullTextCells, 1 - duplicateRows / rows)",
    "accuracy": "1 - outlierCells / finiteNumericCells (IQR rule: < Q1-1.5*IQR or > Q3+1.5*IQR)",
    "overall": "mean(completeness, validity, consistency, accuracy)",
}


def kind_of(dtype: pl.DataType) -> str:
    """The wire type of a polars dtype."""
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype in (pl.String,) or isinstance(dtype, pl.Categorical | pl.Enum):
        return "string"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Time:
        return "time"
    if isinstance(dtype, pl.Duration):
        return "duration"
    if dtype == pl.Binary:
        return "binary"
    if isinstance(dtype, pl.List | pl.Array):
        return "list"
    if isinstance(dtype, pl.Struct):
        return "struct"
    return "null" if dtype == pl.Null else str(dtype).lower()


def clean(value: Any) -> Any:
    """JSON-safe: non-finite floats become null, temporal values ISO strings, containers recursed."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date | dtime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def infer_fields(path: Path) -> list[dict[str, Any]]:
    """The schema shown for a version: name, type, nullable and, for ≤ 20 distinct texts, the values."""
    lf = pl.scan_parquet(path)
    schema = lf.collect_schema()
    exprs = [pl.col(c).null_count().alias(f"n\x00{c}") for c in schema.names()]
    texts = [c for c, t in schema.items() if kind_of(t) in ("string", "boolean")]
    # HyperLogLog first (bounded memory on a million distinct texts); exact values only where few
    exprs += [pl.col(c).approx_n_unique().alias(f"u\x00{c}") for c in texts]
    row = lf.select(exprs).collect().row(0, named=True) if exprs else {}
    small = [c for c in texts if row[f"u\x00{c}"] <= 2 * SCHEMA_VALUES_MAX]
    values: dict[str, list[str]] = {}
    if small:
        got = lf.select([pl.col(c).drop_nulls().unique().sort().cast(pl.String).implode() for c in small]).collect()
        values = {c: got[c][0].to_list() for c in small}
    fields = []
    for name, dtype in schema.items():
        field: dict[str, Any] = {"name": name, "type": kind_of(dtype), "dtype": str(dtype),
                                 "nullable": row.get(f"n\x00{name}", 0) > 0}
        if name in values and len(values[name]) <= SCHEMA_VALUES_MAX:
            field["values"] = values[name]
        fields.append(field)
    return fields


def pick_label_column(schema: pl.Schema, configured: str | None) -> str | None:
    if configured and configured in schema:
        return configured
    for name in schema.names():
        if name.lower() in LABEL_NAMES and kind_of(schema[name]) in ("string", "integer", "boolean"):
            return name
    return None


def compute_profile(path: Path, *, label_column: str | None = None) -> dict[str, Any]:  # noqa: C901
    """The profile document (statistics, quality and per-column detail) of a Parquet file."""
    started = time.perf_counter()
    # Read once and run both passes in memory (decoding Parquet twice costs more than holding it);
    # files too large for that are scanned lazily instead.
    in_memory = path.stat().st_size <= IN_MEMORY_BYTES
    frame = pl.read_parquet(path) if in_memory else None
    lf = frame.lazy() if frame is not None else pl.scan_parquet(path)
    schema = lf.collect_schema()
    kinds = {c: kind_of(t) for c, t in schema.items()}
    numeric = [c for c, k in kinds.items() if k in ("integer", "float")]
    floats = [c for c, k in kinds.items() if k == "float"]
    texts = [c for c, k in kinds.items() if k == "string"]
    temporal = [c for c, k in kinds.items() if k in ("date", "datetime")]
    hashable = [c for c, k in kinds.items() if k not in ("list", "struct", "null")]
    label = pick_label_column(schema, label_column)

    # --- pass 1 ---
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    distinct_rows = None
    if hashable and frame is not None:
        distinct_rows = frame.select(hashable).hash_rows(seed=0).n_unique()
    elif hashable:
        exprs.append(pl.struct(hashable).hash(seed=0).n_unique().alias("__distinct_rows"))
    for c in schema.names():
        col = pl.col(c)
        exprs.append(col.null_count().alias(f"{c}\x00nulls"))
        if kinds[c] not in ("list", "struct", "binary", "null"):
            # distinct non-null values, as pandas' nunique() and polars' drop_nulls().n_unique() count them
            # (n_unique counts null as a value: take it off when there is one, without copying the column)
            exprs.append((col.n_unique() - col.is_null().any().cast(pl.UInt32)).alias(f"{c}\x00distinct"))
    for c in numeric:
        col = pl.col(c).cast(pl.Float64)
        if c in floats:
            exprs.append((~col.is_finite() & col.is_not_null()).sum().alias(f"{c}\x00invalid"))
            col = pl.when(col.is_finite()).then(col)
        exprs += [col.min().alias(f"{c}\x00min"), col.max().alias(f"{c}\x00max"), col.mean().alias(f"{c}\x00mean"),
                  col.std().alias(f"{c}\x00std"), (col == 0).sum().alias(f"{c}\x00zeros")]
        exprs.append(col.quantile(list(QUANTILES.values()), interpolation="linear").alias(f"{c}\x00quantiles"))
    for c in texts:
        col = pl.col(c).cast(pl.String)
        length = col.str.len_chars()
        exprs += [length.min().alias(f"{c}\x00lmin"), length.mean().alias(f"{c}\x00lmean"),
                  length.max().alias(f"{c}\x00lmax"),
                  (col.str.strip_chars() == "").sum().alias(f"{c}\x00invalid"),
                  col.cast(pl.Float64, strict=False).is_not_null().sum().alias(f"{c}\x00numeric_like")]
    for c in temporal:
        col = pl.col(c)
        as_date = col.cast(pl.Date) if kinds[c] == "datetime" else col
        exprs += [col.min().alias(f"{c}\x00min"), col.max().alias(f"{c}\x00max"),
                  ((as_date < DATE_MIN) | (as_date > DATE_MAX)).sum().alias(f"{c}\x00invalid")]
    for c in [c for c, k in kinds.items() if k == "boolean"]:
        exprs.append(pl.col(c).cast(pl.Float64).mean().alias(f"{c}\x00true_share"))
    for c in [c for c, k in kinds.items() if k == "binary"]:
        length = pl.col(c).bin.size()
        exprs += [length.min().alias(f"{c}\x00bmin"), length.mean().alias(f"{c}\x00bmean"),
                  length.max().alias(f"{c}\x00bmax")]
    p1 = lf.select(exprs).collect().row(0, named=True)
    rows = p1["__rows"]
    if distinct_rows is not None:
        p1["__distinct_rows"] = distinct_rows
    for c in numeric:
        values = p1.pop(f"{c}\x00quantiles", None)
        values = list(values) if values is not None else [None] * len(QUANTILES)
        p1.update({f"{c}\x00{name}": v for name, v in zip(QUANTILES, values, strict=True)})

    def g(c: str, key: str) -> Any:
        return p1.get(f"{c}\x00{key}")

    # --- pass 2 ---
    exprs2: list[pl.Expr] = []
    fences: dict[str, tuple[float, float]] = {}
    for c in numeric:
        q1, q3, lo, hi = g(c, "p25"), g(c, "p75"), g(c, "min"), g(c, "max")
        if q1 is None or q3 is None or lo is None:
            continue
        iqr = q3 - q1
        fences[c] = (q1 - 1.5 * iqr, q3 + 1.5 * iqr)
        col = pl.col(c).cast(pl.Float64)
        if c in floats:
            col = pl.when(col.is_finite()).then(col)
        exprs2.append(((col < fences[c][0]) | (col > fences[c][1])).sum().alias(f"{c}\x00outliers"))
        # The bin of x is the number of inner edges <= x: half-open [a, b), the last bin closed, and a
        # value on an edge (11.0 with edges 8.4 + k * 0.325) in the bin that starts there, which
        # floor((x - lo) / width) misses when the division rounds down (2.6 / 0.325 = 7.999…).
        inner = pl.Series(histogram_edges(lo, hi)[1:-1], dtype=pl.Float64)
        bins = pl.lit(inner).search_sorted(col.drop_nulls(), side="right") if len(inner) else \
            pl.repeat(0, col.drop_nulls().len(), dtype=pl.UInt32)
        exprs2.append(bins.value_counts().implode().alias(f"{c}\x00hist"))
    low_card = [c for c in texts if (g(c, "distinct") or 0) <= LOW_CARDINALITY]
    for c in texts:
        col = pl.col(c).cast(pl.String)
        if c in low_card:
            exprs2.append(col.drop_nulls().value_counts(sort=True).implode().alias(f"{c}\x00counts"))
        else:
            exprs2.append(col.drop_nulls().value_counts(sort=True).head(TOP_VALUES).implode().alias(f"{c}\x00top"))
    for c in [c for c in numeric if c != label and (g(c, "distinct") or 0) <= TOP_VALUES * 5]:
        exprs2.append(pl.col(c).drop_nulls().value_counts(sort=True).head(TOP_VALUES).implode().alias(f"{c}\x00top"))
    if label and label not in low_card:
        exprs2.append(pl.col(label).cast(pl.String).value_counts(sort=True).head(50).implode().alias("__label"))
    p2 = lf.select(exprs2).collect().row(0, named=True) if exprs2 else {}

    # --- assemble ---
    columns: dict[str, Any] = {}
    null_cells = invalid_cells = outlier_cells = numeric_cells = text_cells = inconsistent = 0
    for c in schema.names():
        nulls = g(c, "nulls") or 0
        null_cells += nulls
        info: dict[str, Any] = {"type": kinds[c], "dtype": str(schema[c]), "nullCount": nulls,
                                "nullShare": nulls / rows if rows else 0.0, "distinct": g(c, "distinct")}
        invalid_cells += g(c, "invalid") or 0
        if kinds[c] in ("integer", "float"):
            numeric_cells += rows - nulls - (g(c, "invalid") or 0)  # finite values only
            outliers = p2.get(f"{c}\x00outliers") or 0
            outlier_cells += outliers
            info.update({"min": g(c, "min"), "max": g(c, "max"), "mean": g(c, "mean"), "std": g(c, "std"),
                         "zeros": g(c, "zeros"), "invalid": g(c, "invalid") or 0,
                         "quantiles": {name: g(c, name) for name in QUANTILES},
                         "outliers": outliers, "outlierFences": list(fences.get(c, (None, None))),
                         "histogram": _histogram(p2.get(f"{c}\x00hist"), g(c, "min"), g(c, "max"))})
            if p2.get(f"{c}\x00top") is not None:
                info["topValues"] = _top(p2[f"{c}\x00top"], c)
        elif kinds[c] == "string":
            non_null = rows - nulls
            text_cells += non_null
            counts = p2.get(f"{c}\x00counts")
            top = _top(counts[:TOP_VALUES] if counts is not None else p2.get(f"{c}\x00top"), c)
            numeric_like = g(c, "numeric_like") or 0
            type_mixed = non_null - numeric_like if non_null and numeric_like / non_null >= 0.9 else 0
            variants = _spelling_variants(counts, c) if counts is not None else 0
            inconsistent += type_mixed + variants
            info.update({"minLength": g(c, "lmin"), "meanLength": g(c, "lmean"), "maxLength": g(c, "lmax"),
                         "empty": g(c, "invalid") or 0, "numericLike": numeric_like, "topValues": top,
                         "spellingVariants": variants, "typeMismatches": type_mixed})
        elif kinds[c] in ("date", "datetime"):
            info.update({"min": g(c, "min"), "max": g(c, "max"), "outOfRange": g(c, "invalid") or 0})
        elif kinds[c] == "boolean":
            info["trueShare"] = g(c, "true_share")
        elif kinds[c] == "binary":
            info.update({"minBytes": g(c, "bmin"), "meanBytes": g(c, "bmean"), "maxBytes": g(c, "bmax")})
        columns[c] = info

    cells = rows * len(schema)
    non_null_cells = cells - null_cells
    duplicate_rows = rows - p1["__distinct_rows"] if hashable else 0
    class_distribution = None
    if label:
        counts = p2.get(f"{label}\x00counts") if label in low_card else p2.get("__label")
        if counts is None and label in numeric:
            counts = p2.get(f"{label}\x00top")
        if counts:
            class_distribution = {str(item[label]): round(item["count"] / rows, 6)
                                  for item in counts if item.get(label) is not None} if rows else {}
    statistics = {
        "nullValues": null_cells / cells if cells else 0.0,
        "duplicates": duplicate_rows / rows if rows else 0.0,
        "outliers": outlier_cells / numeric_cells if numeric_cells else 0.0,  # share of finite numeric cells
        "classDistribution": class_distribution,
    }
    consistency_text = 1 - inconsistent / text_cells if text_cells else 1.0
    quality = {
        "completeness": 1 - null_cells / cells if cells else 1.0,
        "validity": 1 - invalid_cells / non_null_cells if non_null_cells else 1.0,
        "consistency": (consistency_text + (1 - statistics["duplicates"])) / 2,
        "accuracy": 1 - outlier_cells / numeric_cells if numeric_cells else 1.0,
    }
    quality = {k: round(max(0.0, min(1.0, v)), 6) for k, v in quality.items()}
    quality["overall"] = round(sum(quality.values()) / 4, 6)
    return clean({
        "algorithm": ALGORITHM,
        "rows": rows,
        "columnCount": len(schema),
        "labelColumn": label,
        "statistics": statistics,
        "quality": quality,
        "qualityDetails": {"cells": cells, "nullCells": null_cells, "invalidCells": invalid_cells,
                           "inconsistentTextCells": inconsistent, "textCells": text_cells,
                           "duplicateRows": duplicate_rows, "outlierCells": outlier_cells,
                           "numericCells": numeric_cells},
        "formulas": QUALITY_FORMULAS,
        "columns": columns,
        "passes": 2,
        "computeSeconds": round(time.perf_counter() - started, 4),
    })


def histogram_edges(lo: float, hi: float, bins: int = HISTOGRAM_BINS) -> list[float]:
    """`bins` equal-width bins from lo to hi: the ends as they are, the inner edges rounded to 12
    significant digits so that decimal data meets them exactly (8.4 + 8 * 0.325 is 11.0, not
    11.000000000000002); one bin when all values are equal."""
    if not hi > lo:
        return [lo, hi]
    step = (hi - lo) / bins
    inner = [float(f"{lo + i * step:.12g}") for i in range(1, bins)]
    return [lo, *[min(max(e, lo), hi) for e in inner], hi]


def _histogram(items: list[dict] | None, lo: float | None, hi: float | None) -> dict[str, Any] | None:
    """Counts per bin `[edges[i], edges[i+1])`, the last bin closed (numpy.histogram's convention)."""
    if items is None or lo is None or hi is None:
        return None
    edges = histogram_edges(lo, hi)
    counts = [0] * (len(edges) - 1)
    for item in items:
        index = int(next(v for k, v in item.items() if k != "count"))
        counts[min(index, len(counts) - 1)] += item["count"]
    return {"edges": edges, "counts": counts}


def _top(items: list[dict] | None, column: str) -> list[dict[str, Any]]:
    if not items:
        return []
    return [{"value": item.get(column), "count": item["count"]} for item in items[:TOP_VALUES]]


def _spelling_variants(items: list[dict], column: str) -> int:
    """Cells whose value is a case/whitespace variant of a more frequent spelling in the column."""
    groups: dict[str, list[int]] = {}
    for item in items:
        value = item.get(column)
        if value is None:
            continue
        groups.setdefault(str(value).strip().lower(), []).append(item["count"])
    return sum(sum(counts) - max(counts) for counts in groups.values() if len(counts) > 1)
