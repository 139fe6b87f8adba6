"""Signing in holds across the tabs of a browser, a deep link comes back after signing in, and signing
out ends the session in every tab."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from aisystem_app import routes
from aisystem_app.state.session import SESSION_COOKIE
from tests.e2e.conftest import UI_TIMEOUT_MS, sign_in, sign_out
from tests.e2e.server import DEMO_PASSWORD, Server

pytestmark = pytest.mark.e2e


def submit_login(page: Page, username: str = "admin") -> None:
    page.locator("#username").fill(username)
    page.locator("#password").fill(DEMO_PASSWORD)
    page.locator("#sign-in").click()


def test_a_new_tab_opens_a_protected_page_signed_in(page: Page) -> None:
    sign_in(page, "admin")
    cookie = next(c for c in page.context.cookies() if c["name"] == SESSION_COOKIE)
    assert cookie["sameSite"] == "Strict" and cookie["value"].startswith("aiss_")
    tab = page.context.new_page()
    tab.goto(routes.AUDIT)
    expect(tab.locator("#audit-table")).to_be_visible()
    expect(tab).to_have_url(re.compile(r"/governance/audit/?$"))


def test_a_deep_link_lands_on_login_then_on_the_link(server: Server, browser: Browser) -> None:
    context = browser.new_context(base_url=server.base_url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{routes.MODELS}?type=Vision")
        # The static server may add a slash to the path; the login page keeps the rest as it was asked for.
        expect(page).to_have_url(re.compile(r"/login/?\?next=%2Fcatalog%2Fmodels(%2F)?%3Ftype%3DVision$"))
        submit_login(page, "data_scientist")
        expect(page).to_have_url(re.compile(r"/catalog/models/?\?type=Vision$"))
        expect(page.locator("[data-filter=type][data-value=Vision]")).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()


def test_sign_out_in_one_tab_signs_out_the_other(page: Page) -> None:
    sign_in(page, "admin")
    other = page.context.new_page()
    other.goto(routes.AUDIT)
    expect(other.locator("#audit-table")).to_be_visible()

    sign_out(page)
    other.locator("#verify-chain").click()  # an action in the other tab: its session is gone
    expect(other).to_have_url(re.compile(r"/login/?\?next="))
    other.goto(routes.AUDIT)
    expect(other).to_have_url(re.compile(r"/login/?\?next="))
    expect(other.locator("#audit-table")).to_have_count(0)


def test_a_next_to_another_site_is_ignored(page: Page, server: Server) -> None:
    page.goto(f"{routes.LOGIN}?next=https://evil.example/phish")
    submit_login(page)
    expect(page).to_have_url(re.compile(rf"^{re.escape(server.base_url)}/?$"))
    expect(page.locator("#main-nav")).to_be_visible()
