"""The helpers every handler goes through: identity re-derived from the database, permission checked."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from aisystem_app import access, routes
from aisystem_app.state.audit import PERMISSION as AUDIT_READ
from aisystem_app.state.audit import read_page, verify_chain
from backend.audit.models import AuditRecord
from backend.auth.models import User
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.timeutil import to_utc
from tests.aisystem_app.conftest import caller
from tests.conftest import DEMO_PASSWORD


def deactivate(user_id: str) -> None:
    """Disable an account the way an admin would (audited)."""
    from backend.audit import service as audit

    with session_scope() as session:
        user = session.get(User, user_id)
        user.is_active = False
        session.add(user)
        audit.record(session=session, actor=None, actor_name="test", action="user.update", entity_type="user",
                     entity_id=user_id)


def audit_actions(outcome: str | None = None) -> list[str]:
    with session_scope(write=False) as session:
        query = select(AuditRecord)
        if outcome:
            query = query.where(AuditRecord.outcome == outcome)
        return [r.action for r in session.exec(query).all()]


@pytest.mark.parametrize("work", [read_page(None), verify_chain], ids=["list", "verify"])
def test_audit_work_is_refused_to_a_business_user_and_the_denial_audited(demo_users, work) -> None:
    with pytest.raises(AISystemError) as refused:
        access.run_as(caller(demo_users["business_user"]), work, permission=AUDIT_READ)
    assert refused.value.code == "AUTH_002"
    assert "auth.denied" in audit_actions("denied")


def test_audit_work_runs_for_an_admin(demo_users) -> None:
    rows, _cursor = access.run_as(caller(demo_users["admin"]), read_page(None), permission=AUDIT_READ)
    assert rows and {"time", "actor", "action", "entity", "outcome"} <= rows[0].keys()
    assert access.run_as(caller(demo_users["admin"]), verify_chain, permission=AUDIT_READ).valid


@pytest.mark.parametrize("user_id", [None, "", "user_does_not_exist"])
def test_unknown_or_missing_identity_is_not_authenticated(demo_users, user_id) -> None:
    with pytest.raises(AISystemError) as refused:
        access.run_as(caller(user_id), lambda s, p: p)
    assert refused.value.code == "AUTH_001"


def test_a_disabled_user_is_signed_out_at_once(demo_users) -> None:
    deactivate(demo_users["admin"])
    with pytest.raises(AISystemError) as refused:
        access.run_as(caller(demo_users["admin"]), access.profile_for)
    assert refused.value.code == "AUTH_001"


def password_changed_at(user_id: str) -> float:
    with session_scope(write=False) as session:
        return to_utc(session.get(User, user_id).password_changed_at).timestamp()


@pytest.mark.parametrize("started", ["before the password change", "a day ago"])
def test_a_session_older_than_the_password_or_its_term_ends(demo_users, started) -> None:
    user_id = demo_users["admin"]
    signed_in_at = password_changed_at(user_id) - 1 if started.startswith("before") else time.time() - 86400
    with pytest.raises(AISystemError) as refused:
        access.run_as(caller(user_id, signed_in_at), access.profile_for)
    assert refused.value.code == "AUTH_001"


def test_profile_lists_only_the_routes_the_role_may_open(demo_users) -> None:
    admin = access.run_as(caller(demo_users["admin"]), access.profile_for)
    business = access.run_as(caller(demo_users["business_user"]), access.profile_for)
    assert routes.AUDIT in admin.nav_routes
    assert routes.AUDIT not in business.nav_routes
    assert routes.HOME in business.nav_routes


def test_sign_in_checks_the_password_and_audits_both_outcomes(demo_users) -> None:
    assert access.sign_in("admin", "wrong-password", "203.0.113.7") is None
    profile = access.sign_in("admin", DEMO_PASSWORD, "203.0.113.7")
    assert profile is not None and profile.user_id == demo_users["admin"]
    assert audit_actions("failure") == ["auth.login"]
    assert "auth.login" in audit_actions("success")


def test_sign_out_is_audited(demo_users) -> None:
    access.sign_out(caller(demo_users["ml_ops"]))
    assert "auth.logout" in audit_actions()
    access.sign_out(caller(None))  # an ended session signs out quietly
