"""Datasets in the browser: a data scientist creates a dataset, uploads a CSV with a real progress
bar, sees its profile, splits it and transforms it into version 2 with lineage; a business user
does not see the datasets at all. Column names from the file are shown as text, never as markup."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from aisystem_app import routes
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

MARKUP_COLUMN = "<b>note</b>"
DEMO_DATASET = "Customer Feedback"


def feedback_csv(folder: Path, rows: int = 60) -> Path:
    """A small CSV with a label column, an email column to drop and a header holding markup."""
    sentiments = ("positive", "negative", "neutral")
    lines = [f"id,text,sentiment,rating,email,{MARKUP_COLUMN}"]
    lines += [f"{i},review number {i},{sentiments[i % 3]},{i % 5 + 1},user{i}@example.com,n{i % 4}"
              for i in range(rows)]
    path = folder / "feedback.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def choose(page: Page, trigger: str, option: str) -> None:
    """Pick an option of a Radix select."""
    page.locator(trigger).click()
    page.get_by_role("option", name=option, exact=True).click()


def create_dataset(page: Page, name: str) -> None:
    page.locator("#new-dataset").click()
    page.locator("#create-dataset-submit").click()
    expect(page.locator("#name-error")).to_have_text("Give the dataset a name")  # inline, nothing sent
    page.locator("#name").fill(name)
    page.locator("#label_column").fill("sentiment")
    page.locator("#create-dataset-submit").click()
    expect(page).to_have_url(re.compile(r"/catalog/datasets/dataset_[0-9a-f]+/?$"))
    expect(page.locator("#dataset-name")).to_have_text(name)
    expect(page.locator("#dataset-version")).to_have_text("no data yet")


def upload(page: Page, csv: Path) -> None:
    page.locator("#open-upload").click()
    page.locator("#dataset-upload input[type=file]").set_input_files(str(csv))
    expect(page.locator(".chosen-file")).to_have_text("feedback.csv")
    page.locator("#upload-submit").click()
    expect(page.locator("#dataset-version")).to_have_text("v1")
    expect(page.get_by_text("Stored as version 1: 60 records, 6 columns")).to_be_visible()


def check_profile(page: Page) -> None:
    page.locator("#tab-schema").click()
    expect(page.locator("#schema-table")).to_contain_text(MARKUP_COLUMN)  # the header, as text
    page.locator("#tab-profile").click()
    expect(page.locator("#profile-table tbody tr")).to_have_count(6)
    page.locator("#profile-table [data-column=rating] .profile-column").click()
    expect(page.locator("#profile-column-name")).to_have_text("rating")
    expect(page.locator("#column-detail .js-plotly-plot")).to_be_visible()
    expect(page.locator("#column-facts")).to_contain_text("min 1")
    page.locator("#tab-quality").click()
    expect(page.locator("#quality-scores .js-plotly-plot")).to_be_visible()
    expect(page.locator("#quality-scores")).to_contain_text("1 - nullCells / cells")


def split(page: Page) -> None:
    page.locator("#open-split").click()
    page.locator("#train").fill("0.7")
    page.locator("#validation").fill("0.2")
    page.locator("#test").fill("0.2")
    page.locator("#split-submit").click()
    expect(page.locator("#ratios-error")).to_contain_text("must sum to 1")
    page.locator("#test").fill("0.1")
    choose(page, "#stratify_by", "sentiment")
    page.locator("#split-submit").click()
    page.locator("#tab-overview").click()
    expect(page.locator("#split-summary")).to_contain_text("train 70% (42)")
    expect(page.locator("#split-summary")).to_contain_text("stratified by sentiment")


def transform(page: Page) -> None:
    page.locator("#open-transform").click()
    choose(page, "#step-op", "Drop columns")
    page.locator("#columns").fill("email")
    page.locator("#add-step").click()
    choose(page, "#step-op", "Filter rows")
    page.locator("#argument").fill("rating >= 2")
    page.locator("#add-step").click()
    expect(page.locator(".transform-step")).to_have_count(2)
    page.locator("#transform-message").fill("without emails")
    page.locator("#run-transform").click()
    expect(page.locator("#dataset-version")).to_have_text("v2")
    page.locator("#tab-versions").click()
    newest = page.locator(".version-item").first
    expect(newest).to_have_attribute("data-version", "2")
    expect(newest.locator(".version-origin")).to_have_text("Transformed from v1")
    expect(newest.locator(".lineage-step")).to_have_text(["1. Drop columns: email", "2. Filter rows: rating >= 2"])
    expect(page.locator(".version-item").nth(1).locator(".version-origin")).to_have_text(
        "Uploaded feedback.csv (csv)")


def test_upload_profile_split_and_transform(page: Page, tmp_path: Path) -> None:
    sign_in(page, "data_scientist")
    page.locator(f"#main-nav a[href='{routes.DATASETS}']").click()
    expect(page.locator("#datasets-table .dataset-link", has_text=DEMO_DATASET)).to_be_visible()
    create_dataset(page, "E2E feedback")
    upload(page, feedback_csv(tmp_path))
    check_profile(page)
    split(page)
    transform(page)
    page.goto(routes.DATASETS)
    row = page.locator("#datasets-table tr", has_text="E2E feedback")
    expect(row).to_contain_text("2")  # versions
    expect(row.locator(".quality-badge")).to_have_text(re.compile(r"^\d+%$"))


def test_business_user_does_not_see_datasets(page: Page) -> None:
    sign_in(page, "business_user")
    expect(page.locator(f"#main-nav a[href='{routes.HOME}']")).to_be_visible()
    expect(page.locator(f"#main-nav a[href='{routes.DATASETS}']")).to_have_count(0)
    page.goto(routes.DATASETS)
    expect(page.get_by_text("You don't have permission to view datasets.", exact=False)).to_be_visible()
    expect(page.locator("#datasets-table")).to_have_count(0)
