"""Base classes for wire documents: camelCase JSON, ISO-8601 `Z` timestamps, strict input."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

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


class ErrorBody(BaseModel):
    code: str = Field(examples=["MODEL_001"])
    message: str
    details: dict = Field(default_factory=dict)
    requestId: str = Field(examples=["req_5f2c0d1e9a7b4c3d"])
    documentation: str = Field(examples=["/api/v1/docs/errors#MODEL_001"])


class ErrorResponse(BaseModel):
    """The one error format of every error the server returns."""

    error: ErrorBody
