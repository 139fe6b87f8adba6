"""Local deployments of generated applications (the embedded default): the last generation's files are
extracted under `<data dir>/generator/deployments/<app id>/project` and started with uvicorn on a free
loopback port (or the configured one) in the sandbox environment (`sandbox.start`: memory limit, own session,
socket guard), then health-checked (`GET /health` until it answers 200, at most HEALTH_WAIT_SECONDS).
Stop sends SIGTERM to the process group (SIGKILL after 5 s); restart is stop then start. At most
`AISYSTEM_GENERATOR_MAX_DEPLOYMENTS` run at once (GEN_005)."""

from __future__ import annotations

import io
import re
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.artifacts import get_store
from backend.core.authorization import authorize
from backend.core.config import get_settings
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.timeutil import isoformat_z, utcnow
from backend.generator import sandbox
from backend.generator.models import GeneratedApp

HEALTH_WAIT_SECONDS = 30.0
LOG_TAIL = 4000
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
# Variables a deployment may not set: they would change how the sandbox's interpreter starts.
RESERVED_ENV = ("PATH", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "LD_PRELOAD", "LD_LIBRARY_PATH", "HOME")


def _root(app_id: str) -> Path:
    return get_settings().resolved_data_dir / "generator" / "deployments" / app_id


def deployment_dir(app_id: str) -> Path:
    return _root(app_id)


def stop_process(app: GeneratedApp) -> None:
    """Stop the application's local process, if one runs (the row is updated by the caller)."""
    pid = (app.deployment or {}).get("pid")
    if pid:
        sandbox.stop(int(pid))


def _extract(app: GeneratedApp) -> Path:
    root = _root(app.id)
    project = root / "project"
    shutil.rmtree(project, ignore_errors=True)
    project.mkdir(parents=True)
    with get_store().open(app.file_key) as stream, zipfile.ZipFile(io.BytesIO(stream.read())) as archive:
        for info in archive.infolist():
            target = (project / info.filename).resolve()
            if not target.is_relative_to(project.resolve()):
                raise AISystemError("GEN_001", "The stored project has a file outside its folder", {"path": info.filename})
            if not info.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
    return project


def _health(url: str, *, timeout: float = 2.0) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        return {"ok": response.status_code == 200, "statusCode": response.status_code, "body": body,
                "latencyMs": round((time.perf_counter() - started) * 1000, 1), "checkedAt": isoformat_z(utcnow())}
    except (httpx.HTTPError, ValueError) as exc:
        return {"ok": False, "statusCode": None, "error": type(exc).__name__,
                "latencyMs": round((time.perf_counter() - started) * 1000, 1), "checkedAt": isoformat_z(utcnow())}


def _log_tail(app_id: str) -> str:
    path = _root(app_id) / "app.log"
    if not path.exists():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - LOG_TAIL))
        return handle.read().decode(errors="replace")


def _running_count(session: Session) -> int:
    rows = session.exec(select(GeneratedApp)).all()
    return sum(1 for r in rows if (r.deployment or {}).get("status") == "running"
               and sandbox.alive((r.deployment or {}).get("pid")))


def _start(session: Session, app: GeneratedApp) -> dict[str, Any]:
    if not app.file_key or app.status not in ("ready_to_deploy",):
        raise AISystemError("GEN_007", "Only a generated application whose tests passed can be deployed",
                            {"appId": app.id, "status": app.status})
    if _running_count(session) >= get_settings().generator_max_deployments:
        raise AISystemError("GEN_005", "As many generated applications run as the platform allows; stop one first",
                            {"limit": get_settings().generator_max_deployments})
    config = dict((app.deployment or {}).get("config") or {})
    project = _extract(app)
    log_path = _root(app.id) / "app.log"
    log_path.write_bytes(b"")
    port = int(config.get("port") or sandbox.free_port())
    pid = sandbox.start(project, port=port, log_path=log_path, env_extra=config.get("env") or {},
                        memory_mb=config.get("memoryMb"))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + HEALTH_WAIT_SECONDS
    health = {"ok": False}
    while time.monotonic() < deadline and sandbox.alive(pid):
        health = _health(url, timeout=1.0)
        if health["ok"]:
            break
        time.sleep(0.2)
    state = {"config": config, "port": port, "pid": pid, "url": url, "startedAt": isoformat_z(utcnow()),
             "lastHealth": health}
    if health.get("ok"):
        return state | {"status": "running", "error": None}
    sandbox.stop(pid)
    return state | {"status": "failed", "pid": None,
                    "error": "The application did not answer its health check" if not sandbox.alive(pid) else
                    "The application did not start", "logTail": _log_tail(app.id)[-2000:]}


def deploy(*, session: Session, actor: Principal, app_id: str, action: str) -> GeneratedApp:
    """Start, stop or restart the application's local process; the deployment state is saved on the app."""
    from backend.generator.service import get_app

    app = get_app(session=session, actor=actor, app_id=app_id, for_update=True)
    authorize(actor, "generator:deploy", app)
    current = dict(app.deployment or {})
    if action in ("stop", "restart"):
        stop_process(app)
        current = {"config": current.get("config") or {}, "status": "stopped", "stoppedAt": isoformat_z(utcnow())}
    if action in ("start", "restart"):
        if action == "start" and current.get("status") == "running" and sandbox.alive(current.get("pid")):
            raise AISystemError("GEN_007", "The application is already running; restart it instead",
                                {"url": current.get("url")})
        current = _start(session, app)
    app.deployment = current
    app.updated_at = utcnow()
    session.add(app)
    session.flush()
    audit.record(session=session, actor=actor, action=f"generator.app.{action}", entity_type="generated_app",
                 entity_id=app.id, summary={"status": current.get("status"), "port": current.get("port")})
    return app


def status(*, session: Session, actor: Principal, app_id: str) -> dict[str, Any]:
    """The deployment as it is now: the stored state checked against the process and a fresh health check."""
    from backend.generator.service import get_app

    app = get_app(session=session, actor=actor, app_id=app_id)
    state = dict(app.deployment or {"status": "stopped"})
    pid = state.get("pid")
    if state.get("status") == "running":
        if not sandbox.alive(pid):
            state.update(status="failed", error="The process has exited", logTail=_log_tail(app.id)[-2000:])
        else:
            state["lastHealth"] = _health(state["url"])
            started = state.get("startedAt")
            if started:
                from datetime import datetime

                state["uptimeSeconds"] = round((utcnow() - datetime.fromisoformat(started.replace("Z", "+00:00")))
                                               .total_seconds(), 1)
    state.setdefault("config", {})
    state["appId"] = app.id
    return state


def configure(*, session: Session, actor: Principal, app_id: str, port: int | None, env: dict[str, str] | None,
              memory_mb: int | None) -> GeneratedApp:
    from backend.generator.service import get_app

    app = get_app(session=session, actor=actor, app_id=app_id, for_update=True)
    authorize(actor, "generator:deploy", app)
    fields = {}
    for name, value in (env or {}).items():
        if not ENV_NAME.match(name) or name in RESERVED_ENV or name.startswith("AISYSTEM_SECRET"):
            fields[f"env.{name[:64]}"] = "not a variable a deployment may set (A-Z, 0-9, _; not PATH/PYTHON*/HOME)"
        elif len(str(value)) > 2000:
            fields[f"env.{name}"] = "at most 2000 characters"
    limit = get_settings().generator_sandbox_memory_mb
    if memory_mb is not None and memory_mb > limit:
        fields["memoryMb"] = f"at most the sandbox's limit, {limit} MB"
    if fields:
        raise InvalidRequest("The deployment configuration is invalid", fields)
    state = dict(app.deployment or {"status": "stopped"})
    config = dict(state.get("config") or {})
    if port is not None:
        config["port"] = port
    if env is not None:
        config["env"] = {k: str(v) for k, v in sorted(env.items())}
    if memory_mb is not None:
        config["memoryMb"] = memory_mb
    state["config"] = config
    app.deployment = state
    app.updated_at = utcnow()
    session.add(app)
    session.flush()
    audit.record(session=session, actor=actor, action="generator.app.configure", entity_type="generated_app",
                 entity_id=app.id, summary={"port": config.get("port"), "env": sorted(config.get("env", {})),
                                            "memoryMb": config.get("memoryMb")})
    return app


def _process_usage(pid: int | None) -> dict[str, Any] | None:
    if not pid or not sandbox.alive(pid):
        return None
    try:
        status_text = Path(f"/proc/{pid}/status").read_text()
        rss_kb = int(next(line.split()[1] for line in status_text.splitlines() if line.startswith("VmRSS:")))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        import os

        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        return {"pid": pid, "memoryRssMb": round(rss_kb / 1024, 1), "cpuSeconds": round(cpu, 2)}
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def resources(*, session: Session, actor: Principal, app_id: str) -> dict[str, Any]:
    """What the application needs (the architecture's sizing and cost estimate) and, when it runs locally,
    what its process uses now; the sandbox's limits; the size of its files."""
    from backend.generator.service import get_app

    app = get_app(session=session, actor=actor, app_id=app_id)
    arch = app.architecture or {}
    state = app.deployment or {}
    config = state.get("config") or {}
    settings = get_settings()
    return {"appId": app.id, "architecture": arch.get("id"), "requirements": arch.get("requirements", {}),
            "estimatedCost": arch.get("estimatedCost", {}), "scaling": arch.get("scaling", {}),
            "assumptions": arch.get("assumptions", {}),
            "limits": {"memoryMb": config.get("memoryMb") or settings.generator_sandbox_memory_mb,
                       "testTimeoutSeconds": settings.generator_sandbox_timeout_seconds,
                       "maxDeployments": settings.generator_max_deployments},
            "files": {"count": len(app.files), "bytes": sum(f["bytes"] for f in app.files),
                      "linesOfCode": app.lines_of_code},
            "usage": _process_usage(state.get("pid")) if state.get("status") == "running" else None}
