"""Helpers for the REST edge: the request's session, the client address, documented error responses."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from backend.core.config import get_settings
from backend.core.context import current_request, new_request_id
from backend.core.db import is_sqlite, is_write_session, new_session, no_local_write_turn
from backend.core.schemas import ErrorResponse

API_PREFIX = "/api/v1"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request's session. Routes commit before they return; anything uncommitted is rolled back.

    Async, so FastAPI opens and closes it on the event loop instead of two trips through its thread
    pool (a fifth of a list page's cost under load). Opening does no I/O; ending the transaction is a
    local call of microseconds on SQLite, and goes to a worker thread on a networked database.
    """
    async with _session(write=request.method not in _READ_METHODS) as session:
        yield session


async def get_read_session() -> AsyncIterator[Session]:
    """A session that never takes SQLite's write lock, for read-only work behind a POST."""
    async with _session(write=False) as session:
        yield session


@asynccontextmanager
async def _session(*, write: bool) -> AsyncIterator[Session]:
    if write:
        # A request that writes goes on (signs its caller in, validates its body) once no thread of this
        # process holds SQLite's write lock: that work, done during the turn, took the GIL from this
        # process's writer in the middle of the turn every writer on the machine waits for. 4 clients
        # registering models on 2 server processes: 49-64 -> 71-74 models/s.
        await no_local_write_turn()
    session = new_session(write=write)
    try:
        yield session
    finally:
        # Ending a transaction never waits for a lock: on SQLite a local call of microseconds.
        if is_sqlite(session):
            _end(session)
        else:
            await run_in_threadpool(_end, session)


def read_session():  # noqa: ANN201
    """`async with read_session() as session:` a read session for one step of async code, ended as the
    request's sessions are."""
    return _session(write=False)


async def run_short_read(session: Session, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)`, a short read (a primary-key lookup, one keyset page: milliseconds), from async
    code: inline on a SQLite read session, which never waits for a lock, so the trip through the
    thread pool and the GIL handoffs it causes are pure cost (a list page under 16 clients: p99
    102-123 ms in the pool, 50-62 ms inline); in the thread pool otherwise (a networked database,
    or a write session, whose first statement takes SQLite's write lock and may wait for it). Work
    that can take long (ranking, counting, encoding) stays in the pool."""
    if is_sqlite(session) and not is_write_session(session):
        return fn(*args)
    return await run_in_threadpool(fn, *args)


async def hot_read(session: Session, build: Callable[..., Any], *args: Any) -> Response:
    """The fast path of a hot read route (a list page, one record), in one call: `build(*args)`
    returns the wire document as plain JSON-ready data (built from rows, see
    `backend.core.schemas.complete_document`), run as a short read (`run_short_read`) and written with
    orjson (`json_response`), skipping pydantic's validation of what the database already holds."""
    return json_response(await run_short_read(session, build, *args))


def _end(session: Session) -> None:
    session.rollback()
    session.close()


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict:
    """The one shape of every error: `{"error": {code, message, details, requestId, documentation}}`."""
    ctx = current_request()
    return {
        "error": {
            "code": code,
            "message": message,
            "details": details or {},
            "requestId": ctx.request_id if ctx else new_request_id(),
            "documentation": f"{API_PREFIX}/docs/errors#{code}",
        }
    }


def json_response(data: Any, status_code: int = 200) -> Response:
    """JSON-ready data (dicts, lists, str, numbers) written with orjson: for hot routes that build
    their documents directly instead of through a pydantic model."""
    return Response(content=orjson.dumps(data), status_code=status_code, media_type="application/json")


def client_ip(request: Request) -> str | None:
    """The client's address; `X-Forwarded-For` is believed only when the peer is a trusted proxy."""
    peer = request.client.host if request.client else None
    trusted = get_settings().trusted_proxies
    if not peer or not trusted or not _in_networks(peer, trusted):
        return peer
    forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
    # Walk from the right: the first address that is not one of our proxies is the client.
    for address in reversed(forwarded):
        if not _in_networks(address, trusted):
            return address[:64]
    return peer


def _in_networks(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for net in networks:
        try:
            if ip in ipaddress.ip_network(net, strict=False):
                return True
        except ValueError:
            continue
    return False


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI `responses` entries for the error statuses a route can answer with."""
    descriptions = {
        400: "Malformed request",
        401: "Not authenticated (AUTH_001)",
        403: "Not permitted (AUTH_002)",
        404: "Not found",
        405: "Method not allowed (REQ_004)",
        409: "Conflict with the current state",
        413: "Payload too large (REQ_002)",
        422: "Invalid request (REQ_001)",
        429: "Too many requests",
        500: "Internal error (SYS_001)",
        503: "Service unavailable (SYS_002)",
    }
    return {status: {"model": ErrorResponse, "description": descriptions.get(status, "Error")} for status in statuses}


# Every route can answer these; routers add them once.
COMMON_ERRORS = error_responses(400, 401, 403, 413, 422, 500, 503)
