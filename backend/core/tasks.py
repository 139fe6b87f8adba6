"""The registries of background work: job types (run when created) and periodic tasks (run by every
worker's housekeeping thread on a schedule). Each domain's tasks.py (named in backend/domains.py)
registers its own here."""

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

    def checkpoint(self, state: dict[str, Any]) -> None: ...  # progress a retried attempt resumes from

    def stop_if_cancelled(self) -> bool: ...  # True (the job now ended cancelled) when a cancel was asked


JobHandler = Callable[[JobContext], dict[str, Any] | None]
ResumeHook = Callable[[JobContext, dict[str, Any]], dict[str, Any] | None]
AbortHook = Callable[[Any, Any], None]  # fn(session, job)

# The queues a job can be sent to; a worker serves all of them unless told which (`--queues`).
DEFAULT_QUEUE = "default"
QUEUES = (DEFAULT_QUEUE, "training", "inference")


@dataclass(frozen=True)
class Needs:
    """What a job needs of the worker that runs it (a worker without it never claims the job)."""

    gpus: int = 0
    gpu_memory_mb: int = 0  # on each of those GPUs

    def describe(self) -> str:
        """'a worker with a GPU', 'a worker with 2 GPUs of 40960 MB', for people reading the job."""
        if not self.gpus:
            return "a worker"
        count = "a GPU" if self.gpus == 1 else f"{self.gpus} GPUs"
        return f"a worker with {count}" + (f" of {self.gpu_memory_mb} MB" if self.gpu_memory_mb else "")


@dataclass(frozen=True)
class JobType:
    name: str
    handler: JobHandler
    max_attempts: int | None = None
    description: str = ""
    payload_model: type | None = None  # a pydantic model the payload must satisfy
    queue: str = DEFAULT_QUEUE
    needs: Needs = Needs()
    time_limit_seconds: int | None = None  # None: the platform's AISYSTEM_JOB_TIME_LIMIT_SECONDS
    # Called instead of `handler` by an attempt that follows a lost worker, with the last state the
    # job saved through `ctx.checkpoint(...)`; None: every attempt starts from scratch.
    resume: ResumeHook | None = None
    # Called in the transaction that ends a job failed or cancelled, whoever ends it (its handler's
    # error, its time limit, a cancel, the reaper giving up on lost workers), with the session and the
    # job row: the domain marks its own record (a training run "failed") in the same commit.
    on_abort: AbortHook | None = None


_REGISTRY: dict[str, JobType] = {}


def job_handler(
    name: str, *, max_attempts: int | None = None, description: str = "", payload_model: type | None = None,
    queue: str = DEFAULT_QUEUE, needs: Needs = Needs(), time_limit_seconds: int | None = None,
    resume: ResumeHook | None = None, on_abort: AbortHook | None = None,
):
    """Register `fn(ctx) -> result dict` as the handler of job type `name`, and where and how it runs."""
    if queue not in QUEUES:
        raise ValueError(f"job type {name}: unknown queue '{queue}' (known: {', '.join(QUEUES)})")

    def register(fn: JobHandler) -> JobHandler:
        _REGISTRY[name] = JobType(name=name, handler=fn, max_attempts=max_attempts, description=description,
                                  payload_model=payload_model, queue=queue, needs=needs,
                                  time_limit_seconds=time_limit_seconds, resume=resume, on_abort=on_abort)
        return fn

    return register


def _load_task_modules() -> None:
    """Import every module the worker runs (they register their handlers), so a process that
    creates jobs knows the same types as the worker without importing them by hand first
    (a script or UI handler calling `jobs_service.create_job` got REQ_001 "Unknown job type")."""
    import importlib

    from backend import domains

    for module in domains.task_modules():
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
