"""`python -m backend.cli serve` supervises what it starts (issue 12): a web process or a worker killed
with SIGKILL is restarted and the platform answers again; AISYSTEM_WORKERS sets how many workers run.
Served with `--api-only` (the same supervision without the UI build)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of the direct children of `pid`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
    return found


def _wait(condition, timeout: float, what: str):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_restarts_a_killed_web_process_and_worker(tmp_path):
    port = free_port()
    env = {**os.environ, "AISYSTEM_ENV": "test", "AISYSTEM_PORT": str(port), "AISYSTEM_DATA_DIR": str(tmp_path),
           "AISYSTEM_SEED_DEMO_DATA": "false", "AISYSTEM_WORKERS": "2"}
    env.pop("AISYSTEM_DATABASE_URL", None)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115  (closed below)
    serve = subprocess.Popen([sys.executable, "-m", "backend.cli", "serve", "--api-only"], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    health = f"http://127.0.0.1:{port}/api/v1/health"
    try:
        _wait(lambda: _answers(health), 120, "the API")

        def web() -> int | None:
            return next((pid for pid, cmd in _children(serve.pid).items() if "granian" in cmd), None)

        def workers() -> set[int]:
            return {pid for pid, cmd in _children(serve.pid).items() if "celery" in cmd}

        def two_workers(without: int | None = None) -> set[int] | None:
            found = workers()
            return found if len(found) == 2 and without not in found else None

        first_workers = _wait(two_workers, 30, "two workers")
        first_web = web()
        os.kill(first_web, signal.SIGKILL)
        _wait(lambda: (pid := web()) is not None and pid != first_web and _answers(health), 60,
              "the API to answer again")
        victim = sorted(first_workers)[0]
        os.kill(victim, signal.SIGKILL)
        _wait(lambda: two_workers(without=victim), 60, "a new worker")
        assert serve.poll() is None
        text = (tmp_path / "serve.log").read_text(errors="replace")
        assert "web (pid" in text and "died (killed by SIGKILL); restarting" in text
        assert "worker 1 (pid" in text or "worker 2 (pid" in text
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            serve.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
        log.close()
    assert serve.returncode == 0


def test_sigterm_in_the_middle_of_an_upload_stores_nothing_and_keeps_the_audit_chain(tmp_path):
    """The server is stopped (SIGTERM) while a client is half-way through an upload: serve exits cleanly,
    no version is stored, the audit chain still verifies, and the platform starts again."""
    port = free_port()
    env = {**os.environ, "AISYSTEM_ENV": "test", "AISYSTEM_PORT": str(port), "AISYSTEM_DATA_DIR": str(tmp_path),
           "AISYSTEM_SEED_DEMO_DATA": "false", "AISYSTEM_WORKERS": "1"}
    env.pop("AISYSTEM_DATABASE_URL", None)
    cli = [sys.executable, "-m", "backend.cli"]
    subprocess.run([*cli, "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([*cli, "create-user", "loader", "--role", "data_engineer", "--password-stdin"], cwd=ROOT,
                   env=env, input="loader-password-123\n", text=True, check=True, capture_output=True)
    base = f"http://127.0.0.1:{port}/api/v1"

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([*cli, "serve", "--api-only"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        _wait(lambda: _answers(f"{base}/health"), 120, "the API")
        return proc

    serve = start()
    try:
        token = httpx.post(f"{base}/auth/login", json={"username": "loader", "password": "loader-password-123"}
                           ).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}
        dataset = httpx.post(f"{base}/catalog/datasets", headers=headers,
                             json={"name": "Half an upload", "type": "tabular"}).json()
        boundary = "halfanupload"

        def body():  # noqa: ANN202
            yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="rows.csv"\r\n'
                   "Content-Type: text/csv\r\n\r\nid,value\r\n").encode()
            for i in range(2_000):
                yield f"{i},{i * 2}\r\n".encode()
            serve.send_signal(signal.SIGTERM)  # stop the server with the request's body half sent
            time.sleep(2)
            raise ConnectionAbortedError("the client gives up")

        with pytest.raises((httpx.HTTPError, ConnectionAbortedError)):
            httpx.post(f"{base}/catalog/datasets/{dataset['id']}/upload", content=body(), timeout=30,
                       headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert serve.wait(timeout=45) == 0
        audit = subprocess.run([*cli, "verify-audit"], cwd=ROOT, env=env, capture_output=True, text=True)
        assert audit.returncode == 0, audit.stdout + audit.stderr

        serve = start()
        versions = httpx.get(f"{base}/catalog/datasets/{dataset['id']}/versions", headers=headers).json()
        assert versions["items"] == []
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(serve.pid, signal.SIGKILL)
