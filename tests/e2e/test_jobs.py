"""Following a background job in the browser: an admin's worker self-test on the home page, carried
out by a real worker joined to the test server's database and broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from backend.cli import ROOT, worker_command
from tests.e2e.conftest import sign_in
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e
JOB_TIMEOUT_MS = 60_000


@pytest.fixture
def worker(server: Server) -> Iterator[subprocess.Popen]:
    """One worker (all queues) for the test server; its process group is killed afterwards."""
    log = open(server.log_path.with_name("worker.log"), "ab")  # noqa: SIM115  (closed below)
    proc = subprocess.Popen(worker_command("e2e"), cwd=ROOT, env=server.env, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        log.close()


def test_the_selftest_shows_progress_and_its_end_without_a_reload(page: Page, worker) -> None:
    sign_in(page, "admin")
    page.locator("#run-selftest").click()
    card = page.locator(".job-progress")
    expect(card).to_be_visible()
    page.evaluate("window.__notReloaded = true")  # gone if the page reloaded
    expect(card).to_have_attribute("data-status", "running", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".job-message")).to_contain_text("step", timeout=JOB_TIMEOUT_MS)
    expect(card).to_have_attribute("data-status", "succeeded", timeout=JOB_TIMEOUT_MS)
    expect(card.locator(".job-status")).to_have_text("Succeeded")
    assert page.evaluate("window.__notReloaded") is True
    expect(page.locator("#run-selftest")).to_be_enabled()


def test_a_user_without_job_create_sees_no_selftest(page: Page) -> None:
    sign_in(page, "data_scientist")
    expect(page.locator("[data-stat=users] .stat-value")).to_be_visible()
    expect(page.locator("#worker-check")).to_have_count(0)
