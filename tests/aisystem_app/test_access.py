"""The helpers every handler goes through: identity re-derived from the database; the services decide
what it may do, and the UI audits their refusals."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from aisystem_app import access, routes
from aisystem_app.state.governance.audit import read_page, verify_chain
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
        access.run_as(caller(demo_users["business_user"]), work)  # the audit service refuses
    assert refused.value.code == "AUTH_002" and refused.value.details["permission"] == "audit:read"
    assert "auth.denied" in audit_actions("denied")


def test_audit_work_runs_for_an_admin(demo_users) -> None:
    rows, _cursor = access.run_as(caller(demo_users["admin"]), read_page(None))
    assert rows and {"time", "actor", "action", "entity", "outcome"} <= rows[0].keys()
    assert access.run_as(caller(demo_users["admin"]), verify_chain).valid


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
    signed = access.sign_in("admin", DEMO_PASSWORD, "203.0.113.7")
    assert signed is not None and signed.profile.user_id == demo_users["admin"]
    assert signed.token.startswith("aiss_") and demo_users["admin"] not in signed.token
    assert audit_actions("failure") == ["auth.login"]
    assert "auth.login" in audit_actions("success")


def test_sign_out_is_audited(demo_users) -> None:
    access.sign_out(caller(demo_users["ml_ops"]))
    assert "auth.logout" in audit_actions()
    access.sign_out(caller(None))  # an ended session signs out quietly


def session_caller(signed: access.SignedIn) -> access.Caller:
    """The caller of a tab signed in to browser session `signed`."""
    return access.Caller(signed.profile.user_id, signed.signed_in_at, "203.0.113.7", signed.session_id)


def test_a_new_tab_resumes_the_browser_session(demo_users) -> None:
    signed = access.sign_in("ml_ops", DEMO_PASSWORD, "203.0.113.7")
    resumed = access.resume(signed.token, "203.0.113.7")
    assert resumed is not None and resumed.session_id == signed.session_id and resumed.token == ""
    assert resumed.profile.user_id == demo_users["ml_ops"]
    principal = access.run_as(session_caller(resumed), lambda s, p: p)
    assert principal.credential_id == signed.session_id and principal.credential_type == access.UI_CREDENTIAL


@pytest.mark.parametrize("token", ["", "aiss_000000000000_forged", "aisk_abc_def", "not a token"])
def test_a_forged_token_resumes_nothing(demo_users, token) -> None:
    assert access.resume(token, None) is None


def test_sign_out_ends_the_session_in_every_tab(demo_users) -> None:
    signed = access.sign_in("ml_ops", DEMO_PASSWORD, "203.0.113.7")
    other_tab = access.resume(signed.token, None)
    access.sign_out(session_caller(signed))
    with pytest.raises(AISystemError) as refused:
        access.run_as(session_caller(other_tab), access.profile_for)
    assert refused.value.code == "AUTH_001"
    assert access.resume(signed.token, None) is None  # a copied token is dead too
    assert audit_actions().count("auth.logout") == 1


def test_a_disabled_account_is_not_resumed(demo_users) -> None:
    signed = access.sign_in("admin", DEMO_PASSWORD, None)
    deactivate(demo_users["admin"])
    assert access.resume(signed.token, None) is None
