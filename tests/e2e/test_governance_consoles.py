"""The governance consoles in the browser, on the seeded demo platform: the provenance graph of the demo
endpoint (dataset -> training -> version -> deployment -> endpoint; a click on a node shows its record; the
training-data check passes), the compliance scorecards (the seeded assessment, a new one, a sign-off request
an admin approves) and the audit explorer (chain badge, one entity's history, CSV export).
Screenshots go to /tmp/ui16/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backend.endpoints.seed import ENDPOINT_NAME
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/ui16")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_provenance_graph_of_the_demo_endpoint(page: Page) -> None:
    sign_in(page, "admin")
    page.locator("#main-nav").get_by_role("link", name="Provenance").click()
    expect(page).to_have_url(re.compile(r"/governance/provenance"))
    records = page.locator("#provenance-records")
    records.get_by_role("link", name=f"Deployment to {ENDPOINT_NAME}").first.click()
    expect(page).to_have_url(re.compile(r"entity=endpoint"))
    expect(page.locator("#provenance-root")).to_contain_text("endpoint:")
    edges = page.locator("#lineage-edges")
    for words in ("Deployment to", "Training of", "Wine v"):
        expect(edges).to_contain_text(words)
    # Click a node of the drawing: its record appears.
    page.locator("#lineage-graph .scatterlayer .trace .points path").last.click(force=True)
    expect(page.locator("#provenance-record")).to_contain_text("Kind")
    page.locator("#provenance-integrity").click()
    expect(page.locator("#provenance-integrity-result")).to_have_attribute("data-intact", "true")
    shot(page, "provenance")


def test_compliance_scorecards_assessment_and_sign_off(page: Page) -> None:
    sign_in(page, "admin")
    page.locator("#main-nav").get_by_role("link", name="Compliance").click()
    expect(page).to_have_url(re.compile(r"/governance/compliance"))
    expect(page.locator("#compliance-disclaimer")).to_contain_text("not a certification")
    expect(page.locator(".framework-card")).to_have_count(5)
    controls = page.locator("#compliance-controls")
    expect(controls).to_contain_text("Art.30")  # the seeded assessment
    first = controls.locator("tbody tr").first
    expect(first).not_to_have_attribute("data-status", "passed")  # failing controls first
    page.locator("#compliance-assess").click()
    expect(page.locator("#compliance-message")).to_contain_text("Assessment stored")
    expect(page.locator("#compliance-history .main-svg").first).to_be_visible()
    page.locator("#framework-SOC2").click()
    expect(page).to_have_url(re.compile(r"framework=SOC2"))
    expect(controls).to_contain_text("CC6.1")
    page.locator("#compliance-certify").click()
    table = page.locator("#compliance-certifications")
    expect(table).to_contain_text("Pending")
    table.locator(".approve").first.click()
    expect(table).to_contain_text("Approved")
    shot(page, "compliance")


def test_audit_explorer_badge_history_and_export(page: Page) -> None:
    sign_in(page, "admin")
    page.goto("/governance/audit?action=compliance.*")
    expect(page.locator("#chain-badge")).to_have_attribute("data-state", "intact")
    table = page.locator("#audit-table")
    expect(table).to_contain_text("compliance.assess")
    table.locator(".audit-entity").first.click()
    expect(page.locator("#audit-history")).to_contain_text("History of Compliance certification cert_")
    with page.expect_download() as download:
        page.locator("#audit-export-csv").click()
    path = download.value.path()
    assert path and Path(path).read_text().startswith("seq,id,occurredAt")
    shot(page, "audit")
