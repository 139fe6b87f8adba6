"""Who is calling an event handler, re-derived from the database on every call.

Any public method of a Reflex state can be called by any client over the websocket, so the
handlers never trust a public var: they pass the backend-only user id to `run_as`, which
reloads the user, checks the permission and only then runs the service call. Everything
here is plain Python (no Reflex) and runs in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TypeVar

from sqlmodel import Session

from aisystem_app import routes
from backend.audit import service as audit
from backend.auth import service as auth_service
from backend.auth.models import ApiKey, User
from backend.auth.principal import Principal
from backend.core.config import get_settings
from backend.core.context import RequestContext, new_request_id, reset_request_context, set_request_context
from backend.core.db import session_scope
from backend.core.errors import NotAuthenticated, PermissionDenied
from backend.core.timeutil import to_utc

T = TypeVar("T")
UI_CREDENTIAL = "session"
ROLE_LABELS = {
    "admin": "Administrator",
    "ml_engineer": "ML engineer",
    "data_scientist": "Data scientist",
    "ml_ops": "ML ops",
    "data_engineer": "Data engineer",
    "business_user": "Business user",
}


@dataclass(frozen=True)
class Caller:
    """The sender of an event, from the tab's backend-only vars: user id and sign-in time (None when
    signed out, seconds since the epoch), the client address and the web session it signed in with."""

    user_id: str | None
    signed_in_at: float | None = None
    client_ip: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class Profile:
    """The signed-in user as the UI needs them; only the names, role and routes reach the browser."""

    user_id: str
    username: str
    display_name: str
    role: str
    nav_routes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SignedIn:
    """A browser session: who, since when, the session row (backend-only) and the token the browser keeps."""

    profile: Profile
    session_id: str
    signed_in_at: float
    token: str = ""


@contextmanager
def request_context(caller: Caller) -> Iterator[None]:
    """Expose the client's address and a request id to services (the audit trail reads them)."""
    token = set_request_context(RequestContext(request_id=new_request_id(), client_ip=caller.client_ip))
    try:
        yield
    finally:
        reset_request_context(token)


def principal_of(session: Session, caller: Caller) -> Principal:
    """The caller's principal, reloaded from the database.

    AUTH_001 when signed out, when the account is gone or disabled, and when the session is older
    than a token may live or than the user's last password change.
    """
    if not caller.user_id or caller.signed_in_at is None:
        raise NotAuthenticated()
    user = auth_service.get_user(session=session, user_id=caller.user_id)
    if caller.session_id is not None:
        auth_service.check_session(session=session, session_id=caller.session_id, user_id=user.id)
    if not user.is_active:
        raise NotAuthenticated("The account is disabled")
    if session_lapsed(user, caller.signed_in_at):
        raise NotAuthenticated("The session has expired")
    return session_principal(user, caller.session_id)


def session_lapsed(user: User, signed_in_at: float) -> bool:
    """Whether a UI session started at `signed_in_at` has outlived its term or a password change."""
    max_age = get_settings().access_token_minutes * 60
    return time.time() - signed_in_at > max_age or to_utc(user.password_changed_at).timestamp() > signed_in_at


def session_principal(user: User, session_id: str | None = None) -> Principal:
    """The principal of a user signed in to the web UI (through browser session `session_id`)."""
    return auth_service.principal_for(user, credential_id=session_id, credential_type=UI_CREDENTIAL)


def run_as(caller: Caller, work: Callable[[Session, Principal], T], *, write: bool = False) -> T:
    """Run `work(session, principal)` in one unit of work as the signed-in caller.

    The services `work` calls decide what the principal may do. Raises AUTH_001 when the caller is
    not (or no longer) signed in, and passes on a service's AUTH_002 after auditing the denial.
    """
    principal = None
    with request_context(caller):
        try:
            with session_scope(write=write) as session:
                principal = principal_of(session, caller)
                return work(session, principal)
        except PermissionDenied as denied:
            if principal is not None:
                _record_denial(principal, denied.details.get("permission"))
            raise


def _record_denial(principal: Principal, permission: str | None) -> None:
    with session_scope() as session:
        audit.record(session=session, actor=principal, action="auth.denied", outcome="denied",
                     summary={"channel": "ui", "code": "AUTH_002", "permission": permission})


def profile_for(session: Session, principal: Principal) -> Profile:
    """The public profile of a signed-in principal."""
    user = auth_service.get_user(session=session, user_id=principal.user_id)
    return Profile(user.id, user.username, user.display_name, user.role, routes.allowed_routes(principal))


def sign_in(username: str, password: str, client_ip: str | None) -> SignedIn | None:
    """Check the password (audited, throttled) and open a browser session; None on bad credentials.

    Raises AUTH_003 when the account or the client failed too often.
    """
    with request_context(Caller(None, client_ip=client_ip)), session_scope() as session:
        result = auth_service.attempt_login(
            session=session, username=username.strip(), password=password, client_ip=client_ip
        )
        if result.user is None:
            return None
        row, token = auth_service.start_session(session=session, user=result.user)
        return _signed_in(session, result.user, row, token)


def resume(token: str, client_ip: str | None) -> SignedIn | None:
    """The browser session a tab's cookie names, for a tab that is not signed in yet (a new tab, a
    bookmark, a reload); None when the token is unknown, revoked, expired or outlived its user's password."""
    with request_context(Caller(None, client_ip=client_ip)), session_scope(write=False) as session:
        row = auth_service.find_session(session=session, token=token)
        user = session.get(User, row.user_id) if row else None
        if row is None or user is None or not user.is_active:
            return None
        started = _signed_in(session, user, row)
        return None if session_lapsed(user, started.signed_in_at) else started


def _signed_in(session: Session, user: User, row: ApiKey, token: str = "") -> SignedIn:
    return SignedIn(profile_for(session, session_principal(user)), row.id, to_utc(row.created_at).timestamp(), token)


def sign_out(caller: Caller) -> None:
    """End the caller's browser session everywhere and audit it (nothing to do when it already ended)."""

    def record(session: Session, principal: Principal) -> None:
        if caller.session_id is not None:
            auth_service.end_session(session=session, session_id=caller.session_id)
        audit.record(session=session, actor=principal, action="auth.logout", entity_type="user",
                     entity_id=principal.user_id)

    with suppress(NotAuthenticated):
        run_as(caller, record, write=True)
