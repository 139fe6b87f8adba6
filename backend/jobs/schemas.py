"""Wire documents of background jobs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobRead(ReadModel):
    id: str
    type: str
    status: JobStatus
    progress: float = Field(ge=0, le=1)
    message: str | None = None
    payload: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_by: str | None = None
    created_at: UtcDateTime
    started_at: UtcDateTime | None = None
    finished_at: UtcDateTime | None = None
    updated_at: UtcDateTime


class JobCreate(InputModel):
    type: Literal["platform.statistics", "platform.selftest"] = Field(
        description="A maintenance job type; domain jobs are started through their own routes"
    )
    payload: dict[str, Any] = Field(default_factory=dict)


class JobTypeRead(ReadModel):
    name: str
    description: str
