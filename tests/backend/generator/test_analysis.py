"""Prompt analysis offline (rules + the platform's sentence encoder), its GEN_002 refusals, the semantic
match against the catalog and the marketplace, and the optional LLM with its fallback."""

from __future__ import annotations

import pytest

from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate
from backend.core.errors import AISystemError
from backend.generator import analysis
from tests.backend.generator.conftest import EXAMPLE


def _models(session, engineer) -> dict[str, str]:
    made = {}
    for name, kind, category, description in (
        ("Customer churn predictor", "Tabular", "churn prediction",
         "Predicts which customers are likely to churn from their activity and purchases."),
        ("Street sign detector", "Vision", "object detection", "Finds traffic signs in dashcam images."),
    ):
        model = registry.create_model(session=session, actor=engineer, data=ModelCreate(
            name=name, type=kind, category=category, framework="PyTorch",
            metadata={"description": description}), embed=False)
        made[name] = model.id
    session.flush()
    return made


def test_example_prompt(session, principals):
    made = _models(session, principals["ml_engineer"])
    result = analysis.analyze(session=session, actor=principals["business_user"], prompt=EXAMPLE)
    assert result["appType"] == "dashboard" and result["source"] == "offline"
    assert result["typeScores"][0]["appType"] == "dashboard"
    assert "Customer" in result["entities"]
    for feature in ("Real-time data visualization", "Predictive analytics", "Anomaly detection"):
        assert feature in result["features"]
    assert result["name"] == "Customer Behaviour Dashboard"
    fields = {a["field"] for a in result["ambiguities"]}
    assert {"dataSources", "refreshSeconds", "mlTarget"} <= fields
    catalog = [m for m in result["models"] if m["source"] == "catalog"]
    assert catalog and catalog[0]["id"] == made["Customer churn predictor"]
    assert made["Street sign detector"] not in {m["id"] for m in catalog[:1]}
    assert result["recommendedArchitecture"] == "monolith"
    # Deterministic: the same prompt gives the same analysis.
    assert analysis.analyze(session=session, actor=principals["business_user"], prompt=EXAMPLE) == result


def test_other_types(session, principals):
    actor = principals["business_user"]
    cases = {"A REST API to manage orders and invoices with CRUD endpoints": "rest_api",
             "A chatbot that answers employees' questions about the HR policy": "chatbot",
             "An ETL pipeline that ingests CSV files every night and loads them into the warehouse": "data_pipeline",
             "An admin tool for staff to manage inventory approvals": "internal_tool"}
    for prompt, expected in cases.items():
        assert analysis.analyze(session=session, actor=actor, prompt=prompt)["appType"] == expected, prompt


@pytest.mark.parametrize("prompt", ["", "   ", "dashboard", "x" * 5000, "qwxz zzkv plmq", "1234 5678 !!!"])
def test_meaningless_prompts(session, principals, prompt):
    with pytest.raises(AISystemError) as caught:
        analysis.analyze(session=session, actor=principals["business_user"], prompt=prompt)
    assert caught.value.code == "GEN_002"


def test_llm_is_used_and_validated(session, principals, fake_llm):
    fake_llm.answer = {"appType": "dashboard", "name": "Customer Pulse", "entities": ["customer", "visit"],
                       "features": ["Churn alerts"], "dataSources": ["Snowflake"],
                       "ambiguities": [{"field": "refresh", "question": "How often?", "options": ["hourly"]}]}
    result = analysis.analyze(session=session, actor=principals["business_user"], prompt=EXAMPLE)
    assert result["source"] == "llm" and result["name"] == "Customer Pulse"
    assert result["entities"] == ["Customer", "Visit"] and result["dataSources"] == ["Snowflake"]
    assert fake_llm.requests[0]["path"] == "/v1/chat/completions"
    assert fake_llm.requests[0]["auth"] == "Bearer test-llm-key"
    # An answer outside the vocabulary, an HTTP error: the offline result, saying why.
    fake_llm.answer = {"appType": "spaceship"}
    fallback = analysis.analyze(session=session, actor=principals["business_user"], prompt=EXAMPLE)
    assert fallback["source"] == "offline" and "app type" in fallback["llmError"]
    fake_llm.answer = 500
    fallback = analysis.analyze(session=session, actor=principals["business_user"], prompt=EXAMPLE)
    assert fallback["source"] == "offline" and "HTTPStatusError" in fallback["llmError"]
    assert fallback["appType"] == "dashboard"
