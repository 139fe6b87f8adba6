"""Reflex states driven without a browser: a root state with every substate, and demo identities."""

from __future__ import annotations

import time

import pytest
import reflex as rx

from aisystem_app import access
from aisystem_app.state.session import SessionState


@pytest.fixture
def root_state() -> rx.State:
    """A fresh root state holding every app state (as one browser tab would)."""
    import aisystem_app.pages  # noqa: F401  (defines every page's state)

    return rx.State(_reflex_internal_init=True)


async def signed_in_as(root: rx.State, user_id: str | None) -> SessionState:
    """Put a user id in the tab's backend-only identity, as a successful sign-in does."""
    session = await root.get_state(SessionState)
    session._user_id = user_id
    session._signed_in_at = time.time() if user_id else None
    return session


def navigation(events) -> tuple[str, bool] | None:  # noqa: ANN001
    """The (path, replace) of the redirect among a handler's events, None when it does not navigate."""
    for event in events if isinstance(events, list) else [events] if events else []:
        if event.handler.fn.__qualname__ == "_redirect":
            args = {name._js_expr: value._var_value for name, value in event.args}
            return args["path"], args["replace"]
    return None


async def follow(state: rx.State, events) -> tuple[str, bool]:  # noqa: ANN001
    """Do what the browser does with a handler's navigation: open the URL, which runs the page's `load`."""
    from reflex.istate.data import ReflexURL, RouterData

    target = navigation(events)
    assert target is not None, f"expected a navigation, got {events!r}"
    state.router = RouterData(url=ReflexURL(f"http://testserver{target[0]}"))
    await type(state).load.fn(state)
    return target


def caller(user_id: str | None, signed_in_at: float | None = None) -> access.Caller:
    """A caller as the handlers build it, signed in just now unless told otherwise."""
    return access.Caller(user_id, signed_in_at or time.time(), "203.0.113.7")


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (what Reflex uses)."""
    return "asyncio"
