"""Wire documents of health and version."""

from __future__ import annotations

from typing import Any, Literal

from backend.core.schemas import ReadModel


class HealthRead(ReadModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, dict[str, Any]]


class VersionRead(ReadModel):
    name: str
    version: str
    api: str
    python: str
