"""What a worker has to run jobs on (CPUs, memory, GPUs), and whether that meets a job's needs."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from backend.core.config import get_settings
from backend.core.tasks import Needs

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mb: int


@dataclass(frozen=True)
class WorkerDevices:
    """The devices one worker reports in its heartbeat and claims jobs with."""

    cpu_count: int = 0
    memory_mb: int = 0
    gpus: tuple[Gpu, ...] = ()
    source: str = "detected"  # or "override": the GPUs come from AISYSTEM_WORKER_DEVICES_OVERRIDE

    def satisfies(self, needs: Needs) -> bool:
        """Whether this worker has the GPUs (count, and memory on each) a job needs."""
        usable = [gpu for gpu in self.gpus if gpu.memory_mb >= needs.gpu_memory_mb]
        return len(usable) >= needs.gpus

    def as_dict(self) -> dict[str, Any]:
        """The heartbeat's JSON form (camelCase, as the API shows it)."""
        return {"cpuCount": self.cpu_count, "memoryMb": self.memory_mb, "source": self.source,
                "gpus": [{"name": gpu.name, "memoryMb": gpu.memory_mb} for gpu in self.gpus]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerDevices:
        return cls(cpu_count=int(data.get("cpuCount", 0)), memory_mb=int(data.get("memoryMb", 0)),
                   gpus=_gpus(data.get("gpus", [])), source=str(data.get("source", "detected")))


CPU_ONLY = WorkerDevices()


def _gpus(rows: list[dict[str, Any]]) -> tuple[Gpu, ...]:
    return tuple(Gpu(name=str(row["name"]), memory_mb=int(row.get("memoryMb", 0))) for row in rows)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use, not the machine's
    except AttributeError:
        return os.cpu_count() or 1


def memory_mb() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0


def cuda_gpus() -> tuple[Gpu, ...]:
    """The CUDA devices torch sees; none without torch or CUDA (torch is imported only here)."""
    try:
        import torch

        if not torch.cuda.is_available():
            return ()
        return tuple(
            Gpu(name=torch.cuda.get_device_name(i),
                memory_mb=torch.cuda.get_device_properties(i).total_memory // (1024 * 1024))
            for i in range(torch.cuda.device_count())
        )
    except Exception:  # a broken CUDA install must not stop the worker: it runs CPU jobs
        log.warning("could not query GPUs; reporting none", exc_info=True)
        return ()


def detect_devices() -> WorkerDevices:
    """This process's devices; the GPUs come from AISYSTEM_WORKER_DEVICES_OVERRIDE when it is set."""
    override = get_settings().worker_devices_override
    if override:
        try:
            gpus = _gpus(json.loads(override).get("gpus", []))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"AISYSTEM_WORKER_DEVICES_OVERRIDE is not valid: {exc}") from exc
        return WorkerDevices(cpu_count=cpu_count(), memory_mb=memory_mb(), gpus=gpus, source="override")
    return WorkerDevices(cpu_count=cpu_count(), memory_mb=memory_mb(), gpus=cuda_gpus())
