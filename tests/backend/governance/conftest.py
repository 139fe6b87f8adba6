"""Fixtures of the governance tests: a committed model with versions, policy bodies."""

from __future__ import annotations

import pytest

from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate
from backend.core.db import session_scope
from tests.backend.catalog.model_registry.conftest import add_version, model_body


@pytest.fixture(autouse=True)
def no_broker(sent) -> list[str]:
    return sent


@pytest.fixture
def model_with_versions(principals) -> str:
    """A model (licence Apache-2.0) with 1.0.0 (accuracy 0.95) and 1.1.0 (accuracy 0.8), both with artifacts."""
    engineer = principals["ml_engineer"]
    with session_scope() as s:
        model_id = registry.create_model(session=s, actor=engineer,
                                         data=ModelCreate.model_validate(model_body("Churn Scorer"))).id
    add_version(model_id, engineer, "1.0.0", metrics={"accuracy": 0.95})
    add_version(model_id, engineer, "1.1.0", metrics={"accuracy": 0.8})
    return model_id


def release_policy(**overrides) -> dict:
    body = {
        "name": "Production release bar", "kind": "model_release", "targetTypes": ["model_version"],
        "actions": ["model.promote", "model.rollback"], "severity": "high", "enforcement": "enforce",
        "appliesWhen": 'action.toStage == "production" || entity.stage == "production"',
        "rules": [{"name": "Accuracy at least 0.9", "expression": "entity.metrics.accuracy >= 0.9"},
                  {"name": "Has a licence", "expression": "entity.model.metadata.license != null"}],
    }
    body.update(overrides)
    return body
