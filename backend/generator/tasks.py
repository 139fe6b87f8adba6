"""The `generator.generate` job (queue `default`): render the application's files from its stored choices,
store them as a zip in the artifact store, install the project and run its own tests in the sandbox, measure
lines of code and coverage, and save the results on the application (see `service.STEPS`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from backend.auth import service as auth_service
from backend.auth.models import User
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.tasks import job_handler
from backend.generator import sandbox, service
from backend.generator.models import GeneratedApp


class GeneratePayload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    appId: str = Field(max_length=40)  # noqa: N815


def _progress(ctx, step: str, message: str) -> None:  # noqa: ANN001
    start = next(s for s_id, _, s in service.STEPS if s_id == step)
    ctx.progress(start, message)


@job_handler(service.GENERATE_JOB, description="Generate, test and store an application", payload_model=GeneratePayload,
             queue="default", max_attempts=1, time_limit_seconds=1800, on_abort=service.mark_failed)
def generate(ctx) -> dict | None:  # noqa: ANN001
    started = time.perf_counter()
    app_id = ctx.payload["appId"]
    _progress(ctx, "plan", "planning the files")
    with session_scope(write=False) as session:
        app = session.get(GeneratedApp, app_id)
        if app is None:
            raise AISystemError("GEN_006", "Generated application not found", {"appId": app_id})
        user = session.get(User, ctx.created_by)
        if user is None:
            raise AISystemError("AUTH_001", "The account that asked for the generation no longer exists")
        actor = auth_service.principal_for(user, credential_id=None, credential_type="system")
        files = service.render_spec(service.spec_of(app))
        generation = app.generation_count + 1
    if ctx.stop_if_cancelled():
        return None
    _progress(ctx, "write", f"writing {len(files)} files")
    key, sha256 = service.store_generation(app_id, files, generation)
    with tempfile.TemporaryDirectory(prefix="gen-project-") as tmp:
        project = Path(tmp) / "project"
        for path, text in files.items():
            target = project / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        _progress(ctx, "install", "installing the project in the sandbox")
        if ctx.stop_if_cancelled():
            return None
        _progress(ctx, "test", "running the generated tests in the sandbox")
        results = sandbox.install_and_test(project)
    _progress(ctx, "measure", "measuring lines of code and coverage")
    if results.get("timedOut"):
        raise AISystemError("GEN_005", "The generated project's tests ran past the sandbox's time limit",
                            {"limits": results.get("limits")})
    _progress(ctx, "save", "saving the application")
    seconds = time.perf_counter() - started
    summary = {"appId": app_id, "passed": results.get("passed", 0), "failed": results.get("failed", 0),
               "coverage": results.get("coverage", {}).get("percent"), "files": len(files)}
    ctx.result = summary
    with ctx.finishing_transaction() as session:
        app = service.finish_generation(session=session, actor=actor, app_id=app_id, job_id=ctx.job_id, files=files,
                                        key=key, sha256=sha256, results=results, seconds=seconds)
        summary["status"] = app.status
    return summary
