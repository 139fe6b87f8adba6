"""The Policies and Violations consoles' states: the editor shows validation messages at their position,
saves, tests a draft against an entity; an admin waives a violation with a reason."""

from __future__ import annotations

import pytest
import reflex as rx
from sqlmodel import select

from aisystem_app.state.governance.policies import PoliciesState, caret_for
from aisystem_app.state.governance.violations import ViolationsState
from backend.core.db import session_scope
from backend.governance import service as governance
from backend.governance.models import Policy, Violation
from tests.aisystem_app.conftest import follow, navigation, signed_in_as

pytestmark = pytest.mark.anyio


@pytest.fixture
def model_version(principals) -> str:
    from backend.catalog.model_registry import service as registry
    from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
    from tests.backend.catalog.model_registry.conftest import model_body

    engineer = principals["ml_engineer"]
    with session_scope() as s:
        model = registry.create_model(session=s, actor=engineer, data=ModelCreate.model_validate(model_body("Churn")))
        version = registry.create_version(session=s, actor=engineer, model_id=model.id,
                                          data=VersionCreate.model_validate({"version": "1.0.0",
                                                                             "metrics": {"accuracy": 0.8}}))
        return version.id


def test_caret_points_at_the_column():
    assert caret_for("a &&\n b &&& c", 2, 5) == (" b &&& c", "    ^")


async def test_the_editor_validates_saves_and_tests_a_draft(root_state, demo_users, model_version):
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(PoliciesState)
    await follow(state, rx.redirect("/governance/policies?policy=new"))
    assert state.editing == "new" and state.can_write and state.targets == ["model_version"]

    PoliciesState.set_text.fn(state, "name", "Accurate versions")
    PoliciesState.set_text.fn(state, "enforcement", "enforce")
    PoliciesState.set_rule.fn(state, 0, "name", "Accuracy")
    PoliciesState.set_rule.fn(state, 0, "expression", "entity.metrics.accuracy >=\n 0.9 &&& true")
    await PoliciesState.validate.fn(state)
    rule = state.rules[0]
    assert rule["error"].startswith("Line 2, column 8: Syntax error")
    assert (rule["error_line"], rule["caret"]) == (" 0.9 &&& true", "       ^")

    PoliciesState.set_rule.fn(state, 0, "expression", "entity.metrix.accuracy >= 0.9")
    await PoliciesState.save.fn(state)
    assert state.rules[0]["error"].startswith("Line 1, column 8: Unknown attribute 'entity.metrix'")
    with session_scope(write=False) as s:
        assert s.exec(select(Policy)).all() == []  # nothing saved while the rules are wrong

    PoliciesState.set_rule.fn(state, 0, "expression", "entity.metrics.accuracy >= 0.9")
    await PoliciesState.load_choices.fn(state)
    assert [c["id"] for c in state.choices] == [model_version]
    PoliciesState.set_test.fn(state, "action", "model.promote")
    await PoliciesState.run_test.fn(state)
    assert state.test_verdict == "failing" and "would be blocked" in state.test_summary
    assert [(r["name"], r["result"]) for r in state.test_rules] == [("Accuracy", "Failed")]

    events = await PoliciesState.save.fn(state)
    with session_scope(write=False) as s:
        saved = s.exec(select(Policy)).one()
    assert saved.name == "Accurate versions" and saved.enforcement == "enforce"
    assert navigation(events) == (f"/governance/policies?policy={saved.id}", False)
    await follow(state, events)
    assert state.editing == saved.id and state.revision == "1" and state.rows[0]["name"] == "Accurate versions"


async def test_others_read_but_do_not_write_policies(root_state, demo_users):
    await signed_in_as(root_state, demo_users["data_scientist"])
    state = await root_state.get_state(PoliciesState)
    await follow(state, rx.redirect("/governance/policies?policy=new"))
    assert state.allowed and not state.can_write
    PoliciesState.set_text.fn(state, "name", "Mine")
    PoliciesState.set_rule.fn(state, 0, "expression", "true")
    await PoliciesState.save.fn(state)
    with session_scope(write=False) as s:
        assert s.exec(select(Policy)).all() == []


async def test_an_admin_waives_a_violation_with_a_reason(root_state, demo_users, principals, model_version):
    admin = principals["admin"]
    with session_scope() as s:
        policy = governance.create_policy(session=s, actor=admin, data={
            "name": "Accurate", "kind": "model_release", "targetTypes": ["model_version"],
            "rules": [{"name": "Accuracy", "expression": "entity.metrics.accuracy >= 0.9"}]})
    with session_scope() as s:
        governance.enforce_policy(session=s, actor=admin, policy_id=policy.id)
    await signed_in_as(root_state, demo_users["admin"])
    state = await root_state.get_state(ViolationsState)
    await follow(state, rx.redirect("/governance/violations?status=open"))
    assert state.can_decide and [r["rule"] for r in state.rows] == ["Accuracy"]
    row = state.rows[0]
    assert row["entity"] == "Model version: Churn 1.0.0" and row["status"] == "Open"
    ViolationsState.ask.fn(state, row["id"], "waive")
    ViolationsState.set_reason.fn(state, "")
    await ViolationsState.confirm.fn(state)
    assert state.decision_error and state.deciding == row["id"]
    ViolationsState.set_reason.fn(state, "Pilot accepts 0.8")
    await ViolationsState.confirm.fn(state)
    with session_scope(write=False) as s:
        violation = s.exec(select(Violation)).one()
    assert violation.status == "waived" and violation.decision_note == "Pilot accepts 0.8"
    assert state.deciding == "" and state.rows == []  # the open filter no longer matches it
