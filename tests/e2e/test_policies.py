"""Policies in the browser (the issue's done-means): an admin writes a policy in the console (a typo is shown
at its line and column; the test panel shows the rule failing), it blocks an ML engineer's real promotion in
the registry with a clear message, the violation appears, the admin waives it with a reason, the promotion
then goes through, and the audit explorer shows both the violation and the waiver. Screenshots: /tmp/ui16/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import UI_TIMEOUT_MS, sign_in
from tests.e2e.server import DEMO_PASSWORD, Server

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/ui16")
MODEL = "E2E Governed Model"
POLICY = "E2E release bar"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def make_model(page: Page) -> str:
    """A model with version 1.0.0 (accuracy 0.8), through the REST API as the ML engineer."""
    login = page.request.post("/api/v1/auth/login", data={"username": "ml_engineer", "password": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
    model = page.request.post("/api/v1/catalog/models", headers=headers, data={
        "name": MODEL, "type": "NLP", "category": "Text Classification", "framework": "PyTorch",
        "metadata": {"license": "MIT"}})
    assert model.ok, model.text()
    model_id = model.json()["id"]
    version = page.request.post(f"/api/v1/catalog/models/{model_id}/versions", headers=headers,
                                data={"version": "1.0.0", "metrics": {"accuracy": 0.8}})
    assert version.ok, version.text()
    return model_id


def write_policy(page: Page) -> None:
    page.locator("#main-nav").get_by_role("link", name="Policies").click()
    expect(page).to_have_url(re.compile(r"/governance/policies"))
    expect(page.locator("#policies-table .policy-row").first).to_be_visible()  # the seeded examples
    page.locator("#policy-new").click()
    expect(page.locator("#policy-editor-title")).to_have_text("New policy")
    page.locator("#policy-name").fill(POLICY)
    page.locator("#policy-enforcement").click()
    page.get_by_role("option", name="Enforce (blocks the action)").click()
    page.locator(".policy-action[data-value='model.promote']").click()
    page.locator("#policy-when").fill(f'entity.model.name == "{MODEL}"')
    rule = page.locator(".rule-card").first
    rule.get_by_label("Rule name").fill("Accuracy at least 0.9")
    rule.locator("textarea").first.fill("entity.metrics.accuracy >=\n 0.9 &&& true")
    page.locator("#policy-validate").click()
    expect(page.locator(".rule-problem").first).to_contain_text("Line 2, column 8: Syntax error")
    rule.locator("textarea").first.fill("entity.metrics.accuracy >= 0.9")
    page.locator("#policy-save").click()
    expect(page).to_have_url(re.compile(r"policy=policy_"))
    expect(page.locator("#policy-editor-title")).to_have_text(POLICY)
    # Test it against the new version before anyone promotes it.
    page.locator("#test-entity").click()
    page.get_by_role("option", name=f"{MODEL} 1.0.0").click()
    page.locator("#test-action").click()
    page.get_by_role("option", name="Model promote").click()
    page.locator("#policy-test").click()
    expect(page.locator("#test-summary")).to_have_attribute("data-verdict", "failing")
    expect(page.locator("#test-rules .test-rule")).to_contain_text("Failed")
    shot(page, "policies-editor")


def promote(page: Page, model_id: str) -> None:
    page.locator(".version-card[data-version='1.0.0'] [data-move=staging]").click()
    page.locator("#move-dialog #reason").fill("ready for the pilot")
    page.locator("#move-dialog-submit").click()


def test_a_console_policy_blocks_a_promotion_until_waived(page: Page, browser: Browser, server: Server) -> None:
    model_id = make_model(page)
    sign_in(page, "admin")
    write_policy(page)

    context = browser.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    engineer = context.new_page()
    try:
        sign_in(engineer, "ml_engineer")
        engineer.goto(f"/catalog/models/{model_id}")
        engineer.locator("#tab-versions").click()
        promote(engineer, model_id)
        expect(engineer.get_by_text(f"Blocked by policy '{POLICY}'")).to_be_visible()
        expect(engineer.get_by_text("entity.metrics.accuracy >= 0.9").first).to_be_visible()
        engineer.keyboard.press("Escape")
        expect(engineer.locator(".version-card[data-version='1.0.0']")).not_to_have_attribute("data-stage", "staging")

        # The admin sees the violation and waives it.
        page.locator("#main-nav").get_by_role("link", name="Violations").click()
        row = page.locator(f".violation-row[data-policy='{POLICY}']")
        expect(row).to_contain_text(f"{MODEL} 1.0.0")
        expect(row).to_contain_text("Blocked")
        shot(page, "violations")
        row.locator(".violation-waive").click()
        page.locator("#decision-reason").fill("Pilot customer accepts 0.8 accuracy")
        page.locator("#decision-confirm").click()
        expect(row).to_have_attribute("data-status", "waived")

        # The waiver lets the same promotion through.
        engineer.reload()
        engineer.locator("#tab-versions").click()
        promote(engineer, model_id)
        expect(engineer.locator(".version-card[data-version='1.0.0']")).to_have_attribute("data-stage", "staging")
    finally:
        context.close()

    page.goto("/governance/audit?action=governance.%2A")
    table = page.locator("#audit-table")
    for action in ("governance.violation.record", "governance.violation.waive", "governance.waiver.apply",
                   "governance.policy.create"):
        expect(table).to_contain_text(action)
