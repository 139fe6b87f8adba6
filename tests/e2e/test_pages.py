"""The home dashboard and the audit log, with real data from the server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from aisystem_app import routes
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e


def test_home_shows_figures_chart_and_recent_activity(page: Page) -> None:
    sign_in(page, "admin")
    users = page.locator("[data-stat=users] .stat-value")
    expect(users).to_have_text(re.compile(r"^\d[\d,]*$"))
    assert int(users.inner_text().replace(",", "")) >= 6
    expect(page.locator(".js-plotly-plot")).to_be_visible()
    expect(page.locator("#recent-activity")).to_contain_text("auth.login")


def test_home_hides_recent_activity_without_audit_permission(page: Page) -> None:
    sign_in(page, "data_scientist")
    expect(page.locator("[data-stat=users] .stat-value")).to_have_text(re.compile(r"^\d"))
    expect(page.locator("#recent-activity")).to_have_count(0)


def test_audit_page_lists_logins_and_verifies_the_chain(page: Page) -> None:
    sign_in(page, "admin")
    page.locator(f"#main-nav a[href='{routes.AUDIT}']").click()
    table = page.locator("#audit-table")
    expect(table).to_contain_text("auth.login")
    expect(table.locator("tbody tr").filter(has_text="auth.login").filter(has_text="admin").first).to_be_visible()
    page.locator("#verify-chain").click()
    result = page.locator("#verify-result")
    expect(result).to_have_attribute("data-valid", "true")
    expect(result).to_contain_text("intact")


def test_audit_table_sorts_by_a_column(page: Page) -> None:
    sign_in(page, "admin")
    page.goto(routes.AUDIT)
    expect(page.locator(f"#main-nav a[data-nav='{routes.AUDIT}']")).to_have_attribute("aria-current", "page")
    table = page.locator("#audit-table")
    cells = table.locator("tbody tr td:nth-child(3)")
    expect(cells.first).to_be_visible()
    actions = cells.all_inner_texts()
    header = table.locator("th", has_text="Action")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(cells).to_have_text(sorted(actions))
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(cells).to_have_text(sorted(actions, reverse=True))


def test_audit_table_pages_older_and_newer(page: Page) -> None:
    sign_in(page, "admin")
    page.goto(routes.AUDIT)
    table = page.locator("#audit-table")
    first_row = table.locator("tbody tr").first
    expect(first_row).to_be_visible()
    newest = first_row.text_content()
    page.locator("#page-next").click()  # the seeded demo data leaves far more than one page of records
    expect(first_row).not_to_have_text(newest)
    expect(page.locator("#page-previous")).to_be_enabled()
    page.locator("#page-previous").click()
    expect(first_row).to_have_text(newest)
