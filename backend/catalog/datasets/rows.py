"""A page of a version's rows for the data viewer: filtered, sorted and sliced lazily in polars.

A page never reads the whole file into memory. Without a filter or sort the page is a slice of the
Parquet file (only the row groups it spans are read). With one, a first query finds the positions of
the page's rows reading only the columns the filter and the sort name, and a second reads just those
rows. Cells are bounded: a binary cell comes back as its size in bytes, text is cut at `CELL_CHARS`
characters, lists and structs come back as JSON text (cut the same way).

Values come from users' files: this module returns them as data, never as markup; the callers
(the REST route, the page) render them as JSON or plain text.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from backend.catalog.datasets import expressions
from backend.catalog.datasets.profiling import kind_of
from backend.core.errors import InvalidRequest

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
CELL_CHARS = 1000
ELLIPSIS = "…"
UNSORTABLE = ("binary", "list", "struct")
NESTED = ("list", "struct")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # the wire type (profiling.kind_of)
    dtype: str  # the exact polars type


@dataclass
class RowsPage:
    """One page: its columns, each row's position in the version (0-based) and its cells."""

    columns: list[Column]
    positions: list[int]
    rows: list[list[Any]]
    offset: int
    limit: int
    total: int  # rows that pass the filter (all rows without one)
    sort: str | None = None
    descending: bool = False
    filter: str | None = None
    truncated: int = 0  # cells cut at CELL_CHARS

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.rows)
        return following if self.rows and following < self.total else None


def _short(exc: BaseException) -> str:
    """The first line of a polars error, without its hints (no paths or plans reach the caller)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def parse_sort(sort: str | None, schema: pl.Schema, descending: bool = False) -> tuple[str, bool] | None:
    """(column, descending) of `sort`: a column name (descending when `descending`), or `-` and a column
    name. A name that exists as written wins, so a column really named `-x` sorts by itself (pass
    `descending` to sort it the other way). REQ_001 naming `sort`."""
    if sort is None or sort == "":
        return None
    if sort in schema:
        name = sort
    elif sort.startswith("-") and sort[1:] in schema:
        name, descending = sort[1:], True
    else:
        raise InvalidRequest(f"Cannot sort: no column named '{sort.removeprefix('-')[:100]}'",
                             {"sort": f"no column named '{sort.removeprefix('-')[:100]}'"})
    kind = kind_of(schema[name])
    if kind in UNSORTABLE:
        raise InvalidRequest(f"Cannot sort by '{name[:100]}': a {kind} column has no order",
                             {"sort": f"'{name[:100]}' is a {kind} column"})
    return name, descending


def parse_filter(text: str | None, lf: pl.LazyFrame) -> pl.Expr | None:
    """The polars condition of a filter expression (`rating >= 4 and sentiment == "positive"`); REQ_001
    naming `filter` when it is malformed, names a missing column or is not a condition."""
    if text is None or not text.strip():
        return None
    schema = lf.collect_schema()
    try:
        expr = expressions.compile_expression(text, schema.names())
    except expressions.ExpressionError as exc:
        raise InvalidRequest(f"The filter is not valid: {exc}", {"filter": str(exc)[:200]}) from None
    except (ValueError, TypeError, AttributeError, OverflowError, pl.exceptions.PolarsError):
        # A function given an argument of the wrong kind, such as `round(x, "y")`.
        raise InvalidRequest("The filter is not valid: a function has an argument it cannot take",
                             {"filter": "a function has an argument it cannot take"}) from None
    try:
        dtype = lf.select(expr.alias("condition")).collect_schema()["condition"]
    except pl.exceptions.PolarsError as exc:
        raise InvalidRequest(f"The filter cannot be applied: {_short(exc)}", {"filter": _short(exc)}) from None
    if dtype not in (pl.Boolean, pl.Null):
        raise InvalidRequest("The filter must be a condition (true or false for each row), such as `rating >= 4`",
                             {"filter": f"gives {kind_of(dtype)} values, not true/false"})
    return expr


def _index_name(schema: pl.Schema) -> str:
    name = "__row"
    while name in schema:
        name += "_"
    return name


def _shown(name: str, dtype: pl.DataType) -> pl.Expr:
    """The column as the page reads it: bounded cells whatever the data holds."""
    kind = kind_of(dtype)
    column = pl.col(name)
    if kind == "binary":
        return column.bin.size().alias(name)
    if kind == "string":
        return column.cast(pl.String).str.slice(0, CELL_CHARS + 1).alias(name)
    return column


def _cell(value: Any, kind: str) -> tuple[Any, bool]:
    """A cell as the page returns it, and whether it was cut."""
    if value is None:
        return None, False
    if kind in NESTED:
        value = json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, str) and len(value) > CELL_CHARS:
        return value[:CELL_CHARS] + ELLIPSIS, True
    return value, False


def read_page(path: Path, *, record_count: int, limit: int = DEFAULT_LIMIT, offset: int = 0,
              sort: str | None = None, descending: bool = False, filter: str | None = None) -> RowsPage:  # noqa: A002
    """The rows `offset .. offset+limit` of the Parquet file at `path` that pass `filter`, in `sort`
    order (the file's order otherwise; ties keep it); `record_count` is the file's number of rows."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be 1 to {MAX_LIMIT}", {"limit": f"1 to {MAX_LIMIT}"})
    if not isinstance(offset, int) or offset < 0:
        raise InvalidRequest("offset must be 0 or more", {"offset": "0 or more"})
    scan = pl.scan_parquet(path)
    schema = scan.collect_schema()
    order = parse_sort(sort, schema, descending)
    condition = parse_filter(filter, scan)
    index = _index_name(schema)
    indexed = scan.with_row_index(index)
    columns = [Column(name, kind_of(dtype), str(dtype)) for name, dtype in schema.items()]
    shown = [_shown(name, dtype) for name, dtype in schema.items()]

    positions: list[int] | None = None
    if order is None and condition is None:
        total = record_count
        frame = indexed.slice(offset, limit).select(index, *shown).collect(engine="streaming")
    else:
        matching = indexed if condition is None else indexed.filter(condition)
        ordered = matching if order is None else matching.sort(order[0], descending=order[1], nulls_last=True,
                                                               maintain_order=True)
        find = ordered.slice(offset, limit).select(index)
        try:
            if condition is None:
                total = record_count
                positions = [int(p) for p in find.collect(engine="streaming")[index].to_list()]
            else:
                hits, counted = pl.collect_all([find, matching.select(pl.len())], engine="streaming")
                positions, total = [int(p) for p in hits[index].to_list()], int(counted.item())
        except pl.exceptions.PolarsError as exc:
            if condition is None:
                raise
            raise InvalidRequest(f"The filter cannot be applied: {_short(exc)}", {"filter": _short(exc)}) from None
        frame = _rows_at(indexed, index, positions, shown)

    kinds = [c.type for c in columns]
    found = {int(values[0]): values[1:] for values in frame.select(index, pl.exclude(index)).rows()}
    order_of_rows = positions if positions is not None else sorted(found)
    rows, truncated = [], 0
    for position in order_of_rows:
        cells = []
        for value, kind in zip(found[position], kinds, strict=True):
            cell, cut = _cell(value, kind)
            cells.append(cell)
            truncated += cut
        rows.append(cells)
    return RowsPage(columns=columns, positions=list(order_of_rows), rows=rows, offset=offset, limit=limit,
                    total=total, sort=order[0] if order else None, descending=bool(order and order[1]),
                    filter=filter.strip() if condition is not None else None, truncated=truncated)


def _rows_at(indexed: pl.LazyFrame, index: str, positions: list[int], shown: list[pl.Expr]) -> pl.DataFrame:
    """The rows at `positions` (any order): a scan of only the row groups between the first and last."""
    if not positions:
        return indexed.select(index, *shown).head(0).collect()
    first, last = min(positions), max(positions)
    return (indexed.slice(first, last - first + 1).filter(pl.col(index).is_in(positions))
            .select(index, *shown).collect(engine="streaming"))


def json_cell(value: Any) -> Any:
    """A page's cell as JSON: numbers, text, true/false and null as such; non-finite floats as "NaN",
    "Infinity", "-Infinity"; dates and times in ISO 8601; durations in seconds; decimals as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    return value
