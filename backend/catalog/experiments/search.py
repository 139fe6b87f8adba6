"""MLflow's search language for runs: filters (`metrics.accuracy > 0.9 and params.optimizer = "adam"`)
read into SQL conditions on `Run`, the sort orders a run list takes, their keyset cursors, and the rule
for metric, param and tag names that both logging and searching check.

`service.search_runs` puts these together; nothing here reads the database or checks permissions.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, exists, or_
from sqlalchemy.orm import aliased

from backend.catalog.experiments.models import LatestMetric, Param, Run, RunTag
from backend.catalog.experiments.schemas import MAX_KEY
from backend.core.errors import InvalidRequest
from backend.core.pagination import decode_cursor

KEY_PATTERN = re.compile(r"^[\w\-. /:]+$")
MAX_FILTER = 2000
MAX_FILTER_CLAUSES = 20
RUN_ATTRIBUTE_SORTS = {"startTime": "start_time", "endTime": "end_time", "name": "name", "status": "status"}


def key_problem(key: object) -> str | None:
    """Why `key` is no valid metric, param or tag name (MLflow's rule), or None: letters, digits and
    `_ - . space / :`, at most 250 characters, and a normalised relative path (no `//`, `./`, `..`)."""
    if not isinstance(key, str) or not key:
        return "a name is required"
    if len(key) > MAX_KEY:
        return f"at most {MAX_KEY} characters"
    if not KEY_PATTERN.match(key):
        return "only letters, digits, spaces and _ - . / : are allowed"
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        return "must be a plain relative name (no leading or doubled /, no . or .. parts)"
    return None


def check_key(key: object, field: str) -> str:
    problem = key_problem(key)
    if problem:
        raise InvalidRequest(f"Invalid name in {field}", {field: problem})
    return key  # type: ignore[return-value]


# --- filters --------------------------------------------------------------------------------------------------------

_ATTRIBUTES = {"status": "status", "name": "name", "run_name": "name", "runname": "name", "source": "source",
               "user": "user_id", "userid": "user_id", "user_id": "user_id", "starttime": "start_time",
               "start_time": "start_time", "endtime": "end_time", "end_time": "end_time"}
_NUMERIC_ATTRIBUTES = ("start_time", "end_time")
_ENTITIES = {"metric": "metric", "metrics": "metric", "param": "param", "params": "param", "tag": "tag",
             "tags": "tag", "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute"}
_CLAUSE = re.compile(
    r"""^\s*(?:(?P<entity>[A-Za-z]+)\.)?(?P<key>`[^`]+`|"[^"]+"|[\w.\-/:]+)\s*"""
    r"""(?P<op><=|>=|!=|<>|==|=|<|>|(?i:not\s+ilike)|(?i:not\s+like)|(?i:ilike)|(?i:like))\s*"""
    r"""(?P<value>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$""")
_COMPARE = {"=": "__eq__", "==": "__eq__", "!=": "__ne__", "<>": "__ne__", "<": "__lt__", "<=": "__le__",
            ">": "__gt__", ">=": "__ge__"}


def _split_clauses(text: str) -> list[str]:
    """Split at `and` outside quotes and backticks."""
    clauses, current, quote, i = [], [], None, 0
    while i < len(text):
        char = text[i]
        if quote:
            current.append(char)
            if char == "\\" and quote != "`" and i + 1 < len(text):
                current.append(text[i + 1])
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
            current.append(char)
        else:
            match = re.match(r"\s+and\s+", text[i:], re.I)
            if match:
                clauses.append("".join(current))
                current = []
                i += match.end()
                continue
            current.append(char)
        i += 1
    clauses.append("".join(current))
    return clauses


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"`":
        body = text[1:-1]
        return body if text[0] == "`" else re.sub(r"\\(.)", r"\1", body)
    return text


def _glob(pattern: str) -> str:
    """A LIKE pattern (`%`, `_`, backslash escapes) as a case-sensitive SQLite GLOB pattern."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            i += 1
            char = pattern[i]
            out.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        elif char in "*?[":
            out.append(f"[{char}]")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _text_condition(column: Any, op: str, value: str, sqlite: bool):  # noqa: ANN202
    op = re.sub(r"\s+", " ", op.lower())
    negate = op.startswith("not ")
    op = op.removeprefix("not ")
    if op == "ilike":
        condition = column.ilike(value, escape="\\")
    elif op == "like":
        condition = column.op("GLOB")(_glob(value)) if sqlite else column.like(value, escape="\\")
    elif op in ("=", "==", "!=", "<>"):
        condition = column == value if op in ("=", "==") else column != value
    else:
        raise InvalidRequest("Unsupported comparison", {"filter": f"text compares with =, !=, LIKE, ILIKE, not {op}"})
    return ~condition if negate else condition


def parse_filter(text: str, *, sqlite: bool) -> list[Any]:
    """SQL conditions on Run for a filter in MLflow's search syntax, e.g.
    `metrics.accuracy > 0.9 and params.optimizer = "adam" and status = "FINISHED"`: clauses joined by
    `and`; `metrics.<key>` (latest value) compares with numbers, `params.<key>`, `tags.<key>` and the
    attributes status, name, source, userId with strings (=, !=, LIKE, ILIKE, case-sensitive LIKE),
    startTime and endTime with numbers. A key with spaces goes in backticks."""
    if len(text) > MAX_FILTER:
        raise InvalidRequest("The filter is too long", {"filter": f"at most {MAX_FILTER} characters"})
    clauses = [c for c in _split_clauses(text) if c.strip()]
    if len(clauses) > MAX_FILTER_CLAUSES:
        raise InvalidRequest("The filter has too many clauses", {"filter": f"at most {MAX_FILTER_CLAUSES}"})
    conditions = []
    for clause in clauses:
        match = _CLAUSE.match(clause)
        if not match:
            raise InvalidRequest("The filter cannot be read",
                                 {"filter": f"not a comparison: {clause.strip()[:100]!r}; e.g. metrics.accuracy > 0.9"})
        entity_word = (match.group("entity") or "attribute").lower()
        entity = _ENTITIES.get(entity_word)
        key, op, raw = _unquote(match.group("key")), match.group("op"), match.group("value")
        if entity is None:
            # A dotted key with no known entity ("val.acc"): not a form this language has.
            raise InvalidRequest("The filter cannot be read", {"filter": f"unknown entity '{entity_word}' (metrics, "
                                                                          "params, tags, attributes)"})
        quoted = raw[0] in "'\""
        value: Any = _unquote(raw) if quoted else float(raw)
        if entity == "attribute":
            column_name = _ATTRIBUTES.get(key.lower())
            if column_name is None:
                raise InvalidRequest("Unknown attribute in the filter",
                                     {"filter": f"'{key[:50]}': one of status, name, source, userId, startTime, endTime"})
            column = getattr(Run, column_name)
            if column_name in _NUMERIC_ATTRIBUTES:
                if quoted or op.lower() not in _COMPARE:
                    raise InvalidRequest("Compare times with numbers", {"filter": f"{key} takes =, !=, <, <=, >, >= "
                                                                                  "and epoch milliseconds"})
                conditions.append(getattr(column, _COMPARE[op])(value))
            else:
                if not quoted:
                    raise InvalidRequest("Quote text in the filter", {"filter": f"{key} compares with a quoted string"})
                conditions.append(_text_condition(column, op, value, sqlite))
            continue
        check_key(key, "filter")
        if entity == "metric":
            if quoted or op.lower() not in _COMPARE:
                raise InvalidRequest("Compare metrics with numbers",
                                     {"filter": f"metrics.{key} takes =, !=, <, <=, >, >= and a number"})
            conditions.append(exists().where(LatestMetric.run_id == Run.id, LatestMetric.key == key,
                                             LatestMetric.is_nan == False,  # noqa: E712
                                             getattr(LatestMetric.value, _COMPARE[op])(value)))
            continue
        if not quoted:
            raise InvalidRequest("Quote text in the filter", {"filter": f"{entity}s.{key} compares with a quoted string"})
        table = Param if entity == "param" else RunTag
        conditions.append(exists().where(table.run_id == Run.id, table.key == key,
                                         _text_condition(table.value, op, value, sqlite)))
    return conditions


@dataclass(frozen=True)
class Sort:
    expression: Any
    numeric: bool
    descending: bool
    join: Any = None  # (alias, on-clause) for an outer join


def sort_of(sort: str, metric_value: str) -> Sort:
    descending = sort.startswith("-")
    body = sort[1:] if descending else sort
    if body in RUN_ATTRIBUTE_SORTS:
        column = getattr(Run, RUN_ATTRIBUTE_SORTS[body])
        return Sort(column, body in ("startTime", "endTime"), descending)
    entity, _, key = body.partition(".")
    if entity in ("metrics", "params") and key:
        check_key(_unquote(key), "sort")
        key = _unquote(key)
        if entity == "metrics":
            alias = aliased(LatestMetric)
            expression = {"latest": case((alias.is_nan, None), else_=alias.value), "min": alias.min_value,
                          "max": alias.max_value}[metric_value]
            return Sort(expression, True, descending, (alias, and_(alias.run_id == Run.id, alias.key == key)))
        alias = aliased(Param)
        return Sort(alias.value, False, descending, (alias, and_(alias.run_id == Run.id, alias.key == key)))
    raise InvalidRequest("Unknown sort", {"sort": "startTime, endTime, name, status, metrics.<key> or params.<key>, "
                                                  "with - for descending"})


def after_cursor(cursor: str, spec: Sort, missing: Any):  # noqa: ANN202
    was_missing, value, run_id = decode_cursor(cursor, 3)
    bad = InvalidRequest("The cursor is not valid", {"cursor": "not a cursor of this sort"})
    if was_missing not in (0, 1) or not isinstance(run_id, str):
        raise bad
    later = (lambda a, b: a < b) if spec.descending else (lambda a, b: a > b)
    if was_missing:
        return and_(missing == 1, later(Run.id, run_id))
    if spec.numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise bad
    if not spec.numeric and not isinstance(value, str):
        raise bad
    return or_(missing == 1, and_(missing == 0, or_(later(spec.expression, value),
                                                     and_(spec.expression == value, later(Run.id, run_id)))))
