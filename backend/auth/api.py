"""REST routes of authentication: /api/v1/auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session

from backend.auth import service
from backend.auth.deps import PUBLIC, require
from backend.auth.principal import Principal
from backend.auth.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRead,
    LoginRequest,
    LoginResponse,
    UserRead,
)
from backend.core.errors import NotAuthenticated
from backend.core.http import COMMON_ERRORS, client_ip, error_responses, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page

router = APIRouter(prefix="/auth", tags=["auth"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]


def user_read(user) -> UserRead:  # noqa: ANN001
    return UserRead.model_validate(user).model_copy(update={"permissions": service.permissions_of(user)})


@router.post(
    "/login",
    response_model=LoginResponse,
    summary="Sign in with username and password",
    dependencies=[PUBLIC],
    responses=error_responses(429),
)
def login(body: LoginRequest, request: Request, response: Response, session: SessionDep) -> LoginResponse:
    """Returns a bearer token. Failed attempts are throttled per account and client, and per client (AUTH_003)."""
    result = service.attempt_login(
        session=session, username=body.username, password=body.password, client_ip=client_ip(request)
    )
    session.commit()
    if result.user is None:
        raise NotAuthenticated("Invalid username or password")
    response.headers["Cache-Control"] = "no-store"
    return LoginResponse(access_token=result.token, expires_in=result.expires_in, user=user_read(result.user))


@router.get("/me", response_model=UserRead, summary="The signed-in user, with role, attributes and permissions")
def me(session: SessionDep, principal: Principal = require("account:read")) -> UserRead:
    return user_read(service.get_user(session=session, user_id=principal.user_id))


@router.post("/logout", status_code=204, summary="Revoke the bearer token of this request")
def logout(request: Request, session: SessionDep, principal: Principal = require("account:write")) -> Response:
    token = request.headers.get("authorization", "").partition(" ")[2].strip() or None
    service.logout(session=session, principal=principal, token=token)
    session.commit()
    return Response(status_code=204)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, summary="Create an API key (shown once)")
def create_api_key(
    body: ApiKeyCreate, session: SessionDep, principal: Principal = require("account:write")
) -> ApiKeyCreated:
    row, key = service.create_api_key(
        session=session, actor=principal, name=body.name, expires_in_days=body.expires_in_days
    )
    session.commit()
    return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)


@router.get("/api-keys", response_model=Page[ApiKeyRead], summary="List your API keys (never the keys themselves)")
def list_api_keys(
    session: SessionDep,
    params: PageParams = Depends(page_params),
    principal: Principal = require("account:read"),
) -> Page[ApiKeyRead]:
    rows, cursor = service.list_api_keys(session=session, actor=principal, params=params)
    return Page[ApiKeyRead](items=[ApiKeyRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.delete(
    "/api-keys/{keyId}",
    response_model=ApiKeyRead,
    summary="Revoke an API key",
    responses=error_responses(404),
)
def revoke_api_key(keyId: str, session: SessionDep, principal: Principal = require("account:write")) -> ApiKeyRead:  # noqa: N803
    row = service.revoke_api_key(session=session, actor=principal, key_id=keyId)
    session.commit()
    return ApiKeyRead.model_validate(row)
