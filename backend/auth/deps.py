"""Route guards: every REST route declares the permission it needs with `require(...)` or is `public`."""

from __future__ import annotations

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.auth import service as auth_service
from backend.auth.principal import Principal
from backend.core.db import is_sqlite, is_write_session
from backend.core.errors import NotAuthenticated, PermissionDenied
from backend.core.http import get_read_session, get_session, read_session, run_short_read


def _credentials(request: Request) -> tuple[str, str] | None:
    """(kind, value) of the credential the request carries; header only, never the query string."""
    authorization = request.headers.get("authorization", "")
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise NotAuthenticated("Send the token as 'Authorization: Bearer <token>'")
        return "token", value.strip()
    if key := request.headers.get("x-api-key"):
        return "api", key.strip()
    if key := request.headers.get("x-model-key"):
        return "model", key.strip()
    return None


def resolve_principal(request: Request, session: Session, accept_model_key: bool = False) -> Principal:
    credentials = _credentials(request)
    if credentials is None:
        raise NotAuthenticated()
    kind, value = credentials
    if kind == "token":
        principal = auth_service.principal_from_token(session=session, token=value)
    else:
        principal = auth_service.principal_from_api_key(session=session, key=value, expected_kind=kind)
    return _scoped(request, principal, accept_model_key)


def _scoped(request: Request, principal: Principal, accept_model_key: bool) -> Principal:
    """The principal, once a model key is known to be used on its own endpoint's prediction routes."""
    if principal.credential_type == "model_key":
        endpoint = request.path_params.get("endpointId")
        if not accept_model_key or endpoint is None or endpoint != principal.model_scope:
            raise NotAuthenticated("A model key works only on the prediction routes of its own endpoint")
    request.state.principal = principal
    return principal


async def _resolve_key_inline(request: Request, session: Session, accept_model_key: bool) -> Principal:
    """An API or model key checked on the event loop (one read on a SQLite read session, like a token);
    only recording its last use — a write, at most once a minute per key — goes to the thread pool."""
    kind, value = _credentials(request)  # type: ignore[misc]  (the caller saw the header)
    principal, stale_use = auth_service.check_api_key(session=session, key=value, expected_kind=kind)
    if stale_use:
        await run_in_threadpool(auth_service.touch_key, session, principal.credential_id)
    return _scoped(request, principal, accept_model_key)


async def _resolve(request: Request, session: Session, accept_model_key: bool) -> Principal:
    """The caller's principal, checked where it costs least: a token (one read) or, on SQLite, an API key
    inline; otherwise in the thread pool (a networked database, or no credentials: AUTH_001)."""
    if request.headers.get("authorization"):
        return await run_short_read(session, resolve_principal, request, session, accept_model_key)
    if _credentials(request) is not None and is_sqlite(session):  # an API or model key
        return await _resolve_key_inline(request, session, accept_model_key)
    return await run_in_threadpool(resolve_principal, request, session, accept_model_key)


def require(permission: str, *, accept_model_key: bool = False, read_only: bool = False):
    """Dependency: the signed-in principal, who must hold `permission`.

    `read_only` signs the caller in on the read session (`get_read_session`) that a read-only route
    behind POST uses, so such requests never queue for SQLite's write lock.
    """

    async def guard(request: Request,
                    session: Session = Depends(get_read_session if read_only else get_session)) -> Principal:
        if _credentials(request) is not None and is_sqlite(session) and is_write_session(session):
            # Checked on a read session of its own: the write session's first statement takes SQLite's
            # write lock, which every writer then held through the check and the hop to the route.
            async with read_session() as reader:
                principal = await _resolve(request, reader, accept_model_key)
        else:
            principal = await _resolve(request, session, accept_model_key)
        if not principal.can(permission):
            raise PermissionDenied(permission)
        return principal

    guard.permission = permission  # type: ignore[attr-defined]  (read by the route inventory)
    guard.__name__ = f"require_{permission.replace(':', '_').replace('*', 'any')}"
    return Depends(guard)


def public() -> None:
    """Marks a route as deliberately open to anyone (login, health, version, docs)."""


public.permission = "public"  # type: ignore[attr-defined]
PUBLIC = Depends(public)


def route_permission(route) -> str | None:  # noqa: ANN001
    """The permission a FastAPI route declares, or None (the inventory test fails on None)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        marker = getattr(dep.call, "permission", None)
        if marker:
            return marker
        stack.extend(dep.dependencies)
    return None


def route_inventory(app) -> list[tuple[str, str, str | None]]:  # noqa: ANN001
    """(method, path, permission) of every API route of `app`, included routers flattened."""
    from fastapi.routing import APIRoute, iter_route_contexts

    rows = []
    for ctx in iter_route_contexts(app.routes):
        if isinstance(ctx.original_route, APIRoute):
            rows += [(method, ctx.path, route_permission(ctx)) for method in sorted(ctx.methods)]
    return rows
