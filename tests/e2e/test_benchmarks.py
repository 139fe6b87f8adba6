"""Benchmarks in the browser, on the seeded demo: the Wine classifier's two versions are on the seeded
leaderboard "Wine cultivars"; an ML engineer benchmarks both on the Wine test split with a real worker,
watches the job's progress, sees the labelled figures and the latency and throughput charts, and a reload
shows the same run (its id is in the URL). Screenshots go to /tmp/ui15/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backend.benchmarks.seed import LEADERBOARD
from backend.endpoints.seed import MODEL_NAME
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/ui15")
JOB_MS = 90_000  # a fresh worker imports torch and loads both models


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_benchmark_two_versions_and_see_the_figures(page: Page, worker) -> None:
    sign_in(page, "ml_engineer")
    page.locator("#main-nav").get_by_role("link", name="Benchmarks").click()
    expect(page).to_have_url(re.compile(r"/compare/benchmarks/?$"))
    board = page.locator("#bench-board")
    expect(board.locator(".board-entry")).to_have_count(2)
    expect(page.get_by_text(LEADERBOARD).first).to_be_visible()
    expect(board).to_contain_text(f"{MODEL_NAME} 1.1.0")
    for version in ("1.0.0", "1.1.0"):
        page.locator("#bench-versions label").filter(has_text=f"{MODEL_NAME} {version}").get_by_role("checkbox").click()
    page.locator("#bench-dataset").click()
    page.get_by_role("option", name=re.compile(r"^Wine \(v1")).click()
    page.locator("#bench-run").click()
    expect(page).to_have_url(re.compile(r"/compare/benchmarks/?\?run=bench_"))
    expect(page.locator(".job-progress")).to_be_visible()
    expect(page.locator(".job-status")).to_have_text("Succeeded", timeout=JOB_MS)
    rows = page.locator("#bench-results .bench-result")
    expect(rows).to_have_count(2)
    expect(page.locator("#bench-results")).to_contain_text("Latency p95")
    expect(rows.first).to_contain_text(re.compile(r"\d+(\.\d+)? ms"))
    expect(rows.first).to_contain_text("predictions/s")
    expect(page.locator("#bench-summary")).to_contain_text(re.compile(r"Succeeded · Wine v1 · Test split · .* rows scored"))
    charts = page.locator("#bench-charts .js-plotly-plot")
    expect(charts).to_have_count(2)
    expect(page.locator("#bench-charts")).to_contain_text("Latency (ms)")
    expect(page.locator("#bench-charts")).to_contain_text("Throughput (predictions/s)")
    shot(page, "benchmark-laptop")
    run_id = page.url.split("run=")[1]
    page.reload()
    expect(page).to_have_url(re.compile(rf"/compare/benchmarks/?\?run={run_id}$"))
    expect(page.locator("#bench-results .bench-result")).to_have_count(2)
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "benchmark-phone")
