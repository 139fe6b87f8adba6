"""Base classes for wire documents: camelCase JSON, ISO-8601 `Z` timestamps, strict input."""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticUndefined

from backend.core.timeutil import isoformat_z

UtcDateTime = Annotated[datetime, PlainSerializer(isoformat_z, return_type=str, when_used="json")]


class ReadModel(BaseModel):
    """A document the API returns: camelCase on the wire, built from ORM rows."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, from_attributes=True)


class InputModel(BaseModel):
    """A document the API accepts: camelCase, and unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


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
