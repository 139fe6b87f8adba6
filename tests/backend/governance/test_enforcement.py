"""The enforcement points: deployment, training on a dataset, dataset sharing, marketplace publishing and
rollback each go through `check_action`, so a policy blocks them (GOV_003) and its violation persists."""

from __future__ import annotations

import pytest
from sqlmodel import select

from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.governance import service
from backend.governance.models import Violation
from tests.backend.governance.conftest import release_policy
from tests.backend.marketplace.conftest import make_category
from tests.backend.training.conftest import make_dataset


def add_policy(principals, **body) -> str:
    with session_scope() as s:
        return service.create_policy(session=s, actor=principals["admin"], data={
            "kind": "access", "severity": "high", "enforcement": "enforce", **body}).id


def refused(session, fn, **kwargs) -> AISystemError:
    with pytest.raises(AISystemError) as caught:
        fn(session=session, **kwargs)
    session.rollback()
    assert caught.value.code == "GOV_003", caught.value
    return caught.value


def violations(**filters) -> list[Violation]:
    with session_scope(write=False) as s:
        return list(s.exec(select(Violation).filter_by(**filters)).all())


def test_deployment_is_governed(session, principals, model_with_versions):
    from backend.endpoints import service as endpoints

    ops = principals["ml_ops"]
    with session_scope() as s:
        endpoint_id = endpoints.create_endpoint(session=s, actor=ops, data={"name": "churn"}).id
    add_policy(principals, name="Deploy only accurate versions", targetTypes=["endpoint"], actions=["endpoint.deploy"],
               rules=[{"name": "Accurate", "expression": "entity.modelVersion.metrics.accuracy >= 0.9"},
                      {"name": "Department", "expression": "entity.model.owner.department == user.department"}])
    error = refused(session, endpoints.deploy, actor=ops, endpoint_id=endpoint_id,
                    data={"modelId": model_with_versions, "version": "1.1.0"})
    assert error.details["rule"] == "Accurate" and error.details["blockedBy"] == ["Deploy only accurate versions"]
    found = violations(entity_id=endpoint_id)
    assert {v.rule for v in found} == {"Accurate", "Department"}  # ml_ops is in Platform, the model in AI Lab
    assert all(v.action == "endpoint.deploy" and v.blocked for v in found)


def test_training_on_a_dataset_and_sharing_it_are_governed(session, principals, sent):
    scientist = principals["data_scientist"]
    dataset_id = make_dataset(session, scientist)
    add_policy(principals, name="No blobs", targetTypes=["dataset"], actions=["dataset.train", "dataset.share"],
               rules=[{"name": "Not blobs", "expression": 'entity.name != "blobs"', "message": "Rename it first"}])
    from backend.catalog.datasets import service as datasets
    from backend.training import service as training

    error = refused(session, training.create_training_job, actor=scientist,
                    data={"datasetId": dataset_id, "family": "tabular_mlp", "modelName": "m",
                          "hyperparameters": {"maxEpochs": 1}})
    assert error.details["reason"].startswith("Rename it first")
    refused(session, datasets.share, actor=scientist, dataset_id=dataset_id,
            entry={"subjectType": "role", "subject": "business_user"})
    # One violation per policy, entity and rule: the second refusal counts up on it.
    assert [(v.action, v.occurrences) for v in violations(entity_id=dataset_id)] == [("dataset.share", 2)]
    assert not sent  # no training job was queued


def test_rollback_and_publishing_are_governed(session, principals, model_with_versions):
    from backend.catalog.model_registry import service as registry
    from backend.marketplace import schemas as market
    from backend.marketplace.service import publishing

    engineer = principals["ml_engineer"]
    with session_scope() as s:
        registry.promote_version(session=s, actor=engineer, model_id=model_with_versions, version="1.1.0",
                                 stage="production")
    with session_scope() as s:
        registry.promote_version(session=s, actor=engineer, model_id=model_with_versions, version="1.0.0",
                                 stage="production")
    add_policy(principals, **release_policy())
    error = refused(session, registry.rollback, actor=engineer, model_id=model_with_versions)
    assert error.details["action"] == "model.rollback" and error.details["entityType"] == "model_version"
    add_policy(principals, name="Licensed before publishing", targetTypes=["model"], actions=["model.publish"],
               rules=[{"name": "MIT only", "expression": 'entity.metadata.license == "MIT"'}])
    with session_scope() as s:
        make_category(s, "nlp", "Natural Language Processing")
    refused(session, publishing.publish_listing, actor=engineer,
            data=market.ListingCreate.model_validate({"sourceModelId": model_with_versions}), embed=False)
    assert {v.action for v in violations(status="open")} == {"model.rollback", "model.publish"}


def test_an_action_no_policy_targets_costs_no_document(session, principals, monkeypatch):
    from backend.governance import entities

    add_policy(principals, name="Datasets only", targetTypes=["dataset"], actions=["dataset.train"],
               rules=[{"name": "r", "expression": "true"}])
    monkeypatch.setattr(entities, "describe", lambda *a, **k: pytest.fail("described an ungoverned entity"))
    from backend.core.actions import check_action

    check_action(session=session, actor=principals["admin"], action="dataset.share", entity="dataset_x")
