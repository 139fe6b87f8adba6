"""The REST API: every domain router under /api/v1, one error format, one request-id and size guard."""

from __future__ import annotations

import gc
import json
import logging

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import configure_mappers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend import domains
from backend.core.config import get_settings
from backend.core.context import (
    RequestContext,
    reset_request_context,
    sane_request_id,
    set_request_context,
)
from backend.core.errors import ERROR_CATALOGUE, AISystemError
from backend.core.http import API_PREFIX, error_body

log = logging.getLogger("aisystem.api")

_UPLOAD_TYPES = ("multipart/form-data", "application/octet-stream")
_SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY")]

API_DESCRIPTION = """
The REST API of the AI System platform. Authenticate with `POST /auth/login` and send
`Authorization: Bearer <token>`, or create an API key and send it as `X-API-Key`.

Lists are keyset-paginated: `?limit=` (1–500, default 50) and the opaque `cursor` from the
previous page's `nextCursor`.

Every error has one shape — `{"error": {"code", "message", "details", "requestId", "documentation"}}` —
and every response carries `X-Request-ID`. The codes are listed at [/api/v1/docs/errors](/api/v1/docs/errors).
"""


def error_response(code: str, message: str, details: dict | None = None, status: int | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status or ERROR_CATALOGUE[code].status,
                        headers=headers)


class RequestGuard:
    """Outermost layer: request id, request context, body size limit, last-resort SYS_001."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request_id = sane_request_id(headers.get("x-request-id"))
        token = set_request_context(RequestContext(
            request_id=request_id, client_ip=_client_ip(scope), method=scope.get("method"), path=scope.get("path"),
        ))
        limit = _body_limit(headers.get("content-type", ""))
        state = {"started": False, "too_large": False, "received": 0}

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if state["too_large"]:
                    return
                state["started"] = True
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode()),
                                      *_SECURITY_HEADERS]
            elif state["too_large"]:
                return
            await send(message)

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    state["too_large"] = True
                    raise _BodyTooLarge()
            return message

        try:
            declared = headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                await self._send_too_large(send, limit, request_id)
                return
            try:
                await self.app(scope, counted_receive, guarded_send)
            except _BodyTooLarge:
                pass
            except Exception:
                log.exception("unhandled error [%s] %s %s", request_id, scope.get("method"), scope.get("path"))
                if not state["started"] and not state["too_large"]:
                    response = error_response("SYS_001", "Internal error; quote the requestId to an admin")
                    await response(scope, receive, guarded_send)
            if state["too_large"]:
                await self._send_too_large(send, limit, request_id)
        finally:
            reset_request_context(token)

    @staticmethod
    async def _send_too_large(send: Send, limit: int, request_id: str) -> None:
        body = json.dumps(error_body("REQ_002", f"The request body is over the limit of {limit} bytes",
                                     {"limitBytes": limit})).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()), (b"connection", b"close"), *_SECURITY_HEADERS]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


def _body_limit(content_type: str) -> int:
    settings = get_settings()
    if content_type.lower().startswith(_UPLOAD_TYPES):
        return settings.max_upload_bytes
    return settings.max_json_body_bytes


def _client_ip(scope: Scope) -> str | None:
    from starlette.requests import Request as StarletteRequest

    from backend.core.http import client_ip

    return client_ip(StarletteRequest(scope))


def _audit_denial(request: Request, exc: AISystemError) -> None:
    """Every 401/403 leaves an audit record (its own transaction: the request itself failed)."""
    from backend.audit import service as audit
    from backend.core.db import session_scope

    if request.url.path.endswith("/auth/login"):
        return  # the login route audits its own failures
    principal = getattr(request.state, "principal", None)
    try:
        with session_scope() as session:
            audit.record(
                session=session, actor=principal, action="auth.denied", outcome="denied",
                summary={"method": request.method, "path": request.url.path[:300], "code": exc.code,
                         "permission": exc.details.get("permission")},
            )
    except Exception:
        log.exception("could not audit a denied request")


async def _domain_error(request: Request, exc: AISystemError) -> JSONResponse:
    headers = exc.response_headers()
    if exc.code in ("AUTH_001", "AUTH_002"):
        _audit_denial(request, exc)
        if exc.code == "AUTH_001":
            headers["WWW-Authenticate"] = "Bearer"
    return error_response(exc.code, exc.message, exc.details, headers=headers or None)


def _field_name(loc: tuple) -> str:
    return ".".join(str(part) for part in loc)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return error_response("REQ_001", "The body is not valid JSON", {"fields": [{"field": "body",
                              "message": "malformed JSON"}]}, status=400)
    fields = [{"field": _field_name(err.get("loc", ())), "message": err.get("msg", ""), "type": err.get("type")}
              for err in errors[:50]]
    return error_response("REQ_001", "The request has invalid fields", {"fields": fields})


def _is_input_model(name: str) -> bool:
    from backend.core.schemas import InputModel

    def names(cls: type) -> set[str]:
        return {n for sub in cls.__subclasses__() for n in (sub.__name__, *names(sub))}

    return name in names(InputModel)


async def _service_validation_error(request: Request, exc: ValidationError) -> JSONResponse:
    """A service that builds an input model from client data itself (a free-form JSON body) lets its
    ValidationError out: the client's mistake, REQ_001 naming the fields. Any other model failing to
    validate is the server's own bug: SYS_001, logged like every unhandled error."""
    if not _is_input_model(exc.title):
        log.error("unhandled validation error of %s [%s] %s %s", exc.title, request.method, request.url.path,
                  exc_info=exc)
        return error_response("SYS_001", "Internal error; quote the requestId to an admin")
    fields = [{"field": _field_name(("body", *err.get("loc", ()))), "message": err.get("msg", ""),
               "type": err.get("type")} for err in exc.errors()[:50]]
    return error_response("REQ_001", "The request has invalid fields", {"fields": fields})


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return error_response("REQ_003", "No API route matches this path")
    if exc.status_code == 405:
        return error_response("REQ_004", "This route does not accept that method")
    if exc.status_code == 413:
        return error_response("REQ_002", "The request body is too large")
    message = exc.detail if isinstance(exc.detail, str) else "The request is invalid"
    return error_response("REQ_001", message, status=exc.status_code if 400 <= exc.status_code < 500 else 400)


async def _database_error(_request: Request, exc: DBAPIError) -> JSONResponse:
    log.error("database error: %s", type(exc.orig).__name__ if exc.orig else exc)
    if isinstance(exc, OperationalError):
        return error_response("SYS_002", "The database is unavailable or busy; try again shortly",
                              headers={"Retry-After": "5"})
    return error_response("SYS_001", "Internal error; quote the requestId to an admin")


def create_rest_api() -> FastAPI:
    """The /api/v1 application on its own (tests drive it through `create_api()`)."""
    settings = get_settings()
    api = FastAPI(
        title="AI System API",
        version="1.0",
        description=API_DESCRIPTION,
        docs_url="/docs" if settings.api_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.api_docs else None,
        servers=[{"url": API_PREFIX}],
        root_path_in_servers=False,
    )
    for router in domains.routers():
        _skip_when_prefix_differs(router)
        api.include_router(router)
    api.add_exception_handler(AISystemError, _domain_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(ValidationError, _service_validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(DBAPIError, _database_error)
    api.add_middleware(
        CORSMiddleware,
        allow_origins=settings.browser_origins(),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-API-Key", "X-Request-ID"],
        expose_headers=["X-Request-ID"],
    )
    # Inside the request guard, before CORS and the router: a model key calling its endpoint again within
    # a second skips routing, dependencies and the database (backend/endpoints/fastlane.py).
    from backend.endpoints.fastlane import PredictFastLane

    api.add_middleware(PredictFastLane)
    api.add_middleware(RequestGuard)
    _set_up_routes(api)
    return api


def _set_up_routes(api: FastAPI) -> None:
    """Have FastAPI set up every included router's routes now, at start-up (and before
    `freeze_startup_objects`), not at the first request that reaches each router: ~0.12 s per router,
    which a user's first visit to each page waited for."""
    from fastapi.routing import iter_route_contexts

    for _route in iter_route_contexts(api.router.routes):
        pass


def _skip_when_prefix_differs(router: APIRouter) -> None:
    """FastAPI tries the routes of every included router in turn (a model's page tried ~66 of them
    first: a tenth of a request's CPU). Every route of a router with a prefix starts with that prefix,
    so a path that does not cannot match any of them and the router is passed over at once."""
    prefix = router.prefix
    if not prefix or getattr(router, "_aisystem_gated", False):
        return
    scan = router.matches

    def matches(scope: Scope) -> tuple[Match, Scope]:
        path, root = scope["path"], scope.get("root_path", "")  # the path below the mount (/api/v1)
        path = path[len(root):] if root and path.startswith(root) else path
        if path == prefix or path.startswith(prefix + "/"):
            return scan(scope)
        return Match.NONE, {}

    router.matches = matches
    router._aisystem_gated = True


def create_api(rest_api: FastAPI | None = None) -> FastAPI:
    """The root ASGI app Reflex wraps (`rx.App(api_transformer=create_api())`): the API at /api/v1,
    `rest_api` when given (the tests build that once per process), else a new `create_rest_api()`."""
    problems = get_settings().production_problems()
    if problems:
        raise SystemExit("refusing to start in production: " + "; ".join(problems))
    from backend.mcp.transport import McpTransport

    # The MCP server at /mcp (docs/mcp.md); its session manager runs in the root's lifespan, and the
    # Reflex app, which mounts this root without running that lifespan, registers `root.state.mcp.lifespan`.
    mcp = McpTransport()
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=mcp.lifespan)
    root.state.mcp = mcp
    mcp.mount(root)
    root.mount(API_PREFIX, rest_api or create_rest_api())
    root.add_middleware(UnroutableApiPath)
    from backend.endpoints import serving

    serving.mark_web_process()  # small served batches run on one torch thread (docs/endpoints.md)
    configure_mappers()  # the ORM's, at start-up: the first request otherwise waited ~0.2 s for it
    freeze_startup_objects()
    return root


def freeze_startup_objects() -> None:
    """Keep what start-up built (modules, routes, schemas: ~200,000 objects) out of the garbage
    collector's full passes. Each full pass otherwise walks all of them, ~0.1 s during which no
    request moves: the slowest 2-3 % of requests under load. Call again once the server is assembled."""
    gc.collect()
    gc.freeze()


async def _unknown_route(scope: Scope, receive: Receive, send: Send) -> None:
    await error_response("REQ_003", "No API route matches this path")(scope, receive, send)


class UnroutableApiPath:
    """An /api/v1 path the mount cannot match (a line break in it) still gets the API's JSON 404,
    not the UI's page."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(API_PREFIX + "/") and any(c in path for c in "\r\n"):
            await RequestGuard(_unknown_route)(scope, receive, send)
            return
        await self.app(scope, receive, send)
