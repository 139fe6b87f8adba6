"""The MCP server over streamable HTTP at `/mcp`, on the platform's own port.

Stateless (`stateless_http=True`, JSON answers): every POST carries its own JSON-RPC message and its
own credentials, no session lives in a process, so any web process behind a load balancer may answer
any request. In front of the SDK's transport, per HTTP request:

1. the REST API's `RequestGuard`: request id (`X-Request-ID`), body size limit, last-resort error;
2. a browser `Origin`, when sent, must be one the REST API allows (`Settings.browser_origins`);
3. the caller: `Authorization: Bearer <token>` or `X-API-Key: <key>`, resolved by the REST API's own
   `backend.auth.deps.resolve_principal` (model keys are refused, as on every non-prediction route);
   without valid credentials the answer is HTTP 401 with the platform's AUTH_001 error body, audited
   as `auth.denied` like a refused REST request.

The session manager must run for the life of the server: `create_api()` gives its root app the
`lifespan` below (served alone by `backend.cli serve --api-only`), and the Reflex app, which mounts that
root without running its lifespan, registers the same context manager with `register_lifespan_task`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from backend.auth.deps import resolve_principal
from backend.auth.principal import Principal
from backend.core.config import get_settings
from backend.core.context import current_request
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.mcp.server import PRINCIPAL_KEY, REQUEST_KEY, server

log = logging.getLogger("aisystem.mcp")

MCP_PATH = "/mcp"


def authenticate(request: Request) -> Principal:
    """The platform principal of the request's credentials, exactly as a REST route resolves it."""
    with session_scope(write=False) as session:
        return resolve_principal(request, session)


def _audit_refusal(request: Request, exc: AISystemError) -> None:
    """A refused MCP request leaves the record a refused REST request does (its own transaction)."""
    from backend.audit import service as audit

    try:
        with session_scope() as session:
            audit.record(session=session, actor=None, action="auth.denied", outcome="denied",
                         summary={"method": request.method, "path": request.url.path[:300], "code": exc.code,
                                  "via": "mcp"})
    except Exception:
        log.exception("could not audit a refused MCP request")


class McpEndpoint:
    """ASGI app: origin check and authentication, then the SDK's stateless streamable-HTTP transport."""

    def __init__(self, handle: Any):
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from backend.api import error_response

        request = Request(scope, receive)
        origin = request.headers.get("origin")
        if origin and origin.rstrip("/") not in get_settings().browser_origins():
            await error_response("AUTH_002", "Requests from this origin are not allowed",
                                 {"origin": origin[:200]})(scope, receive, send)
            return
        try:
            principal = await run_in_threadpool(authenticate, request)
        except AISystemError as exc:
            await run_in_threadpool(_audit_refusal, request, exc)
            headers = {"WWW-Authenticate": "Bearer"} if exc.code == "AUTH_001" else None
            await error_response(exc.code, exc.message, exc.details, headers=headers)(scope, receive, send)
            return
        scope[PRINCIPAL_KEY] = principal
        scope[REQUEST_KEY] = current_request()
        await self.handle(scope, receive, send)


class McpTransport:
    """One streamable-HTTP transport of the MCP server: the ASGI app to route and its session manager."""

    def __init__(self) -> None:
        from backend.api import RequestGuard

        self.manager = self._new_manager()
        self.app = RequestGuard(McpEndpoint(self._handle))
        self._running = False
        self._ran = False

    @staticmethod
    def _new_manager() -> Any:
        # The SDK's Host/Origin filter knows only fixed host names (this server answers behind proxies
        # and load balancers under any); the origin check above applies the REST API's policy instead.
        server.streamable_http_app(streamable_http_path="/", stateless_http=True, json_response=True,
                                   transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
                                   max_request_body_size=get_settings().max_json_body_bytes)
        return server.session_manager  # the one that call just made: each transport has its own

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)

    def mount(self, root: Any) -> None:
        """Route `/mcp` and `/mcp/` of `root` (a FastAPI/Starlette app) to the MCP server."""
        root.add_route(MCP_PATH, self.app, include_in_schema=False)
        root.add_route(MCP_PATH + "/", self.app, include_in_schema=False)

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:  # noqa: ARG002  (Starlette and Reflex pass it)
        """Run the session manager while the server runs (a second entry while it runs is a no-op). The SDK's
        manager runs once in its life, so an app started again (test clients do) gets a fresh one."""
        if self._running:
            yield
            return
        if self._ran:
            self.manager = self._new_manager()
        self._running = self._ran = True
        try:
            async with self.manager.run():
                yield
        finally:
            self._running = False
