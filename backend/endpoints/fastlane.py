"""The fast lane of predictions: a model key calling its endpoint again within a second.

A prediction of a small model costs well under a millisecond; the full route around it (FastAPI's
routing and dependency handling, a read session, the key's lookup and the endpoint's row) cost about
three. So the route, once it has answered a model key on its endpoint, leaves a *pass* here: the
principal the key proved and the endpoint as the request read it, kept `AISYSTEM_ENDPOINT_FAST_LANE_SECONDS`
(default 1 s). The next requests with that key on that endpoint are answered from the pass, by the
same service code (`service.predict_known`: traffic split, token bucket, micro-batcher, prediction
log), without touching the database. Anything else — no pass, an expired one, a version not loaded
in this process, a body or an instance the lane does not take as it is — goes through the full route,
which answers exactly as before and leaves a fresh pass.

What the second buys, and costs: a key revoked, an account disabled or an endpoint changed in *this*
process drops its passes at once (`forget`, called when an endpoint is locked for a change, and again
after the change commits); in another web process the old pass answers for at most the pass's life.
Setting the variable to 0 turns the lane off.

A pass is renewed before it runs out: the first request in its last quarter (`RENEW_AT`) takes the full
route, which leaves a fresh pass, while the others go on in the lane. Without that, every request in
flight when a pass ran out took the full route at once: under load, a burst of full routes once a second
that held up everything else (at 16 clients, most of the slowest 1 % of requests).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.auth.principal import Principal
from backend.core.config import get_settings
from backend.core.errors import AISystemError
from backend.core.http import API_PREFIX, error_body

_PREDICT_PATH = re.compile(r"/catalog/endpoints/([A-Za-z0-9_-]{1,64})/predict")
_JSON = (b"content-type", b"application/json")
_FULL_ROUTE_HEADERS = frozenset({b"authorization", b"x-api-key", b"origin"})
_MAX_PASSES = 10_000
RENEW_AT = 0.75  # of a pass's life


@dataclass(frozen=True)
class Pass:
    principal: Principal
    endpoint: Any  # service.EndpointView
    until: float
    renew_from: float  # from then on, one request renews the pass through the full route


_passes: dict[tuple[bytes, str], Pass] = {}
_lock = threading.Lock()


def _key_digest(key: str | bytes) -> bytes:
    # Held as a digest: the lane never keeps a usable key in memory longer than the request does.
    return hashlib.sha256(key.encode() if isinstance(key, str) else key).digest()


def lifetime() -> float:
    return get_settings().endpoint_fast_lane_seconds


def remember(*, key: str, principal: Principal, endpoint: Any) -> None:
    """After the full route answered `key` on `endpoint`: let its next requests take the lane."""
    life = lifetime()
    if life <= 0 or principal.credential_type != "model_key":
        return
    with _lock:
        if len(_passes) >= _MAX_PASSES:
            _passes.clear()  # many keys at once: start over rather than grow without bound
        now = time.monotonic()
        _passes[(_key_digest(key), endpoint.id)] = Pass(principal, endpoint, now + life, now + RENEW_AT * life)


def forget(endpoint_id: str) -> None:
    """Drop every pass of an endpoint (it, or one of its keys, is changing)."""
    with _lock:
        for entry in [k for k in _passes if k[1] == endpoint_id]:
            del _passes[entry]


def clear() -> None:
    with _lock:
        _passes.clear()


def _pass_for(entry: tuple[bytes, str], *, may_renew: bool = False) -> Pass | None:
    """The live pass of (key digest, endpoint id), if any. With `may_renew`, None also for the one request
    that is to renew a pass in its last quarter (it takes the full route)."""
    found = _passes.get(entry)
    now = time.monotonic()
    if found is None or found.until <= now:
        return None
    if may_renew and found.renew_from <= now:
        with _lock:
            if _passes.get(entry) is found:  # no other request has taken the renewal
                _passes[entry] = replace(found, renew_from=found.until)
                return None
    return found


def _route_path(scope: Scope) -> str:
    path, root = scope.get("path", ""), scope.get("root_path", "")
    path = path[len(root):] if root and path.startswith(root) else path
    return path.removeprefix(API_PREFIX)


def _lane_ticket(scope: Scope) -> tuple[bytes, str] | None:
    """The pass entry, (model key digest, endpoint id), of a request the lane may take: a JSON POST to a
    predict route carrying only a model key (a browser's request, with an Origin, keeps the full route and
    its CORS answer). The key is hashed here once; the request looks its pass up twice."""
    if scope["type"] != "http" or scope.get("method") != "POST" or not _passes:
        return None
    match = _PREDICT_PATH.fullmatch(_route_path(scope))
    if match is None:
        return None
    key = None
    for name, value in scope.get("headers", ()):
        if name == b"x-model-key":
            key = value
        elif name in _FULL_ROUTE_HEADERS or (name == b"content-type" and not value.startswith(b"application/json")):
            return None
    return (_key_digest(key), match.group(1)) if key else None


def _instances(body: bytes) -> list[dict[str, Any]] | None:
    """The request's instances when the body is exactly `{"instances": [object, ...]}`; else None (the
    full route answers, with its validation errors)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict) or document.keys() != {"instances"}:
        return None
    instances = document["instances"]
    if not isinstance(instances, list) or not instances or not all(isinstance(i, dict) for i in instances):
        return None
    return instances


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionAbortedError  # the client went away
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the full route the body the lane already read."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _send_json(send: Send, status: int, content: bytes, extra: list[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON, (b"content-length", str(len(content)).encode()), *extra]})
    await send({"type": "http.response.body", "body": content})


class PredictFastLane:
    """ASGI layer in front of the API's router (inside the request guard, which gives every answer its
    request id, security headers and body limit)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        entry = _lane_ticket(scope)
        if entry is None or _pass_for(entry, may_renew=True) is None:
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
        except ConnectionAbortedError:
            return
        # Again: the pass may have been dropped while the body came in.
        lane_pass, instances = _pass_for(entry), _instances(body)
        if lane_pass is None or instances is None or not await self._answer(lane_pass, instances, send):
            await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _answer(lane_pass: Pass, instances: list[dict[str, Any]], send: Send) -> bool:
        from backend.endpoints import service

        try:
            answer = await service.predict_known(actor=lane_pass.principal, endpoint=lane_pass.endpoint,
                                                 instances=instances)
        except AISystemError as exc:
            extra = [(name.lower().encode(), value.encode()) for name, value in exc.response_headers().items()]
            await _send_json(send, exc.status,
                             orjson.dumps(error_body(exc.code, exc.message, exc.details)), extra)
            return True
        if answer is None:
            return False
        await _send_json(send, 200, orjson.dumps(service.answer_document(answer)))
        return True
