"""Training in the browser: a data scientist opens Training jobs from the sidebar, fills the new-job form on
the demo Breast Cancer dataset (a bad batch size is refused next to its field), starts the job, which a real
worker trains, watches its curves move without a reload, pauses and resumes it, stops it, and follows the
link to the model version it registered. The experiment page's optimisation views (history, parameter
importance) over the demo experiment's runs. Screenshots at laptop and phone widths go to /tmp/h2-shots/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from backend.catalog.experiments.seed import DATASET_NAME, EXPERIMENT_NAME
from tests.e2e.conftest import UI_TIMEOUT_MS, sign_in
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/h2-shots")
TRAIN_TIMEOUT_MS = 120_000
MODEL_NAME = "Breast cancer classifier (e2e)"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def choose(page: Page, trigger: str, option: str) -> None:
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()


def step_of(page: Page) -> int:
    text = page.locator("#job-status-card").inner_text()
    match = re.search(r"step ([\d,]+)", text)
    return int(match.group(1).replace(",", "")) if match else 0


def test_train_watch_pause_resume_and_register(page: Page, worker) -> None:
    sign_in(page, "data_scientist")
    page.locator("#main-nav").get_by_role("link", name="Training jobs").click()
    expect(page).to_have_url(re.compile(r"/training/jobs/?$"))
    page.locator("#new-job-open").click()
    expect(page).to_have_url(re.compile(r"/training/jobs/new"))
    # Loaded, with the first family's defaults (the first form of a fresh server imports torch: slow).
    expect(page.locator("#batchSize")).to_have_value("32", timeout=TRAIN_TIMEOUT_MS)

    choose(page, "#dataset", DATASET_NAME)
    expect(page.locator("#version")).to_contain_text("split 70/15/15")
    expect(page.locator("#family")).to_contain_text("Tabular MLP")
    expect(page.locator("#batchSize")).to_have_value("32")  # the family's default
    shot(page, "new-job")

    # Out of range: refused by the service, the message next to the field, nothing queued.
    page.locator("#model_name").fill(MODEL_NAME)
    page.locator("#batchSize").fill("0")
    page.locator("#start-training").click()
    expect(page.locator("#batchSize-error")).to_contain_text("greater than or equal to 1")
    expect(page).to_have_url(re.compile(r"/training/jobs/new"))
    shot(page, "new-job-error")

    # Long enough to pause mid-way (batches of 8, many epochs); stopped early below.
    page.locator("#batchSize").fill("8")
    page.locator("#maxEpochs").fill("300")
    page.locator("#start-training").click()
    expect(page).to_have_url(re.compile(r"/training/jobs/train_\w+$"))
    card = page.locator("#job-status-card")
    page.evaluate("window.__notReloaded = true")  # gone if the page reloaded
    expect(card).to_have_attribute("data-status", "running", timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator("#loss-chart .js-plotly-plot")).to_be_visible(timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator("#loss-chart .g-xtitle")).to_have_text("Training step")
    expect(page.locator("#loss-chart .g-ytitle")).to_have_text("Loss")
    expect(page.locator("#quality-chart .g-ytitle")).to_have_text("Accuracy (%)", timeout=TRAIN_TIMEOUT_MS)
    first = step_of(page)
    page.wait_for_function(f"() => /step ([\\d,]+)/.exec(document.querySelector('#job-status-card').innerText)"
                           f" && parseInt(/step ([\\d,]+)/.exec(document.querySelector('#job-status-card').innerText)[1]"
                           f".replace(/,/g, '')) > {first}", timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator("#job-eta")).to_contain_text(re.compile(r"left|Estimating"))
    expect(page.locator("#job-resources")).to_contain_text("CPU")
    assert page.evaluate("window.__notReloaded") is True  # the curves moved without a reload
    shot(page, "job-running")

    page.locator("#job-pause").click()
    expect(card).to_have_attribute("data-status", "paused", timeout=TRAIN_TIMEOUT_MS)
    expect(page.locator("#job-pause")).to_have_count(0)
    expect(page.locator("#checkpoints .checkpoint-row").first).to_contain_text(re.compile(r"^1\s*\d+\s*Val loss"))
    paused_at = step_of(page)
    shot(page, "job-paused")

    page.locator("#job-resume").click()
    expect(card).to_have_attribute("data-status", "running", timeout=TRAIN_TIMEOUT_MS)
    page.wait_for_function(f"() => parseInt((/step ([\\d,]+)/.exec(document.querySelector('#job-status-card')"
                           f".innerText) || [0, '0'])[1].replace(/,/g, '')) > {paused_at}", timeout=TRAIN_TIMEOUT_MS)

    page.locator("#job-stop").click()
    expect(card).to_have_attribute("data-status", "succeeded", timeout=TRAIN_TIMEOUT_MS)
    link = page.locator("#model-version-link")
    expect(link).to_contain_text(MODEL_NAME)
    assert page.evaluate("window.__notReloaded") is True
    shot(page, "job-done")

    page.goto("/training/jobs")
    row = page.locator("#training-jobs-table .job-row").first
    expect(row).to_have_attribute("data-status", "succeeded")
    expect(row).to_contain_text("Done")
    expect(row).to_contain_text(MODEL_NAME)
    shot(page, "jobs")
    page.goto("/training/jobs?status=failed")
    expect(page.get_by_text("No jobs with this status")).to_be_visible()
    page.reload()
    expect(page.locator("#jobs-status")).to_contain_text("Failed")  # the filter survives a reload

    page.goto("/training/jobs")
    page.locator("#training-jobs-table .job-link").first.click()
    page.locator("#model-version-link").click()
    expect(page).to_have_url(re.compile(r"/catalog/models/model_\w+"))
    expect(page.get_by_text(MODEL_NAME).first).to_be_visible()


def test_experiment_page_shows_history_and_importance(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.goto("/catalog/experiments")
    page.locator("#experiments-table tbody tr", has_text=EXPERIMENT_NAME).locator(".experiment-link").click()
    expect(page.locator("#experiment-name")).to_have_text(EXPERIMENT_NAME)
    page.locator("#tab-charts").click()
    history = page.locator("#history-card .js-plotly-plot")
    expect(history).to_be_visible(timeout=UI_TIMEOUT_MS)  # plotly loads lazily: slow on a busy machine
    expect(history.locator(".g-xtitle")).to_have_text("Run (in start order)")
    expect(history.locator(".g-ytitle")).to_have_text("Val accuracy (%)")
    expect(history.locator(".legendtext")).to_have_count(2)
    importance = page.locator("#importance-card")
    expect(importance.locator(".js-plotly-plot")).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(importance).to_contain_text("Only learning rate varies")
    expect(page.locator("#parallel-card .js-plotly-plot")).to_be_visible()
    shot(page, "experiment-charts")


def test_the_pages_at_phone_width(server: Server, browser: Browser) -> None:
    """The training pages and the experiment's charts on a phone: nothing wider than the screen."""
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1366, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        sign_in(page, "data_scientist")  # at laptop width (its check looks for the sidebar); pages load below
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto("/training/jobs")
        expect(page.locator("#training-jobs-table .job-row").first).to_be_visible()
        shot(page, "jobs-phone")
        page.locator("#training-jobs-table .job-link").first.click()
        expect(page.locator("#quality-chart .js-plotly-plot")).to_be_visible(timeout=UI_TIMEOUT_MS)
        shot(page, "job-phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto("/training/jobs/new")
        expect(page.locator("#batchSize")).to_have_value("32", timeout=UI_TIMEOUT_MS)
        shot(page, "new-job-phone")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.goto("/catalog/experiments")
        page.locator("#experiments-table tbody tr", has_text=EXPERIMENT_NAME).locator(".experiment-link").click()
        page.locator("#tab-charts").click()
        expect(page.locator("#importance-card .js-plotly-plot")).to_be_visible(timeout=UI_TIMEOUT_MS)
        shot(page, "experiment-charts-phone")
    finally:
        context.close()
