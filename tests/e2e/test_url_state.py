"""A page's view lives in its URL: reload, back and forward restore the filters, the tab and the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from aisystem_app import routes
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

VISION = "[data-filter=type][data-value=Vision]"


def vision_only(page: Page) -> None:
    """The list shows the Vision chip on and only Vision models."""
    expect(page.locator(VISION)).to_have_attribute("aria-pressed", "true")
    types = page.locator("#models-table [data-model] td:nth-child(2)")
    expect(types.first).to_have_text("Vision")
    assert set(types.all_inner_texts()) == {"Vision"}


def test_models_list_filters_survive_reload_back_and_forward(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.goto(routes.MODELS)
    expect(page.locator("#models-table [data-model]").first).to_be_visible()
    page.locator(VISION).click()
    expect(page).to_have_url(re.compile(r"/catalog/models/?\?type=Vision$"))
    vision_only(page)

    page.reload()
    vision_only(page)

    page.go_back()
    expect(page).to_have_url(re.compile(r"/catalog/models/?$"))
    expect(page.locator(VISION)).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#models-table [data-model] td:nth-child(2)", has_text=re.compile("^(?!Vision$)"))
           .first).to_be_visible()

    page.go_forward()
    expect(page).to_have_url(re.compile(r"\?type=Vision$"))
    vision_only(page)


def test_search_text_comes_back_with_the_url(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.goto(f"{routes.MODELS}?q=sentiment")
    expect(page.locator("#models-search")).to_have_value("sentiment")
    expect(page.locator("#models-table .model-link", has_text="Customer Sentiment Analyzer")).to_be_visible()


def test_model_tab_survives_reload_back_and_forward(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.goto(f"{routes.MODELS}?q=sentiment")
    page.locator("#models-table .model-link", has_text="Customer Sentiment Analyzer").click()
    expect(page.locator("#tab-overview")).to_have_attribute("data-state", "active")
    model_url = page.url

    page.locator("#tab-versions").click()
    expect(page).to_have_url(re.compile(r"/catalog/models/model_[0-9a-f]+/?\?tab=versions$"))
    expect(page.locator(".version-card").first).to_be_visible()

    page.go_back()
    expect(page).to_have_url(model_url)
    expect(page.locator("#tab-overview")).to_have_attribute("data-state", "active")
    page.go_forward()
    expect(page.locator("#tab-versions")).to_have_attribute("data-state", "active")

    # Reloading a dynamic route goes through Reflex's not-found fallback, which adds a history entry
    # for the same URL; so the reload comes last here.
    page.reload()
    expect(page.locator("#tab-versions")).to_have_attribute("data-state", "active")
    expect(page.locator(".version-card").first).to_be_visible()


def test_datasets_filter_and_dataset_tab_live_in_the_url(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.goto(routes.DATASETS)
    expect(page.locator("#datasets-table [data-dataset]").first).to_be_visible()
    page.locator("#dataset-type-filter").click()
    page.get_by_role("option", name="Tabular", exact=True).click()
    expect(page).to_have_url(re.compile(r"/catalog/datasets/?\?type=tabular$"))
    page.reload()
    expect(page.locator("#dataset-type-filter")).to_have_text("Tabular")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/catalog/datasets/?$"))
    expect(page.locator("#dataset-type-filter")).to_have_text("All types")

    page.locator("#datasets-table .dataset-link").first.click()
    expect(page.locator("#dataset-name")).to_be_visible()
    page.locator("#tab-schema").click()
    expect(page).to_have_url(re.compile(r"/catalog/datasets/[^/?]+/?\?tab=schema$"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"/catalog/datasets/[^/?]+/?$"))  # one history entry per tab click
    expect(page.locator("#tab-overview")).to_have_attribute("data-state", "active")
    page.go_forward()
    expect(page.locator("#tab-schema")).to_have_attribute("data-state", "active")
    page.reload()  # last: see the model tab test
    expect(page.locator("#tab-schema")).to_have_attribute("data-state", "active")


def test_audit_page_and_filters_live_in_the_url(page: Page) -> None:
    sign_in(page, "admin")
    page.goto(routes.AUDIT)
    first_row = page.locator("#audit-table tbody tr").first
    expect(first_row).to_be_visible()
    page.locator("#audit-action").fill("auth.*")
    page.locator("#audit-filter-submit").click()
    expect(page).to_have_url(re.compile(r"/governance/audit/?\?action=auth\.%2A$"))
    actions = page.locator("#audit-table tbody tr td:nth-child(3)")
    expect(actions.first).to_have_text(re.compile(r"^auth\."))
    page.reload()
    expect(page.locator("#audit-action")).to_have_value("auth.*")
    expect(actions.first).to_have_text(re.compile(r"^auth\."))
