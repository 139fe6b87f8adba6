"""Users, API keys, revoked tokens and login attempts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow


class User(SQLModel, table=True):
    __tablename__ = "auth_user"

    id: str = Field(primary_key=True, max_length=40)
    username: str = Field(unique=True, max_length=64)
    display_name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=32)
    # ABAC attributes, exposed to the policy engine.
    department: str | None = Field(default=None, max_length=80)
    project: str | None = Field(default=None, max_length=80)
    clearance_level: int = Field(default=1)
    cost_center: str | None = Field(default=None, max_length=80)
    cost_center_commercial: bool = Field(default=False)
    is_active: bool = Field(default=True)
    password_changed_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """A programmatic credential; only an HMAC of the key is stored, the key is shown once."""

    __tablename__ = "auth_api_key"

    id: str = Field(primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="auth_user.id", index=True, max_length=40)
    name: str = Field(max_length=100)
    kind: str = Field(default="api", max_length=16)  # api | model
    endpoint_id: str | None = Field(default=None, max_length=40)  # the one endpoint a model key serves
    prefix: str = Field(unique=True, max_length=16)
    key_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class RevokedToken(SQLModel, table=True):
    __tablename__ = "auth_revoked_token"

    jti: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(max_length=40)
    expires_at: datetime = Field(index=True)
    revoked_at: datetime = Field(default_factory=utcnow)


class LoginAttempt(SQLModel, table=True):
    """Throttling input; the audit trail keeps the durable record of each login."""

    __tablename__ = "auth_login_attempt"
    __audited__ = False

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, max_length=64)
    client_ip: str | None = Field(default=None, index=True, max_length=64)
    succeeded: bool
    attempted_at: datetime = Field(default_factory=utcnow, index=True)
