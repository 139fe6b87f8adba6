"""Model comparison in the browser, on the seeded marketplace: a business user opens "Compare models" from
the sidebar, finds the design's example (GPT-4, Claude 3 Opus, Llama 2 70B Chat) compared with the balanced
weights, moves the cost-efficiency slider to its maximum and sees the radar (axis weights, legend scores) and
the winner change; the CSV export downloads. An ML engineer opens a link comparing the seeded Wine classifier's
two benchmarked versions and sees the bootstrap rank confidence. Screenshots go to /tmp/ui15/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backend.endpoints.seed import MODEL_NAME
from tests.e2e.conftest import sign_in
from tests.e2e.server import DEMO_PASSWORD

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
    # The charts follow a window that narrows (a phone turned, a window made smaller): each stays within the
    # screen and keeps its height (plotly's resize dropped it, and the radar collapsed under the insights).
    page.wait_for_function("""() => ['#compare-radar', '#compare-sensitivity'].every(id => {
        const box = document.querySelector(id).getBoundingClientRect();
        const svg = document.querySelector(id + ' .main-svg').getBoundingClientRect();
        return svg.right <= window.innerWidth && svg.width < 390 && box.height >= svg.height && svg.height > 200;
    })""", timeout=5_000)
    shot(page, "phone")


def seeded_version_ids(page: Page) -> dict[str, str]:
    """Version number -> id of the seeded demo classifier's versions, over the REST API as the ML engineer."""
    api = page.request
    token = api.post("/api/v1/auth/login", data={"username": "ml_engineer", "password": DEMO_PASSWORD}).json()
    headers = {"Authorization": f"Bearer {token['accessToken']}"}
    found = api.get("/api/v1/catalog/models/search", params={"q": "Wine classifier"}, headers=headers)
    assert found.ok, found.text()
    model_id = next(h["model"]["id"] for h in found.json()["items"] if h["model"]["name"] == MODEL_NAME)
    versions = api.get(f"/api/v1/catalog/models/{model_id}/versions", headers=headers)
    assert versions.ok, versions.text()
    return {v["version"]: v["id"] for v in versions.json()["items"]}


def test_seeded_versions_show_rank_confidence(page: Page) -> None:
    ids = seeded_version_ids(page)
    sign_in(page, "ml_engineer")
    page.goto(f"/compare?models={ids['1.0.0']},{ids['1.1.0']}")
    chips = page.locator("#compare-selected .compare-chip")
    expect(chips).to_have_count(2)
    expect(chips.first).to_contain_text(f"{MODEL_NAME} 1.0.0")
    expect(chips.first).to_contain_text("Model versions")
    rows = page.locator("#compare-ranking .compare-row")
    expect(rows).to_have_count(2)
    header = page.locator("#compare-ranking thead")
    expect(header).to_contain_text("P(first)")
    expect(header).to_contain_text("Rank (95 %)")
    firsts = page.locator("#compare-ranking .compare-first")
    expect(firsts).to_have_count(2)
    for cell in firsts.all():
        expect(cell).to_have_text(re.compile(r"^\d{1,3} %$"))
    expect(page.locator("#compare-ranking .compare-rank-interval").first).to_have_text(re.compile(r"^#\d"))
    caption = page.locator("#compare-confidence-caption")
    expect(caption).to_be_visible()
    expect(caption).to_contain_text(re.compile(r"^Bootstrap: 1,000 resamples of the [\d,]+ test rows"))
    expect(rows.first).to_contain_text("Model version")
    body = page.locator("body")
    expect(body).not_to_contain_text("NaN")
    expect(body).not_to_contain_text("modelver_")

    # The multi-select offers versions: remove 1.0.0, find it again by search in the "Model versions" group.
    page.get_by_role("button", name=f"Remove {MODEL_NAME} 1.0.0").click()
    expect(chips).to_have_count(1)
    page.locator("#compare-search").fill("wine 1.0")
    first_id = ids["1.0.0"]
    option = page.locator(f'#compare-matches .compare-option[data-model="{first_id}"]')
    expect(option).to_contain_text(f"{MODEL_NAME} 1.0.0")
    expect(option).to_contain_text("Model versions")
    option.click()
    expect(chips).to_have_count(2)
    expect(firsts).to_have_count(2)
    expect(caption).to_be_visible()
    shot(page, "confidence")
