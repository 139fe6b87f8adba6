"""Model comparison in the browser, on the seeded marketplace: a business user opens "Compare models" from
the sidebar, finds the design's example (GPT-4, Claude 3 Opus, Llama 2 70B Chat) compared with the balanced
weights, moves the cost-efficiency slider to its maximum and sees the radar (axis weights, legend scores) and
the winner change; the CSV export downloads. Screenshots go to /tmp/ui15/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/ui15")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_weight_slider_changes_radar_and_winner(page: Page) -> None:
    sign_in(page, "business_user")
    page.locator("#main-nav").get_by_role("link", name="Compare models").click()
    expect(page).to_have_url(re.compile(r"/compare/?$"))
    expect(page.locator("#compare-selected .compare-chip")).to_have_count(3)
    winner = page.locator("#compare-winner")
    expect(winner).to_have_text("Winner: Claude 3 Opus")
    radar = page.locator("#compare-radar")
    expect(radar.locator(".js-plotly-plot")).to_be_visible()
    expect(radar.locator(".legendtext").first).to_contain_text("Claude 3 Opus")
    expect(radar.locator(".angularaxistick text", has_text="Cost Efficiency (20 %)")).to_have_count(1)
    expect(page.locator("#compare-ranking .compare-row")).to_have_count(3)
    expect(page.locator(".compare-insight").first).to_contain_text("Claude 3 Opus has the highest overall score")
    expect(page.locator("#compare-sensitivity .js-plotly-plot")).to_be_visible()
    shot(page, "balanced")

    # The cost-efficiency slider to 100: re-weighed in the server process, the winner becomes Llama 2.
    thumb = page.locator('#weight-cost_efficiency [role="slider"]')
    thumb.focus()
    thumb.press("End")
    expect(winner).to_have_text("Winner: Llama 2 70B Chat")
    expect(radar.locator(".legendtext").first).to_contain_text("Llama 2 70B Chat")
    expect(radar.locator(".angularaxistick text", has_text="Cost Efficiency (56 %)")).to_have_count(1)
    expect(page.locator('.compare-recommendation[data-key="bestOverall"]')).to_contain_text("Llama 2 70B Chat")
    shot(page, "cost-heavy")

    # A preset puts the weights back; the CSV export downloads the table.
    page.locator("#preset-best_quality").click()
    expect(winner).to_have_text("Winner: Claude 3 Opus")
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    assert download.value.suggested_filename == "comparison.csv"
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "phone")
