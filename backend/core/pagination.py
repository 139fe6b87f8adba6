"""Keyset pagination: `limit` + opaque `cursor`, never OFFSET, so deep pages stay fast."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Query
from sqlalchemy import and_, or_
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from backend.core.errors import InvalidRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Row = TypeVar("Row")


@dataclass(frozen=True)
class PageParams:
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page (1–500)")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`nextCursor` of the previous page")
    ] = None,
) -> PageParams:
    """FastAPI dependency reading `limit` and `cursor` (async: pure parsing, so no thread hop)."""
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"}) from exc
    if not isinstance(values, list) or len(values) != count:
        raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"})
    return values


def paginate(
    session: Session,
    query: SelectOfScalar[Row],
    *,
    params: PageParams,
    order: Sequence[InstrumentedAttribute],
    descending: bool = False,
    parse: Sequence[Callable[[Any], Any]] | None = None,
    sort_without_index: bool = False,
) -> tuple[list[Row], str | None]:
    """Run one page of `query` ordered by `order` (the last column must be unique).

    `parse` converts cursor values back (e.g. `datetime.fromisoformat` for timestamp columns).
    `sort_without_index` (SQLite) keeps the planner from walking an index of `order` to avoid the
    sort, for queries whose conditions are known to match few rows that another index finds.
    """
    if params.cursor:
        values = decode_cursor(params.cursor, len(order))
        if parse:
            try:
                values = [fn(v) for fn, v in zip(parse, values, strict=True)]
            except (TypeError, ValueError) as exc:
                raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"}) from exc
        query = query.where(_after(order, values, descending))
    terms = [_unindexed(col) for col in order] if sort_without_index else order
    query = query.order_by(*[(term.desc() if descending else term.asc()) for term in terms])
    rows = list(session.exec(query.limit(params.limit + 1)).all())
    if len(rows) <= params.limit:
        return rows, None
    rows = rows[: params.limit]
    last = rows[-1]
    return rows, encode_cursor([getattr(last, col.key) for col in order])


def _unindexed(column: InstrumentedAttribute) -> UnaryExpression:
    """`+column`: SQLite's documented way to disqualify an ORDER BY term from using an index."""
    return UnaryExpression(column, operator=custom_op("+"), type_=column.type)


def _after(order: Sequence[InstrumentedAttribute], values: Sequence[Any], descending: bool):
    """Row-value comparison `(a, b) > (x, y)` spelled out so SQLite and PostgreSQL agree."""
    clauses = []
    for i, col in enumerate(order):
        equal_prefix = [order[j] == values[j] for j in range(i)]
        step = col < values[i] if descending else col > values[i]
        clauses.append(and_(*equal_prefix, step))
    return or_(*clauses)


__all__ = ["PageParams", "page_params", "paginate", "encode_cursor", "decode_cursor", "select", "MAX_LIMIT"]
