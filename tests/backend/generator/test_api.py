"""/api/v1/generator over HTTP: catalogues, analysis, architectures, the plan, a real generation of the design's
example (its tests run in the sandbox), the application document, files, re-generation with a diff, and
every route's error paths and permissions."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.backend.generator.conftest import BASE, EXAMPLE


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def user(auth):
    return auth.headers("business_user")


def test_catalogues(api, user):
    types = api.get(f"{BASE}/app-types", headers=user).json()
    assert {t["id"] for t in types} == {"dashboard", "rest_api", "chatbot", "data_pipeline", "ml_inference",
                                        "internal_tool"}
    assert next(t for t in types if t["id"] == "dashboard")["templates"] == ["dashboard-ml-insights"]
    listed = api.get(f"{BASE}/templates", params={"appType": "rest_api"}, headers=user).json()
    assert [t["id"] for t in listed] == ["rest-api-crud"]
    one = api.get(f"{BASE}/templates/dashboard-ml-insights", headers=user).json()
    assert "app/main.py" in one["files"] and any(r.startswith("fastapi==") for r in one["requirements"])
    error(api.get(f"{BASE}/templates/nope", headers=user), 404, "GEN_003")
    error(api.get(f"{BASE}/app-types"), 401, "AUTH_001")


def test_architectures_and_cost_model(api, user):
    small = api.get(f"{BASE}/architectures", params={"appType": "dashboard"}, headers=user).json()
    assert [a["id"] for a in small] == ["monolith", "api_worker", "microservices"]
    assert [a["recommended"] for a in small] == [True, False, False]
    mono = small[0]
    parts = sum(c["monthlyCost"] for c in mono["components"])
    egress = mono["requirements"]["bandwidthGbMonth"] * mono["costModel"]["egressGb"]
    assert mono["estimatedCost"]["monthly"] == pytest.approx(parts + egress, abs=0.01)
    assert mono["requirements"]["cpuCores"] == sum(c["cpu"] for c in mono["components"])
    assert small[2]["estimatedCost"]["monthly"] > small[1]["estimatedCost"]["monthly"] > mono["estimatedCost"]["monthly"]
    big = api.get(f"{BASE}/architectures", params={"appType": "dashboard", "expectedUsers": 50_000, "dataGb": 200},
                  headers=user).json()
    assert big[2]["recommended"] is True and big[0]["estimatedCost"]["monthly"] > mono["estimatedCost"]["monthly"]
    assert big[0]["requirements"]["storageGb"] > mono["requirements"]["storageGb"]
    chosen = api.post(f"{BASE}/select-architecture", json={"architectureId": "microservices", "appType": "dashboard",
                                                          "expectedUsers": 5000}, headers=user)
    assert chosen.status_code == 200 and chosen.json()["recommended"] is True
    assert [c["name"] for c in chosen.json()["components"]][:3] == ["Frontend", "API Gateway", "Analytics Engine"]
    error(api.post(f"{BASE}/select-architecture", json={"architectureId": "mainframe"}, headers=user), 422, "REQ_001")
    error(api.post(f"{BASE}/select-architecture", json={"architectureId": "monolith", "appId": "gen_app_nope"},
                   headers=user), 404, "GEN_006")
    error(api.get(f"{BASE}/architectures", params={"expectedUsers": 0}, headers=user), 422, "REQ_001")


def test_analyze_prompt(api, user, auth):
    body = api.post(f"{BASE}/analyze-prompt", json={"prompt": EXAMPLE}, headers=user)
    assert body.status_code == 200, body.text
    doc = body.json()
    assert doc["appType"] == "dashboard" and doc["source"] == "offline" and "Customer" in doc["entities"]
    assert doc["ambiguities"] and doc["recommendedArchitecture"] == "monolith"
    error(api.post(f"{BASE}/analyze-prompt", json={"prompt": ""}, headers=user), 422, "GEN_002")
    error(api.post(f"{BASE}/analyze-prompt", json={"prompt": "qwxz zzkv plmq"}, headers=user), 422, "GEN_002")
    error(api.post(f"{BASE}/analyze-prompt", json={"prompt": EXAMPLE, "extra": 1}, headers=user), 422, "REQ_001")
    error(api.post(f"{BASE}/analyze-prompt", json={"prompt": EXAMPLE}), 401, "AUTH_001")


TOOLS = [{"id": "notifications", "configuration": {"webhookUrl": "http://hooks.example/alerts"}},
         {"id": "platform_endpoints", "configuration": {"platformUrl": "http://127.0.0.1:3000"}}]


def test_generate_the_example_end_to_end(api, user, auth, sent, run_jobs, sandbox_once, monkeypatch):
    request = {"prompt": EXAMPLE, "architectureId": "monolith", "mcpTools": TOOLS,
               "capabilities": [{"id": "anomaly_detection", "configuration": {"threshold": 3}}]}
    planned = api.post(f"{BASE}/apps/plan", json=request, headers=user)
    assert planned.status_code == 200, planned.text
    plan = planned.json()
    paths = [f["path"] for f in plan["files"]]
    assert {"app/main.py", "tests/test_api.py", "mcp.json", "README.md"} <= set(paths)
    assert plan["regeneration"] is False and {f["change"] for f in plan["files"]} == {"added"}

    started = api.post(f"{BASE}/apps/generate", json=request, headers=user)
    assert started.status_code == 202, started.text
    app_id, job_id = started.json()["appId"], started.json()["jobId"]
    assert started.json()["plan"]["files"] == plan["files"]
    status = api.get(f"{BASE}/generation-status/{job_id}", headers=user).json()
    assert status["status"] == "queued" and [s["status"] for s in status["steps"]] == ["pending"] * 6

    run_jobs()
    status = api.get(f"{BASE}/generation-status/{job_id}", headers=user).json()
    assert status["status"] == "succeeded", status
    assert {s["status"] for s in status["steps"]} == {"done"} and status["appId"] == app_id

    doc = api.get(f"{BASE}/apps/{app_id}", headers=user).json()
    assert doc["status"] == "ready_to_deploy", doc.get("error")
    assert doc["type"] == "Dashboard" and doc["name"] == "Customer Behaviour Dashboard"
    tests = doc["tests"]
    assert tests["passed"] == tests["total"] > 5 and tests["failed"] == 0 and tests["install"]["ok"]
    assert 80 <= doc["code"]["testCoverage"] <= 100
    assert doc["code"]["linesOfCode"] == plan["linesOfCode"] > 200
    assert doc["generationSeconds"] > 0 and "second" in doc["generationTime"]
    assert doc["resources"]["estimatedCost"]["monthly"] > 0 and doc["architecture"]["pattern"] == "monolith"
    assert [t["id"] for t in doc["mcpTools"]] == ["notifications", "platform_endpoints"]

    mcp = api.get(f"{BASE}/apps/{app_id}/files/mcp.json", headers=user).json()
    assert '"notifications"' in mcp["text"] and "http://127.0.0.1:3000/mcp" in mcp["text"]
    error(api.get(f"{BASE}/apps/{app_id}/files/nope.py", headers=user), 404, "GEN_006")
    archive = api.get(f"{BASE}/apps/{app_id}/download", headers=user)
    assert archive.status_code == 200
    assert sorted(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) == sorted(paths)

    listed = api.get(f"{BASE}/apps", headers=user).json()["items"]
    assert [a["id"] for a in listed] == [app_id]
    assert api.get(f"{BASE}/apps", headers=auth.headers("data_scientist")).json()["items"] == []
    error(api.get(f"{BASE}/apps/{app_id}", headers=auth.headers("data_scientist")), 404, "GEN_006")
    assert api.get(f"{BASE}/apps/{app_id}", headers=auth.headers("admin")).status_code == 200

    # Re-generation: same choices change nothing; a new name shows a diff and needs acceptChanges.
    same = api.post(f"{BASE}/apps/plan", json={"appId": app_id}, headers=user).json()
    assert same["regeneration"] and same["changed"] == 0
    renamed = {"appId": app_id, "name": "Customer Pulse"}
    diff = api.post(f"{BASE}/apps/plan", json=renamed, headers=user).json()
    modified = [f for f in diff["files"] if f["change"] == "modified"]
    assert "README.md" in [f["path"] for f in modified]
    assert "+# Customer Pulse" in next(f["diff"] for f in modified if f["path"] == "README.md")
    refused = error(api.post(f"{BASE}/apps/generate", json=renamed, headers=user), 409, "GEN_007")
    assert "README.md" in refused["details"]["changed"]
    from tests.backend.generator.conftest import passing_report

    monkeypatch.setattr("backend.generator.tasks.sandbox.install_and_test", passing_report)  # proven above
    again = api.post(f"{BASE}/apps/generate", json={**renamed, "acceptChanges": True}, headers=user)
    assert again.status_code == 202
    error(api.post(f"{BASE}/apps/generate", json={**renamed, "acceptChanges": True}, headers=user), 409, "GEN_007")
    run_jobs()
    doc = api.get(f"{BASE}/apps/{app_id}", headers=user).json()
    assert doc["generationCount"] == 2 and doc["name"] == "Customer Pulse" and doc["status"] == "ready_to_deploy"

    changed = api.put(f"{BASE}/apps/{app_id}", json={"description": "Weekly customer review"}, headers=user)
    assert changed.status_code == 200 and changed.json()["description"] == "Weekly customer review"
    error(api.put(f"{BASE}/apps/{app_id}", json={"name": ""}, headers=user), 422, "REQ_001")
    error(api.delete(f"{BASE}/apps/{app_id}", headers=auth.headers("ml_ops")), 403, "AUTH_002")
    assert api.delete(f"{BASE}/apps/{app_id}", headers=user).status_code == 204
    error(api.get(f"{BASE}/apps/{app_id}", headers=user), 404, "GEN_006")
    error(api.delete(f"{BASE}/apps/{app_id}", headers=user), 404, "GEN_006")


def test_generate_errors(api, user, auth, sent):
    error(api.post(f"{BASE}/apps/generate", json={}, headers=user), 422, "GEN_002")
    error(api.post(f"{BASE}/apps/generate", json={"prompt": "   "}, headers=user), 422, "GEN_002")
    error(api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE, "templateId": "nope"}, headers=user), 404, "GEN_003")
    error(api.post(f"{BASE}/apps/generate", json={"prompt": "A chatbot that answers customer questions"},
                   headers=user), 404, "GEN_003")
    error(api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE, "mcpTools": [{"id": "teleport"}]},
                   headers=user), 404, "GEN_008")
    bad = error(api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE, "mcpTools": [
        {"id": "notifications", "configuration": {"webhookUrl": "ftp://x", "color": "red"}}]}, headers=user),
        422, "REQ_001")
    assert any(f["field"].startswith("mcpTools[0].configuration") for f in bad["details"]["fields"])
    error(api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE, "capabilities": [{"id": "telepathy"}]},
                   headers=user), 404, "GEN_008")
    error(api.post(f"{BASE}/apps/generate", json={"appId": "gen_app_nope"}, headers=user), 404, "GEN_006")
    error(api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE}, headers=auth.headers("ml_ops")), 403, "AUTH_002")
    error(api.get(f"{BASE}/generation-status/job_nope", headers=user), 404, "JOB_001")
    error(api.get(f"{BASE}/apps/gen_app_nope/download", headers=user), 404, "GEN_006")
    assert sent == []


def test_rest_api_template_generates_and_passes(api, user, sent, run_jobs, sandbox_once):
    started = api.post(f"{BASE}/apps/generate", json={
        "prompt": "A REST API service to manage orders and products", "architectureId": "api_worker"}, headers=user)
    assert started.status_code == 202, started.text
    run_jobs()
    doc = api.get(f"{BASE}/apps/{started.json()['appId']}", headers=user).json()
    assert doc["status"] == "ready_to_deploy", doc.get("error")
    assert doc["configuration"]["templateId"] == "rest-api-crud"
    assert doc["tests"]["passed"] == doc["tests"]["total"] > 0 and doc["code"]["testCoverage"] > 90
