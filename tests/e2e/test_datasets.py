"""Datasets in the browser: a data scientist creates a dataset, uploads a CSV with a real progress
bar, sees its profile, splits it and transforms it into version 2 with lineage; a business user
does not see the datasets at all. The Data tab sorts, filters and pages a version's rows with the view in
the URL; Download gives the file; Delete asks, then removes the dataset from the list. Column names from
the file are shown as text, never as markup."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

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
    expect(page.locator("#quality-gauges .js-plotly-plot")).to_have_count(5)
    # Every gauge shows its name, inside its own figure (they were cut off above the plot).
    expect(page.locator("#quality-gauges text.title")).to_have_text(
        ["Overall", "Completeness", "Validity", "Consistency", "Accuracy"])
    for title in page.locator("#quality-gauges text.title").all():
        box, figure = title.bounding_box(), title.locator("xpath=ancestor::*[contains(@class, 'js-plotly-plot')]")
        assert box and box["y"] >= figure.bounding_box()["y"], "a gauge title is outside its figure"
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


# --- the Data tab, download and delete --------------------------------------------------------------------

SHOTS = Path("/tmp/shots/datasets-a2")


def data_summary(page: Page, text: str, *, whole: bool = False) -> None:
    """The summary starts with `text` (or, `whole`, is just that: no sort or filter named after it)."""
    expect(page.locator("#data-summary")).to_have_text(re.compile("^" + re.escape(text) + (r"\s*$" if whole else "")))


def column_texts(page: Page, column: str) -> list[str]:
    names = page.locator("#data-table thead .data-column-name").all_inner_texts()
    at = names.index(column) + 2  # the row number comes first (nth-child counts from 1)
    return page.locator(f"#data-table tbody tr td:nth-child({at})").all_inner_texts()


def view_of(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def shoot(page: Page, name: str) -> None:
    """Screenshots for a person to look at (not in the repository), laptop and phone size."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-1440.png"), full_page=True)
    size = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / f"{name}-390.png"), full_page=True)
    page.set_viewport_size(size)


def test_data_tab_sorts_filters_pages_and_survives_reload(page: Page, tmp_path: Path) -> None:
    sign_in(page, "data_scientist")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.locator(f"#main-nav a[href='{routes.DATASETS}']").click()
    create_dataset(page, "E2E rows")
    upload(page, feedback_csv(tmp_path))

    page.locator("#tab-data").click()
    expect(page).to_have_url(re.compile(r"\?tab=data$"))
    data_summary(page, "Rows 1–50 of 60")
    expect(page.locator("#data-table tbody tr")).to_have_count(50)
    expect(page.locator("#data-table thead")).to_contain_text(MARKUP_COLUMN)  # the header from the file, as text
    assert column_texts(page, "id")[:3] == ["0", "1", "2"]

    page.locator("#data-table thead th[data-column=rating] .data-sort").click()
    expect(page).to_have_url(re.compile(r"sort=rating"))
    data_summary(page, "Rows 1–50 of 60 · sorted by rating, ascending")
    assert set(column_texts(page, "rating")[:12]) == {"1"}
    page.locator("#data-table thead th[data-column=rating] .data-sort").click()
    data_summary(page, "Rows 1–50 of 60 · sorted by rating, descending")
    assert set(column_texts(page, "rating")[:12]) == {"5"}

    page.locator("#data-filter").fill('sentiment == "positive"')
    page.locator("#data-filter-apply").click()
    data_summary(page, "Rows 1–20 of 20 matching the filter (60 in v1) · sorted by rating, descending")
    assert set(column_texts(page, "sentiment")) == {"positive"}
    shoot(page, "data-tab")

    page.locator("#data-filter").fill("nosuch > 1")
    page.locator("#data-filter-apply").click()
    expect(page.locator("#data-error")).to_have_text("The filter is not valid: Unknown column 'nosuch'")
    page.locator("#data-filter-clear").click()
    page.locator("#data-table thead th[data-column=rating] .data-sort").click()  # back to the file's order
    # The whole text: its start also matches the sorted view, and paging on before the sort has landed would
    # see the sort's answer (back to page 1) arrive after it.
    data_summary(page, "Rows 1–50 of 60", whole=True)
    expect(page).not_to_have_url(re.compile(r"sort="))
    page.locator("#data-next").click()
    data_summary(page, "Rows 51–60 of 60")
    assert view_of(page) == {"tab": ["data"], "page": ["2"]}
    assert column_texts(page, "id")[0] == "50"

    page.reload()
    data_summary(page, "Rows 51–60 of 60")
    assert column_texts(page, "id")[0] == "50" and view_of(page) == {"tab": ["data"], "page": ["2"]}
    page.go_back()
    data_summary(page, "Rows 1–50 of 60")

    page.locator("#tab-quality").click()
    expect(page.locator("#quality-gauges text.title")).to_have_count(5)
    shoot(page, "quality-tab")


def test_download_gives_the_file_and_delete_removes_the_dataset(page: Page, tmp_path: Path) -> None:
    sign_in(page, "data_scientist")
    page.locator(f"#main-nav a[href='{routes.DATASETS}']").click()
    create_dataset(page, "E2E to delete")
    upload(page, feedback_csv(tmp_path))

    page.locator("#download").click()
    with page.expect_download() as event:
        page.get_by_role("menuitem", name="CSV").click()
    download = event.value
    assert download.suggested_filename.endswith("-v1.csv")
    saved = tmp_path / "got.csv"
    download.save_as(saved)
    lines = saved.read_text().splitlines()
    assert lines[0] == f"id,text,sentiment,rating,email,{MARKUP_COLUMN}" and len(lines) == 61

    page.locator("#open-delete").click()
    expect(page.locator("#delete-title")).to_have_text("Delete “E2E to delete”?")
    expect(page.locator("#delete-note")).to_contain_text("removed for good after 30 days")
    page.locator("#delete-cancel").click()
    expect(page.locator("#dataset-name")).to_have_text("E2E to delete")  # nothing happened
    page.locator("#open-delete").click()
    page.locator("#confirm-delete").click()
    expect(page).to_have_url(re.compile(r"/catalog/datasets/?$"))
    expect(page.get_by_text("Deleted “E2E to delete”")).to_be_visible()
    expect(page.locator("#datasets-table .dataset-link", has_text=DEMO_DATASET)).to_be_visible()
    expect(page.locator("#datasets-table .dataset-link", has_text="E2E to delete")).to_have_count(0)


# --- the upload dialog: import options and preview (issue 11) ------------------------------------------------

LOGGER_CSV = (b"# exported by logger v2\n# units: degC\nstation;temp;note\nA;1.5;ok\nB;?;late\nC;2.0;NA\n"
              b"D;3.5;fine\nE;4.0;x\n")


def test_upload_dialog_previews_the_file_and_imports_it_with_the_options_chosen(page: Page, tmp_path: Path) -> None:
    """A semicolon file with `#` comment lines and `?` for a missing value: the preview says what it
    detected and why a column is text; ticking `?` as a missing value makes it a number column, and
    Import stores what the preview showed."""
    path = tmp_path / "logger.csv"
    path.write_bytes(LOGGER_CSV)
    sign_in(page, "data_scientist")
    page.set_viewport_size({"width": 1440, "height": 900})
    page.locator(f"#main-nav a[href='{routes.DATASETS}']").click()
    page.locator("#new-dataset").click()
    page.locator("#name").fill("E2E logger")
    page.locator("#create-dataset-submit").click()
    expect(page.locator("#dataset-version")).to_have_text("no data yet")

    page.locator("#open-upload").click()
    expect(page.locator("#import-options")).to_contain_text("Missing values")
    expect(page.get_by_role("checkbox", name="NA", exact=True)).to_be_checked()
    expect(page.get_by_role("checkbox", name="?", exact=True)).not_to_be_checked()  # offered, not a default
    page.locator("#dataset-upload input[type=file]").set_input_files(str(path))
    page.locator("#upload-preview").click()
    expect(page.locator("#upload-preview-panel")).to_contain_text("Preview of logger.csv")
    facts = page.locator("#preview-facts")
    expect(facts).to_contain_text("Semicolon (detected)")
    expect(facts).to_contain_text("starting with # (detected)")
    expect(facts).to_contain_text("NA × 1")
    expect(page.locator("#preview-table tbody tr")).to_have_count(5)
    expect(page.locator("#preview-table thead th").nth(1)).to_contain_text("String")
    expect(page.locator(".preview-warning", has_text="because of '?'")).to_be_visible()
    expect(page.locator(".preview-warning", has_text="skipped as comments")).to_be_visible()
    shoot(page, "upload-preview")

    page.get_by_role("checkbox", name="?", exact=True).click()
    expect(page.locator("#preview-table thead th").nth(1)).to_contain_text("Float · 1 missing")
    expect(page.locator(".preview-warning", has_text="'?'")).to_have_count(0)
    choose(page, "#import-separator", "Comma ( , )")  # a wrong separator: one column, and the preview says so
    expect(page.locator("#preview-table thead th")).to_have_count(1)
    expect(page.locator(".preview-warning", has_text="one column")).to_be_visible()
    choose(page, "#import-separator", "Detect")
    expect(page.locator("#preview-table thead th")).to_have_count(3)
    page.locator("#upload-submit").scroll_into_view_if_needed()
    shoot(page, "upload-options")

    page.locator("#upload-submit").click()  # "Import logger.csv": nothing is sent again
    expect(page.locator("#dataset-version")).to_have_text("v1")
    expect(page.get_by_text("Stored as version 1: 5 records, 3 columns")).to_be_visible()
    page.locator("#tab-schema").click()
    expect(page.locator("#schema-table")).to_contain_text("temp")
    expect(page.locator("#schema-table tr", has_text="temp")).to_contain_text("Float")
    page.reload()
    expect(page.locator("#dataset-version")).to_have_text("v1")
