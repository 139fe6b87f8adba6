"""Declarative transform steps compiled into one lazy polars plan.

Each step is checked against the schema the previous steps produce; a step that names a missing
column, or one that does not fit its type, raises DATA_003 naming the step (1-based), its op and
the column. Steps are the pydantic models of `schemas.Step`; plain dicts are validated first.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

import polars as pl
from pydantic import TypeAdapter, ValidationError

from backend.catalog.datasets import pii
from backend.catalog.datasets.expressions import ExpressionError, compile_expression
from backend.catalog.datasets.schemas import Step, replacement_references
from backend.core.errors import AISystemError, InvalidRequest

MAX_ONE_HOT_CATEGORIES = 100
CAST_TYPES = {"integer": pl.Int64, "float": pl.Float64, "string": pl.String, "boolean": pl.Boolean,
              "date": pl.Date, "datetime": pl.Datetime("us")}
_STEPS = TypeAdapter(list[Step])


@dataclass(frozen=True)
class OutputLimits:
    """What one transform may produce. Only `regex_replace` can grow a cell by a factor the caller
    picks (its replacement copies the match once per group reference); the other steps keep the row
    count or shrink it, and grow a cell by at most a small constant (a cast, a hash, `[REDACTED]`)."""

    max_cell_bytes: int
    max_column_bytes: int


def replacement_growth(replacement: str) -> tuple[int, int]:
    """(a, b) such that a regex_replace turns a cell of L bytes into at most a × L + b bytes.

    Each of at most L + 1 matches is replaced by the replacement's literal bytes plus one copy of (part
    of) the match per group reference, so the output is at most L × (1 + literal + refs - 1) + literal."""
    literal = len(replacement.encode())  # an upper bound: the references' own text counts as literal
    return 1 + literal + max(replacement_references(replacement) - 1, 0), literal


def parse_steps(steps: list[Any]) -> list[Any]:
    """Steps as models (REQ_001 when a dict does not describe a known step)."""
    try:
        return _STEPS.validate_python([s.model_dump(by_alias=True) if hasattr(s, "model_dump") else s for s in steps])
    except ValidationError as exc:
        fields = {".".join(str(p) for p in ("steps", *err["loc"])): err["msg"] for err in exc.errors()[:20]}
        raise InvalidRequest("The transform steps are invalid", fields) from exc


def step_error(index: int, op: str, message: str, column: str | None = None) -> AISystemError:
    details = {"step": index + 1, "op": op}
    if column is not None:
        details["column"] = column[:256]
    where = f"Step {index + 1} ({op})" + (f", column '{column[:100]}'" if column is not None else "")
    return AISystemError("DATA_003", f"{where}: {message}", details)


def _need(schema: pl.Schema, columns: list[str], index: int, op: str, numeric: bool = False,
          text: bool = False) -> None:
    for col in columns:
        if col not in schema:
            raise step_error(index, op, "no such column", col)
        if numeric and not schema[col].is_numeric():
            raise step_error(index, op, f"the column is {schema[col]}, not numeric", col)
        if text and schema[col] != pl.String:
            raise step_error(index, op, f"the column is {schema[col]}, not text", col)


def _hasher(key: bytes):  # noqa: ANN202
    def digest(value: str | None) -> str | None:
        if value is None:
            return None
        return hmac.new(key, value.encode(), hashlib.blake2b).hexdigest()[:32]

    return digest


def apply_steps(lf: pl.LazyFrame, steps: list[Any], *, mask_key: bytes,
                limits: OutputLimits | None = None) -> pl.LazyFrame:
    """The lazy plan of `steps` over `lf` (schema-checked step by step; nothing runs yet, except that
    with `limits` the text a `regex_replace` step reads is measured first, see `check_growth`)."""
    for index, step in enumerate(steps):
        if limits is not None and step.op == "regex_replace":
            _need(lf.collect_schema(), step.columns, index, step.op, text=True)
            check_growth(lf, step, index, limits)
        lf = apply_step(lf, step, index, mask_key=mask_key)
    return lf


def check_growth(lf: pl.LazyFrame, step: Any, index: int, limits: OutputLimits) -> None:
    """DATA_003 before anything is materialised when the step could write a cell or a column over the
    limits: the bound is computed from the real lengths of the text the step reads (one streaming pass
    over the steps before it, whose own output was bounded the same way), so steps do not compound."""
    a, b = replacement_growth(step.replacement)
    measures = lf.select(
        [pl.len().alias("__rows")]
        + [pl.col(c).str.len_bytes().max().alias(f"max{i}") for i, c in enumerate(step.columns)]
        + [pl.col(c).str.len_bytes().sum().alias(f"sum{i}") for i, c in enumerate(step.columns)]
    ).collect(engine="streaming").row(0, named=True)
    rows = measures["__rows"]
    for i, col in enumerate(step.columns):
        longest = a * (measures[f"max{i}"] or 0) + b
        if longest > limits.max_cell_bytes:
            raise step_error(index, step.op, f"the replacement could make a cell of up to {longest:,} bytes, over "
                             f"the limit of {limits.max_cell_bytes:,}; use fewer group references or a shorter "
                             "replacement", col)
        total = a * (measures[f"sum{i}"] or 0) + b * rows
        if total > limits.max_column_bytes:
            raise step_error(index, step.op, f"the replacement could make the column up to {total:,} bytes, over "
                             f"the limit of {limits.max_column_bytes:,}", col)


def apply_step(lf: pl.LazyFrame, step: Any, index: int, *, mask_key: bytes) -> pl.LazyFrame:  # noqa: C901
    op = step.op
    schema = lf.collect_schema()
    if op == "select":
        _need(schema, step.columns, index, op)
        return lf.select(step.columns)
    if op == "drop":
        _need(schema, step.columns, index, op)
        return lf.drop(step.columns)
    if op == "rename":
        _need(schema, list(step.mapping), index, op)
        result = [step.mapping.get(c, c) for c in schema.names()]
        if len(set(result)) != len(result):
            raise step_error(index, op, "two columns would get the same name")
        return lf.rename(step.mapping)
    if op == "cast":
        _need(schema, list(step.columns), index, op)
        return lf.with_columns([pl.col(c).cast(CAST_TYPES[t], strict=True) for c, t in step.columns.items()])
    if op == "filter":
        try:
            return lf.filter(compile_expression(step.expression, schema.names()))
        except ExpressionError as exc:
            raise step_error(index, op, str(exc), exc.column) from exc
    if op == "fill_null":
        cols = step.columns or schema.names()
        _need(schema, cols, index, op, numeric=step.strategy in ("mean", "median", "zero"))
        if step.value is not None:
            return lf.with_columns([pl.col(c).fill_null(pl.lit(step.value).cast(schema[c], strict=False))
                                    for c in cols])
        strategy = step.strategy
        if strategy in ("forward", "backward", "min", "max", "mean", "zero"):
            return lf.with_columns([pl.col(c).fill_null(strategy=strategy) for c in cols])
        return lf.with_columns([pl.col(c).fill_null(pl.col(c).median()) for c in cols])
    if op == "drop_nulls":
        if step.columns:
            _need(schema, step.columns, index, op)
        return lf.drop_nulls(subset=step.columns)
    if op == "deduplicate":
        if step.columns:
            _need(schema, step.columns, index, op)
        return lf.unique(subset=step.columns, keep=step.keep, maintain_order=True)
    if op == "sample":
        rows = pl.len()
        take = pl.lit(step.n) if step.n is not None else (rows.cast(pl.Float64) * step.fraction).floor()
        return lf.filter(pl.int_range(rows).shuffle(seed=step.seed) < take)
    if op == "sort":
        _need(schema, step.by, index, op)
        return lf.sort(step.by, descending=step.descending, maintain_order=True, nulls_last=True)
    if op == "normalize":
        _need(schema, step.columns, index, op, numeric=True)
        return lf.with_columns([((pl.col(c) - pl.col(c).min()) / (pl.col(c).max() - pl.col(c).min())).alias(c)
                                for c in step.columns])
    if op == "standardize":
        _need(schema, step.columns, index, op, numeric=True)
        return lf.with_columns([((pl.col(c) - pl.col(c).mean()) / pl.col(c).std()).alias(c) for c in step.columns])
    if op == "one_hot":
        _need(schema, step.columns, index, op)
        for col in step.columns:
            values = lf.select(pl.col(col).drop_nulls().unique().sort().head(MAX_ONE_HOT_CATEGORIES + 1)).collect()
            categories = values.to_series().to_list()
            if len(categories) > MAX_ONE_HOT_CATEGORIES:
                raise step_error(index, op, f"more than {MAX_ONE_HOT_CATEGORIES} distinct values", col)
            new = [(pl.col(col) == v).fill_null(False).cast(pl.Int8).alias(f"{col}_{v}") for v in categories]
            clash = [f"{col}_{v}" for v in categories if f"{col}_{v}" in schema and f"{col}_{v}" != col]
            if clash:
                raise step_error(index, op, f"the new column '{clash[0][:100]}' already exists", col)
            lf = lf.with_columns(new)
            if step.drop_original:
                lf = lf.drop(col)
        return lf
    if op in ("lowercase", "strip"):
        _need(schema, step.columns, index, op, text=True)
        fn = (lambda e: e.str.to_lowercase()) if op == "lowercase" else (lambda e: e.str.strip_chars())
        return lf.with_columns([fn(pl.col(c)) for c in step.columns])
    if op == "regex_replace":
        _need(schema, step.columns, index, op, text=True)
        try:
            pl.select(pl.lit("").str.replace_all(step.pattern, step.replacement))
        except pl.exceptions.PolarsError as exc:
            raise step_error(index, op, "the regular expression is invalid") from exc
        return lf.with_columns([pl.col(c).str.replace_all(step.pattern, step.replacement) for c in step.columns])
    if op == "mask_pii":
        _need(schema, step.columns, index, op)
        if step.method == "redact":
            return lf.with_columns([pl.col(c).cast(pl.String).str.replace_all(pii.ANY_PII, "[REDACTED]")
                                    for c in step.columns])
        digest = _hasher(mask_key)
        return lf.with_columns([
            pl.col(c).cast(pl.String).map_batches(
                lambda s: pl.Series(s.name, [digest(v) for v in s.to_list()], dtype=pl.String), return_dtype=pl.String)
            for c in step.columns
        ])
    raise step_error(index, op, "unknown step")


def failing_step(lf: pl.LazyFrame, steps: list[Any], *, mask_key: bytes, scratch) -> int | None:  # noqa: ANN001
    """The index of the first step whose prefix fails to run (only called after a failure)."""
    current = lf
    for index, step in enumerate(steps):
        current = apply_step(current, step, index, mask_key=mask_key)
        try:
            current.sink_parquet(scratch, compression="uncompressed")
        except pl.exceptions.PolarsError:
            return index
        finally:
            scratch.unlink(missing_ok=True)
    return None


def describe_steps(steps: list[Any]) -> list[dict[str, Any]]:
    return [s.model_dump(by_alias=True, exclude_none=True) for s in steps]
