"""The MCP tools in-process: what each returns (JSON, the REST documents), the permission each needs, the
error codes, and the audit record every call leaves."""

from __future__ import annotations

import json
from types import SimpleNamespace

import anyio
import pytest
from mcp.server.mcpserver.exceptions import ToolError
from sqlmodel import col, select

from backend.audit.models import AuditRecord
from backend.catalog.model_registry import search
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.mcp import server, tools
from backend.mcp.server import TOOLS, run_tool


def audit_rows(action: str = server.AUDIT_ACTION) -> list[AuditRecord]:
    with session_scope(write=False) as s:
        return list(s.exec(select(AuditRecord).where(AuditRecord.action == action)
                           .order_by(col(AuditRecord.seq))).all())


def call(principal, tool: str, **arguments):
    return run_tool(tool, getattr(tools, tool), principal, arguments)


def code_of(principal, tool: str, **arguments) -> str:
    with pytest.raises(AISystemError) as err:
        call(principal, tool, **arguments)
    return err.value.code


def test_search_models_returns_the_registry_documents_and_is_audited(catalog, principals):
    user = principals["business_user"]
    result = call(user, "search_models", query="customer e-mails", mode="keyword", limit=5)
    json.dumps(result)  # plain JSON
    assert [hit["model"]["name"] for hit in result["items"]] == ["Customer Sentiment Analyzer"]
    hit = result["items"][0]
    assert hit["model"]["id"] == catalog["model"] and hit["matchedBy"] == ["keyword"]
    assert "<mark>" in hit["highlights"]["description"] and result["total"] == 1
    [row] = audit_rows()
    assert (row.actor_name, row.outcome, row.entity_type) == ("business_user", "success", "model")
    assert row.summary == {"tool": "search_models", "via": "mcp", "results": 1,
                           "arguments": {"query": "customer e-mails", "mode": "keyword", "limit": 5}}


def test_semantic_search_ranks_by_meaning(catalog, principals, monkeypatch):
    from tests.backend.catalog.model_registry.conftest import use_fake_encoder

    use_fake_encoder(monkeypatch)
    try:
        result = call(principals["data_scientist"], "search_models", query="scratches on photos", mode="hybrid",
                      limit=5)
    finally:
        search.set_encoder(None)
    assert result["items"][0]["model"]["id"] == catalog["other"]
    assert "semantic" in result["items"][0]["matchedBy"]


def test_get_model_has_the_card_and_the_newest_versions_first(catalog, principals):
    card = call(principals["business_user"], "get_model", model_id=catalog["model"], versions=5)
    assert card["name"] == "Customer Sentiment Analyzer" and card["performance"]["accuracy"] == 0.91
    assert [v["version"] for v in card["versions"]] == ["1.1.0", "1.0.0"] and card["moreVersions"] is False
    assert card["versions"][0]["metrics"] == {"accuracy": 0.91}
    assert code_of(principals["business_user"], "get_model", model_id="model_missing") == "MODEL_001"
    refused = audit_rows()[-1]
    assert (refused.outcome, refused.entity_id, refused.summary["code"]) == ("failure", "model_missing", "MODEL_001")


def test_datasets_search_and_card(catalog, principals):
    engineer = principals["ml_engineer"]
    found = call(engineer, "search_datasets", query="EMAILS", limit=5)
    assert [d["id"] for d in found["items"]] == [catalog["dataset"]]
    assert call(engineer, "search_datasets", query="nothing-like-this")["items"] == []
    card = call(engineer, "get_dataset", dataset_id=catalog["dataset"])
    assert card["name"] == "customer-emails" and card["type"] == "text" and card["status"] == "empty"
    assert code_of(engineer, "get_dataset", dataset_id="dataset_missing") == "DATA_001"


def test_experiments_and_their_runs_ranked_by_metric(catalog, principals):
    scientist = principals["data_scientist"]
    listed = call(scientist, "list_experiments", model_id=catalog["model"])
    assert [e["name"] for e in listed["items"]] == ["sentiment-tuning"] and listed["items"][0]["runCount"] == 3
    assert call(scientist, "list_experiments", query="nope")["items"] == []

    ranked = call(scientist, "get_experiment_metrics", experiment_id=catalog["experiment"])
    assert ranked["rankedBy"] == "val_accuracy"  # the objective
    assert [r["metrics"]["val_accuracy"] for r in ranked["runs"]] == [0.93, 0.87, 0.81]
    assert ranked["experiment"]["bestRun"]["name"] == "lr-1" and ranked["runs"][0]["params"] == {"lr": "0.001"}

    by_loss = call(scientist, "get_experiment_metrics", experiment_id=catalog["experiment"], metric="val_loss",
                   limit=2, history=True)
    assert [r["metrics"]["val_loss"] for r in by_loss["runs"]] == [0.3, 0.4] and by_loss["moreRuns"] is True
    assert [p["value"] for p in by_loss["runs"][0]["history"]["points"]] == [0.3]
    assert code_of(scientist, "get_experiment_metrics", experiment_id="experiment_missing") == "EXP_001"


def test_marketplace_search_answers_without_facets(catalog, principals):
    result = call(principals["business_user"], "search_marketplace", query="sentiment", sort="relevance", limit=5)
    assert set(result) >= {"items", "total", "suggestions", "moreResults"} and "facets" not in result
    assert result["total"] == len(result["items"])


def test_compare_models_ranks_them_and_keeps_the_comparison(catalog, principals):
    user = principals["business_user"]
    # One metric: (the comparison engine's sensitivity text fails on some ties of several metrics; reported)
    result = call(user, "compare_models", models=[catalog["model"], catalog["other"]], metrics=["performance"])
    json.dumps(result)
    assert {m["modelId"] for m in result["models"]} == {catalog["model"], catalog["other"]}
    assert result["id"].startswith("comparison_") and result["recommendations"]
    assert max(result["models"], key=lambda m: m["overallScore"])["modelId"] == catalog["model"]  # 0.91 > 0.84
    with session_scope(write=False) as s:
        from backend.comparison import service as comparison_service

        kept = comparison_service.get_comparison(session=s, actor=user, comparison_id=result["id"])
    assert kept.id == result["id"]
    assert code_of(user, "compare_models", models=[catalog["model"]]) == "COMPARE_002"  # one is no comparison


@pytest.mark.parametrize("tool,arguments", [
    ("search_models", {"query": "customer"}),
    ("get_model", {"model_id": "model_x"}),
    ("list_experiments", {}),
    ("predict", {"endpoint_id": "endpoint_x", "instances": [{"a": 1}]}),
    ("compare_models", {"models": ["model_a", "model_b"]}),
])
def test_a_role_without_the_permission_is_refused_and_audited(catalog, principals, tool, arguments):
    # data_engineer holds datasets, features and pipelines: no models, experiments or endpoints.
    assert not principals["data_engineer"].can(TOOLS[tool].permission)
    assert code_of(principals["data_engineer"], tool, **arguments) == "AUTH_002"
    row = audit_rows()[-1]
    assert (row.outcome, row.actor_name, row.summary["code"], row.summary["tool"]) == (
        "denied", "data_engineer", "AUTH_002", tool)


def test_predict_calls_the_deployed_endpoint(session, principals, sent):
    from backend.endpoints import demo, serving
    from backend.endpoints import service as endpoints_service
    from tests.backend.endpoints.conftest import iris_package, rows

    ops = principals["ml_ops"]
    weights, config = iris_package(0)
    model_id, _ = demo.register(session, principals["ml_engineer"], weights=weights, config=config, version="1.0.0",
                                name="iris")
    endpoint = endpoints_service.create_endpoint(session=session, actor=ops, data={"name": "iris"})
    endpoints_service.deploy(session=session, actor=ops, endpoint_id=endpoint.id,
                             data={"modelId": model_id, "version": "1.0.0"})
    session.commit()
    try:
        answer = call(principals["business_user"], "predict", endpoint_id=endpoint.id, instances=rows(2))
        assert [p["label"] for p in answer["predictions"]] == ["setosa", "setosa"]
        assert answer["version"] == "1.0.0" and answer["modelId"] == model_id
        row = audit_rows()[-1]
        # The rows are the caller's data: the record counts them.
        assert row.entity_id == endpoint.id and row.summary["arguments"]["instances"] == {"count": 2}
        bad = code_of(principals["business_user"], "predict", endpoint_id=endpoint.id, instances=[{"x": 1}])
        assert bad == "INFER_002"
    finally:
        serving.CACHE.clear()


def _ctx(principal=None) -> SimpleNamespace:
    scope = {} if principal is None else {server.PRINCIPAL_KEY: principal}
    return SimpleNamespace(request_context=SimpleNamespace(request=SimpleNamespace(scope=scope)))


def test_tools_map_domain_errors_to_tool_errors_with_the_code(catalog, principals):
    async def go(ctx, **arguments):
        return await server.get_model(ctx, **arguments)

    with pytest.raises(ToolError, match=r"^AUTH_001: "):
        anyio.run(lambda: go(_ctx(), model_id=catalog["model"]))
    with pytest.raises(ToolError, match=r"^MODEL_001: .*model_missing"):
        anyio.run(lambda: go(_ctx(principals["ml_engineer"]), model_id="model_missing"))
    card = anyio.run(lambda: go(_ctx(principals["ml_engineer"]), model_id=catalog["model"], versions=1))
    assert card["id"] == catalog["model"] and card["moreVersions"] is True


def test_every_tool_is_declared_with_its_permission():
    listed = anyio.run(server.server.list_tools)
    assert {t.name for t in listed} == set(TOOLS)
    for t in listed:
        assert TOOLS[t.name].permission in t.description
        assert "ctx" not in t.input_schema["properties"]
