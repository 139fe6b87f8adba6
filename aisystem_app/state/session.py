"""The signed-in user: identity in a backend-only var, display facts in small public vars."""

from __future__ import annotations

import logging
import time
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
from backend.core.errors import AISystemError

log = logging.getLogger(__name__)


class SessionState(rx.State):
    """Who is signed in to this browser tab; the user id never leaves the server."""

    _user_id: str | None = None
    _signed_in_at: float | None = None
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

    def _start(self, profile: access.Profile) -> None:
        """Sign this tab in as `profile` from now on (call with the state lock held)."""
        self._signed_in_at = time.time()
        self._apply_profile(profile)

    def _apply_profile(self, profile: access.Profile | None) -> None:
        """Show `profile` in this tab, or sign it out when None (call with the state lock held)."""
        if profile is None:
            self._signed_in_at = None
        self._user_id = profile.user_id if profile else None
        self.username = profile.username if profile else ""
        self.display_name = profile.display_name if profile else ""
        self.role = profile.role if profile else ""
        self.nav_routes = list(profile.nav_routes) if profile else []

    def _caller(self) -> access.Caller:
        """The identity to hand to `access.run_as` (call with the state lock held)."""
        return access.Caller(self._user_id, self._signed_in_at, self.router.session.client_ip or None)

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
        """Audit the logout, forget the user and return to the sign-in page."""
        async with self:
            caller = self._caller()
        await rx.run_in_thread(partial(access.sign_out, caller))
        async with self:
            self._apply_profile(None)
        return rx.redirect(routes.LOGIN)


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
    permission: str | None = None,
    write: bool = False,
) -> Outcome:
    """Run `work` as the signed-in user of `state`'s tab, in a worker thread (background handlers only).

    A lapsed session signs the tab out and redirects to the sign-in page; any other error
    becomes an error toast.
    """
    async with state:
        caller = (await state.get_state(SessionState))._caller()
    try:
        value = await rx.run_in_thread(
            partial(access.run_as, caller, work, permission=permission, write=write)
        )
    except Exception as error:  # every failure ends as a message, never as a dead handler
        return Outcome(events=await _report(state, error), code=getattr(error, "code", "SYS_001"))
    return Outcome(value=value)


async def _report(state: rx.State, error: Exception) -> list[rx.event.EventSpec]:
    if not isinstance(error, AISystemError):
        log.exception("UI handler failed", exc_info=error)
    if isinstance(error, AISystemError) and error.code == "AUTH_001":
        async with state:
            (await state.get_state(SessionState))._apply_profile(None)
        return [rx.redirect(routes.LOGIN)]
    return [toast_error(message_for(error))]
