"""Stored XSS: markup in user and audit values renders as text, and no script runs (XSS-01)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from aisystem_app import routes
from tests.e2e.conftest import XSS_PASSWORD, XSS_PAYLOAD, XSS_USERNAME, sign_in, sign_out

pytestmark = pytest.mark.e2e


@pytest.fixture
def dialogs(page: Page) -> list[str]:
    """Messages of every JavaScript dialog the tab opens (an injected `alert(1)` would land here)."""
    seen: list[str] = []
    page.on("dialog", lambda dialog: (seen.append(dialog.message), dialog.dismiss()))
    return seen


def assert_inert(page: Page, dialogs: list[str]) -> None:
    """No element was created from the payload and no dialog opened."""
    assert page.locator("img[src='x']").count() == 0
    assert dialogs == []


def test_markup_in_stored_values_renders_as_text(page: Page, dialogs: list[str]) -> None:
    # A failed sign-in stores the payload in the audit trail as the actor's name.
    page.goto("/login")
    page.locator("#username").fill(XSS_PAYLOAD)
    page.locator("#password").fill("whatever-password")
    page.locator("#sign-in").click()
    expect(page.locator("#form-error")).to_be_visible()

    # The probe user's display name is the payload.
    sign_in(page, XSS_USERNAME, XSS_PASSWORD)
    expect(page.locator("#user-display-name")).to_have_text(XSS_PAYLOAD)
    assert_inert(page, dialogs)
    sign_out(page)

    sign_in(page, "admin")
    page.goto(routes.AUDIT)
    expect(page.locator("#audit-table")).to_contain_text(XSS_PAYLOAD)
    page.wait_for_timeout(500)  # give an injected onerror handler the chance to fire
    assert_inert(page, dialogs)
    page.goto(routes.HOME)
    expect(page.locator("#recent-activity")).to_contain_text(XSS_PAYLOAD)
    assert_inert(page, dialogs)
