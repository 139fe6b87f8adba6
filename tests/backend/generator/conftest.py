"""Shared pieces of the generator tests: the design's example prompt, a fake OpenAI-compatible LLM server on
loopback, and running a generation job in-process as a worker would."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

EXAMPLE = "Create a dashboard for monitoring customer behaviour with ML insights"
BASE = "/api/v1/generator"


class FakeLlm:
    """Answers /chat/completions with `answer` (a dict sent as the message content, or an HTTP status)."""

    def __init__(self) -> None:
        self.answer: dict | int = {}
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
                if isinstance(fake.answer, int):
                    self.send_response(fake.answer)
                    self.end_headers()
                    return
                data = json.dumps({"choices": [{"message": {"role": "assistant",
                                                            "content": json.dumps(fake.answer)}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def fake_llm(monkeypatch) -> Iterator[FakeLlm]:
    from backend.core.config import reset_settings

    fake = FakeLlm()
    monkeypatch.setenv("AISYSTEM_LLM_BASE_URL", fake.url)
    monkeypatch.setenv("AISYSTEM_LLM_API_KEY", "test-llm-key")
    reset_settings()
    yield fake
    fake.server.shutdown()
    monkeypatch.delenv("AISYSTEM_LLM_BASE_URL")
    monkeypatch.delenv("AISYSTEM_LLM_API_KEY")
    reset_settings()


@pytest.fixture
def run_jobs(monkeypatch, sent):
    """Play the worker: run every job sent so far, in this process."""
    import backend.jobs.tasks as job_tasks
    from backend.jobs.devices import CPU_ONLY

    monkeypatch.setitem(job_tasks._this_worker, "devices", CPU_ONLY)

    def run() -> None:
        while sent:
            job_tasks.run_job(sent.pop(0))

    return run


def passing_report(project) -> dict:  # noqa: ANN001
    """What the sandbox reports for a project that installs and passes (tests that do not re-prove it)."""
    return {"install": {"ok": True}, "exitCode": 0, "passed": 11, "failed": 0, "errors": 0, "total": 11,
            "tests": [], "coverage": {"percent": 95.0}}


@pytest.fixture
def fast_sandbox(monkeypatch):
    """The generation job's sandbox run replaced by a passing report."""
    from backend.generator import tasks

    monkeypatch.setattr(tasks.sandbox, "install_and_test", passing_report)


@pytest.fixture
def sandbox_once(db_backend, monkeypatch):
    """The real sandbox on SQLite; on PostgreSQL (where only the SQL differs) the passing report, so that the
    slow install-and-test runs once per suite."""
    if db_backend == "postgresql":
        from backend.generator import tasks

        monkeypatch.setattr(tasks.sandbox, "install_and_test", passing_report)
