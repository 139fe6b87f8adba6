"""The dataset pages' states without a browser: signed-out and unpermitted callers are refused, a
dataset's ACL hides it, and the forms check the service's rules before anything is sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData
from sqlmodel import select

from aisystem_app import routes
from aisystem_app.state.catalog.datasets.detail import DatasetDetailState
from aisystem_app.state.catalog.datasets.forms import parse_split, parse_step
from aisystem_app.state.catalog.datasets.index import DatasetsState
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets import storage
from backend.catalog.datasets.models import Dataset, DatasetVersion
from backend.core.db import session_scope
from tests.aisystem_app.conftest import follow, navigation, signed_in_as
from tests.aisystem_app.test_state_security import as_list, redirects_to
from tests.backend.catalog.datasets.conftest import FEEDBACK_CSV

SPLIT_FORM = {"train": "0.6", "validation": "0.2", "test": "0.2", "seed": "7", "stratify_by": "sentiment"}


def at(state, dataset_id: str) -> None:  # noqa: ANN001
    """Put the tab on the dataset's page, as navigating there does."""
    state.router = RouterData(url=ReflexURL(f"http://testserver{routes.DATASETS}/{dataset_id}"))


def own_dataset(principals, owner: str = "data_scientist", data: bytes | None = FEEDBACK_CSV) -> str:
    """A dataset created (and filled) through the service by `owner`; nobody else shares it."""
    with session_scope() as session:
        dataset = datasets.create_dataset(session=session, actor=principals[owner],
                                          data={"name": "Private feedback", "type": "tabular"})
        if data is not None:
            datasets.upload(session=session, actor=principals[owner], dataset_id=dataset.id,
                            source=datasets.read_upload_bytes(data), filename="feedback.csv")
        return dataset.id


def version_count(dataset_id: str) -> int:
    with session_scope() as session:
        return len(session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)).all())


def toasted(events) -> bool:  # noqa: ANN001
    """Whether the handler reported a failure with a toast."""
    return any("toast" in str(e) for e in events)


async def detail_for(root_state, user_id: str | None, dataset_id: str) -> DatasetDetailState:  # noqa: ANN001
    await signed_in_as(root_state, user_id)
    state = await root_state.get_state(DatasetDetailState)
    at(state, dataset_id)
    state.dataset_id = dataset_id
    return state


async def chunks_of(data: bytes, filename: str = "data.csv", size: int = 7) -> rx.UploadChunkIterator:
    """An upload as Reflex hands it to a streaming handler: chunks of one file, then the end."""
    iterator = rx.UploadChunkIterator(maxsize=10_000)
    for offset in range(0, len(data), size):
        await iterator.push(rx.UploadChunk(filename=filename, offset=offset, content_type="text/csv",
                                           data=data[offset:offset + size]))
    await iterator.finish()
    return iterator


# --- refusals --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state_cls", [DatasetsState, DatasetDetailState], ids=lambda s: s.__name__)
def test_only_public_handlers_and_no_setters(state_cls) -> None:
    assert not any(name.startswith(("_", "set_")) for name in state_cls.event_handlers)
    assert "_steps" not in DatasetDetailState.base_vars and "_columns" not in DatasetDetailState.base_vars


@pytest.mark.anyio
async def test_signed_out_tabs_are_sent_to_login_and_change_nothing(root_state, principals) -> None:
    dataset_id = own_dataset(principals)
    await signed_in_as(root_state, None)
    listing = await root_state.get_state(DatasetsState)
    assert redirects_to(as_list(await DatasetsState.load.fn(listing)), routes.LOGIN)
    assert redirects_to(as_list(await DatasetsState.create.fn(listing, {"name": "Forged", "type": "tabular"})),
                        routes.LOGIN)
    detail = await detail_for(root_state, None, dataset_id)
    detail._steps = [{"op": "drop", "columns": ["email"]}]
    for events in (await DatasetDetailState.load.fn(detail),
                   await DatasetDetailState.split.fn(detail, SPLIT_FORM),
                   await DatasetDetailState.run_transform.fn(detail, {}),
                   await DatasetDetailState.share.fn(detail, {"subject_type": "role", "subject": "business_user"}),
                   await DatasetDetailState.upload.fn(detail, await chunks_of(b"a,b\n1,2\n"))):
        assert redirects_to(as_list(events), routes.LOGIN)
    assert version_count(dataset_id) == 1 and not detail.found
    with session_scope() as session:
        assert session.exec(select(Dataset).where(Dataset.name == "Forged")).first() is None


@pytest.mark.anyio
async def test_a_business_user_may_not_list_create_or_change(root_state, demo_users, principals) -> None:
    dataset_id = own_dataset(principals)
    await signed_in_as(root_state, demo_users["business_user"])
    listing = await root_state.get_state(DatasetsState)
    assert not as_list(await DatasetsState.load.fn(listing))  # refused in place: the page explains
    assert not listing.allowed and listing.rows == [] and not listing.may_create
    assert toasted(as_list(await DatasetsState.create.fn(listing, {"name": "Mine", "type": "tabular"})))
    detail = await detail_for(root_state, demo_users["business_user"], dataset_id)
    assert toasted(as_list(await DatasetDetailState.load.fn(detail)))
    assert not detail.found and detail.name == ""
    assert toasted(as_list(await DatasetDetailState.split.fn(detail, SPLIT_FORM)))
    with session_scope() as session:
        row = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)).one()
        assert row.split is None
        assert session.exec(select(Dataset).where(Dataset.name == "Mine")).first() is None


@pytest.mark.anyio
async def test_a_dataset_not_shared_is_not_found_for_another_data_role(root_state, demo_users,
                                                                       principals) -> None:
    dataset_id = own_dataset(principals)
    detail = await detail_for(root_state, demo_users["data_engineer"], dataset_id)
    events = as_list(await DatasetDetailState.load.fn(detail))
    assert toasted(events) and not detail.found and detail.fields == []
    detail._steps = [{"op": "drop", "columns": ["email"]}]
    assert toasted(as_list(await DatasetDetailState.run_transform.fn(detail, {})))
    assert toasted(as_list(await DatasetDetailState.upload.fn(detail, await chunks_of(b"a,b\n1,2\n"))))
    assert version_count(dataset_id) == 1


# --- the forms --------------------------------------------------------------------------------------------


def test_split_ratios_must_sum_to_one_and_steps_name_columns() -> None:
    problems, request = parse_split({**SPLIT_FORM, "train": "0.7"})
    assert request is None and "sum to 1" in problems["ratios"]
    assert parse_split({**SPLIT_FORM, "seed": "x"})[0] == {"seed": "Enter a whole number"}
    assert parse_split(SPLIT_FORM)[1].stratify_by == "sentiment"
    assert parse_step("drop", "", "")[0] == {"columns": "Name at least one column"}
    assert parse_step("filter", "", "rating >= 3")[1] == {"op": "filter", "expression": "rating >= 3"}


# --- the owner's flow -------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_create_upload_split_and_transform(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["data_scientist"])
    listing = await root_state.get_state(DatasetsState)
    assert not (await DatasetsState.create.fn(listing, {"name": "", "type": "tabular"}))
    assert listing.name_error == "Give the dataset a name"
    events = as_list(await DatasetsState.create.fn(listing, {"name": "Feedback <b>", "type": "tabular"}))
    with session_scope() as session:
        dataset_id = session.exec(select(Dataset.id).where(Dataset.name == "Feedback <b>")).one()
    assert redirects_to(events, f"{routes.DATASETS}/{dataset_id}")

    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    await DatasetDetailState.load.fn(detail)
    assert detail.found and detail.may_write and not detail.has_data
    await DatasetDetailState.upload.fn(detail, await chunks_of(FEEDBACK_CSV))
    assert not detail.uploading and detail.upload_error == "" and detail.has_data
    assert {c.name for c in detail.profile_columns} == {"id", "text", "sentiment", "rating", "email"}
    # The chart opens on the first column that is not a unique key (id and text are: 10 distinct in 10 rows).
    assert detail.selected_column == "sentiment" and detail.scores and detail.stats["records"] == "10"
    assert detail.column_facts[0].value == "string"

    await DatasetDetailState.split.fn(detail, {**SPLIT_FORM, "train": "0.7"})
    assert "sum to 1" in detail.split_errors["ratios"]
    await DatasetDetailState.split.fn(detail, SPLIT_FORM)
    assert detail.split_text.startswith("train 60%") and "stratified by sentiment" in detail.split_text

    detail.step_op = "drop"
    DatasetDetailState.add_step.fn(detail, {"columns": "email", "argument": ""})
    DatasetDetailState.choose_step.fn(detail, "filter")
    DatasetDetailState.add_step.fn(detail, {"columns": "", "argument": "nosuch > 1"})
    refused = as_list(await DatasetDetailState.run_transform.fn(detail, {"message": "no emails"}))
    assert not refused  # shown in the dialog, no toast
    assert "nosuch" in detail.step_errors["form"] and version_count(dataset_id) == 1  # DATA_003, inline
    DatasetDetailState.remove_step.fn(detail, 1)
    await DatasetDetailState.run_transform.fn(detail, {"message": "no emails"})
    assert version_count(dataset_id) == 2 and detail.version == "v2"
    newest = detail.versions[0]
    assert newest.origin == "Transformed from v1" and newest.steps == ["Drop columns: email"]
    assert "email" not in detail.column_names
    relations = {(r["from"], r["relation"], r["to"]) for r in detail.lineage}  # the Lineage tab
    assert ("Feedback <b> v2 (dataset version)", "was derived from", "Feedback <b> v1 (dataset version)") in relations
    assert ("Feedback <b> (dataset)", "has version", "Feedback <b> v2 (dataset version)") in relations

    await DatasetDetailState.share.fn(detail, {"subject_type": "user", "subject": "nobody", "permission": "read"})
    assert detail.share_errors["subject"] == "No user has this username" and detail.access == []
    await DatasetDetailState.share.fn(detail, {"subject_type": "user", "subject": "data_engineer",
                                               "permission": "write"})
    assert [(a.subject_label, a.permission) for a in detail.access] == [("data_engineer", "write")]
    assert detail.access[0].subject == demo_users["data_engineer"] and detail.share_errors["subject"] == ""


@pytest.mark.anyio
async def test_an_upload_over_the_limit_keeps_nothing(root_state, demo_users, principals, monkeypatch) -> None:
    from backend.core.config import get_settings

    dataset_id = own_dataset(principals, data=None)
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 10)
    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    staging = storage.root() / "staging"
    before = set(staging.iterdir()) if staging.exists() else set()  # another test's upload may still be ending
    await asyncio.wait_for(DatasetDetailState.upload.fn(detail, await chunks_of(FEEDBACK_CSV)), 30)
    assert "over the limit" in detail.upload_error and version_count(dataset_id) == 0
    assert set(staging.iterdir()) <= before


# --- the view in the URL -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_the_url_restores_the_list(root_state, demo_users, principals) -> None:
    dataset_id = own_dataset(principals)
    await signed_in_as(root_state, demo_users["data_scientist"])
    listing = await root_state.get_state(DatasetsState)
    listing.router = RouterData(url=ReflexURL(f"http://testserver{routes.DATASETS}?q=private&type=tabular&sort=name"))
    await DatasetsState.load.fn(listing)
    assert (listing.query, listing.type_filter, listing.sort) == ("private", "tabular", "name")
    assert [r["id"] for r in listing.rows] == [dataset_id]
    path, replace = await follow(listing, DatasetsState.filter_type.fn(listing, "text"))
    assert path == f"{routes.DATASETS}?q=private&type=text&sort=name" and not replace
    assert listing.rows == [] and listing.type_filter == "text"
    await follow(listing, DatasetsState.filter_type.fn(listing, "all"))
    assert listing.type_filter == "all" and "type=" not in listing.router.url.query


@pytest.mark.anyio
async def test_the_url_names_the_tab_and_the_profile_column(root_state, demo_users, principals) -> None:
    dataset_id = own_dataset(principals)
    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    detail.router = RouterData(url=ReflexURL(f"http://testserver{routes.DATASETS}/{dataset_id}?tab=profile&column=rating"))
    await DatasetDetailState.load.fn(detail)
    assert detail.found and detail.tab == "profile" and detail.selected_column == "rating"
    path, replace = await follow(detail, DatasetDetailState.choose_tab.fn(detail, "quality"))
    assert path == f"{routes.DATASETS}/{dataset_id}?tab=quality&column=rating" and not replace
    assert detail.tab == "quality" and detail.found
    path, replace = navigation(DatasetDetailState.select_column.fn(detail, "sentiment"))
    assert path.endswith("column=sentiment") and replace and detail.selected_column == "sentiment"



# --- the Data tab, download and delete -------------------------------------------------------------------


def numbered_csv(rows: int) -> bytes:
    """`rows` rows with a number, a score (every seventh missing) and a name."""
    lines = ["n,score,name"] + [f"{i},{'' if i % 7 == 0 else (i * 37) % 101},name {i}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def opened(state, dataset_id: str, query: str) -> None:  # noqa: ANN001
    state.router = RouterData(url=ReflexURL(f"http://testserver{routes.DATASETS}/{dataset_id}?{query}"))


def column_of(state, name: str) -> list[str]:  # noqa: ANN001
    at = [c.name for c in state.data_columns].index(name)
    return [row.cells[at].text for row in state.data_rows]


@pytest.mark.anyio
async def test_the_data_tab_pages_sorts_and_filters_in_the_url(root_state, demo_users, principals) -> None:
    dataset_id = own_dataset(principals, data=numbered_csv(120))
    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    opened(detail, dataset_id, "tab=data")
    await DatasetDetailState.load.fn(detail)
    assert detail.tab == "data" and detail.data_version == "v1" and detail.data_versions == ["v1"]
    assert [c.name for c in detail.data_columns] == ["n", "score", "name"]
    assert [c.type for c in detail.data_columns] == ["Integer", "Integer", "String"]
    assert detail.data_summary == "Rows 1–50 of 120" and detail.data_has_next
    assert column_of(detail, "n")[:3] == ["0", "1", "2"] and detail.data_rows[0].number == "1"
    missing = detail.data_rows[0].cells[1]
    assert missing.text == "null" and missing.null  # a missing score is marked, not an empty string

    path, replace = await follow(detail, DatasetDetailState.next_rows.fn(detail))
    assert path.endswith("?tab=data&page=2") and not replace
    assert detail.data_summary == "Rows 51–100 of 120" and column_of(detail, "n")[0] == "50"

    path, _ = await follow(detail, DatasetDetailState.sort_rows.fn(detail, "score"))
    assert path.endswith("?tab=data&sort=score") and detail.data_page == 1  # a new order starts at page 1
    scores = [int(s) for s in column_of(detail, "score")]
    assert scores == sorted(scores) and detail.data_columns[1].sort == "ascending"
    path, _ = await follow(detail, DatasetDetailState.sort_rows.fn(detail, "score"))
    assert path.endswith("sort=score&order=desc") and column_of(detail, "score")[0] == "100"
    assert "sorted by score, descending" in detail.data_summary

    path, _ = await follow(detail, DatasetDetailState.filter_rows.fn(detail, {"filter": "n < 30  and score is not null"}))
    assert "filter=n+%3C+30+and+score+is+not+null" in path
    assert detail.data_summary.startswith("Rows 1–25 of 25 matching the filter (120 in v1)")
    assert detail.data_filter == "n < 30 and score is not null" and not detail.data_has_next

    # A reload (or a shared link) of the same URL shows the same rows, in a fresh tab too.
    shown = [row.number for row in detail.data_rows]
    fresh = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    fresh.router = detail.router
    fresh._data_key = ()
    await DatasetDetailState.load.fn(fresh)
    assert [row.number for row in fresh.data_rows] == shown and fresh.data_filter == detail.data_filter

    await follow(detail, DatasetDetailState.filter_rows.fn(detail, {"filter": "nosuch > 1"}))
    assert detail.data_error == "The filter is not valid: Unknown column 'nosuch'" and detail.data_rows == []
    await follow(detail, DatasetDetailState.reset_rows.fn(detail))
    assert detail.data_error == "" and detail.data_summary == "Rows 1–50 of 120"
    assert detail.router.url.query == "tab=data"


@pytest.mark.anyio
async def test_the_data_tab_shows_an_older_version(root_state, demo_users, principals) -> None:
    dataset_id = own_dataset(principals)
    with session_scope() as session:
        datasets.upload(session=session, actor=principals["data_scientist"], dataset_id=dataset_id,
                        source=datasets.read_upload_bytes(numbered_csv(3)), filename="small.csv")
    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    opened(detail, dataset_id, "tab=data")
    await DatasetDetailState.load.fn(detail)
    assert detail.data_version == "v2" and detail.data_versions == ["v2", "v1"] and len(detail.data_rows) == 3
    path, _ = await follow(detail, DatasetDetailState.show_version.fn(detail, "v1"))
    assert path.endswith("tab=data&version=1") and detail.data_version == "v1" and len(detail.data_rows) == 10
    assert navigation(DatasetDetailState.show_version.fn(detail, "v2"))[0].endswith("?tab=data")  # newest: no param
    assert DatasetDetailState.show_version.fn(detail, "nonsense") is None


@pytest.mark.anyio
async def test_download_hands_the_browser_the_ui_download_path(root_state, demo_users, principals) -> None:
    dataset_id = own_dataset(principals)
    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    await DatasetDetailState.load.fn(detail)
    events = as_list(await DatasetDetailState.download.fn(detail, "csv", ""))
    download = next(e for e in events if "download" in e.handler.fn.__qualname__)
    args = {name._js_expr: value._var_value for name, value in download.args}
    assert args["url"] == f"/files/datasets/{dataset_id}?version=1&format=csv"
    assert args["filename"].endswith("-v1.csv") and not detail.downloading
    assert toasted(as_list(await DatasetDetailState.download.fn(detail, "exe", "")))
    assert toasted(as_list(await DatasetDetailState.download.fn(detail, "csv", "v9")))
    stranger = await detail_for(root_state, demo_users["data_engineer"], dataset_id)
    assert toasted(as_list(await DatasetDetailState.download.fn(stranger, "parquet", "")))


@pytest.mark.anyio
async def test_only_the_owner_deletes_and_the_page_returns_to_the_list(root_state, demo_users, principals) -> None:
    dataset_id = own_dataset(principals)
    with session_scope() as session:
        datasets.share(session=session, actor=principals["data_scientist"], dataset_id=dataset_id,
                       entry={"subject_type": "user", "subject": demo_users["data_engineer"], "permission": "write"})
    writer = await detail_for(root_state, demo_users["data_engineer"], dataset_id)
    await DatasetDetailState.load.fn(writer)
    assert writer.found and writer.may_write and not writer.may_delete  # no Delete button
    assert toasted(as_list(await DatasetDetailState.delete_dataset.fn(writer)))  # a forged event changes nothing

    owner = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    await DatasetDetailState.load.fn(owner)
    assert owner.may_delete
    DatasetDetailState.open_delete.fn(owner, True)
    assert owner.delete_open and "removed for good after 30 days" in owner.delete_note
    with session_scope() as session:
        assert session.get(Dataset, dataset_id).deleted_at is None
    events = as_list(await DatasetDetailState.delete_dataset.fn(owner))
    assert redirects_to(events, routes.DATASETS) and not owner.delete_open
    assert any("Deleted “Private feedback”" in str(e) for e in events)
    with session_scope() as session:
        assert session.get(Dataset, dataset_id).status == "deleted"
    listing = await root_state.get_state(DatasetsState)
    await DatasetsState.load.fn(listing)
    assert dataset_id not in [r["id"] for r in listing.rows]


def test_every_quality_gauge_shows_its_name_inside_its_figure() -> None:
    """plotly.js draws a gauge's title above its axis; a visible axis without tick labels put the titles
    above the figure, where nobody saw them. Each gauge now has an invisible axis and room for its title."""
    from aisystem_app.state.catalog.datasets.view import QUALITY_KEYS, quality_figure

    figures = quality_figure({"overall": 0.9, "completeness": 1.0, "validity": 0.5, "consistency": None,
                              "accuracy": 0.75})
    assert [f.data[0].title.text for f in figures] == ["Overall", "Completeness", "Validity",
                                                       "Consistency: no score", "Accuracy"]
    assert len(QUALITY_KEYS) == len(figures) == 5
    for figure in figures:
        gauge = figure.data[0]
        assert gauge.gauge.axis.visible is False and figure.layout.margin.t >= 24
    assert figures[2].data[0].mode == "gauge+number" and figures[3].data[0].mode == "gauge"  # no score: no "0 %"
    assert quality_figure(None) == []


def test_a_column_type_names_the_stored_type_only_when_it_says_more() -> None:
    from aisystem_app.state.catalog.datasets.view import first_column_to_show, type_text

    assert type_text("integer", "Int32") == "integer (Int32)" and type_text("string", "String") == "string"
    columns = {"id": {"distinct": 5}, "city": {"distinct": 2}}
    assert first_column_to_show({"rows": 5, "columns": columns}) == "city"
    assert first_column_to_show({"rows": 5, "columns": {"id": {"distinct": 5}}}) == "id"
    assert first_column_to_show({}) == ""


def test_an_integer_column_histogram_names_the_whole_numbers_in_each_bin() -> None:
    import numpy as np

    from aisystem_app.state.catalog.datasets.view import bin_labels, column_figure
    from backend.catalog.datasets.profiling import histogram_edges

    values = np.arange(1, 3001)
    edges = histogram_edges(1, 3000)
    labels = bin_labels(edges, integers=True)
    counts, _ = np.histogram(values, bins=edges)
    # Each label's whole numbers are the values numpy counts in that bin.
    for label, count in zip(labels, counts, strict=True):
        first, last = (int(x.replace(",", "")) for x in label.split("–"))
        assert last - first + 1 == count
    assert labels[0] == "1–150" and labels[-1] == "2,851–3,000"
    assert bin_labels(histogram_edges(1, 5), integers=True)[0] == "1–1.2"  # bins narrower than 1: their edges
    assert bin_labels(edges)[0] == "1–150.9"  # a float column keeps the edges
    figure = column_figure({"type": "integer", "histogram": {"edges": edges, "counts": counts.tolist()}}, "id")
    assert list(figure.data[0].x)[:2] == ["1–150", "151–300"]
    assert figure.layout.xaxis.title.text == "id (range)" and figure.layout.yaxis.title.text == "Rows"
    top = column_figure({"type": "string", "topValues": [{"value": "email", "count": 3}]}, "<b>channel</b>")
    assert top.layout.xaxis.title.text == "&lt;b&gt;channel&lt;/b&gt;"  # plotly reads tags: the name is escaped


# --- the upload dialog: import options and preview (issue 11) -----------------------------------------------


@pytest.mark.anyio
async def test_the_upload_dialog_previews_with_its_options_and_imports_what_it_showed(root_state, demo_users,
                                                                                      principals) -> None:
    from aisystem_app.state.catalog.datasets.forms import parse_import_options

    dataset_id = own_dataset(principals, data=None)
    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    await DatasetDetailState.load.fn(detail)
    DatasetDetailState.open_upload.fn(detail, True)
    data = (b"# exported by logger v2\n# units: degC\nstation;temp;note\nA;1.5;ok\nB;?;late\nC;2.0;NA\n"
            b"D;3.5;fine\nE;4.0;x\n")
    events = as_list(await DatasetDetailState.preview_upload.fn(detail, await chunks_of(data, "logger.csv")))
    assert not toasted(events) and detail.has_pending and detail.preview_name == "logger.csv"
    facts = {f.label: f.value for f in detail.preview_facts}
    assert facts["Separator"] == "Semicolon (detected)" and facts["Encoding"] == "UTF-8"
    assert facts["Comment lines"] == "starting with # (detected)" and facts["Header"] == "First row (detected)"
    assert facts["Missing values found"] == "NA × 1"
    assert detail.preview_header == ["station", "temp", "note"] and len(detail.preview_rows) == 5
    assert detail.preview_columns[1].type == "String"  # '?' keeps the numbers text…
    assert any("'?'" in w for w in detail.preview_warnings)  # …and the preview says why
    assert detail.preview_rows[2] == ["C", "2.0", "—"]  # NA is a missing value, shown as such
    assert detail.preview_note == "The first 5 rows; types and missing values from all 5 rows."

    assert DatasetDetailState.toggle_na_token.fn(detail, "?", True) is not None  # asks for a new preview
    await DatasetDetailState.refresh_preview.fn(detail)
    assert detail.preview_columns[1].type == "Float" and detail.preview_columns[1].missing == "1 missing"
    assert detail.preview_rows[1] == ["B", "—", "late"] and not any("'?'" in w for w in detail.preview_warnings)

    DatasetDetailState.choose_import_option.fn(detail, "skip_rows", "-3")  # shown under its input; nothing read
    await DatasetDetailState.refresh_preview.fn(detail)
    assert detail.import_errors["skip_rows"] == "Enter a whole number from 0"
    assert DatasetDetailState.choose_import_option.fn(detail, "separator", "nonsense") is None  # not a choice
    DatasetDetailState.choose_import_option.fn(detail, "skip_rows", "0")
    DatasetDetailState.choose_import_option.fn(detail, "separator", ",")  # a wrong separator: one column, and said
    await DatasetDetailState.refresh_preview.fn(detail)
    assert detail.import_errors["skip_rows"] == "" and detail.preview_header == ["station;temp;note"]
    DatasetDetailState.choose_import_option.fn(detail, "separator", "detect")
    await DatasetDetailState.refresh_preview.fn(detail)

    pending = Path(detail._pending)
    await DatasetDetailState.import_previewed.fn(detail)
    assert version_count(dataset_id) == 1 and detail.has_data and not detail.has_pending and not pending.exists()
    assert not detail.upload_open and {f.name: f.type for f in detail.fields}["temp"].lower().startswith("float")
    with session_scope() as session:
        version = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)).one()
        assert "?" in version.import_options["naValues"] and version.source_dialect["separator"] == ";"
        assert version.source_dialect["commentGuessed"] and version.record_count == 5
    assert parse_import_options({"header": "no", "header_rows": "2"}, [""])[0] == {
        "form": "headerRows needs header: a file without a header has no header rows"}


@pytest.mark.anyio
async def test_closing_the_dialog_removes_the_previewed_file_and_a_bad_file_is_explained(root_state, demo_users,
                                                                                         principals) -> None:
    dataset_id = own_dataset(principals, data=None)
    detail = await detail_for(root_state, demo_users["data_scientist"], dataset_id)
    await DatasetDetailState.load.fn(detail)
    DatasetDetailState.open_upload.fn(detail, True)
    await DatasetDetailState.preview_upload.fn(detail, await chunks_of(b"%PDF-1.7\n\x00\x01binary", "report.csv"))
    assert "PDF" in detail.preview_problem and detail.preview_facts == []
    pending = Path(detail._pending)
    assert pending.exists()
    DatasetDetailState.open_upload.fn(detail, False)
    assert not pending.exists() and not detail.has_pending and detail.preview_problem == ""
    # an upload straight from the dialog uses the options chosen there
    DatasetDetailState.open_upload.fn(detail, True)
    DatasetDetailState.choose_import_option.fn(detail, "short_rows", "pad")
    await DatasetDetailState.upload.fn(detail, await chunks_of(b"a,b,c\n1,2,3\n4,5\n", "short.csv"))
    assert detail.upload_error == "" and version_count(dataset_id) == 1
