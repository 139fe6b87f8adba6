"""Cross-site websocket hijacking (WS-01): production accepts the event socket only from its own origin."""

from __future__ import annotations

import base64
import os
import secrets
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.e2e.server import Server, free_port, serve, server_env

pytestmark = pytest.mark.e2e

EVIL_ORIGIN = "https://evil.example"
EVENT_PATH = "/_event/?EIO=4&transport=websocket"


def upgrade_status(base_url: str, origin: str | None) -> int:
    """Status of a websocket upgrade request to the event endpoint (101 = accepted)."""
    url = urlsplit(base_url)
    headers = [
        f"GET {EVENT_PATH} HTTP/1.1",
        f"Host: {url.netloc}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        headers.append(f"Origin: {origin}")
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(headers) + "\r\n\r\n").encode())
        status_line = sock.recv(4096).split(b"\r\n", 1)[0].decode()
    return int(status_line.split()[1])


@pytest.fixture(scope="module")
def production_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The backend alone (no frontend build needed) with production settings on a free port."""
    port = free_port()
    env = server_env(
        port,
        tmp_path_factory.mktemp("aisystem-prod"),
        AISYSTEM_ENV="production",
        AISYSTEM_PUBLIC_URL=f"http://127.0.0.1:{port}",
        AISYSTEM_ALLOWED_ORIGINS="https://ai.example.com",
        AISYSTEM_SECRET_KEY=secrets.token_urlsafe(48),
        AISYSTEM_SEED_DEMO_DATA="false",
    )
    with serve(env, "--backend-only", timeout=180) as running:
        yield running


def test_event_socket_refuses_a_foreign_origin(production_server: Server) -> None:
    assert upgrade_status(production_server.base_url, EVIL_ORIGIN) != 101


@pytest.mark.parametrize("origin", ["own", "https://ai.example.com"])
def test_event_socket_accepts_configured_origins(production_server: Server, origin: str) -> None:
    allowed = production_server.base_url if origin == "own" else origin
    assert upgrade_status(production_server.base_url, allowed) == 101
