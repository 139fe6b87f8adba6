"""Public liveness routes: /api/v1/health and /api/v1/version, and the error-code page."""

from __future__ import annotations

import html
import platform
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, JSONResponse
from sqlmodel import Session

from backend.auth.deps import PUBLIC
from backend.core.errors import ERROR_CATALOGUE
from backend.core.http import get_session
from backend.health import service
from backend.health.schemas import HealthRead, VersionRead

router = APIRouter(tags=["platform"])
SessionDep = Annotated[Session, Depends(get_session)]


@router.get(
    "/health", response_model=HealthRead, summary="Database, broker, worker heartbeat and storage",
    dependencies=[PUBLIC], responses={503: {"model": HealthRead, "description": "The database is unreachable"}},
)
def health(session: SessionDep):
    """Each check is `ok` or an error; the answer is 503 only when the database itself is down."""
    report = service.health(session=session)
    status = 503 if report["checks"]["database"]["status"] != "ok" else 200
    return JSONResponse(HealthRead.model_validate(report).model_dump(by_alias=True), status_code=status)


@router.get("/version", response_model=VersionRead, summary="Platform and API version", dependencies=[PUBLIC])
def version() -> VersionRead:
    return VersionRead(name="aisystem", version=service.platform_version(), api="v1",
                       python=platform.python_version())


@router.get("/docs/errors", response_class=HTMLResponse, summary="Every error code the API returns",
            dependencies=[PUBLIC])
def error_codes() -> HTMLResponse:
    rows = "".join(
        f'<tr id="{c.code}"><td><code>{c.code}</code></td><td>{c.status}</td>'
        f"<td>{html.escape(c.title)}</td><td>{html.escape(c.description)}</td></tr>"
        for c in ERROR_CATALOGUE.values()
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>AI System API error codes</title>"
        "<style>body{font-family:system-ui;margin:2rem;max-width:70rem}td,th{padding:.4rem .8rem;"
        "border-bottom:1px solid #ddd;text-align:left}:target{background:#fff3c4}</style></head><body>"
        "<h1>Error codes</h1><p>Every error has the body "
        "<code>{\"error\": {\"code\", \"message\", \"details\", \"requestId\", \"documentation\"}}</code>; "
        "quote the <code>requestId</code> (also in the <code>X-Request-ID</code> header) when you report one.</p>"
        f"<table><tr><th>Code</th><th>HTTP</th><th>Meaning</th><th>Details</th></tr>{rows}</table></body></html>"
    )
    return HTMLResponse(page)
