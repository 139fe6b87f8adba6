"""The signed-in user: identity in a backend-only var, display facts in small public vars.

A sign-in opens a browser session whose opaque token the browser keeps in a cookie, so every tab of
that browser (a new tab, a bookmark, a reload) takes it up on its first handler; the tab still keeps
its identity server-side and re-checks the session (revoked? expired? password changed?) on every call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import reflex as rx
from sqlmodel import Session

from aisystem_app import access, routes
from aisystem_app.components.feedback import toast_error
from aisystem_app.errors import message_for
from backend.auth.principal import Principal
from backend.core.config import get_settings
from backend.core.errors import AISystemError

log = logging.getLogger(__name__)

SESSION_COOKIE = "aisystem_session"


def session_cookie() -> rx.Cookie:
    """The browser session's cookie: first-party only, HTTPS-only when the site is, gone when the session lapses."""
    settings = get_settings()
    return rx.Cookie("", name=SESSION_COOKIE, path="/", same_site="strict",
                     secure=settings.origin.startswith("https://"), max_age=settings.access_token_minutes * 60)


class SessionState(rx.State):
    """Who is signed in to this browser tab; the user id never leaves the server."""

    _user_id: str | None = None
    _signed_in_at: float | None = None
    _session_id: str | None = None
    _checked_token: str = ""  # the last cookie value this tab looked up, so a bad one is looked up once
    session_token: str = session_cookie()
    username: str = ""
    display_name: str = ""
    role: str = ""
    nav_routes: list[str] = []

    @rx.var
    def signed_in(self) -> bool:
        """Whether a user is signed in (for rendering only; handlers check `_user_id`)."""
        return self.username != ""

    @rx.var
    def initials(self) -> str:
        """Up to two initials of the display name, for the avatar."""
        return "".join(word[0] for word in self.display_name.split()[:2]).upper()

    @rx.var
    def role_label(self) -> str:
        """The role in words (`ml_engineer` -> `ML engineer`)."""
        return access.ROLE_LABELS.get(self.role, self.role)

    def _start(self, signed: access.SignedIn) -> None:
        """Sign this tab in to browser session `signed` from now on (call with the state lock held)."""
        if signed.token:  # a fresh sign-in: the cookie hands it to the browser's other tabs
            self.session_token = signed.token
        self._checked_token = self.session_token
        self._apply_profile(signed.profile)
        self._signed_in_at, self._session_id = signed.signed_in_at, signed.session_id

    def _unchecked_token(self) -> str | None:
        """The browser's session token when this tab has not taken it up yet (call with the state lock held)."""
        token = self.session_token
        return token if token and token != self._checked_token else None

    def _here(self) -> str:
        """The path and query of the page this tab shows, to come back to after signing in."""
        url = self.router.url
        return f"{url.path}?{url.query}" if url.query else url.path

    def _apply_profile(self, profile: access.Profile | None) -> None:
        """Show `profile` in this tab, or sign it out when None (call with the state lock held)."""
        if profile is None:
            self._signed_in_at, self._session_id = None, None
        self._user_id = profile.user_id if profile else None
        self.username = profile.username if profile else ""
        self.display_name = profile.display_name if profile else ""
        self.role = profile.role if profile else ""
        self.nav_routes = list(profile.nav_routes) if profile else []

    def _caller(self) -> access.Caller:
        """The identity to hand to `access.run_as` (call with the state lock held)."""
        return access.Caller(self._user_id, self._signed_in_at, self.router.session.client_ip or None,
                             self._session_id)

    @rx.event(background=True)
    async def guard(self):
        """On every protected page: refresh the user from the database, or send them to sign in."""
        outcome = await invoke(self, access.profile_for)
        if not outcome.ok:
            return outcome.events
        async with self:
            self._apply_profile(outcome.value)
        return None

    @rx.event(background=True)
    async def logout(self):
        """End the browser session everywhere (audited), forget the user and return to the sign-in page."""
        async with self:
            caller = self._caller()
        await rx.run_in_thread(partial(access.sign_out, caller))
        async with self:
            self._apply_profile(None)
            self.session_token = self._checked_token = ""
        return rx.redirect(routes.LOGIN)


async def current_caller(state: rx.State) -> access.Caller:
    """The caller of `state`'s tab; a tab that has not taken up its browser's session cookie does so first."""
    async with state:
        tab = await state.get_state(SessionState)
        token, client_ip = tab._unchecked_token(), tab.router.session.client_ip or None
        if token is None:
            return tab._caller()
    signed = await rx.run_in_thread(partial(access.resume, token, client_ip))
    async with state:
        tab = await state.get_state(SessionState)
        if tab.session_token == token:  # unless a sign-in or sign-out in this tab got there first
            tab._checked_token = token
            if signed is not None:
                tab._start(signed)
        return tab._caller()


@dataclass(frozen=True)
class Outcome:
    """The result of a service call from a handler: a value, or the events that report the failure."""

    value: Any = None
    events: list[rx.event.EventSpec] = field(default_factory=list)
    code: str | None = None

    @property
    def ok(self) -> bool:
        return not self.events


async def invoke(
    state: rx.State,
    work: Callable[[Session, Principal], Any],
    *,
    write: bool = False,
) -> Outcome:
    """Run `work` as the signed-in user of `state`'s tab, in a worker thread (background handlers only).

    A lapsed session signs the tab out and redirects to the sign-in page; any other error
    becomes an error toast.
    """
    caller = await current_caller(state)
    try:
        value = await rx.run_in_thread(
            partial(access.run_as, caller, work, write=write)
        )
    except Exception as error:  # every failure ends as a message, never as a dead handler
        return Outcome(events=await _report(state, error), code=getattr(error, "code", "SYS_001"))
    return Outcome(value=value)


async def _report(state: rx.State, error: Exception) -> list[rx.event.EventSpec]:
    if not isinstance(error, AISystemError):
        log.exception("UI handler failed", exc_info=error)
    if isinstance(error, AISystemError) and error.code == "AUTH_001":
        async with state:
            tab = await state.get_state(SessionState)
            tab._apply_profile(None)
            here = tab._here()
        return [rx.redirect(routes.login_href(here))]
    return [toast_error(message_for(error))]
