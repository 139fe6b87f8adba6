"""Per-request facts (request id, client IP) that services read when they write an audit record."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    client_ip: str | None = None
    method: str | None = None
    path: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("aisystem_request", default=None)
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


def sane_request_id(candidate: str | None) -> str:
    """Echo a client's request id when it is short and plain; otherwise make one."""
    if candidate and _SANE_REQUEST_ID.match(candidate):
        return candidate
    return new_request_id()


def set_request_context(ctx: RequestContext):
    return _current.set(ctx)


def reset_request_context(token) -> None:  # noqa: ANN001
    _current.reset(token)


def current_request() -> RequestContext | None:
    return _current.get()
