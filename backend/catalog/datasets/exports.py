"""Writing a version back out as CSV the way its source wrote it: booleans spelled as the file spelled
them (`True`, not `true`), dates and times in the file's format (`2019-03-23 20:21:09`, not
`2019-03-23T20:21:09.000000`), integral floats as the file wrote them (`18`, not `18.0`) and missing
values as the file's token (`NA`). The formats are learnt at import (`ingest.value_formats`) and kept
on the version's `source_dialect`; a transform or restore inherits them from its parent for the
columns that keep their name and kind.

A CSV export is what people open in a spreadsheet, so text cells that start like a formula (`=`, `+`,
`-`, `@`, tab, carriage return) are written with a leading `'`, as OWASP recommends against CSV
injection; JSON Lines, Parquet and the original bytes are written as they are.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl

from backend.catalog.datasets.profiling import kind_of

# What a CSV export takes from a dialect (a change here changes every export's name: they are cached).
_KEYS = ("formats", "nullValue")
# Text cells a spreadsheet would run as a formula (OWASP's CSV injection list): written with a leading `'`.
_FORMULA = r"^[=+\-@\t\r]"
CELLS = "owasp-formula-quote"  # part of every CSV export's name, so exports cached before it are not reused


def variant(dialect: dict[str, Any] | None) -> str:
    """A short name for the value formats an export is written in and its formula neutralisation."""
    wanted = {k: (dialect or {}).get(k) for k in _KEYS} | {"cells": CELLS}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16]


def neutralised(column: pl.Expr) -> pl.Expr:
    """A text column with each cell that starts like a formula (= + - @, tab, carriage return) prefixed
    with `'`, so a spreadsheet shows it as text instead of running it (spreadsheet formula injection)."""
    return pl.when(column.str.contains(_FORMULA)).then(pl.lit("'") + column).otherwise(column)


def has_formula_cells(source: Path) -> bool:
    """Whether any text cell of a Parquet file would be neutralised in a CSV export."""
    lf = pl.scan_parquet(source)
    texts = [c for c, t in lf.collect_schema().items() if kind_of(t) == "string"]
    if not texts:
        return False
    return bool(lf.select(pl.any_horizontal([pl.col(c).str.contains(_FORMULA).any() for c in texts])).collect().item())


def _column(name: str, dtype: pl.DataType, spec: dict[str, Any] | None) -> pl.Expr:
    column = pl.col(name)
    if not spec:
        return column
    kind = kind_of(dtype)
    if spec.get("kind") != kind:
        return column
    if kind == "boolean":
        return (pl.when(column).then(pl.lit(spec.get("true", "true")))
                .when(~column).then(pl.lit(spec.get("false", "false"))).otherwise(None).alias(name))
    if kind in ("datetime", "date", "time") and spec.get("format"):
        return column.dt.to_string(spec["format"]).alias(name)
    if kind == "float" and spec.get("integral") == "plain":
        whole = column.is_finite() & (column == column.round()) & (column.abs() < 2**53)
        return (pl.when(whole).then(column.cast(pl.Int64).cast(pl.String))
                .otherwise(column.cast(pl.String)).alias(name))
    return column


def csv_frame(lf: pl.LazyFrame, dialect: dict[str, Any] | None) -> pl.LazyFrame:
    """The columns a CSV holds (no binary, list or struct columns), formatted as the source wrote them."""
    schema = lf.collect_schema()
    formats = (dialect or {}).get("formats") or {}
    keep = [(c, t) for c, t in schema.items() if kind_of(t) not in ("binary", "list", "struct")]
    return lf.select([neutralised(pl.col(c)).alias(c) if kind_of(t) == "string" else _column(c, t, formats.get(c))
                      for c, t in keep])


def write_csv(source: Path, target: Path, dialect: dict[str, Any] | None) -> None:
    """Stream a Parquet file into a CSV in the source's value formats."""
    null_value = (dialect or {}).get("nullValue") or ""
    csv_frame(pl.scan_parquet(source), dialect).sink_csv(target, null_value=null_value)


def inherited(parent: dict[str, Any] | None, schema: pl.Schema) -> dict[str, Any] | None:
    """A derived version's dialect: its parent's, with the value formats of the columns that are still
    there with the same kind (a cast or a new column is written in polars' defaults)."""
    if not parent:
        return None
    formats = {name: spec for name, spec in (parent.get("formats") or {}).items()
               if name in schema and spec.get("kind") == kind_of(schema[name])}
    return {**parent, "formats": formats, "inherited": True}
