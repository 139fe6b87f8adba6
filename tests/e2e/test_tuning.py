"""Hyperparameter optimisation in the browser: an ML engineer opens the demo experiment, opens
"Optimise hyperparameters", sees a bad range refused next to its row, starts a tiny two-trial random study,
sees the Study panel appear (trials done of the total) and stops the study. Screenshots go to /tmp/h8-shots/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backend.catalog.experiments.seed import EXPERIMENT_NAME
from tests.e2e.conftest import UI_TIMEOUT_MS, sign_in, workers
from tests.e2e.server import Server

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/h8-shots")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_start_a_study_from_the_experiment_page(page: Page) -> None:
    sign_in(page, "ml_engineer")  # the demo experiment is the data scientist's; ML engineers may optimise any
    page.goto("/catalog/experiments")
    page.locator("#experiments-table tbody tr", has_text=EXPERIMENT_NAME).locator(".experiment-link").click()
    expect(page.locator("#experiment-name")).to_have_text(EXPERIMENT_NAME)
    page.locator("#optimise-button").click()
    dialog = page.locator("#optimise-dialog")
    expect(dialog.locator("#opt-version")).to_contain_text("split", timeout=UI_TIMEOUT_MS)
    expect(dialog.locator("#opt-family")).to_contain_text("Tabular MLP")

    row = dialog.locator(".space-row").first
    row.get_by_role("textbox", name="Min").fill("0.5")
    row.get_by_role("textbox", name="Max").fill("0.1")
    dialog.locator("#opt-strategy").click()
    page.get_by_role("option", name="Random", exact=True).click()
    dialog.locator("#opt-max-trials").fill("2")
    dialog.locator("#opt-epochs").fill("1")
    dialog.locator("#start-study").click()
    expect(row.locator(".field-error")).to_contain_text("min 0.5 > max 0.1")  # the service's TRAIN_003

    row.get_by_role("textbox", name="Min").fill("0.001")
    row.get_by_role("textbox", name="Max").fill("0.1")
    row.get_by_role("checkbox").click()
    shot(page, "optimise-dialog")
    dialog.locator("#start-study").click()
    expect(dialog).to_have_count(0)
    panel = page.locator("#study-panel")
    expect(panel).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(panel).to_contain_text("of 2 trials done")
    expect(panel).to_contain_text("Random")
    shot(page, "study-panel")

    # Stopping it: a question first; then the study says so, and the button goes.
    panel.locator("#open-stop-study").click()
    page.locator("#confirm-stop-study").click()
    expect(page.locator("#study-status")).to_have_text("Stopped", timeout=UI_TIMEOUT_MS)
    expect(page.locator("#open-stop-study")).to_have_count(0)
    shot(page, "study-stopped")


def test_a_data_scientist_runs_a_twenty_trial_bayesian_study_on_two_workers(page: Page, server: Server) -> None:
    """The issue's "done means": 20 trials of TPE, two at a time on two workers, then the best parameters."""
    with workers(server, 2):
        sign_in(page, "data_scientist")  # the demo experiment is theirs
        page.goto("/catalog/experiments")
        page.locator("#experiments-table tbody tr", has_text=EXPERIMENT_NAME).locator(".experiment-link").click()
        page.locator("#optimise-button").click()
        dialog = page.locator("#optimise-dialog")
        expect(dialog.locator("#opt-version")).to_contain_text("split", timeout=UI_TIMEOUT_MS)
        expect(dialog.locator("#opt-strategy")).to_contain_text("Bayesian")  # the default
        row = dialog.locator(".space-row").first
        row.get_by_role("textbox", name="Min").fill("0.001")
        row.get_by_role("textbox", name="Max").fill("0.1")
        row.get_by_role("checkbox").click()
        dialog.locator("#opt-max-trials").fill("20")
        dialog.locator("#opt-parallel").fill("2")
        dialog.locator("#opt-epochs").fill("1")
        dialog.locator("#start-study").click()
        expect(dialog).to_have_count(0)

        panel = page.locator("#study-panel")
        expect(panel).to_contain_text("of 20 trials done", timeout=UI_TIMEOUT_MS)
        # The panel follows the study live (no reload) until every trial has ended.
        expect(page.locator("#study-status")).to_have_text("Finished", timeout=240_000)
        expect(page.locator("#study-progress")).to_have_text("20 of 20 trials done")
        best = page.locator("#study-best")
        expect(best).to_contain_text("Best so far: Trial")
        expect(best).to_contain_text("Maximise val accuracy")
        expect(panel).to_contain_text("Learning rate")  # the best trial's parameter, by name
        shot(page, "study-finished")
