"""What every benchmark needs: a real API server on a free port, a signed-in client, its README section."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "bench" / "README.md"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def api_server(env: dict[str, str], log_path: Path, *, workers: int = 1, quiet: bool = False,
               wait_tries: int = 300) -> Iterator[tuple[subprocess.Popen, str]]:
    """Serve `backend.api:create_api` with granian; yields the process and the API's base URL once healthy.

    The whole process group is stopped on exit (SIGTERM, then SIGKILL after 20 s).
    """
    port = free_port()
    command = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), *(["--no-log"] if quiet else []),
               "backend.api:create_api"]
    with open(log_path, "wb") as log:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            _wait_healthy(base, wait_tries, server, log_path)
            yield server, base
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


def _wait_healthy(base: str, tries: int, server: subprocess.Popen, log_path: Path) -> None:
    """Until the server answers /health (`tries` tenths of a second, at least two minutes on a busy machine);
    a server that exits or never answers stops the benchmark with its log's tail."""
    deadline = time.monotonic() + max(tries / 10, 120)
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if client.get("/health").status_code < 500:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    raise SystemExit(f"the API server did not come up (exit code {server.poll()}):\n{tail}")


def login(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    """Bearer headers of a signed-in user."""
    response = client.post("/auth/login", json={"username": username, "password": password})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['accessToken']}"}


def write_readme_section(key: str, heading: str, text: str, path: Path = README) -> None:
    """Replace the `<!-- key:start -->…<!-- key:end -->` block of the benchmarks README (or append it)."""
    start, end = f"<!-- {key}:start -->", f"<!-- {key}:end -->"
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{text}\n{end}"
    if start in current:
        current = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _m: block, current, flags=re.S)
    else:
        current = current.rstrip() + f"\n\n## {heading}\n\n{block}\n"
    path.write_text(current)


def platform_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment of a throwaway platform in `work` (SQLite, demo users), applied to this process
    too, and migrated: what an in-process benchmark needs before it imports the services."""
    env = dict(os.environ, AISYSTEM_DATA_DIR=str(work), AISYSTEM_ENV="development", AISYSTEM_LOG_LEVEL="WARNING",
               AISYSTEM_DEMO_PASSWORD="bench-password-123",
               AISYSTEM_SECRET_KEY="bench-secret-key-0123456789-abcdefghijklmnop", **extra)
    for key in ("AISYSTEM_DATABASE_URL", "AISYSTEM_BROKER_URL", "AISYSTEM_OPTUNA_STORAGE_URL"):
        env.pop(key, None)
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return env


def demo_actor(username: str = "data_scientist"):  # noqa: ANN201
    """The principal of a demo user (created if missing), for calling services in process."""
    from backend.auth import service as auth_service
    from backend.core.db import session_scope

    with session_scope() as s:
        auth_service.ensure_demo_users(session=s)
        user = auth_service.find_user_by_username(session=s, username=username)
        return auth_service.principal_for(user, credential_id=None, credential_type="session")
