"""Sign-in, sign-out and the role-aware navigation, in a real browser."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from aisystem_app import access, routes
from tests.e2e.conftest import sign_in, sign_out
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e

ROLES = ("admin", "ml_engineer", "data_scientist", "ml_ops", "data_engineer", "business_user")
ADMIN_ONLY = {routes.AUDIT}


def nav_routes(page: Page) -> set[str]:
    """The routes the sidebar links to."""
    return set(page.locator("#main-nav a[data-nav]").evaluate_all("els => els.map(e => e.dataset.nav)"))


def test_unauthenticated_visit_redirects_to_login(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    expect(page.locator("#login-form")).to_be_visible()


def test_protected_page_redirects_to_login(page: Page) -> None:
    page.goto(routes.AUDIT)
    expect(page).to_have_url(re.compile(r"/login/?\?next=%2Fgovernance%2Faudit(%2F)?$"))  # back there once signed in
    expect(page.locator("#audit-table")).to_have_count(0)


def test_wrong_password_shows_inline_error_and_button_waits(page: Page) -> None:
    page.goto("/login")
    page.locator("#username").fill("admin")
    page.locator("#password").fill("not-the-password")
    # Record whether the button ever turns disabled while the server checks the password.
    page.evaluate("""() => {
        const button = document.querySelector('#sign-in');
        window.__signInDisabled = false;
        new MutationObserver(() => { if (button.disabled) window.__signInDisabled = true; })
            .observe(button, {attributes: true});
    }""")
    page.locator("#sign-in").click()
    expect(page.locator("#form-error")).to_have_text("Invalid username or password")
    expect(page).to_have_url(re.compile(r"/login/?$"))
    assert page.evaluate("window.__signInDisabled") is True
    expect(page.locator("#sign-in")).to_be_enabled()


def test_sign_in_is_enabled_only_once_the_page_is_live(server: Server, page: Page) -> None:
    """The served HTML has the button disabled: a click before the app is live would submit the bare
    form (a reload that loses what was typed)."""
    html = httpx.get(f"{server.base_url}/login", follow_redirects=True, timeout=30).text
    button = re.search(r'<button[^>]*id="sign-in"[^>]*>', html)
    assert button and "disabled" in button.group(0)
    page.goto("/login")
    expect(page.locator("#sign-in")).to_be_enabled()


def test_empty_form_shows_field_messages(page: Page) -> None:
    page.goto("/login")
    expect(page.locator("#username")).to_be_visible()
    page.locator("#sign-in").click()
    expect(page.locator("#username-error")).to_have_text("Enter your username")
    expect(page.locator("#password-error")).to_have_text("Enter your password")


def test_demo_hint_lists_every_role(page: Page) -> None:
    page.goto("/login")
    hint = page.locator("#demo-hint")
    for role in ROLES:
        expect(hint).to_contain_text(role)


@pytest.mark.parametrize("role", ROLES)
def test_role_sees_its_navigation_and_signs_out(page: Page, role: str) -> None:
    sign_in(page, role)
    expect(page.locator("#user-role")).to_have_text(access.ROLE_LABELS[role])
    shown = nav_routes(page)
    assert routes.HOME in shown
    # Everyone reads the governance policies; only admins the audit log.
    expect(page.locator("#main-nav")).to_contain_text("Governance")
    if role == "admin":
        assert shown >= ADMIN_ONLY
        expect(page.locator("#main-nav")).to_contain_text("Audit log")
    else:
        assert not ADMIN_ONLY & shown
        expect(page.locator("#main-nav")).not_to_contain_text("Audit log")
    sign_out(page)
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/?$"))


def test_business_user_cannot_open_the_audit_page(page: Page) -> None:
    sign_in(page, "business_user")
    page.goto(routes.AUDIT)
    expect(page.get_by_text("You don't have permission to view the audit log")).to_be_visible()
    expect(page.locator("#audit-table")).to_have_count(0)
