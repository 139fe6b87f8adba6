"""The MCP server as a client meets it: a real server process (`backend.api:create_api` under granian, as
`backend.cli serve --api-only` runs it) on a free port, started once for this module, and the SDK's own
streamable-HTTP client with an API key."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from backend.mcp.server import TOOLS
from tests.backend.mcp.conftest import model_body
from tests.conftest import SQLITE_TEMPLATE
from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow  # starts a server process (10-60 s, most of it importing the app)
PASSWORD = "mcp-demo-password-7"


@dataclass(frozen=True)
class Running:
    url: str
    keys: dict[str, str]  # username -> API key
    tokens: dict[str, str]  # username -> bearer token
    model_id: str


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"the server did not answer:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def running(migrated_backends, tmp_path_factory) -> Iterator[Running]:
    data_dir = tmp_path_factory.mktemp("aisystem-mcp")
    shutil.copyfile(SQLITE_TEMPLATE, data_dir / "aisystem.db")  # migrated, empty
    port = free_port()
    env = {**os.environ, "AISYSTEM_ENV": "test", "AISYSTEM_DATA_DIR": str(data_dir), "AISYSTEM_PORT": str(port),
           "AISYSTEM_DEMO_PASSWORD": PASSWORD, "AISYSTEM_SEED_DEMO_DATA": "false"}
    env.pop("AISYSTEM_DATABASE_URL", None)
    subprocess.run([sys.executable, "-c", "from backend.auth.service import ensure_demo_users\n"
                    "from backend.core.db import session_scope\n"
                    "with session_scope() as s: ensure_demo_users(session=s)"],
                   cwd=ROOT, env=env, check=True, timeout=120)
    log = data_dir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host",
                                 "127.0.0.1", "--port", str(port), "--log-level", "warning", "backend.api:create_api"],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(f"{base}/api/v1/health", proc, log)
        with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as rest:
            tokens = {user: rest.post("/auth/login", json={"username": user, "password": PASSWORD}).json()["accessToken"]
                      for user in ("ml_engineer", "business_user", "data_engineer", "admin")}
            keys = {}
            for user in ("business_user", "data_engineer"):
                created = rest.post("/auth/api-keys", json={"name": "assistant"},
                                    headers={"Authorization": f"Bearer {tokens[user]}"})
                keys[user] = created.json()["key"]
            model = rest.post("/catalog/models", json=model_body("Churn Predictor", type="Tabular",
                                                                  capabilities=["churn_prediction"]),
                              headers={"Authorization": f"Bearer {tokens['ml_engineer']}"})
            assert model.status_code == 201, model.text
        yield Running(f"{base}/mcp/", keys, tokens, model.json()["id"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def session_run(url: str, headers: dict[str, str], work):  # noqa: ANN001, ANN201
    """Open the SDK client with these headers, initialize, and run `work(session, initialized)`."""

    async def main():  # noqa: ANN202
        async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
                streamable_http_client(url, http_client=http) as (read, write), ClientSession(read, write) as session:
            initialized = await session.initialize()
            return await work(session, initialized)

    return anyio.run(main)


def test_initialize_and_list_the_tools_with_their_schemas(running):
    async def work(session, initialized):  # noqa: ANN001, ANN202
        return initialized, await session.list_tools()

    initialized, listed = session_run(running.url, {"X-API-Key": running.keys["business_user"]}, work)
    assert initialized.server_info.name == "aisystem" and initialized.capabilities.tools is not None
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == set(TOOLS)
    schema = tools["search_models"].input_schema
    assert schema["required"] == ["query"] and schema["properties"]["limit"]["maximum"] == 50
    assert schema["properties"]["mode"]["enum"] == ["keyword", "semantic", "hybrid"]
    assert "model:read" in tools["search_models"].description
    assert tools["predict"].input_schema["required"] == ["endpoint_id", "instances"]


def test_search_models_finds_the_created_model_and_is_audited(running):
    async def work(session, _initialized):  # noqa: ANN001, ANN202
        return await session.call_tool("search_models", {"query": "churn", "mode": "keyword", "limit": 5})

    result = session_run(running.url, {"X-API-Key": running.keys["business_user"]}, work)
    assert not result.is_error, result.content
    hits = result.structured_content["items"]
    assert [h["model"]["id"] for h in hits] == [running.model_id] and hits[0]["model"]["name"] == "Churn Predictor"

    audit = httpx.get(running.url.replace("/mcp/", "/api/v1/governance/audit"), params={"action": "mcp.tool_call"},
                      headers={"Authorization": f"Bearer {running.tokens['admin']}"}, timeout=30).json()["items"]
    mine = [r for r in audit if r["actorName"] == "business_user" and r["summary"]["tool"] == "search_models"]
    assert mine and mine[0]["outcome"] == "success" and mine[0]["summary"]["results"] == 1


def test_a_caller_without_the_permission_gets_a_tool_error(running):
    async def work(session, _initialized):  # noqa: ANN001, ANN202
        return await session.call_tool("get_model", {"model_id": running.model_id})

    result = session_run(running.url, {"X-API-Key": running.keys["data_engineer"]}, work)
    assert result.is_error and "AUTH_002: " in result.content[0].text and "model:read" in result.content[0].text


def test_no_credentials_are_refused(running):
    with pytest.raises(Exception):  # noqa: B017, PT011  (the SDK reports the HTTP 401 its own way)
        session_run(running.url, {}, lambda session, initialized: anyio.sleep(0))
    answer = httpx.post(running.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                        headers={"Accept": "application/json, text/event-stream"}, timeout=30)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "AUTH_001"


def test_the_high_level_client_with_protocol_negotiation_works_too(running):
    from mcp import Client

    async def main():  # noqa: ANN202
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {running.tokens['business_user']}"},
                                      timeout=60) as http, \
                Client(streamable_http_client(running.url, http_client=http)) as client:
            return await client.call_tool("get_model", {"model_id": running.model_id})

    result = anyio.run(main)
    assert not result.is_error, result.content
    assert result.structured_content["name"] == "Churn Predictor"
