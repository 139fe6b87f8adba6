"""Endpoints in the browser, on the seeded demo endpoint (wine-classifier, following production): it is
listed from the sidebar with its status and version; "Try it" predicts a stored example and shows the
explanation chart (tab kept in the URL over a reload); an ML ops engineer creates a model key (shown once,
it works over REST), revokes it (it stops working), sends 10 % of the traffic to a second version, and an
ML engineer promotes that version (the endpoint follows it) and rolls it back.
Screenshots at laptop and phone widths go to /tmp/ui14/."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from backend.cli import ROOT
from backend.endpoints.seed import ENDPOINT_NAME, MODEL_NAME
from tests.e2e.conftest import sign_in, sign_out
from tests.e2e.server import Server
from tests.e2e.test_models import card, move

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/ui14")
FIRST_LOAD_MS = 60_000  # the first prediction of a fresh server loads torch and the model

# Registers version 1.0.1 of the demo model (trained in-process on the Wine data, about a second) in the
# test server's database: the canary needs a second servable version.
SECOND_VERSION = """
from sqlmodel import select
from backend.auth.principal import SYSTEM
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets.models import Dataset
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.models import RegisteredModel
from backend.core.db import session_scope
from backend.endpoints import demo
from backend.endpoints.seed import DATASET_NAME, MODEL_NAME

with session_scope() as s:
    model = s.exec(select(RegisteredModel).where(RegisteredModel.name == MODEL_NAME)).one()
    if registry.find_version(session=s, model_id=model.id, version="1.0.1") is None:
        data = s.exec(select(Dataset).where(Dataset.name == DATASET_NAME)).first()
        frame = datasets.open_frame(session=s, actor=SYSTEM, dataset_id=data.id).collect()
        weights, config = demo.train_tabular(frame, label=data.label_column or "target", seed=1)
        demo.register(s, SYSTEM, weights=weights, config=config, version="1.0.1", model_id=model.id)
"""


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_demo_endpoint(page: Page) -> str:
    """From the sidebar to the demo endpoint's page; returns its id."""
    page.locator("#main-nav").get_by_role("link", name="Endpoints").click()
    expect(page).to_have_url(re.compile(r"/catalog/endpoints/?$"))
    row = page.locator(f'.endpoint-row[data-name="{ENDPOINT_NAME}"]')
    expect(row.locator(".endpoint-status")).to_have_text("Serving")
    expect(row.locator(".endpoint-version")).to_have_text("1.0.0 (follows production)")
    expect(row).to_contain_text("Wine classifier (demo endpoint)")
    endpoint_id = row.get_attribute("data-endpoint")
    row.locator(".endpoint-link").click()
    expect(page).to_have_url(re.compile(rf"/catalog/endpoints/{endpoint_id}$"))
    expect(page.locator("#endpoint-name")).to_have_text(ENDPOINT_NAME)
    return endpoint_id


def test_list_and_try_it(page: Page) -> None:
    sign_in(page, "business_user")  # reads and invokes endpoints, manages nothing
    endpoint_id = open_demo_endpoint(page)
    expect(page.locator("#deploy-open")).to_have_count(0)
    page.locator("#tab-try").click()
    expect(page).to_have_url(re.compile(r"\?tab=try$"))
    expect(page.locator("#try-example")).to_contain_text("Example 1 (expected: ")
    alcohol = page.locator('#try-form input[name="alcohol"]')
    expect(alcohol).not_to_have_value("")  # filled from the stored example
    page.locator("#try-submit").click()
    expect(page.locator("#prediction")).not_to_have_text("", timeout=FIRST_LOAD_MS)
    expect(page.locator("#answered-by")).to_contain_text("Answered by version 1.0.0")
    expect(page.locator("#probabilities .probability")).to_have_count(3)
    chart = page.locator("#explain-chart")
    expect(chart.locator(".js-plotly-plot")).to_be_visible()
    expect(chart.locator(".g-xtitle")).to_contain_text("Attribution to")
    expect(chart.locator(".g-ytitle")).to_have_text("Input column")
    shot(page, "try-it")
    # The prediction reached the log and the metrics.
    page.locator("#tab-logs").click()
    expect(page.locator("#prediction-log .log-row").first).to_contain_text("1.0.0")
    page.locator("#tab-metrics").click()
    expect(page.locator("#requests-chart .g-ytitle")).to_have_text("Requests per minute")
    expect(page.locator("#latency-chart .g-ytitle")).to_have_text("p95 latency (ms)")
    shot(page, "metrics")
    # The tab is in the URL: a reload keeps it.
    page.reload()
    expect(page.locator("#tab-metrics")).to_have_attribute("data-state", "active")
    page.goto("/catalog/endpoints")
    expect(page.locator(f'.endpoint-row[data-endpoint="{endpoint_id}"]')).to_be_visible()
    shot(page, "list")


def _predict(page: Page, endpoint_id: str, key: str, row: dict) -> int:
    response = page.request.post(f"/api/v1/catalog/endpoints/{endpoint_id}/predict",
                                 headers={"X-Model-Key": key}, data={"instances": [row]})
    return response.status


def test_keys_and_canary(page: Page, server: Server) -> None:
    result = subprocess.run([sys.executable, "-c", SECOND_VERSION], cwd=ROOT, env=server.env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    sign_in(page, "ml_ops")
    # The new-endpoint form offers the servable models, following production by default (not submitted).
    page.goto("/catalog/endpoints")
    page.locator("#new-endpoint-open").click()
    expect(page.locator("#new-model")).to_contain_text("Wine classifier (demo endpoint)")
    expect(page.locator("#new-version")).to_contain_text("Follow stage Production")
    shot(page, "new-endpoint")
    page.locator("#new-endpoint").get_by_role("button", name="Cancel").click()
    page.goto("/")
    endpoint_id = open_demo_endpoint(page)
    page.locator("#tab-try").click()
    expect(page.locator('#try-form input[name="alcohol"]')).not_to_have_value("")
    example = page.locator("#try-form input").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.name, parseFloat(e.value)]))")  # a stored example's inputs

    # A key: shown once, works over REST; revoked, it stops working.
    page.locator("#tab-keys").click()
    page.locator("#key-open").click()
    page.locator("#keyName").fill("e2e shop")
    page.locator("#key-submit").click()
    secret = page.locator("#new-key-secret")
    expect(secret).to_have_value(re.compile(r"^aimk_\w+_\S+$"))
    key = secret.input_value()
    shot(page, "key-created")
    assert _predict(page, endpoint_id, key, example) == 200
    page.locator("#key-done").click()
    row = page.locator('.key-row[data-name="e2e shop"]')
    expect(row.locator(".key-state")).to_have_text("Active")
    expect(page.locator("#model-keys")).not_to_contain_text(key)  # never shown again
    row.locator(".revoke-key").click()
    expect(row.locator(".key-state")).to_have_text("Revoked")
    assert _predict(page, endpoint_id, key, example) == 401

    # Canary: 10 % of the requests to version 1.0.1.
    page.locator("#tab-overview").click()
    shot(page, "overview")
    page.locator("#candidate").click()
    page.get_by_role("option", name="Version 1.0.1", exact=True).click()
    page.locator("#canary-percent").fill("10")
    page.locator("#apply-canary").click()
    expect(page.locator("#traffic-text")).to_have_text("Canary: 10 % to 1.0.1")
    expect(page.locator("#traffic-shares")).to_contain_text("90 %")
    shot(page, "canary")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "canary-phone")
    page.set_viewport_size({"width": 1366, "height": 900})
    # Promote the candidate (an ML engineer): the endpoint follows production, so it now serves 1.0.1 alone
    # (seen by ML ops); roll back and it serves 1.0.0 again (the demo as seeded, for the other tests).
    as_user(page, "ml_engineer")
    page.goto("/catalog/models")
    page.get_by_role("link", name=MODEL_NAME, exact=True).first.click()
    page.locator("#tab-versions").click()
    model_page = page.url
    move(page, card(page, "1.0.1").locator("[data-move=production]"), "canary looked good")
    expect(page.locator("#production-version")).to_have_text("1.0.1")
    as_user(page, "ml_ops")
    _expect_serving(page, endpoint_id, "1.0.1 (follows production)")
    expect(page.locator("#traffic-text")).to_have_text("All traffic to one version")
    shot(page, "promoted")
    as_user(page, "ml_engineer")
    page.goto(model_page)
    move(page, page.locator("#rollback"), "e2e: back to the seeded version")
    expect(page.locator("#production-version")).to_have_text("1.0.0")
    as_user(page, "ml_ops")
    _expect_serving(page, endpoint_id, "1.0.0 (follows production)")


def as_user(page: Page, username: str) -> None:
    sign_out(page)
    sign_in(page, username)


def _expect_serving(page: Page, endpoint_id: str, version_text: str) -> None:
    page.goto("/catalog/endpoints")
    row = page.locator(f'.endpoint-row[data-endpoint="{endpoint_id}"]')
    expect(row.locator(".endpoint-version")).to_have_text(version_text)
    row.locator(".endpoint-link").click()
    expect(page.locator("#endpoint-name")).to_have_text(ENDPOINT_NAME)
