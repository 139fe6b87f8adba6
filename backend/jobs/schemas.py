"""Wire documents of background jobs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime
from backend.core.tasks import QUEUES

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
    error_code: str | None = Field(default=None, description="Why it failed, from the error catalogue")
    attempts: int
    max_attempts: int
    cancel_requested: bool
    queue: str = Field(description="The queue it was sent to; workers serving it take it")
    gpus_required: int = Field(ge=0, description="GPUs the worker must have (0: any worker)")
    gpu_memory_mb_required: int = Field(ge=0, description="Memory each of those GPUs must have")
    time_limit_seconds: int | None = Field(default=None, description="Stopped and failed (JOB_003) after this")
    checkpointed_at: UtcDateTime | None = Field(default=None, description="When it last saved a checkpoint")
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
    queue: Literal[QUEUES] | None = Field(  # type: ignore[valid-type]
        default=None, description="Send it to this queue instead of its type's (to exercise those workers)"
    )
    gpus: int | None = Field(default=None, ge=0, le=16, description="GPUs the worker must have")
    gpu_memory_mb: int | None = Field(default=None, ge=0, description="Memory each of those GPUs must have")
    time_limit_seconds: int | None = Field(default=None, ge=1, le=7 * 24 * 3600,
                                           description="Stop and fail it after this many seconds")


class JobTypeRead(ReadModel):
    name: str
    description: str
