"""The sign-in form."""

from __future__ import annotations

import logging
from functools import partial

import reflex as rx

from aisystem_app import access, routes
from aisystem_app.errors import message_for
from aisystem_app.state.session import SessionState, current_caller
from backend.core.errors import AISystemError

log = logging.getLogger(__name__)

BAD_CREDENTIALS = "Invalid username or password"
MAX_FIELD_LENGTH = 256


def form_problems(username: str, password: str) -> dict[str, str]:
    """Inline messages for fields that cannot be right before asking the server."""
    problems = {}
    if not username.strip():
        problems["username"] = "Enter your username"
    if not password:
        problems["password"] = "Enter your password"
    if len(username) > MAX_FIELD_LENGTH or len(password) > MAX_FIELD_LENGTH:
        problems["form"] = BAD_CREDENTIALS
    return problems


class LoginState(rx.State):
    """Submitting flag and the messages the form shows inline."""

    submitting: bool = False
    error: str = ""
    username_error: str = ""
    password_error: str = ""

    def _show(self, problems: dict[str, str]) -> None:
        self.error = problems.get("form", "")
        self.username_error = problems.get("username", "")
        self.password_error = problems.get("password", "")

    def _next(self) -> str:
        """Where to go once signed in: the page the user asked for (`?next=`, same site only), else home."""
        return routes.safe_next(self.router.url.query_parameters.get("next"))

    @rx.event(background=True)
    async def open_page(self):
        """Clear old messages when the page opens; a tab whose browser is signed in goes on at once."""
        async with self:
            self._show({})
            self.submitting = False
        await current_caller(self)  # takes up the browser's session cookie, if it has a live one
        async with self:
            if (await self.get_state(SessionState)).signed_in:
                return rx.redirect(self._next(), replace=True)
        return None

    @rx.event(background=True)
    async def submit(self, form_data: dict):
        """Check the credentials (slow on purpose: argon2) and sign the tab in."""
        username = str(form_data.get("username", ""))
        password = str(form_data.get("password", ""))
        async with self:
            if self.submitting:
                return None
            self._show(form_problems(username, password))
            if self.error or self.username_error or self.password_error:
                return None
            self.submitting = True
            client_ip = self.router.session.client_ip or None
        try:
            signed = await rx.run_in_thread(partial(access.sign_in, username, password, client_ip))
        except Exception as error:  # the button must come back whatever happened
            if not isinstance(error, AISystemError):
                log.exception("sign-in failed", exc_info=error)
            signed, problem = None, message_for(error)
        else:
            problem = "" if signed else BAD_CREDENTIALS
        async with self:
            self.submitting = False
            self.error = problem
            if signed is None:
                return None
            (await self.get_state(SessionState))._start(signed)
            target = self._next()
        return rx.redirect(target, replace=True)
