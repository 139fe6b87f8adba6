"""Following a background job in the browser: an admin's worker self-test on the home page, carried
out by a real worker joined to the test server's database and broker (the `worker` fixture)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e
JOB_TIMEOUT_MS = 60_000


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
