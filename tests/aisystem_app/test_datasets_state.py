"""The dataset pages' states without a browser: signed-out and unpermitted callers are refused, a
dataset's ACL hides it, and the forms check the service's rules before anything is sent."""

from __future__ import annotations

import asyncio

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
    assert detail.selected_column == "id" and detail.scores and detail.stats["records"] == "10"

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
    await asyncio.wait_for(DatasetDetailState.upload.fn(detail, await chunks_of(FEEDBACK_CSV)), 30)
    assert "over the limit" in detail.upload_error and version_count(dataset_id) == 0
    assert not any((storage.root() / "staging").iterdir())


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

