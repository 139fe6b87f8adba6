"""Sign-in, credentials (tokens, API keys, model keys), users and demo accounts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, update
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.models import ApiKey, LoginAttempt, RevokedToken, User
from backend.auth.permissions import ROLES, grants_of
from backend.auth.principal import SYSTEM, Principal
from backend.core import security
from backend.core.authorization import authorize
from backend.core.config import get_settings
from backend.core.db import is_write_session, session_scope
from backend.core.errors import AISystemError, InvalidRequest, NotAuthenticated, TooManyAttempts
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.quick_read import QuickRead
from backend.core.timeutil import utcnow

log = logging.getLogger(__name__)

DEMO_USERS: dict[str, dict] = {
    "admin": {"display_name": "Avery Admin", "department": "Platform", "clearance_level": 5},
    "ml_engineer": {"display_name": "Mina Engineer", "department": "AI Lab", "clearance_level": 3},
    "data_scientist": {"display_name": "Dara Scientist", "department": "AI Lab", "clearance_level": 3},
    "ml_ops": {"display_name": "Omar Ops", "department": "Platform", "clearance_level": 3},
    "data_engineer": {"display_name": "Eli Engineer", "department": "Data", "clearance_level": 2},
    "business_user": {
        "display_name": "Bea Business",
        "department": "Sales",
        "clearance_level": 1,
        "cost_center": "CC-SALES",
        "cost_center_commercial": True,
    },
}
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def principal_for(user, *, credential_id: str | None, credential_type: str,  # noqa: ANN001
                  model_scope: str | None = None) -> Principal:
    """The principal of an account (a `User`, or a row with the `_PRINCIPAL_COLUMNS`)."""
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        credential_id=credential_id,
        credential_type=credential_type,
        model_scope=model_scope,
        attributes={
            "department": user.department,
            "project": user.project,
            "clearanceLevel": user.clearance_level,
            "costCenter": user.cost_center,
            "costCenterCommercial": user.cost_center_commercial,
        },
    )


# What `principal_for` and the token checks read of an account.
_PRINCIPAL_COLUMNS = (User.id, User.username, User.role, User.department, User.project, User.clearance_level,
                      User.cost_center, User.cost_center_commercial, User.is_active, User.password_changed_at)
# One query for the account and the revocation of its token, built once and run as a quick read (see
# `backend.core.quick_read`): it runs before every request.
_ACCOUNT_OF_TOKEN = QuickRead(select(
    *_PRINCIPAL_COLUMNS,
    select(RevokedToken.jti).where(RevokedToken.jti == bindparam("jti")).exists().label("revoked"),
).where(User.id == bindparam("user_id")))


def permissions_of(user: User) -> list[str]:
    return grants_of(user.role)


# --- users -------------------------------------------------------------------------------------


def get_user(*, session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotAuthenticated("The account no longer exists")
    return user


def find_user_by_username(*, session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def create_user(
    *,
    session: Session,
    actor: Principal,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    **attributes,
) -> User:
    """Create an account (admins and the set-up CLI only; there is no self sign-up)."""
    authorize(actor, "user:create")
    if role not in ROLES:
        raise InvalidRequest("Unknown role", {"role": f"one of {', '.join(ROLES)}"})
    if len(password) < 8:
        raise InvalidRequest("The password is too short", {"password": "at least 8 characters"})
    if find_user_by_username(session=session, username=username):
        raise InvalidRequest("That username is taken", {"username": "already exists"})
    user = User(
        id=new_id("user"),
        username=username,
        display_name=display_name or username,
        password_hash=security.hash_password(password),
        role=role,
        **attributes,
    )
    session.add(user)
    session.flush()
    audit.record(
        session=session, actor=actor, action="user.create", entity_type="user", entity_id=user.id,
        summary={"username": username, "role": role},
    )
    return user


def ensure_demo_users(*, session: Session) -> int:
    """Create the missing demo accounts (one per role, username = role); returns how many were new."""
    created = 0
    password = get_settings().demo_password
    for username, attrs in DEMO_USERS.items():
        if find_user_by_username(session=session, username=username):
            continue
        create_user(session=session, actor=SYSTEM, username=username, password=password, role=username,
                    email=f"{username}@demo.aisystem.local", **attrs)
        created += 1
    return created


# --- login -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    token: str | None = None
    expires_in: int = 0


def _recent_failures(session: Session, *conditions) -> int:  # noqa: ANN002
    since = utcnow() - timedelta(seconds=get_settings().login_window_seconds)
    return session.exec(
        select(func.count()).select_from(LoginAttempt).where(
            *conditions, LoginAttempt.succeeded.is_(False), LoginAttempt.attempted_at >= since
        )
    ).one()


def _same_client(client_ip: str | None):  # noqa: ANN202
    return LoginAttempt.client_ip.is_(None) if client_ip is None else LoginAttempt.client_ip == client_ip


def _signed_in_before(session: Session, username: str, client_ip: str | None) -> bool:
    return client_ip is not None and session.exec(
        select(LoginAttempt.id).where(LoginAttempt.username == username, LoginAttempt.client_ip == client_ip,
                                      LoginAttempt.succeeded.is_(True)).limit(1)
    ).first() is not None


def check_login_throttle(*, session: Session, username: str, client_ip: str | None) -> None:
    """AUTH_003 when this client failed too often on this account (`login_max_failures_per_user`) or on
    any account (`login_max_failures_per_ip`); and, for a client that never signed in to this account,
    when the account failed too often from everywhere (`login_max_failures_per_account`).

    A stranger's failures lock out the stranger only, never the account: the user's own clients keep
    signing in (see docs/security.md)."""
    settings = get_settings()
    if client_ip is not None and _recent_failures(session, LoginAttempt.client_ip == client_ip) \
            >= settings.login_max_failures_per_ip:
        raise TooManyAttempts(settings.login_window_seconds)
    if _recent_failures(session, LoginAttempt.username == username, _same_client(client_ip)) \
            >= settings.login_max_failures_per_user:
        raise TooManyAttempts(settings.login_window_seconds)
    if _recent_failures(session, LoginAttempt.username == username) >= settings.login_max_failures_per_account \
            and not _signed_in_before(session, username, client_ip):
        raise TooManyAttempts(settings.login_window_seconds)


def attempt_login(*, session: Session, username: str, password: str, client_ip: str | None) -> LoginResult:
    """Check a password, record the attempt and audit it. The caller commits, then raises on failure.

    Unknown users and wrong passwords take the same time and give the same answer.
    """
    username = username[:64]
    check_login_throttle(session=session, username=username, client_ip=client_ip)
    user = find_user_by_username(session=session, username=username)
    if user is None:
        security.burn_password_check(password)
        ok = False
    else:
        ok = security.verify_password(user.password_hash, password) and user.is_active
    session.add(LoginAttempt(username=username, client_ip=client_ip, succeeded=ok))
    if not ok:
        audit.record(session=session, actor=None, actor_name=username, action="auth.login", entity_type="user",
                     entity_id=user.id if user else None, outcome="failure",
                     summary={"reason": "invalid credentials"})
        return LoginResult(user=None)
    token, claims = security.issue_access_token(user.id)
    principal = principal_for(user, credential_id=claims.jti, credential_type="token")
    audit.record(session=session, actor=principal, action="auth.login", entity_type="user", entity_id=user.id)
    return LoginResult(user=user, token=token, expires_in=int((claims.expires_at - claims.issued_at).total_seconds()))


def logout(*, session: Session, principal: Principal, token: str | None) -> None:
    """Revoke the presented token (API keys are revoked through their own route)."""
    authorize(principal, "account:write")
    claims = security.decode_access_token(token or "")
    if claims and session.get(RevokedToken, claims.jti) is None:
        session.add(RevokedToken(jti=claims.jti, user_id=claims.user_id, expires_at=claims.expires_at))
    audit.record(session=session, actor=principal, action="auth.logout", entity_type="user",
                 entity_id=principal.user_id)


# --- resolving credentials ---------------------------------------------------------------------


def principal_from_token(*, session: Session, token: str) -> Principal:
    claims = security.decode_access_token(token)
    if claims is None:
        raise NotAuthenticated("The access token is invalid or expired")
    user = _ACCOUNT_OF_TOKEN.first(session, {"user_id": claims.user_id, "jti": claims.jti})
    if user is not None and user.revoked:
        raise NotAuthenticated("The access token was revoked")
    if user is None or not user.is_active:
        raise NotAuthenticated("The account is disabled or no longer exists")
    if claims.issued_at < user.password_changed_at.replace(microsecond=0):
        raise NotAuthenticated("The access token predates a password change")
    return principal_for(user, credential_id=claims.jti, credential_type="token")


def principal_from_api_key(*, session: Session, key: str, expected_kind: str) -> Principal:
    """Resolve an `X-API-Key` (kind `api`) or `X-Model-Key` (kind `model`)."""
    principal, stale_use = check_api_key(session=session, key=key, expected_kind=expected_kind)
    if stale_use:
        touch_key(session, principal.credential_id)
    return principal


# The key and its account in one query, built once: this runs before every prediction.
_KEY_AND_ACCOUNT = QuickRead(
    select(col(ApiKey.id).label("key_id"), ApiKey.key_hash, ApiKey.endpoint_id, ApiKey.expires_at,
           ApiKey.revoked_at, ApiKey.last_used_at, *_PRINCIPAL_COLUMNS)
    .join(User, col(User.id) == col(ApiKey.user_id))
    .where(ApiKey.prefix == bindparam("prefix"), ApiKey.kind == bindparam("kind"))
)


def check_api_key(*, session: Session, key: str, expected_kind: str) -> tuple[Principal, bool]:
    """(principal, whether its last use is stale enough to record) of a key: one read, no write, so
    async code can run it inline and record the use (`touch_key`) in the thread pool when needed."""
    parsed = security.split_api_key(key)
    row = None
    if parsed and parsed[0] == expected_kind:
        row = _KEY_AND_ACCOUNT.first(session, {"prefix": parsed[1], "kind": expected_kind})
    # Compare even when no row matched, so a wrong prefix costs the same as a wrong secret.
    matches = security.keys_match(row.key_hash if row else "0" * 64, key)
    if row is None or not matches or not _key_is_live(row):
        raise NotAuthenticated("The key is invalid, expired or revoked")
    if not row.is_active:
        raise NotAuthenticated("The account is disabled or no longer exists")
    stale_use = row.last_used_at is None or utcnow() - row.last_used_at > _LAST_USED_RESOLUTION
    principal = principal_for(row, credential_id=row.key_id,
                              credential_type="model_key" if expected_kind == "model" else "api_key",
                              model_scope=row.endpoint_id)
    return principal, stale_use


def _live_key(session: Session, key: str, kind: str) -> ApiKey | None:
    """The unrevoked, unexpired key row of `kind` that `key` proves, or None."""
    parsed = security.split_api_key(key)
    row = None
    if parsed and parsed[0] == kind:
        row = session.exec(select(ApiKey).where(ApiKey.prefix == parsed[1], ApiKey.kind == kind)).first()
    # Compare even when no row matched, so a wrong prefix costs the same as a wrong secret.
    matches = security.keys_match(row.key_hash if row else "0" * 64, key)
    return row if row is not None and matches and _key_is_live(row) else None


def _key_is_live(row: ApiKey) -> bool:
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > utcnow())


def touch_key(session: Session, key_id: str) -> None:
    """Record a key's last use (a plain UPDATE: bookkeeping, not an audited change)."""
    statement = update(ApiKey).where(col(ApiKey.id) == key_id).values(last_used_at=utcnow())
    if is_write_session(session):  # committed with the request; a second writer would wait on our own lock
        session.exec(statement)
        return
    try:  # a read request must not take the write lock: its own short transaction
        with session_scope() as own:
            own.exec(statement)
    except Exception:
        log.warning("could not record the API key's last use", exc_info=True)


# --- API keys ----------------------------------------------------------------------------------


def create_api_key(
    *, session: Session, actor: Principal, name: str, expires_in_days: int | None = None,
    kind: str = "api", endpoint_id: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for the actor; the clear key is returned once and never stored."""
    authorize(actor, "account:write")
    material = security.generate_api_key(kind)
    row = ApiKey(
        id=new_id("apikey"),
        user_id=actor.user_id,
        name=name,
        kind=kind,
        endpoint_id=endpoint_id,
        prefix=material.prefix,
        key_hash=material.key_hash,
        expires_at=utcnow() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="apikey.create", entity_type="api_key", entity_id=row.id,
                 summary={"name": name, "kind": kind, "endpointId": endpoint_id})
    return row, material.key


def list_api_keys(*, session: Session, actor: Principal, params: PageParams) -> tuple[list[ApiKey], str | None]:
    authorize(actor, "account:read")
    # Web sessions share the table but are not keys the user manages.
    query = select(ApiKey).where(ApiKey.user_id == actor.user_id, ApiKey.kind != SESSION_KIND)
    return paginate(session, query, params=params, order=[ApiKey.id], descending=True)


def revoke_api_key(*, session: Session, actor: Principal, key_id: str) -> ApiKey:
    """Revoke one of the actor's keys (admins: anyone's); effective on the next request."""
    row = session.get(ApiKey, key_id)
    if row is None or (row.user_id != actor.user_id and not actor.is_admin):
        raise AISystemError("AUTH_004", "No such API key", {"keyId": key_id})
    authorize(actor, "account:write", row)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(session=session, actor=actor, action="apikey.revoke", entity_type="api_key", entity_id=row.id,
                     summary={"name": row.name})
    return row


# --- web UI sessions ---------------------------------------------------------------------------
# A browser keeps an opaque session token (a cookie) so that every tab of it is signed in; the row
# behind the token is what sign-out revokes, so a copied token stops working everywhere at once.

SESSION_KIND = "session"


def start_session(*, session: Session, user: User) -> tuple[ApiKey, str]:
    """A revocable web-UI credential for a user who just proved their password; the clear token is
    returned once. It lives as long as an access token (the caller audits the sign-in)."""
    material = security.generate_api_key(SESSION_KIND)
    row = ApiKey(
        id=new_id("session"),
        user_id=user.id,
        name="Web session",
        kind=SESSION_KIND,
        prefix=material.prefix,
        key_hash=material.key_hash,
        expires_at=utcnow() + timedelta(minutes=get_settings().access_token_minutes),
    )
    session.add(row)
    session.flush()
    return row, material.key


def find_session(*, session: Session, token: str) -> ApiKey | None:
    """The live web session a browser's token proves (None when unknown, forged, expired or revoked)."""
    return _live_key(session, token, SESSION_KIND)


def check_session(*, session: Session, session_id: str, user_id: str) -> None:
    """AUTH_001 unless the web session is the user's and still live (checked on every UI handler)."""
    row = session.get(ApiKey, session_id)
    if row is None or row.kind != SESSION_KIND or row.user_id != user_id or not _key_is_live(row):
        raise NotAuthenticated("The session was signed out or has expired")


def end_session(*, session: Session, session_id: str) -> None:
    """Revoke a web session, so that no tab or copied token can use it again (the caller audits)."""
    row = session.get(ApiKey, session_id)
    if row is not None and row.kind == SESSION_KIND and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
