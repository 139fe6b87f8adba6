"""Experiments in the browser: a data scientist opens Experiments from the sidebar, opens the demo experiment
(runs trained for real by the seed), sorts its runs by validation accuracy on the server, charts two runs,
and a reload keeps the view; two experiments side by side on the compare view. Screenshots go to
/tmp/shots/experiments/ for a person to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backend.catalog.experiments.seed import EXPERIMENT_NAME, LEARNING_RATES
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots/experiments")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def percents(page: Page, column: int) -> list[float]:
    cells = page.locator("#runs-table tbody tr").locator(f"td:nth-child({column})")
    return [float(t.rstrip("%")) for t in cells.all_inner_texts()]


def test_experiment_runs_sort_charts_and_reload(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.locator("#main-nav").get_by_role("link", name="Experiments").click()
    expect(page).to_have_url(re.compile(r"/catalog/experiments/?$"))
    row = page.locator("#experiments-table tbody tr", has_text=EXPERIMENT_NAME)
    expect(row).to_contain_text("Maximise val accuracy")
    expect(row).to_contain_text("Completed")
    expect(row).to_contain_text(re.compile(r"\d+\.\d%"))  # its best validation accuracy
    shot(page, "list")

    row.locator(".experiment-link").click()
    expect(page.locator("#experiment-name")).to_have_text(EXPERIMENT_NAME)
    runs = page.locator("#runs-table tbody tr")
    expect(runs).to_have_count(len(LEARNING_RATES))

    # Sort by validation accuracy (best first), then flip: the server's order, shown in the URL.
    header = page.locator('th[data-sort-key="metrics.val_accuracy"] button')
    header.click()
    expect(page).to_have_url(re.compile(r"sort=-metrics\.val_accuracy"))
    column = 3 + 1  # checkbox, run, status, then the objective metric first
    expect(page.locator("#runs-table thead th").nth(column - 1)).to_contain_text("Val accuracy")
    values = percents(page, column)
    assert values == sorted(values, reverse=True) and len(values) == len(LEARNING_RATES)
    best = page.locator("#runs-table .run-link").first.inner_text()
    shot(page, "runs")
    header.click()
    expect(page).to_have_url(re.compile(r"sort=metrics\.val_accuracy"))
    page.wait_for_function("() => { const c = [...document.querySelectorAll('#runs-table tbody tr td:nth-child(4)')]"
                           ".map(e => parseFloat(e.innerText)); return c.every((v, i) => i == 0 || c[i-1] <= v); }")

    # Chart two runs: tick them, open Charts; each metric panel has one line per run and a legend.
    names = page.locator("#runs-table .run-link").all_inner_texts()
    page.locator(".pick-run").nth(0).click()
    expect(page).to_have_url(re.compile(r"sel="))
    page.locator(".pick-run").nth(1).click()
    expect(page).to_have_url(re.compile(r"sel=[^&]+%2C"))
    page.locator("#tab-charts").click()
    expect(page).to_have_url(re.compile(r"tab=charts"))
    curves = page.locator("#curves-card .js-plotly-plot")
    expect(curves).to_be_visible()
    expect(curves.locator(".legendtext")).to_have_count(2)
    expect(curves.locator(".g-xtitle").first).to_have_text("Step")
    expect(curves.locator(".g-ytitle").first).to_contain_text("(%)")
    expect(page.locator("#parallel-card .js-plotly-plot")).to_be_visible()
    shot(page, "charts")

    url = page.url
    page.reload()
    expect(page.locator("#tab-charts")).to_have_attribute("aria-selected", "true")
    assert page.url == url
    legend = page.locator("#curves-card .js-plotly-plot .legendtext")
    expect(legend).to_have_count(2)
    assert sorted(legend.all_text_contents()) == sorted(names[:2])

    # Best parameters: the best run by the objective (the highest validation accuracy of the runs table).
    page.locator("#tab-best").click()
    expect(page).to_have_url(re.compile(r"tab=best"))
    expect(page.locator("#best-run-name")).to_have_text(f"Best run: {best}")
    expect(page.locator("#panel-best")).to_contain_text("Learning rate")
    shot(page, "best")

    # A run's own page: its parameters and logs.
    page.locator("#tab-runs").click()
    page.locator("#runs-table .run-link").first.click()
    dialog = page.locator("#run-dialog")
    expect(dialog.locator("#run-params")).to_contain_text("Learning rate")
    expect(dialog.locator("#run-logs")).to_contain_text("val_accuracy")
    expect(page).to_have_url(re.compile(r"run="))
    download_link = dialog.locator(".run-file-download").last
    with page.expect_download() as info:
        download_link.click()
    download = info.value
    assert download.suggested_filename.endswith(".safetensors")
    assert Path(download.path()).stat().st_size > 1000  # the trained weights
    shot(page, "run")


def test_compare_two_experiments(page: Page) -> None:
    sign_in(page, "data_scientist")
    page.goto("/catalog/experiments")
    page.locator("#new-experiment-open").click()
    page.locator("#name").fill("Baseline to compare")
    page.locator("#objective_metric").fill("val_accuracy")
    page.locator("#new-experiment-submit").click()
    expect(page.locator("#experiment-name")).to_have_text("Baseline to compare")
    expect(page.get_by_text("No runs yet")).to_be_visible()

    page.goto("/catalog/experiments")
    expect(page.locator("#experiments-table tbody tr")).to_have_count(2)
    for name in (EXPERIMENT_NAME, "Baseline to compare"):
        box = page.locator("#experiments-table tbody tr", has_text=name).locator(".pick-experiment")
        box.click()
        expect(box).to_have_attribute("data-state", "checked")
    expect(page).to_have_url(re.compile(r"pick=[^&]+%2C"))  # both picks in the URL (a reload keeps them)
    page.locator("#compare-experiments").click()
    expect(page).to_have_url(re.compile(r"/catalog/experiments/compare\?ids="))
    metrics = page.locator("#compare-metrics")
    expect(metrics).to_contain_text(EXPERIMENT_NAME)
    expect(metrics).to_contain_text("Baseline to compare")
    expect(metrics.locator("tbody tr", has_text="Val accuracy")).to_contain_text(re.compile(r"\d+\.\d%"))
    expect(page.locator("#compare-params")).to_contain_text("Learning rate")
    expect(page.locator("#compare-metrics")).to_contain_text("no run with metrics yet")
    expect(page.locator("#compare-params .param-differs")).to_have_count(0)  # nothing to differ from
    expect(page.locator(".js-plotly-plot .legendtext")).to_have_count(1)
    shot(page, "compare")
    page.reload()
    expect(page.locator("#compare-metrics")).to_contain_text("Baseline to compare")
