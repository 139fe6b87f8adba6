"""The model registry in the browser: an ML engineer registers a model, adds two versions with metrics,
uploads their artifacts, promotes both to production, rolls back with a reason and reads both moves in the
history; a business user sees the model but no promote button."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from aisystem_app import routes
from tests.e2e.conftest import XSS_PAYLOAD, sign_in

pytestmark = pytest.mark.e2e

SEEDED = "Customer Sentiment Analyzer"  # a seeded model with a production version


@pytest.fixture
def artifact_files(tmp_path: Path) -> list[str]:
    """A small valid safetensors file (2 MiB, so a throttled upload takes a moment) and its JSON config."""
    from safetensors.numpy import save_file

    weights, config = tmp_path / "model.safetensors", tmp_path / "config.json"
    save_file({"w": np.ones((512, 1024), dtype=np.float32)}, str(weights))
    config.write_text(json.dumps({"arch": "mlp", "hidden": 4}))
    return [str(weights), str(config)]


def card(page: Page, version: str):
    return page.locator(f".version-card[data-version='{version}']")


def register(page: Page, name: str, *, check_messages: bool = True) -> None:
    page.locator("#register-model").click()
    if check_messages:
        check_register_messages(page)
    page.locator("#name").fill(name)
    page.locator("#type").click()
    page.get_by_role("option", name="NLP", exact=True).click()
    page.locator("#category").fill("Text Classification")
    page.locator("#framework").fill("PyTorch")
    page.locator("#description").fill(name)
    page.locator("#documentation").fill("https://docs.example.com/triage")
    page.locator("#tags").fill("nlp, support")
    page.locator("#register-dialog-submit").click()
    expect(page).to_have_url(re.compile(r"/catalog/models/model_[0-9a-f]+/?$"))
    expect(page.locator("#model-name")).to_have_text(name)


def check_register_messages(page: Page) -> None:
    """The form names what is missing or wrong before anything is sent to the service."""
    page.locator("#register-dialog-submit").click()  # empty: the form says what is missing
    expect(page.locator("#name-error")).to_have_text("Required")
    expect(page.locator("#type-error")).to_have_text("Required")
    page.locator("#name").fill("Checked first")
    page.locator("#documentation").fill("ftp://not-http")
    page.locator("#register-dialog-submit").click()
    expect(page.locator("#documentation-error")).to_contain_text("http")
    expect(page.locator("#name-error")).to_have_count(0)


def add_version(page: Page, version: str, accuracy: str) -> None:
    page.locator("#new-version").click()
    page.locator("#version").fill(version)
    page.locator("#metrics").fill(f"accuracy={accuracy}\nlatencyMs=12")
    page.locator("#version-dialog-submit").click()
    expect(card(page, version)).to_be_visible()


def throttle_uploads(page: Page, bytes_per_s: int) -> None:
    """Slow the tab's uploads down (Chromium's network emulation), so the progress bar can be seen."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": bytes_per_s})


def upload(page: Page, version: str, files: list[str], *, watch_progress: bool = False) -> None:
    card(page, version).locator(".upload-button").click()
    page.locator("#upload-dialog input[type=file]").set_input_files(files)
    expect(page.locator("#upload-dialog .selected-files")).to_contain_text("config.json")
    page.locator("#upload-submit").click()
    if watch_progress:
        expect(page.locator("#upload-progress")).to_be_visible()
        expect(page.locator("#upload-progress")).to_have_attribute("data-percent", re.compile(r"^[1-9]\d*$"))
    expect(card(page, version).locator(".artifact")).to_contain_text("safetensors")
    expect(page.locator("#upload-dialog")).to_have_count(0)


def move(page: Page, opener, reason: str) -> None:  # noqa: ANN001
    opener.click()
    page.locator("#move-dialog #reason").fill(reason)
    page.locator("#move-dialog-submit").click()
    expect(page.locator("#move-dialog")).to_have_count(0)


def test_register_upload_promote_rollback_and_history(page: Page, artifact_files: list[str]) -> None:
    sign_in(page, "ml_engineer")
    page.locator(f"#main-nav a[href='{routes.MODELS}']").click()
    expect(page.locator("#models-table")).to_be_visible()
    register(page, "E2E Ticket Triage")

    page.locator("#tab-versions").click()
    add_version(page, "1.0.0", "0.91")
    add_version(page, "1.1.0", "0.93")
    throttle_uploads(page, 1_000_000)
    upload(page, "1.0.0", artifact_files, watch_progress=True)
    upload(page, "1.1.0", artifact_files)

    move(page, card(page, "1.0.0").locator("[data-move=production]"), "first release")
    expect(page.locator("#production-version")).to_have_text("1.0.0")
    move(page, card(page, "1.1.0").locator("[data-move=production]"), "better accuracy")
    expect(page.locator("#production-version")).to_have_text("1.1.0")
    expect(card(page, "1.0.0")).to_have_attribute("data-stage", "archived")
    move(page, page.locator("#rollback"), "latency regression in 1.1.0")
    expect(page.locator("#production-version")).to_have_text("1.0.0")
    expect(card(page, "1.1.0")).to_have_attribute("data-stage", "archived")

    page.locator("#tab-history").click()
    rows = page.locator("#history-table .history-row")
    expect(rows.first).to_have_attribute("data-action", "rollback")
    expect(page.locator(".history-row[data-action=rollback][data-stage=production][data-version='1.0.0']")
           ).to_contain_text("latency regression in 1.1.0")
    expect(page.locator(".history-row[data-action=promote][data-stage=production][data-version='1.1.0']")
           ).to_contain_text("better accuracy")
    expect(page.locator(".history-row[data-action=promote][data-stage=production][data-version='1.0.0']")
           ).to_contain_text("first release")

    page.locator("#tab-metrics").click()
    expect(page.locator("#metric-charts .js-plotly-plot").first).to_be_visible()
    expect(page.locator("#metrics-table")).to_contain_text("0.93")
    page.locator("#tab-lineage").click()
    expect(page.locator("#lineage-graph .js-plotly-plot")).to_be_visible()
    expect(page.locator("#lineage-edges")).to_contain_text("has version")
    expect(page.locator("#lineage-graph .legend")).to_contain_text("Model version")  # one colour per kind
    expect(page.locator("#lineage-edges a[href^='/catalog/models/']").first).to_be_visible()


def test_business_user_sees_the_model_but_cannot_promote(page: Page) -> None:
    sign_in(page, "business_user")
    page.goto(routes.MODELS)
    page.locator("#models-search").fill("sentiment")
    page.locator("#models-search-submit").click()
    page.locator("#models-table .model-link", has_text=SEEDED).click()
    expect(page.locator("#model-name")).to_have_text(SEEDED)
    expect(page.locator("#production-version")).to_be_visible()
    expect(page.locator("#overview-facts")).to_contain_text("Framework")
    page.locator("#tab-versions").click()
    expect(page.locator(".version-card").first).to_be_visible()
    expect(page.locator(".move-button")).to_have_count(0)
    expect(page.locator(".upload-button")).to_have_count(0)
    expect(page.locator("#rollback")).to_have_count(0)
    expect(page.locator("#new-version")).to_have_count(0)


def test_filter_chips_narrow_the_list(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.goto(routes.MODELS)
    expect(page.locator("#models-table [data-model]").first).to_be_visible()
    vision_count = page.locator("[data-filter=type][data-value=Vision] [data-count]")
    expect(vision_count).to_have_text(re.compile(r"^[1-9][0-9]*$"))  # the demo catalog has vision models
    page.locator("[data-filter=type][data-value=Vision]").click()
    expect(page.locator("[data-filter=type][data-value=Vision]")).to_have_attribute("aria-pressed", "true")
    types = page.locator("#models-table [data-model] td:nth-child(2)")
    expect(types.first).to_have_text("Vision")
    assert set(types.all_inner_texts()) == {"Vision"}
    expect(page.locator("#models-table [data-model]")).to_have_count(int(vision_count.inner_text()))
    expect(page.locator("#register-model")).to_have_count(0)


def test_markup_in_a_model_renders_as_text(page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, "ml_engineer")
    page.goto(routes.MODELS)
    register(page, XSS_PAYLOAD, check_messages=False)
    expect(page.locator("#model-description")).to_have_text(XSS_PAYLOAD)
    page.locator("#tab-lineage").click()
    expect(page.locator("#lineage-graph .js-plotly-plot")).to_contain_text(XSS_PAYLOAD)
    assert page.locator("main img[src=x]").count() == 0 and dialogs == []


ANGRY_EMAILS = "find me something that reads customer emails and tells me if they are angry"


def test_semantic_search_shows_scores_counts_its_results_and_an_honest_sort(page: Page) -> None:
    """A question in plain words: the models it returns each show their similarity, the list says how
    many less similar models it left out, the type chips count the results (not the catalog), and the
    sort box says the list is ranked by relevance."""
    sign_in(page, "business_user")
    page.locator(f"#main-nav a[href='{routes.MODELS}']").click()
    expect(page.locator("#models-table [data-model]").first).to_be_visible()
    expect(page.locator("#models-sort")).to_have_text("Newest")
    catalog_size = sum(int(n) for n in page.locator("[data-filter=type] [data-count]").all_inner_texts())
    page.locator("#search-mode").get_by_role("radio", name="Semantic").click()
    page.locator("#models-search").fill(ANGRY_EMAILS)
    page.locator("#models-search-submit").click()
    expect(page).to_have_url(re.compile(r"mode=semantic"))

    def check_results() -> None:
        summary = page.locator("#search-summary")
        # The server loads the sentence encoder on its first semantic search (seconds on a busy machine).
        expect(summary).to_contain_text("by meaning, most similar first", timeout=90_000)
        rows = page.locator("#models-table [data-model]")
        expect(rows.first.locator(".model-link")).to_have_text(SEEDED)
        expect(page.locator("#score-header")).to_have_text("Similarity")
        shown = rows.count()
        scores = [float(s) for s in page.locator("#models-table .score").all_inner_texts()]
        assert len(scores) == shown and scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
        assert 1 <= shown < catalog_size  # cut off by relevance, not the whole catalog
        left_out = catalog_size - shown
        expect(summary).to_contain_text(re.compile(rf"^{shown} models? by meaning.*\b{left_out} less similar models? left out\.$"))
        counted = sum(int(n) for n in page.locator("[data-filter=type] [data-count]").all_inner_texts())
        assert counted == shown  # the chips count the results
        expect(page.locator("#models-sort")).to_have_text("Relevance")
        expect(page.locator("#models-sort")).to_be_disabled()

    check_results()
    page.reload()  # the URL holds the view
    check_results()
    nlp = page.locator("[data-filter=type][data-value=NLP]")
    nlp_count = int(nlp.locator("[data-count]").inner_text())
    nlp.click()
    expect(nlp).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#models-table [data-model]")).to_have_count(nlp_count)
    page.locator("#clear-filters").click()
    expect(page.locator("#models-sort")).to_have_text("Newest")
    expect(page.locator("#search-summary")).to_have_count(0)
    expect(page.locator("#score-header")).to_have_count(0)
