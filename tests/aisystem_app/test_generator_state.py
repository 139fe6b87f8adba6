"""The generator wizard's state driven without a browser: describe → analysis (editable) → architecture →
MCP tool forms from their schemas (a bad value refused) → file plan → generate (the job run in-process) →
results → deploy, start and stop; and a reload with `?app=` reopening the results."""

from __future__ import annotations

import httpx
import pytest
from reflex.istate.data import ReflexURL, RouterData

from aisystem_app.state.generator.wizard import EXAMPLE, GeneratorState, config_from_form, tool_forms
from backend.generator import tasks
from tests.aisystem_app.conftest import signed_in_as

pytestmark = pytest.mark.anyio


async def at(root_state, user_id: str, path: str = "/generator"):
    await signed_in_as(root_state, user_id)
    state = await root_state.get_state(GeneratorState)
    state.router = RouterData(url=ReflexURL(f"http://testserver{path}"))
    return state


def test_tool_forms_follow_the_schemas():
    forms = {t["id"]: t for t in tool_forms({"database": {"type": "PostgreSQL", "poolSize": 10}})}
    assert forms["database"]["chosen"] and not forms["filesystem"]["chosen"]
    fields = {f["key"]: f for f in forms["database"]["fields"]}
    assert fields["type"]["kind"] == "enum" and fields["type"]["options"] == ["SQLite", "PostgreSQL"]
    assert fields["poolSize"]["value"] == "10" and fields["readOnly"]["kind"] == "boolean"
    assert config_from_form("database", {"type": "SQLite", "poolSize": "4", "readOnly": "false", "url": ""}) == \
        {"type": "SQLite", "poolSize": 4, "readOnly": False}
    assert config_from_form("http_fetch", {"allowedHosts": "a.example, b.example"})["allowedHosts"] == \
        ["a.example", "b.example"]


async def test_wizard_walk(root_state, demo_users, sent, monkeypatch):
    import backend.jobs.tasks as job_tasks
    from backend.jobs.devices import CPU_ONLY

    monkeypatch.setitem(job_tasks._this_worker, "devices", CPU_ONLY)
    monkeypatch.setattr(tasks.sandbox, "install_and_test", lambda project: {
        "install": {"ok": True}, "exitCode": 0, "passed": 2, "failed": 0, "errors": 0, "total": 2,
        "tests": [{"nodeid": "tests/test_api.py::test_health", "outcome": "passed", "duration": 0.1},
                  {"nodeid": "tests/test_api.py::test_kpis", "outcome": "passed", "duration": 0.1}],
        "coverage": {"percent": 91.5}})
    state = await at(root_state, demo_users["business_user"])
    await GeneratorState.load.fn(state)
    assert state.step == 0 and state.prompt == EXAMPLE

    GeneratorState.set_prompt.fn(state, "qwxz zzkv plmq")
    await GeneratorState.analyze.fn(state)
    assert state.step == 0 and state.error
    GeneratorState.set_prompt.fn(state, EXAMPLE)
    await GeneratorState.analyze.fn(state)
    assert state.step == 1 and state.app_type == "dashboard" and "Customer" in state.entities
    assert state.ambiguities and state.analysis_source == "Offline rules and embeddings"

    GeneratorState.set_field.fn(state, "entities", "")
    await GeneratorState.confirm_analysis.fn(state)
    assert state.step == 1 and state.error  # validated before moving on
    GeneratorState.set_field.fn(state, "entities", "Customer, Event")
    await GeneratorState.confirm_analysis.fn(state)
    assert state.step == 2 and [a["id"] for a in state.architectures] == ["monolith", "api_worker", "microservices"]
    assert state.architecture == "monolith" and state.architectures[0]["cost"].endswith("a month")
    GeneratorState.back.fn(state)
    assert state.step == 1
    await GeneratorState.confirm_analysis.fn(state)
    GeneratorState.confirm_architecture.fn(state)
    assert state.step == 3 and len(state.tools) == 6

    GeneratorState.toggle_tool.fn(state, "notifications", True)
    GeneratorState.set_tool_field.fn(state, "notifications", "webhookUrl", "ftp://nope")
    events = await GeneratorState.confirm_tools.fn(state)
    assert state.step == 3 and events  # the schema refused the URL
    GeneratorState.set_tool_field.fn(state, "notifications", "webhookUrl", "http://hooks.example/x")
    await GeneratorState.confirm_tools.fn(state)
    assert state.step == 4 and any(f["path"] == "mcp.json" for f in state.plan_files)
    assert {f["change"] for f in state.plan_files} == {"New"}

    events = await GeneratorState.generate.fn(state)
    assert state.step == 5 and state.app_id and sent
    while sent:
        job_tasks.run_job(sent.pop(0))
    await state._job_finished({"status": "succeeded"})
    assert state.step == 6 and state.app["all_passed"] and state.app["coverage"] == "91.5%"
    assert state.app["passed"] == "2 of 2 tests passed" and "app/main.py" in state.app["files"]
    await GeneratorState.open_file.fn(state, "mcp.json")
    assert "hooks.example" in state.file_text

    GeneratorState.to_deploy.fn(state)
    assert state.step == 7
    try:
        await GeneratorState.deploy.fn(state, "start")
        assert state.deploy_status == "Running", state.error
        assert httpx.get(f"{state.deploy_url}/health", timeout=5).json()["status"] == "ok"
        assert state.deploy_health.startswith("Health check answered 200")
    finally:
        await GeneratorState.deploy.fn(state, "stop")
    assert state.deploy_status == "Stopped" and state.deploy_url == ""

    # A reload of /generator?app=… reopens the results.
    again = await at(root_state, demo_users["business_user"], f"/generator?app={state.app_id}")
    again.step = 0
    await GeneratorState.load.fn(again)
    assert again.step == 6 and again.app["name"] == "Customer Behaviour Dashboard"
    # Someone else's application is not found.
    other = await at(root_state, demo_users["data_scientist"], f"/generator?app={state.app_id}")
    other.app_id, other.step = "", 0
    assert await GeneratorState.load.fn(other) and other.step == 0
