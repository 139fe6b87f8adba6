"""Health of the platform's moving parts: database, broker, workers, storage."""

from __future__ import annotations

import shutil
import uuid
from importlib.metadata import PackageNotFoundError, version

from kombu import Connection
from sqlalchemy import text
from sqlmodel import Session

from backend.core.config import get_settings
from backend.core.timeutil import isoformat_z
from backend.jobs import service as jobs_service

MIN_FREE_BYTES = 512 * 1024 * 1024


def _ok(**extra) -> dict:
    return {"status": "ok", **extra}


def _error(message: str, **extra) -> dict:
    return {"status": "error", "error": message, **extra}


def check_database(session: Session) -> dict:
    try:
        session.exec(text("SELECT 1"))
        return _ok(dialect=session.get_bind().dialect.name)
    except Exception as exc:  # health reports failures, it does not raise them
        return _error(f"database unreachable: {type(exc).__name__}")


def check_broker() -> dict:
    url = get_settings().celery_broker_url
    kind = url.split(":", 1)[0]
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return _ok(transport=kind)
    except Exception as exc:
        return _error(f"broker unreachable: {type(exc).__name__}", transport=kind)


def check_workers(session: Session) -> dict:
    try:
        workers = jobs_service.live_workers(session=session)
    except Exception as exc:
        return _error(f"cannot read worker heartbeats: {type(exc).__name__}")
    listed = [
        {"name": w.name, "lastSeenAt": isoformat_z(w.last_seen_at), "gpus": w.gpu_names, "queues": w.queues,
         "devices": w.devices} for w in workers
    ]
    if not workers:
        return _error("no worker heartbeat recently; start one with `make worker`", workers=[])
    return _ok(workers=listed)


def check_storage() -> dict:
    root = get_settings().resolved_data_dir
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".health-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
        free = shutil.disk_usage(root).free
    except OSError as exc:
        return _error(f"data directory not writable: {type(exc).__name__}")
    if free < MIN_FREE_BYTES:
        return _error("less than 512 MB free in the data directory", freeBytes=free)
    return _ok(freeBytes=free)


def health(*, session: Session) -> dict:
    checks = {
        "database": check_database(session),
        "broker": check_broker(),
        "worker": check_workers(session),
        "storage": check_storage(),
    }
    status = "ok" if all(c["status"] == "ok" for c in checks.values()) else "degraded"
    return {"status": status, "checks": checks}


def platform_version() -> str:
    try:
        return version("aisystem")
    except PackageNotFoundError:
        return "0.0.0+unknown"
