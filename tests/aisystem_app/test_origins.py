"""The server as Reflex assembles it (issue 12, items 5 and 6): Reflex's own CORS layer outside the API
and its websocket server follow the platform's origin allowlist in every environment, and an /api/v1
path with a line break gets the API's JSON error, not Starlette's text 404."""

from __future__ import annotations

import pytest
import reflex as rx
import socketio
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.websockets import WebSocketDisconnect

import rxconfig
from aisystem_app import downloads
from aisystem_app.aisystem_app import App, app
from backend.api import create_api
from backend.core.config import get_settings

EVIL = "https://evil.example"


def own_origin() -> str:
    return get_settings().origin


def reflex_server() -> Starlette:
    """What `rx.App.__call__` builds around the API (without compiling the pages): the API's root app
    with Reflex's CORS layer, mounted under a top-level app with another one."""
    root = downloads.mount(create_api())
    rx.App._add_cors(root)
    top = Starlette()
    top.mount("", root)
    rx.App._add_cors(top)
    return top


@pytest.fixture
def server(db_backend):  # noqa: ANN001, ARG001
    with TestClient(reflex_server(), raise_server_exceptions=False) as client:
        yield client


def test_the_allowlist_is_never_a_wildcard():
    origins = rxconfig.cors_origins(get_settings())
    assert "*" not in origins and EVIL not in origins and own_origin() in origins
    assert list(rxconfig.config.cors_allowed_origins) == origins


def test_a_preflight_from_a_foreign_origin_is_refused(server):
    response = server.options("/api/v1/health", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    allowed = server.options("/api/v1/health", headers={
        "Origin": own_origin(), "Access-Control-Request-Method": "POST"})
    assert allowed.headers["access-control-allow-origin"] == own_origin()


@pytest.mark.parametrize("path", ["/api/v1/health", "/files/datasets/x", "/"])
def test_a_get_from_a_foreign_origin_gets_no_cors_grant(server, path):
    response = server.get(path, headers={"Origin": EVIL, "Cookie": "session=x"})
    assert "access-control-allow-origin" not in response.headers


def test_the_websocket_handshake_from_a_foreign_origin_is_refused():
    client = TestClient(socketio.ASGIApp(app.sio, socketio_path="_event"))
    with pytest.raises(WebSocketDisconnect), \
            client.websocket_connect("/_event/?EIO=4&transport=websocket",
                                     headers={"Origin": EVIL, "Upgrade": "websocket"}) as ws:
        ws.receive_text()
    with client.websocket_connect("/_event/?EIO=4&transport=websocket",
                                  headers={"Origin": own_origin(), "Upgrade": "websocket"}) as ws:
        assert ws.receive_text().startswith("0{")  # engine.io's open packet


def test_a_line_break_in_an_api_path_gets_the_json_error(db_backend, monkeypatch):  # noqa: ARG001
    bare = TestClient(reflex_server(), raise_server_exceptions=False)
    assert bare.get("/api/v1/catalog%0Amodels").headers["content-type"].startswith("text/plain")  # Reflex alone
    monkeypatch.setattr(rx.App, "__call__", lambda self: reflex_server())  # no page compile in a unit test
    client = TestClient(App.__call__(app), raise_server_exceptions=False)
    for path in ("/api/v1/catalog%0Amodels", "/api/v1/a%0D%0Ab/c"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "REQ_003", path
        assert "x-request-id" in response.headers
    assert client.get("/api/v1/health").status_code == 200
