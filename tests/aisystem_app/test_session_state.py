"""Signing in across tabs: the browser's session cookie signs in a new tab, sign-out ends it in every tab,
and the sign-in page sends the user on to the page they asked for (never to another site)."""

from __future__ import annotations

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData

from aisystem_app import routes
from aisystem_app.state.governance.audit import AuditState
from aisystem_app.state.login import LoginState
from aisystem_app.state.session import SESSION_COOKIE, SessionState
from tests.aisystem_app.conftest import navigation
from tests.aisystem_app.test_state_security import as_list, redirects_to
from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.anyio


def new_tab(url: str = "/") -> rx.State:
    """A tab of the same browser: its own Reflex state, opened at `url`."""
    import aisystem_app.pages  # noqa: F401  (defines every page's state)

    root = rx.State(_reflex_internal_init=True)
    root.router = RouterData(url=ReflexURL(f"http://testserver{url}"))
    return root


async def sign_in(root: rx.State, username: str = "admin", url: str = routes.LOGIN) -> list:
    login = await root.get_state(LoginState)
    login.router = RouterData(url=ReflexURL(f"http://testserver{url}"))
    return as_list(await LoginState.submit.fn(login, {"username": username, "password": DEMO_PASSWORD}))


async def with_cookie(token: str, url: str) -> rx.State:
    """A new tab whose hydrate event brought the browser's session cookie."""
    root = new_tab(url)
    (await root.get_state(SessionState)).session_token = token
    return root


def test_the_cookie_is_first_party_only() -> None:
    cookie = SessionState.get_fields()["session_token"].default
    assert cookie.name == SESSION_COOKIE and cookie.same_site == "strict" and cookie.path == "/"
    assert cookie.max_age and not cookie.secure  # the test site is plain http


async def test_a_new_tab_of_a_signed_in_browser_is_signed_in(demo_users) -> None:
    first = new_tab()
    await sign_in(first)
    token = (await first.get_state(SessionState)).session_token
    assert token.startswith("aiss_")

    second = await with_cookie(token, routes.AUDIT)
    audit = await second.get_state(AuditState)
    assert not as_list(await AuditState.load.fn(audit))  # on_load runs in parallel with the guard: no race
    assert audit.allowed and audit.rows
    session = await second.get_state(SessionState)
    assert session._user_id == demo_users["admin"] and session.signed_in
    assert not as_list(await SessionState.guard.fn(session))


async def test_sign_out_in_one_tab_signs_out_the_others(demo_users) -> None:
    first = new_tab()
    await sign_in(first)
    token = (await first.get_state(SessionState)).session_token
    second = await with_cookie(token, routes.AUDIT)
    await SessionState.guard.fn(await second.get_state(SessionState))

    first_session = await first.get_state(SessionState)
    assert redirects_to(as_list(await SessionState.logout.fn(first_session)), routes.LOGIN)
    assert first_session.session_token == ""  # the cookie is cleared in the browser

    audit = await second.get_state(AuditState)
    events = as_list(await AuditState.load.fn(audit))
    assert navigation(events) == (routes.login_href(routes.AUDIT), False) and audit.rows == []
    # A copied token opens nothing either.
    third = await with_cookie(token, routes.HOME)
    assert redirects_to(as_list(await SessionState.guard.fn(await third.get_state(SessionState))), routes.LOGIN)


async def test_a_forged_cookie_signs_nobody_in(demo_users) -> None:
    root = await with_cookie("aiss_0123456789ab_forged", routes.AUDIT)
    events = as_list(await SessionState.guard.fn(await root.get_state(SessionState)))
    assert redirects_to(events, routes.LOGIN)
    assert (await root.get_state(SessionState))._user_id is None


async def test_sign_in_goes_on_to_the_page_asked_for(demo_users) -> None:
    target = f"{routes.MODELS}?q=churn&type=Tabular"
    events = await sign_in(new_tab(), url=routes.login_href(target))
    assert navigation(events) == (target, True)


@pytest.mark.parametrize("evil", ["https://evil.example", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"])
async def test_sign_in_never_leaves_the_site(demo_users, evil) -> None:
    events = await sign_in(new_tab(), url=f"{routes.LOGIN}?next={evil}")
    assert navigation(events) == (routes.HOME, True)


async def test_the_login_page_lets_a_signed_in_browser_through(demo_users) -> None:
    first = new_tab()
    await sign_in(first)
    token = (await first.get_state(SessionState)).session_token
    second = await with_cookie(token, routes.login_href(routes.AUDIT))
    login = await second.get_state(LoginState)
    assert navigation(as_list(await LoginState.open_page.fn(login))) == (routes.AUDIT, True)
