"""The /mcp endpoint in-process (the whole ASGI app, its lifespan running), on every test database:
JSON-RPC over stateless streamable HTTP, the caller's credentials, refusals and their audit records."""

from __future__ import annotations

from sqlmodel import col, select

from backend.audit.models import AuditRecord
from backend.core.db import session_scope

ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "pytest", "version": "1"}}}


def rpc(api, headers: dict, method: str, params: dict | None = None, path: str = "/mcp/"):
    body = {"jsonrpc": "2.0", "id": 7, "method": method, **({"params": params} if params is not None else {})}
    return api.post(path, json=body, headers={**ACCEPT, "MCP-Protocol-Version": "2025-06-18", **headers})


def records(action: str) -> list[AuditRecord]:
    with session_scope(write=False) as s:
        return list(s.exec(select(AuditRecord).where(AuditRecord.action == action).order_by(col(AuditRecord.seq))))


def test_initialize_list_and_call_with_a_token(api, auth, catalog):
    headers = auth.headers("business_user")
    answer = api.post("/mcp/", json=INITIALIZE, headers={**ACCEPT, **headers})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["serverInfo"]["name"] == "aisystem" and answer.headers["x-request-id"]
    assert "mcp-session-id" not in answer.headers  # stateless: any web process answers the next request

    listed = rpc(api, headers, "tools/list").json()["result"]["tools"]
    assert "search_models" in {t["name"] for t in listed}

    called = rpc(api, headers, "tools/call", {"name": "get_model", "arguments": {"model_id": catalog["model"]}})
    result = called.json()["result"]
    assert result.get("isError") is not True and result["structuredContent"]["id"] == catalog["model"]
    [row] = records("mcp.tool_call")
    assert (row.actor_name, row.credential_id is not None, row.request_id) == (
        "business_user", True, called.headers["x-request-id"])


def test_no_path_slash_and_api_key_work_too(api, auth, catalog):
    created = api.post("/api/v1/auth/api-keys", json={"name": "assistant"}, headers=auth.headers("ml_engineer"))
    key = {"X-API-Key": created.json()["key"]}
    called = rpc(api, key, "tools/call", {"name": "search_models",
                                          "arguments": {"query": "defect", "mode": "keyword"}}, path="/mcp")
    hits = called.json()["result"]["structuredContent"]["items"]
    assert [h["model"]["id"] for h in hits] == [catalog["other"]]
    assert records("mcp.tool_call")[-1].credential_id == created.json()["id"]


def test_refusals(api, auth, catalog):
    # No credentials, a bad token: HTTP 401 with the platform's error body, audited like a REST refusal.
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"X-API-Key": "ak_nope"}):
        answer = api.post("/mcp/", json=INITIALIZE, headers={**ACCEPT, **headers})
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "AUTH_001"
        assert answer.headers["www-authenticate"] == "Bearer"
    denied = records("auth.denied")
    assert len(denied) == 3 and {r.summary["via"] for r in denied} == {"mcp"}

    # A role without the permission: the call answers a tool error naming the code, and is audited.
    called = rpc(api, auth.headers("data_engineer"), "tools/call",
                 {"name": "search_models", "arguments": {"query": "customer"}})
    result = called.json()["result"]
    # The SDK prefixes "Error executing tool <name>: "; the platform's code and message follow.
    assert result["isError"] is True and "search_models: AUTH_002: " in result["content"][0]["text"]
    assert records("mcp.tool_call")[-1].outcome == "denied"

    # Arguments outside the schema never reach the service.
    bad = rpc(api, auth.headers("business_user"), "tools/call",
              {"name": "search_models", "arguments": {"query": "x", "limit": 1000}}).json()
    assert bad.get("error") or bad["result"]["isError"] is True

    # A browser page of another origin may not call it.
    answer = api.post("/mcp/", json=INITIALIZE, headers={**ACCEPT, **auth.headers("admin"),
                                                         "Origin": "https://evil.example"})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "AUTH_002"


def test_the_reflex_app_runs_the_session_manager_for_its_life():
    # Reflex mounts the API's root app without running that root's lifespan; the app registers it itself.
    from aisystem_app import aisystem_app as module

    assert module.root_app.state.mcp.lifespan in module.app.get_lifespan_tasks()
