"""State handlers called directly, as a hostile client could over the websocket (AUTHZ-05).

Every Reflex state of the app is found by walking the subclasses of `rx.State` after importing
every page, so a new state class is covered without editing this file.
"""

from __future__ import annotations

import inspect
import json
import typing

import pytest
import reflex as rx
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

import aisystem_app.pages  # noqa: F401  (defines every page's state)
from aisystem_app import routes
from aisystem_app.state.governance.audit import AuditState
from aisystem_app.state.home import HomeState
from aisystem_app.state.login import BAD_CREDENTIALS, LoginState
from aisystem_app.state.session import SessionState
from tests.aisystem_app.conftest import signed_in_as
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.anyio



def app_states() -> list[type[rx.State]]:
    """Every concrete state class the app defines (mixins are covered through the states using them)."""
    found, stack = set(), [rx.State]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("aisystem_app.") and not sub._mixin:
                found.add(sub)
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__name__}")


STATES = app_states()
# Handlers a signed-out visitor may use against the database: signing in (throttled and audited).
PUBLIC_HANDLERS = {("LoginState", "submit")}
# Names a client must never see or set: identities and credentials live in backend-only (`_`) vars.
SECRET_WORDS = ("user_id", "password", "secret", "api_key", "session_id", "checked_token")


def test_every_state_of_the_app_is_found() -> None:
    names = {state.__name__ for state in STATES}
    assert {"SessionState", "LoginState", "HomeState", "AuditState", "ModelsState", "DatasetsState"} <= names
    assert len(STATES) >= 12


def placeholder(parameter: inspect.Parameter, hints: dict) -> object:
    """A harmless argument for a handler parameter, by its annotation (what a forged event could send)."""
    kind = typing.get_origin(hints.get(parameter.name)) or hints.get(parameter.name)
    return {dict: {}, list: [], int: 0, float: 0.0, bool: False}.get(kind, "")


def handler_calls(state: type[rx.State]) -> list[tuple[str, list]]:
    """(name, placeholder arguments) of every event handler of `state`."""
    calls = []
    for name, handler in sorted(state.event_handlers.items()):
        fn = handler.fn
        try:
            hints = typing.get_type_hints(fn)
        except Exception:  # an annotation that does not resolve outside Reflex: fall back to text
            hints = {}
        parameters = list(inspect.signature(fn).parameters.values())[1:]
        calls.append((name, [placeholder(p, hints) for p in parameters if p.default is inspect.Parameter.empty]))
    return calls


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.__name__)
def test_no_public_var_carries_an_identity_or_a_secret(state) -> None:
    public = set(state.base_vars) | set(state.computed_vars)
    leaked = {name for name in public if name.lower().endswith(SECRET_WORDS)}
    assert not leaked, f"{state.__name__} shows {leaked} to the browser; keep it in a backend-only `_` var"


@pytest.mark.parametrize("state", STATES, ids=lambda s: s.__name__)
async def test_a_signed_out_tab_reaches_no_data_through_any_handler(root_state, demo_users, state) -> None:
    """Every handler, sent by a tab that is not signed in, runs no query at all: the identity check
    comes first and needs none for a tab without an identity (only signing in itself is public)."""
    await signed_in_as(root_state, None)
    statements: list[str] = []

    def seen(execute_state) -> None:  # noqa: ANN001
        statements.append(str(execute_state.statement)[:80])

    event.listen(OrmSession, "do_orm_execute", seen)
    try:
        for name, args in handler_calls(state):
            if (state.__name__, name) in PUBLIC_HANDLERS:
                continue
            instance = await root_state.get_state(state)
            statements.clear()
            try:
                result = state.event_handlers[name].fn(instance, *args)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a forged argument may be refused any way, as long as no data was read
                pass
            assert statements == [], f"{state.__name__}.{name} ran {statements} for a signed-out tab"
    finally:
        event.remove(OrmSession, "do_orm_execute", seen)


def redirects_to(events, path: str) -> bool:  # noqa: ANN001
    """Whether a handler's returned events include a redirect to `path` (with any query, such as `?next=`)."""
    def to_path(value) -> bool:  # noqa: ANN001
        return isinstance(value, str) and (value == path or value.startswith(f"{path}?"))

    return any(e.handler.fn.__qualname__ == "_redirect" and any(to_path(getattr(v, "_var_value", None)) for _k, v in e.args)
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


# `next_page` only moves the URL now; the page's `load` that follows is what reads.
@pytest.mark.parametrize("handler", ["load", "verify"])
async def test_audit_handlers_refuse_a_business_user(root_state, demo_users, handler) -> None:
    await signed_in_as(root_state, demo_users["business_user"])
    audit = await root_state.get_state(AuditState)
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
