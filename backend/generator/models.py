"""One table: a generated application, the design's "Generated Application" document.

What the wizard chose (analysis, architecture, MCP tools, capabilities), what the generation produced
(the file manifest, the zip's artifact-store key, measured lines of code, test results and coverage)
and the local deployment's state live on the row; the files themselves are in the artifact store."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

# draft: planned, never generated; generating: a job is building it; ready_to_deploy: generated and its
# tests ran; failed: the last generation failed (the previous files, if any, are kept).
STATUSES = ("draft", "generating", "ready_to_deploy", "failed")
DEPLOY_STATUSES = ("stopped", "starting", "running", "failed")


class GeneratedApp(SQLModel, table=True):
    __tablename__ = "generator_app"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=120)
    description: str = Field(default="", max_length=2000)
    prompt: str = Field(sa_column=Column(Text, nullable=False))
    app_type: str = Field(max_length=40)
    template_id: str = Field(max_length=80)
    status: str = Field(default="draft", index=True, max_length=20)
    analysis: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    architecture: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    configuration: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    mcp_tools: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capabilities: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The files of the last generation: [{"path", "sha256", "bytes", "lines", "purpose"}], and their zip.
    files: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    file_key: str | None = Field(default=None, max_length=300)
    file_sha256: str | None = Field(default=None, max_length=64)
    lines_of_code: int | None = None
    test_coverage: float | None = None  # percent of the app's executable lines run by its tests
    # {"passed", "failed", "errors", "total", "durationSeconds", "exitCode", "output", "install": {...}}
    test_results: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    generation_seconds: float | None = None
    generation_count: int = 0
    generated_at: datetime | None = None
    job_id: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, max_length=2000)
    # {"status", "port", "pid", "url", "startedAt", "config": {...}, "lastHealth": {...}}
    deployment: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=40, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
