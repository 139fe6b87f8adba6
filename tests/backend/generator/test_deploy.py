"""Local deployments: the generated dashboard starts as a real process on a free port, answers its health
check, reports its resources, stops and restarts; configuration and error paths."""

from __future__ import annotations

import httpx
import pytest

from backend.generator import tasks
from tests.backend.generator.conftest import BASE, EXAMPLE


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    return response.json()["error"]


@pytest.fixture
def generated(api, auth, sent, run_jobs, monkeypatch):
    """The example generated; its sandbox run is replaced by a passing report (test_api runs the real one)."""
    from tests.backend.generator.conftest import passing_report

    monkeypatch.setattr(tasks.sandbox, "install_and_test", passing_report)
    user = auth.headers("business_user")
    started = api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE}, headers=user)
    assert started.status_code == 202, started.text
    run_jobs()
    return started.json()["appId"], user


def test_deploy_lifecycle(api, auth, generated):
    app_id, user = generated
    assert api.get(f"{BASE}/apps/{app_id}/deployment-status", headers=user).json()["status"] == "stopped"
    configured = api.post(f"{BASE}/apps/{app_id}/configure", json={"env": {"ANOMALY_THRESHOLD": "2.5"}},
                          headers=user)
    assert configured.status_code == 200 and configured.json()["config"]["env"] == {"ANOMALY_THRESHOLD": "2.5"}
    error(api.post(f"{BASE}/apps/{app_id}/configure", json={"env": {"PATH": "/tmp"}}, headers=user), 422, "REQ_001")
    error(api.post(f"{BASE}/apps/{app_id}/configure", json={"memoryMb": 10**7}, headers=user), 422, "REQ_001")
    try:
        started = api.post(f"{BASE}/apps/{app_id}/deploy", json={"action": "start"}, headers=user)
        assert started.status_code == 200, started.text
        state = started.json()
        assert state["status"] == "running", state
        health = httpx.get(f"{state['url']}/health", timeout=5).json()
        assert health["status"] == "ok" and health["sampleData"] is True
        assert httpx.get(f"{state['url']}/api/kpis", timeout=5).json()["sessions"] > 0
        now = api.get(f"{BASE}/apps/{app_id}/deployment-status", headers=user).json()
        assert now["lastHealth"]["ok"] and now["uptimeSeconds"] >= 0
        used = api.get(f"{BASE}/apps/{app_id}/resources", headers=user).json()
        assert used["usage"]["memoryRssMb"] > 10 and used["requirements"]["cpuCores"] > 0
        error(api.post(f"{BASE}/apps/{app_id}/deploy", json={"action": "start"}, headers=user), 409, "GEN_007")
        error(api.post(f"{BASE}/apps/{app_id}/deploy", headers=auth.headers("data_scientist")), 404, "GEN_006")
        restarted = api.post(f"{BASE}/apps/{app_id}/deploy", json={"action": "restart"}, headers=user).json()
        assert restarted["status"] == "running" and restarted["pid"] != state["pid"]
        doc = api.get(f"{BASE}/apps/{app_id}", headers=user).json()
        assert doc["deployment"]["local"]["status"] == "running"
    finally:
        stopped = api.post(f"{BASE}/apps/{app_id}/deploy", json={"action": "stop"}, headers=user)
    assert stopped.json()["status"] == "stopped"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{state['url']}/health", timeout=2)
    assert api.get(f"{BASE}/apps/{app_id}/resources", headers=user).json()["usage"] is None


def test_deploy_errors(api, auth, sent):
    user = auth.headers("business_user")
    error(api.post(f"{BASE}/apps/gen_app_nope/deploy", headers=user), 404, "GEN_006")
    error(api.get(f"{BASE}/apps/gen_app_nope/deployment-status", headers=user), 404, "GEN_006")
    error(api.get(f"{BASE}/apps/gen_app_nope/resources", headers=user), 404, "GEN_006")
    error(api.post(f"{BASE}/apps/gen_app_nope/configure", json={}, headers=user), 404, "GEN_006")
    started = api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE}, headers=user).json()
    # Not generated yet (its job has not run): nothing to deploy.
    error(api.post(f"{BASE}/apps/{started['appId']}/deploy", headers=user), 409, "GEN_007")
    error(api.post(f"{BASE}/apps/{started['appId']}/deploy", json={"action": "fly"}, headers=user), 422, "REQ_001")
