"""MCP tools, template apply, capabilities and the code utilities over HTTP."""

from __future__ import annotations

import json

from tests.backend.generator.conftest import BASE, EXAMPLE


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    return response.json()["error"]


def test_mcp_tools(api, auth, sent):
    user = auth.headers("business_user")
    tools = api.get(f"{BASE}/mcp-tools", headers=user).json()
    assert {t["id"] for t in tools} == {"database", "notifications", "filesystem", "http_fetch", "platform_endpoints",
                                        "platform_catalog"}
    one = api.get(f"{BASE}/mcp-tools/notifications", headers=user).json()
    assert one["configSchema"]["required"] == ["webhookUrl"] and one["operations"] == ["send_alert"]
    error(api.get(f"{BASE}/mcp-tools/teleport", headers=user), 404, "GEN_008")
    configured = api.post(f"{BASE}/mcp-tools/configure", json={"tools": [
        {"id": "database", "configuration": {"type": "PostgreSQL", "poolSize": 10}}]}, headers=user)
    assert configured.status_code == 200, configured.text
    assert configured.json()[0]["configuration"] == {"type": "PostgreSQL", "poolSize": 10, "readOnly": True}
    bad = error(api.post(f"{BASE}/mcp-tools/configure", json={"tools": [
        {"id": "database", "configuration": {"type": "Oracle", "poolSize": 0}}]}, headers=user), 422, "REQ_001")
    assert {f["field"] for f in bad["details"]["fields"]} == {"mcpTools[0].configuration.type",
                                                             "mcpTools[0].configuration.poolSize"}
    error(api.post(f"{BASE}/mcp-tools/configure", json={"tools": [{"id": "nope"}]}, headers=user), 404, "GEN_008")

    # While its generation runs, an application's tools stay as they are.
    app_id = api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE}, headers=user).json()["appId"]
    error(api.post(f"{BASE}/mcp-tools/integrate", json={"appId": app_id, "tools": [{"id": "filesystem"}]},
                   headers=user), 409, "GEN_007")
    error(api.post(f"{BASE}/mcp-tools/integrate", json={"appId": "gen_app_nope", "tools": [{"id": "filesystem"}]},
                   headers=user), 404, "GEN_006")
    error(api.post(f"{BASE}/mcp-tools/integrate", json={"appId": app_id, "tools": [{"id": "filesystem"}]},
                   headers=auth.headers("ml_ops")), 403, "AUTH_002")
    error(api.post(f"{BASE}/mcp-tools/configure", json={"appId": app_id, "tools": [{"id": "filesystem"}]},
                   headers=user), 409, "GEN_007")


def test_integrate_writes_the_mcp_configuration(api, auth, sent, run_jobs, monkeypatch):
    from backend.generator import tasks
    from tests.backend.generator.conftest import passing_report

    monkeypatch.setattr(tasks.sandbox, "install_and_test", passing_report)
    user = auth.headers("business_user")
    app_id = api.post(f"{BASE}/apps/generate", json={"prompt": EXAMPLE}, headers=user).json()["appId"]
    run_jobs()
    done = api.post(f"{BASE}/mcp-tools/integrate", json={"appId": app_id, "tools": [
        {"id": "http_fetch", "configuration": {"allowedHosts": ["api.example.com"]}}]}, headers=user)
    assert done.status_code == 202, done.text
    assert done.json()["changed"] == ["README.md", "mcp.json"] and done.json()["jobId"]
    run_jobs()
    written = json.loads(api.get(f"{BASE}/apps/{app_id}/files/mcp.json", headers=user).json()["text"])
    assert written["mcpServers"]["http_fetch"]["configuration"]["allowedHosts"] == ["api.example.com"]


def test_apply_template_and_capabilities(api, auth, sent):
    user = auth.headers("business_user")
    started = api.post(f"{BASE}/templates/rest-api-crud/apply", json={"analysis": {"entities": ["Ticket"]}},
                       headers=user)
    assert started.status_code == 202, started.text
    paths = [f["path"] for f in started.json()["plan"]["files"]]
    assert "app/models.py" in paths and started.json()["plan"]["templateId"] == "rest-api-crud"
    app_id = started.json()["appId"]
    error(api.post(f"{BASE}/templates/nope/apply", json={}, headers=user), 404, "GEN_003")

    caps = api.get(f"{BASE}/capabilities", headers=user).json()
    assert {c["id"] for c in caps} == {"model_endpoints", "semantic_search", "anomaly_detection", "forecasting"}
    enabled = api.post(f"{BASE}/capabilities/enable", json={"appId": app_id, "capabilityId": "forecasting"},
                       headers=user)
    assert enabled.status_code == 200 and enabled.json()["capabilities"][0]["configuration"] == {"horizon": 14}
    changed = api.post(f"{BASE}/capabilities/configure", json={"appId": app_id, "capabilityId": "forecasting",
                                                               "configuration": {"horizon": 30}}, headers=user)
    assert changed.json()["capabilities"][0]["configuration"] == {"horizon": 30}
    error(api.post(f"{BASE}/capabilities/configure", json={"appId": app_id, "capabilityId": "forecasting",
                                                           "configuration": {"horizon": 0}}, headers=user), 422, "REQ_001")
    error(api.post(f"{BASE}/capabilities/enable", json={"appId": app_id, "capabilityId": "nope"}, headers=user),
          404, "GEN_008")
    status = api.get(f"{BASE}/capabilities/forecasting/status", headers=user).json()
    assert status["available"] is True and status["enabledIn"] == [app_id]
    assert api.get(f"{BASE}/capabilities/model_endpoints/status", headers=user).json()["detail"] == {"runningEndpoints": 0}
    error(api.get(f"{BASE}/capabilities/nope/status", headers=user), 404, "GEN_008")


SOURCE = '''"""Small statistics."""


def mean(values: list[float]) -> float:
    """The arithmetic mean.

    >>> mean([1.0, 2.0, 3.0])
    2.0
    """
    return sum(values) / len(values)


def shout(text: str) -> str:
    """Upper-case text."""
    return text.upper()


def _private(x):
    return x
'''


def test_code_utilities(api, auth):
    user = auth.headers("data_scientist")
    made = api.post(f"{BASE}/code/generate", json={"module": "shop", "entities": [
        {"name": "Order", "fields": [{"name": "total", "type": "float"}, {"name": "note", "type": "str",
                                                                           "required": False}]}]}, headers=user)
    assert made.status_code == 200, made.text
    assert "class Order(SQLModel, table=True):" in made.json()["code"] and "note: str | None = None" in made.json()["code"]
    error(api.post(f"{BASE}/code/generate", json={"module": "x y", "entities": [{"name": "A"}]}, headers=user),
          422, "REQ_001")

    messy = "import os\nimport sys\ndef f(a,b):\n    return a+b\n"
    optimized = api.post(f"{BASE}/code/optimize", json={"code": messy}, headers=user).json()
    assert optimized["changed"] and "import os" not in optimized["code"] and "return a + b" in optimized["code"]
    assert {i["code"] for i in optimized["fixed"]} >= {"F401"} and optimized["diff"].startswith("--- before.py")
    error(api.post(f"{BASE}/code/optimize", json={"code": "def ("}, headers=user), 422, "REQ_001")

    docs = api.post(f"{BASE}/code/documentation", json={"code": SOURCE, "title": "stats"}, headers=user).json()
    assert docs["markdown"].startswith("# stats\n\nSmall statistics.") and docs["functions"] == ["mean", "shout"]
    assert "def mean(values: list[float]) -> float" in docs["markdown"]

    # Running submitted code is for admins only (code:execute): it runs as the platform's OS user.
    error(api.post(f"{BASE}/code/test", json={"code": SOURCE, "module": "stats"}, headers=user), 403, "AUTH_002")
    tested = api.post(f"{BASE}/code/test", json={"code": SOURCE, "module": "stats"}, headers=auth.headers("admin"))
    assert tested.status_code == 200, tested.text
    body = tested.json()
    assert body["covered"] == ["mean", "shout"] and body["results"]["passed"] == body["results"]["total"] == 3
    assert body["results"]["coverage"]["percent"] > 80
