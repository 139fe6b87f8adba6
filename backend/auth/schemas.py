"""Wire documents of authentication."""

from __future__ import annotations

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime


class LoginRequest(InputModel):
    username: str = Field(min_length=1, max_length=64, examples=["ml_engineer"])
    password: str = Field(min_length=1, max_length=1024)


class UserRead(ReadModel):
    id: str
    username: str
    display_name: str
    email: str | None = None
    role: str
    department: str | None = None
    project: str | None = None
    clearance_level: int
    cost_center: str | None = None
    is_active: bool
    permissions: list[str] = Field(default_factory=list)
    created_at: UtcDateTime


class LoginResponse(ReadModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
    user: UserRead


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=100, examples=["ci-pipeline"])
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class ApiKeyRead(ReadModel):
    id: str
    name: str
    kind: str
    prefix: str
    endpoint_id: str | None = None
    created_at: UtcDateTime
    expires_at: UtcDateTime | None = None
    last_used_at: UtcDateTime | None = None
    revoked_at: UtcDateTime | None = None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself; shown once, send it as `X-API-Key`")
