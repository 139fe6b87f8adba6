"""State handlers called directly, as a hostile client could over the websocket (AUTHZ-05)."""

from __future__ import annotations

import json

import pytest

from aisystem_app import routes
from aisystem_app.state.audit import AuditState
from aisystem_app.state.home import HomeState
from aisystem_app.state.login import BAD_CREDENTIALS, LoginState
from aisystem_app.state.session import SessionState
from tests.aisystem_app.conftest import signed_in_as
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.anyio

STATES = (SessionState, LoginState, HomeState, AuditState)


def redirects_to(events, path: str) -> bool:  # noqa: ANN001
    """Whether a handler's returned events include a redirect to `path`."""
    return any(e.handler.fn.__qualname__ == "_redirect" and any(getattr(v, "_var_value", None) == path for _k, v in e.args)
               for e in events)


def as_list(events):  # noqa: ANN001
    return events if isinstance(events, list) else [events] if events else []


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.__name__)
def test_private_helpers_are_not_event_handlers(state) -> None:
    assert all(not name.startswith("_") for name in state.event_handlers)


def test_identity_is_backend_only_and_cannot_be_set_by_a_client() -> None:
    assert SessionState.__fields__["_user_id"]._backend
    assert "_user_id" not in SessionState.base_vars
    assert not any(name.startswith("set_") for name in SessionState.event_handlers)


async def test_setvar_cannot_change_the_identity(root_state) -> None:
    session = await signed_in_as(root_state, None)
    with pytest.raises(AttributeError):
        SessionState.setvar.fn(session, "_user_id", "user_admin")
    with pytest.raises(AttributeError):
        SessionState.setvar.fn(session, "role", "admin")
    assert session._user_id is None


@pytest.mark.parametrize("handler", ["load", "verify", "next_page"])
async def test_audit_handlers_refuse_a_business_user(root_state, demo_users, handler) -> None:
    await signed_in_as(root_state, demo_users["business_user"])
    audit = await root_state.get_state(AuditState)
    audit._next_cursor = "forged"  # make next_page reach the service
    events = as_list(await getattr(AuditState, handler).fn(audit))
    assert audit.rows == [] and not audit.verify_done
    # Reading is refused in place (the page shows why); the check is refused with a toast.
    assert not audit.allowed if handler != "verify" else events


async def test_audit_handlers_serve_an_admin(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["admin"])
    audit = await root_state.get_state(AuditState)
    assert not as_list(await AuditState.load.fn(audit))
    assert audit.allowed and audit.rows
    assert not as_list(await AuditState.verify.fn(audit))
    assert audit.verify_done and audit.verify_valid


async def test_signed_out_tab_is_sent_to_login(root_state, demo_users) -> None:
    await signed_in_as(root_state, None)
    for handler, state_cls in ((SessionState.guard, SessionState), (HomeState.load, HomeState),
                               (AuditState.load, AuditState)):
        events = as_list(await handler.fn(await root_state.get_state(state_cls)))
        assert redirects_to(events, routes.LOGIN), handler


async def test_guard_signs_out_a_deleted_user(root_state, demo_users) -> None:
    session = await signed_in_as(root_state, "user_that_was_deleted")
    session.username = "ghost"
    events = as_list(await SessionState.guard.fn(session))
    assert redirects_to(events, routes.LOGIN)
    assert session._user_id is None and session.username == "" and not session.signed_in


async def test_login_keeps_the_user_id_out_of_public_state(root_state, demo_users) -> None:
    login = await root_state.get_state(LoginState)
    events = as_list(await LoginState.submit.fn(login, {"username": "admin", "password": DEMO_PASSWORD}))
    assert redirects_to(events, routes.HOME)
    session = await root_state.get_state(SessionState)
    assert session._user_id == demo_users["admin"]
    assert session.role == "admin" and routes.AUDIT in session.nav_routes
    public = json.dumps(root_state.dict(), default=str)
    assert demo_users["admin"] not in public


async def test_login_with_a_wrong_password_shows_the_inline_error(root_state, demo_users) -> None:
    login = await root_state.get_state(LoginState)
    events = as_list(await LoginState.submit.fn(login, {"username": "admin", "password": "nope-nope"}))
    assert not events
    assert login.error == BAD_CREDENTIALS and not login.submitting
    assert (await root_state.get_state(SessionState))._user_id is None
