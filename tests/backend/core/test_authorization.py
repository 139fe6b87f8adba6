"""Every service decides for itself: called directly (no route in front), a principal without the
grant gets AUTH_002 from the service, and attribute rules see the resource acted on."""

from __future__ import annotations

import io

import pytest
from sqlalchemy.orm import object_session

from backend.audit import service as audit_service
from backend.auth import service as auth_service
from backend.auth.models import User
from backend.catalog.datasets import service as datasets_service
from backend.catalog.model_registry import service as registry_service
from backend.catalog.model_registry.models import RegisteredModel
from backend.catalog.model_registry.schemas import ModelCreate, ModelUpdate
from backend.core.authorization import add_attribute_rule, attribute_rules, authorize, remove_attribute_rule
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.jobs import service as jobs_service

CSV = b"id,label\n1,a\n2,b\n3,a\n"


def denied(call) -> dict:  # noqa: ANN001
    """Run `call(session)` and return the AUTH_002 error's details (fails on anything else)."""
    with session_scope() as session, pytest.raises(AISystemError) as excinfo:
        call(session)
    assert excinfo.value.code == "AUTH_002", excinfo.value.message
    return excinfo.value.details


def new_model(actor, name: str = "Churn Predictor") -> str:  # noqa: ANN001
    data = ModelCreate.model_validate({"name": name, "type": "Tabular", "category": "Classification",
                                       "framework": "scikit-learn"})
    with session_scope() as session:
        return registry_service.create_model(session=session, actor=actor, data=data, embed=False).id


def new_dataset(actor, name: str = "churn") -> str:  # noqa: ANN001
    with session_scope() as session:
        dataset = datasets_service.create_dataset(session=session, actor=actor, data={"name": name, "type": "tabular"})
        return dataset.id


# --- one test per service module: the grant is checked by the service itself ------------------------


def test_auth_service_refuses_creating_users_without_the_grant(principals):
    details = denied(lambda s: auth_service.create_user(session=s, actor=principals["ml_engineer"],
                                                        username="newcomer", password="long-enough-1",
                                                        role="business_user"))
    assert details == {"permission": "user:create"}


def test_jobs_service_refuses_starting_jobs_by_hand_without_the_grant(principals):
    details = denied(lambda s: jobs_service.start_job(session=s, actor=principals["ml_engineer"],
                                                      type="platform.statistics"))
    assert details == {"permission": "job:create"}


def test_audit_service_refuses_reading_the_trail_without_the_grant(principals):
    reader = principals["data_scientist"]
    assert denied(lambda s: audit_service.list_records(session=s, actor=reader, params=PageParams()))[
        "permission"] == "audit:read"
    denied(lambda s: audit_service.verify(session=s, actor=reader))
    denied(lambda s: audit_service.iter_records(session=s, actor=reader, filters=audit_service.AuditFilter()))
    with session_scope(write=False) as session:
        rows, _ = audit_service.list_records(session=session, actor=principals["admin"], params=PageParams())
    assert rows


def test_datasets_service_refuses_without_the_role_grant(principals):
    business = principals["business_user"]
    denied(lambda s: datasets_service.create_dataset(session=s, actor=business, data={"name": "x", "type": "tabular"}))
    denied(lambda s: datasets_service.list_datasets(session=s, actor=business, params=PageParams()))


def test_datasets_access_list_is_an_attribute_rule_of_authorize(principals):
    owner, reader = principals["data_engineer"], principals["data_scientist"]
    dataset_id = new_dataset(owner)
    with session_scope() as session:
        datasets_service.share(session=session, actor=owner, dataset_id=dataset_id,
                               entry={"subjectType": "user", "subject": reader.user_id, "permission": "read"})
    with session_scope(write=False) as session:
        assert datasets_service.get_dataset(session=session, actor=reader, dataset_id=dataset_id).id == dataset_id
    details = denied(lambda s: datasets_service.upload(session=s, actor=reader, dataset_id=dataset_id,
                                                       source=io.BytesIO(CSV), filename="churn.csv"))
    assert details["permission"] == "dataset:write" and "read" in details["reason"]
    assert denied(lambda s: datasets_service.delete_dataset(session=s, actor=reader, dataset_id=dataset_id))[
        "permission"] == "dataset:delete"
    # Not shared at all: as if it did not exist (DATA_001), not a refusal that reveals it.
    with session_scope() as session, pytest.raises(AISystemError) as excinfo:
        datasets_service.get_dataset(session=session, actor=principals["ml_engineer"], dataset_id=dataset_id)
    assert excinfo.value.code == "DATA_001"


def test_registry_service_refuses_without_the_grant(principals):
    scientist = principals["data_scientist"]  # model:read only
    model_id = new_model(principals["ml_engineer"])
    data = ModelCreate.model_validate({"name": "Mine", "type": "NLP", "category": "Text", "framework": "PyTorch"})
    assert denied(lambda s: registry_service.create_model(session=s, actor=scientist, data=data, embed=False))[
        "permission"] == "model:create"
    assert denied(lambda s: registry_service.update_model(session=s, actor=scientist, model_id=model_id,
                                                          data=ModelUpdate(name="Renamed")))["permission"] == "model:write"
    assert denied(lambda s: registry_service.rollback(session=s, actor=scientist, model_id=model_id))[
        "permission"] == "model:promote"
    assert denied(lambda s: registry_service.delete_model(session=s, actor=scientist, model_id=model_id))[
        "permission"] == "model:delete"


# --- attribute rules ---------------------------------------------------------------------------------


def test_an_attribute_rule_is_consulted_with_the_resource_until_removed(principals):
    seen: list[tuple[str, str, object]] = []

    def same_department(principal, permission, resource):  # noqa: ANN001, ANN202
        if not isinstance(resource, RegisteredModel):
            return None
        seen.append((principal.username, permission, resource.id))
        owner = object_session(resource).get(User, resource.created_by)
        if owner.department != principal.attributes.get("department"):
            return f"the model belongs to the {owner.department} department"
        return None

    model_id = new_model(principals["admin"])  # the admin's department is Platform
    engineer = principals["ml_engineer"]  # AI Lab

    def change(s):  # noqa: ANN001, ANN202
        return registry_service.update_model(session=s, actor=engineer, model_id=model_id,
                                             data=ModelUpdate(name="Churn Predictor Tuned"))

    add_attribute_rule(same_department)
    try:
        assert same_department in attribute_rules()
        details = denied(change)
        assert details == {"permission": "model:write", "reason": "the model belongs to the Platform department"}
        assert seen == [("ml_engineer", "model:write", model_id)]
        own = new_model(engineer, name="Lab Model")  # same department: allowed
        with session_scope() as session:
            registry_service.update_model(session=session, actor=engineer, model_id=own,
                                          data=ModelUpdate(name="Lab Model Tuned"))
    finally:
        remove_attribute_rule(same_department)
    assert same_department not in attribute_rules()
    with session_scope() as session:
        assert change(session).name == "Churn Predictor Tuned"


def test_role_grants_come_before_attribute_rules(principals):
    calls: list[str] = []

    def record(principal, permission, resource):  # noqa: ANN001, ANN202
        calls.append(permission)

    add_attribute_rule(record)
    try:
        with pytest.raises(AISystemError):
            authorize(principals["business_user"], "dataset:write")
        authorize(principals["admin"], "dataset:write", object())
    finally:
        remove_attribute_rule(record)
    assert calls == ["dataset:write"]  # only the admin's request got past the role check
