"""Validation rules run with pandera's polars backend: a report per rule with failing-row counts and
examples. Schema and row-count rules are checked against the frame itself (they are not per row).

Each row-level rule becomes its own pandera `DataFrameSchema` validated with `lazy=True`, so every
failure case is collected and attributed to exactly one rule.
"""

from __future__ import annotations

import importlib.metadata
import warnings
from typing import Any

import pandera.polars as pa
import polars as pl

from backend.catalog.datasets.expressions import ExpressionError, compile_expression
from backend.catalog.datasets.profiling import clean, kind_of
from backend.core.errors import InvalidRequest

ENGINE = f"pandera {importlib.metadata.version('pandera')} (polars backend)"
MAX_EXAMPLES = 5


def _rule_name(rule: Any, index: int) -> str:
    return rule.name or f"{index + 1}:{rule.type}" + (f":{rule.column}" if rule.column else "")


def _columns(rule: Any) -> list[str]:
    return list(rule.columns or ([rule.column] if rule.column else []))


def _result(rule: Any, index: int, *, passed: bool, failing: int = 0, examples: list | None = None,
            message: str | None = None) -> dict[str, Any]:
    return {"rule": _rule_name(rule, index), "type": rule.type, "column": rule.column or
            (",".join(rule.columns) if rule.columns else None), "passed": passed, "failing_rows": failing,
            "examples": clean(examples or []), "message": message}


def _pandera_schema(rule: Any, index: int, frame: pl.DataFrame) -> pa.DataFrameSchema:
    cols = _columns(rule)
    if rule.type == "not_null":
        return pa.DataFrameSchema({c: pa.Column(nullable=False) for c in cols})
    if rule.type == "unique":
        if len(cols) == 1:
            return pa.DataFrameSchema({cols[0]: pa.Column(nullable=True, unique=True)})
        return pa.DataFrameSchema({c: pa.Column(nullable=True) for c in cols}, unique=cols)
    if rule.type == "range":
        checks = []
        if rule.min is not None:
            checks.append(pa.Check.ge(rule.min))
        if rule.max is not None:
            checks.append(pa.Check.le(rule.max))
        return pa.DataFrameSchema({rule.column: pa.Column(nullable=True, checks=checks)})
    if rule.type == "allowed_values":
        return pa.DataFrameSchema({rule.column: pa.Column(nullable=True, checks=pa.Check.isin(rule.values))})
    if rule.type == "regex":
        try:
            pl.select(pl.lit("").str.contains(rule.pattern))
        except pl.exceptions.PolarsError as exc:
            raise InvalidRequest("A rule's pattern is not a valid regular expression",
                                 {f"rules.{index}.pattern": "invalid regular expression"}) from exc
        check = pa.Check(lambda data, p=rule.pattern: data.lazyframe.select(
            pl.col(data.key).cast(pl.String).str.contains(p)), name="regex")
        return pa.DataFrameSchema({rule.column: pa.Column(nullable=True, checks=check)})
    if rule.type == "expression":
        try:
            expr = compile_expression(rule.expression, frame.columns)
        except ExpressionError as exc:
            raise InvalidRequest("A rule's expression is invalid", {f"rules.{index}.expression": str(exc)}) from exc
        check = pa.Check(lambda data, e=expr: data.lazyframe.select(e.fill_null(False)), name="expression")
        return pa.DataFrameSchema(checks=[check])
    raise InvalidRequest("Unknown rule type", {f"rules.{index}.type": rule.type})


def run_rules(frame: pl.DataFrame, rules: list[Any]) -> list[dict[str, Any]]:
    """One result per rule (rules are `schemas.Rule` models)."""
    results = []
    for index, rule in enumerate(rules):
        missing = [c for c in _columns(rule) if c not in frame.columns]
        if missing:
            results.append(_result(rule, index, passed=False, failing=frame.height,
                                   message=f"no such column: {missing[0][:100]}"))
            continue
        if rule.type == "schema":
            results.append(_schema_rule(rule, index, frame))
            continue
        if rule.type == "row_count":
            ok = (rule.min is None or frame.height >= rule.min) and (rule.max is None or frame.height <= rule.max)
            results.append(_result(rule, index, passed=ok, failing=0 if ok else frame.height,
                                   message=None if ok else f"{frame.height} rows, expected "
                                   f"{rule.min if rule.min is not None else '-'}..{rule.max if rule.max is not None else '-'}"))
            continue
        schema = _pandera_schema(rule, index, frame)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                schema.validate(frame, lazy=True)
            except pa.errors.SchemaErrors as exc:
                results.append(_failures(rule, index, frame, exc.failure_cases))
                continue
            except pa.errors.SchemaError as exc:  # pragma: no cover (lazy=True collects instead)
                results.append(_result(rule, index, passed=False, message=str(exc)[:300]))
                continue
        results.append(_result(rule, index, passed=True))
    return results


def _failures(rule: Any, index: int, frame: pl.DataFrame, cases: pl.DataFrame) -> dict[str, Any]:
    indices = cases.get_column("index").drop_nulls().unique().sort() if "index" in cases.columns else pl.Series([])
    failing = indices.len()
    if failing == 0:  # a frame-level failure (e.g. a column missing): all rows fail
        return _result(rule, index, passed=False, failing=frame.height,
                       message=str(cases.get_column("failure_case")[0])[:300] if cases.height else None)
    cols = _columns(rule) or frame.columns[:10]
    rows = frame.with_row_index("__row").filter(pl.col("__row").is_in(indices.head(MAX_EXAMPLES).to_list()
                                                                      )).select(["__row", *cols])
    examples = [{"row": r.pop("__row"), **r} for r in rows.to_dicts()]
    return _result(rule, index, passed=False, failing=failing, examples=examples)


def _schema_rule(rule: Any, index: int, frame: pl.DataFrame) -> dict[str, Any]:
    problems = []
    for col, expected in rule.schema_.items():
        if col not in frame.schema:
            problems.append({"column": col, "expected": expected, "actual": None})
        elif kind_of(frame.schema[col]) != expected:
            problems.append({"column": col, "expected": expected, "actual": kind_of(frame.schema[col])})
    return _result(rule, index, passed=not problems, failing=frame.height if problems else 0, examples=problems,
                   message=f"{len(problems)} column(s) differ from the expected schema" if problems else None)
