"""The app generator in the browser: a business user walks the wizard for the design's example prompt —
analysis, architecture, an MCP tool configured from its schema's form, the file plan — generates the
dashboard (a worker installs it and runs its own tests in the sandbox), reads a generated file, reloads and
sees the same results, deploys it locally, finds it healthy at its URL, and stops it.
Screenshots go to /tmp/ui17/."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/ui17")
EXAMPLE = "Create a dashboard for monitoring customer behaviour with ML insights"
GENERATION_MS = 240_000  # the worker renders, installs and tests the project in the sandbox


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.timeout(900)  # the first test of a run also builds the app
def test_wizard_generates_tests_and_deploys_the_example(page: Page, worker) -> None:
    sign_in(page, "business_user")
    page.locator("#main-nav").get_by_role("link", name="App generator").click()
    expect(page).to_have_url(re.compile(r"/generator/?$"))

    page.locator("#wizard-prompt").fill(EXAMPLE)
    page.locator("#wizard-analyze").click()
    expect(page.locator("#wizard-name")).to_have_value("Customer Behaviour Dashboard", timeout=90_000)
    expect(page.locator("#wizard-entities")).to_have_value(re.compile("Customer"))
    expect(page.locator(".wizard-question").first).to_be_visible()
    shot(page, "1-analysis")
    page.locator("#wizard-review-next").click()

    monolith = page.locator('.arch-card[data-arch="monolith"]')
    expect(monolith).to_contain_text("Recommended")
    expect(monolith.locator(".arch-cost")).to_contain_text("a month")
    page.locator("#wizard-arch-next").click()

    notifications = page.locator('.tool-card[data-tool="notifications"]')
    notifications.get_by_role("checkbox").click()
    webhook = notifications.locator('input[data-key="webhookUrl"]')
    webhook.fill("ftp://not-allowed")
    page.locator("#wizard-tools-next").click()
    expect(page.locator("#wizard-error")).to_be_visible()
    webhook.fill("http://hooks.example/alerts")
    page.locator("#wizard-tools-next").click()
    expect(page.locator('.plan-row[data-path="mcp.json"]')).to_be_visible()
    expect(page.locator("#plan-summary")).to_contain_text("lines of Python")
    shot(page, "2-plan")

    page.locator("#wizard-generate").click()
    expect(page.locator('.gen-step[data-step="plan"]')).to_be_visible()
    expect(page.locator("#app-status")).to_have_text("Ready to deploy", timeout=GENERATION_MS)
    expect(page.locator("#app-tests")).to_have_text(re.compile(r"^(\d+) of \1 tests passed$"))
    expect(page.locator("#app-coverage")).to_contain_text("%")
    page.locator(".app-file", has_text="mcp.json").click()
    expect(page.locator("#file-view")).to_contain_text("hooks.example")
    shot(page, "3-results")
    expect(page).to_have_url(re.compile(r"/generator/?\?app=gen_app_"))

    page.reload()
    expect(page.locator("#app-status")).to_have_text("Ready to deploy")

    page.locator("#wizard-to-deploy").click()
    page.locator("#deploy-start").click()
    expect(page.locator("#deploy-status")).to_have_text("Running", timeout=60_000)
    url = page.locator("#deploy-url").get_attribute("href")
    try:
        assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"
        assert "Customer Behaviour Dashboard" in httpx.get(url, timeout=10).text
        shot(page, "4-deployed")
    finally:
        page.locator("#deploy-stop").click()
        expect(page.locator("#deploy-status")).to_have_text("Stopped", timeout=30_000)
