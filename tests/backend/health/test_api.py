"""Health and version: public, and honest about each moving part."""

from __future__ import annotations

from backend.core.db import session_scope
from backend.jobs import service as jobs_service
from backend.jobs.devices import Gpu, WorkerDevices


def test_health_reports_each_part(api):
    body = api.get("/api/v1/health").json()
    assert set(body["checks"]) == {"database", "broker", "worker", "storage"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["storage"]["status"] == "ok"
    # No worker has beaten yet: the platform says so instead of pretending.
    assert body["checks"]["worker"]["status"] == "error" and "make worker" in body["checks"]["worker"]["error"]
    assert body["status"] == "degraded"


def test_a_worker_heartbeat_makes_health_ok(api):
    with session_scope() as s:
        jobs_service.beat(session=s, name="gpu-box:4242", queues=["training"],
                          devices=WorkerDevices(cpu_count=16, memory_mb=131072, gpus=(Gpu("NVIDIA H100", 81559),)))
    body = api.get("/api/v1/health").json()
    assert body["status"] == "ok"
    worker = body["checks"]["worker"]["workers"][0]
    assert worker["gpus"] == ["NVIDIA H100"] and worker["queues"] == ["training"]
    assert worker["devices"]["gpus"] == [{"name": "NVIDIA H100", "memoryMb": 81559}]


def test_unreachable_broker_is_reported(api, monkeypatch):
    from backend.core.config import reset_settings

    monkeypatch.setenv("AISYSTEM_BROKER_URL", "redis://127.0.0.1:1/0")
    reset_settings()
    body = api.get("/api/v1/health").json()
    assert body["checks"]["broker"]["status"] == "error" and body["status"] == "degraded"


def test_version_is_public(api):
    body = api.get("/api/v1/version").json()
    assert body["name"] == "aisystem" and body["api"] == "v1" and body["version"]
