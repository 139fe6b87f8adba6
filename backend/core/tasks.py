"""The registries of background work: job types (run when created) and periodic tasks (run by every
worker's housekeeping thread on a schedule). Each domain's tasks.py registers its own here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class JobContext(Protocol):
    job_id: str
    payload: dict[str, Any]
    created_by: str | None
    attempt: int

    def progress(self, fraction: float, message: str | None = None) -> None: ...

    def cancelled(self) -> bool: ...

    def finishing_transaction(self): ...  # context manager yielding a Session; marks the job done on exit


JobHandler = Callable[[JobContext], dict[str, Any] | None]


@dataclass(frozen=True)
class JobType:
    name: str
    handler: JobHandler
    max_attempts: int | None = None
    description: str = ""
    payload_model: type | None = None  # a pydantic model the payload must satisfy


_REGISTRY: dict[str, JobType] = {}


def job_handler(
    name: str, *, max_attempts: int | None = None, description: str = "", payload_model: type | None = None
):
    """Register `fn(ctx) -> result dict` as the handler of job type `name`."""

    def register(fn: JobHandler) -> JobHandler:
        _REGISTRY[name] = JobType(name=name, handler=fn, max_attempts=max_attempts, description=description,
                                  payload_model=payload_model)
        return fn

    return register


def _load_task_modules() -> None:
    """Import every module the worker runs (they register their handlers), so a process that
    creates jobs knows the same types as the worker without importing them by hand first
    (a script or UI handler calling `jobs_service.create_job` got REQ_001 "Unknown job type")."""
    import importlib

    from backend.core.celery_app import TASK_MODULES

    for module in TASK_MODULES:
        importlib.import_module(module)


def job_type(name: str) -> JobType | None:
    if name not in _REGISTRY:
        _load_task_modules()
    return _REGISTRY.get(name)


def job_types() -> list[JobType]:
    _load_task_modules()
    return sorted(_REGISTRY.values(), key=lambda t: t.name)


# --- periodic tasks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every_seconds: float
    run: Callable[[Any], Any]  # fn(session) -> a summary to log; runs in its own transaction


_PERIODIC: dict[str, PeriodicTask] = {}


def periodic(name: str, *, every_seconds: float):
    """Register `fn(session)` to run every `every_seconds` on each worker. Every worker runs it, so it
    must be safe to run twice at once (a unique constraint or a conditional write decides)."""

    def register(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        _PERIODIC[name] = PeriodicTask(name=name, every_seconds=every_seconds, run=fn)
        return fn

    return register


def periodic_tasks() -> list[PeriodicTask]:
    _load_task_modules()
    return sorted(_PERIODIC.values(), key=lambda t: t.name)
