"""Base classes for wire documents: camelCase JSON, ISO-8601 `Z` timestamps, strict input."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, field_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticUndefined

from backend.core.timeutil import isoformat_z

UtcDateTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str, when_used="json")]


class ReadModel(BaseModel):
    """A document the API returns: camelCase on the wire, built from ORM rows."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def check_bounded(value: Any) -> Any:
    """ValueError for an integer outside 64 bits or an instant that has no UTC equivalent, anywhere in
    `value` (lists, dicts and sets included): the database, polars and `datetime` cannot hold them, and
    they surfaced as OverflowError (a 500) deep inside a service. Nested input models check themselves."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"integers must lie between {INT64_MIN} and {INT64_MAX}")
    elif isinstance(value, datetime):
        if value.tzinfo is not None:
            try:
                value.astimezone(UTC)
            except OverflowError:
                raise ValueError("the instant is outside the range of UTC timestamps (years 1 to 9999)") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            check_bounded(key)
            check_bounded(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            check_bounded(item)
    return value


class InputModel(BaseModel):
    """A document the API accepts: camelCase, and unknown fields are refused (no mass assignment).

    Every field of every input model is bounded centrally (`check_bounded`): 64-bit integers and
    instants that convert to UTC, wherever they appear in the document."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _bounded(cls, value: Any) -> Any:
        return check_bounded(value)


T = TypeVar("T")


class Page(ReadModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(default=None, description="Opaque cursor of the next page; null on the last")


def complete_document(model: type[BaseModel], data: dict[str, Any] | None) -> dict[str, Any]:
    """A stored wire document with every field of `model` that it leaves out put back at its default.

    Documents are stored as `model_dump(by_alias=True, exclude_none=True)` of an input that was
    validated when written; this returns what validating and dumping them again would (same keys,
    same order) at a fraction of the cost, which is what the hot list routes need. Nested models,
    optional or in lists, are completed too.
    """
    plan = _plan(model)
    document = {**plan.defaults, **data} if data else dict(plan.defaults)
    for alias, make in plan.fresh:  # defaults that must not be shared between documents
        if not data or alias not in data:
            document[alias] = make()
    for alias, nested in plan.nested:
        value = document[alias]
        if isinstance(value, dict):
            document[alias] = complete_document(nested, value)
        elif isinstance(value, list):
            document[alias] = [complete_document(nested, v) if isinstance(v, dict) else v for v in value]
    return document


@dataclass(frozen=True)
class _Plan:
    defaults: dict[str, Any]  # every field by wire name, in order, at its default
    fresh: tuple[tuple[str, Callable[[], Any]], ...]  # fields whose default is made per document
    nested: tuple[tuple[str, type[BaseModel]], ...]  # fields holding models


@cache
def _plan(model: type[BaseModel]) -> _Plan:
    defaults, fresh, nested = {}, [], []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        if info.default_factory is not None:
            defaults[alias] = None
            fresh.append((alias, info.default_factory))
        else:
            defaults[alias] = None if info.default is PydanticUndefined else info.default
        if inner := _nested_model(info.annotation):
            nested.append((alias, inner))
    return _Plan(defaults, tuple(fresh), tuple(nested))


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside `M`, `M | None` or `list[M]` (also inside Annotated), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType, list, Annotated):
        for arg in get_args(annotation):
            if found := _nested_model(arg):
                return found
    return None


class ErrorBody(BaseModel):
    code: str = Field(examples=["MODEL_001"])
    message: str
    details: dict = Field(default_factory=dict)
    requestId: str = Field(examples=["req_5f2c0d1e9a7b4c3d"])
    documentation: str = Field(examples=["/api/v1/docs/errors#MODEL_001"])


class ErrorResponse(BaseModel):
    """The one error format of every error the server returns."""

    error: ErrorBody


# A query or path parameter bounded like an input model's fields (see `check_bounded`).
BoundedInt = Annotated[int, AfterValidator(check_bounded)]
UtcInstant = Annotated[datetime, AfterValidator(check_bounded)]
