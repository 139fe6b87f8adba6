"""A small world to compare: the design's three LLM listings (public list prices, context sizes and MMLU
scores from the marketplace seed data) and an in-house classifier with three versions, of which 1.2.0
regressed on accuracy.

| listing          | MMLU  | $ / 1K in / out | context | capabilities | deployment options               |
|------------------|-------|-----------------|---------|--------------|----------------------------------|
| GPT-4            | 0.864 | 0.03 / 0.06     | 8,192   | 5            | hosted_api                       |
| Claude 3 Opus    | 0.868 | 0.015 / 0.075   | 200,000 | 7            | hosted_api                       |
| Llama 2 70B Chat | 0.689 | free weights    | 4,096   | 3            | open_weights, on_premise, fine_… |
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from backend.auth.principal import SYSTEM
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.marketplace import service as market
from backend.marketplace.seed import listing_input
from backend.marketplace.seed_data import LISTINGS

DESIGN_EXAMPLE = ("GPT-4", "Claude 3 Opus", "Llama 2 70B Chat")


@dataclass
class World:
    gpt4: str
    claude: str
    llama: str
    classifier: str
    versions: dict[str, str]  # version -> version id
    other: str


@pytest.fixture
def world(session, principals) -> World:
    from backend.marketplace.seed import _ensure_categories, _ensure_providers  # noqa: PLC2701

    _ensure_categories(session)
    _ensure_providers(session)
    ids = {}
    for entry in LISTINGS:
        if entry["name"] in DESIGN_EXAMPLE:
            ids[entry["name"]] = market.publish_listing(session=session, actor=SYSTEM, data=listing_input(entry),
                                                        embed=False).id
    engineer = principals["ml_engineer"]
    model = registry.create_model(session=session, actor=engineer, embed=False, data=ModelCreate.model_validate({
        "name": "Churn classifier", "type": "Tabular", "category": "Classification", "framework": "PyTorch",
        "deploymentType": "hybrid", "capabilities": ["churn_prediction", "risk_scoring"],
        "pricing": {"model": "per_request", "inputTokens": 0.000002, "outputTokens": 0.000004},
        "deployment": {"autoScaling": True}}))
    versions = {}
    for version, accuracy in (("1.0.0", 0.81), ("1.1.0", 0.86), ("1.2.0", 0.84)):
        row = registry.create_version(session=session, actor=engineer, model_id=model.id, data=VersionCreate.model_validate(
            {"version": version, "metrics": {"accuracy": accuracy, "latencyP95Ms": 12.0}}))
        versions[version] = row.id
    other = registry.create_model(session=session, actor=engineer, embed=False, data=ModelCreate.model_validate({
        "name": "Churn baseline", "type": "Tabular", "category": "Classification", "framework": "scikit-learn",
        "deploymentType": "edge", "capabilities": ["churn_prediction"],
        "performance": {"accuracy": 0.855}, "pricing": {"model": "free"}}))
    session.commit()
    return World(ids["GPT-4"], ids["Claude 3 Opus"], ids["Llama 2 70B Chat"], model.id, versions, other.id)
