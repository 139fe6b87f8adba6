"""The experiment page's "Optimise hyperparameters" dialog: the search space editor's rows as the
configuration, the tuning service's TRAIN_003 errors next to the dialog's fields, and a successful start
closing the dialog and showing the Study panel (trials done of the total, best trial so far)."""

from __future__ import annotations

import asyncio

import pytest
from reflex.istate.data import ReflexURL, RouterData
from sqlalchemy import update

from aisystem_app.state.catalog.experiments.detail import ExperimentState
from aisystem_app.state.catalog.experiments.optimise import OptimiseState, field_errors, search_space
from backend.auth.principal import Principal
from backend.catalog.experiments import service as experiments
from backend.core.db import session_scope
from backend.jobs.models import Job
from backend.tuning.models import Trial
from tests.aisystem_app.conftest import signed_in_as
from tests.backend.training.conftest import make_dataset

pytestmark = pytest.mark.anyio


@pytest.fixture
def scientist(demo_users, sent):
    return Principal(user_id=demo_users["data_scientist"], username="data_scientist", role="data_scientist",
                     credential_type="session")


@pytest.fixture
def experiment(scientist) -> tuple[str, str]:
    with session_scope() as s:
        dataset_id = make_dataset(s, scientist, name="blobs for tuning")
        created = experiments.create_experiment(session=s, actor=scientist, data={
            "name": "Blobs tuning", "datasetId": dataset_id, "type": "hyperparameter_optimization",
            "objective": "maximize_accuracy"})
        return created.id, dataset_id


async def open_dialog(root_state, user_id: str, experiment_id: str, dataset_id: str) -> OptimiseState:
    await signed_in_as(root_state, user_id)
    page = await root_state.get_state(ExperimentState)
    page.router = RouterData(url=ReflexURL(f"http://testserver/catalog/experiments/{experiment_id}"))
    await ExperimentState.load.fn(page)
    state = await root_state.get_state(OptimiseState)
    state.router = page.router
    await OptimiseState.open_dialog.fn(state, dataset_id)
    await OptimiseState.choose_dataset.fn(state, dataset_id)  # what the returned event does
    OptimiseState.choose_family.fn(state, "tabular_mlp")
    assert state.open and state.dataset_id == dataset_id and state.version == "1" and state.label_column == "label"
    assert "learningRate" in state.hyperparameters and state.rows[0]["name"] == "learningRate"
    return state


def test_rows_become_the_search_space() -> None:
    rows = [{"name": "learningRate", "type": "float", "min": "0.001", "max": "0.1", "log": "true", "values": ""},
            {"name": "batchSize", "type": "int", "min": "16", "max": "", "log": "true", "values": ""},
            {"name": "optimizer", "type": "choice", "min": "1", "max": "", "log": "", "values": "adam, sgd ,"},
            {"name": "", "type": "float", "min": "", "max": "", "log": "", "values": ""}]
    assert search_space(rows) == {
        "learningRate": {"type": "float", "min": "0.001", "max": "0.1", "scale": "log"},
        "batchSize": {"type": "int", "min": "16"},  # log only for floats; the service names the missing max
        "optimizer": {"type": "choice", "values": ["adam", "sgd"]},
    }


def test_errors_map_to_the_dialog_fields() -> None:
    details = {"fields": [{"field": "searchSpace.learningRate.min", "message": "Input should be a valid number"},
                          {"field": "searchSpace", "message": "name at least one hyperparameter"},
                          {"field": "maxTrials", "message": "Input should be less than or equal to 1000"},
                          {"field": "batchSize", "message": "must be at least 1"}]}
    assert field_errors(details) == {"space:learningRate": "Input should be a valid number",
                                     "space": "name at least one hyperparameter",
                                     "maxTrials": "Input should be less than or equal to 1000",
                                     "form": "batchSize: must be at least 1"}


async def test_the_button_shows_only_to_those_who_may_train(root_state, demo_users, experiment) -> None:
    experiment_id, _ = experiment
    await signed_in_as(root_state, demo_users["data_scientist"])
    page = await root_state.get_state(ExperimentState)
    page.router = RouterData(url=ReflexURL(f"http://testserver/catalog/experiments/{experiment_id}"))
    await ExperimentState.load.fn(page)
    assert page.found and page.may_optimise and not page.has_study
    await signed_in_as(root_state, demo_users["ml_engineer"])  # training:* and experiment:*: anyone's
    await ExperimentState.load.fn(page)
    assert page.found and page.may_optimise
    await signed_in_as(root_state, demo_users["ml_ops"])  # may not read experiments, nor train
    await ExperimentState.load.fn(page)
    assert not page.found and not page.may_optimise


async def test_service_errors_show_next_to_the_fields(root_state, demo_users, experiment, sent) -> None:
    experiment_id, dataset_id = experiment
    state = await open_dialog(root_state, demo_users["data_scientist"], experiment_id, dataset_id)
    before = len(sent)
    OptimiseState.set_row.fn(state, 0, "min", "0.5")
    OptimiseState.set_row.fn(state, 0, "max", "0.1")
    await OptimiseState.submit.fn(state, {"maxTrials": "1000000000", "parallelTrials": "2"})
    assert state.open and not state.starting and state.form_error.startswith("Check the highlighted fields")
    assert "maxTrials" in state.errors  # pydantic's bound, named before the ranges are checked
    await OptimiseState.submit.fn(state, {"maxTrials": "4", "parallelTrials": "2"})
    assert state.errors == {"space:learningRate": "min 0.5 > max 0.1"}
    OptimiseState.set_row.fn(state, 0, "type", "choice")
    OptimiseState.set_row.fn(state, 0, "type", "wrong")  # ignored: not a type
    assert state.rows[0]["type"] == "choice"
    await OptimiseState.submit.fn(state, {"maxTrials": "4", "parallelTrials": "2", "maxEpochs": "1000000"})
    assert "maxEpochs" in state.errors or "space:learningRate" in state.errors
    assert len(sent) == before  # nothing queued, nothing half-written
    with session_scope(write=False) as s:
        from sqlmodel import select

        from backend.tuning.models import Study
        assert s.exec(select(Study)).first() is None


async def test_a_started_study_shows_in_the_panel(root_state, demo_users, experiment, sent) -> None:
    experiment_id, dataset_id = experiment
    state = await open_dialog(root_state, demo_users["data_scientist"], experiment_id, dataset_id)
    OptimiseState.set_row.fn(state, 0, "min", "0.001")
    OptimiseState.set_row.fn(state, 0, "max", "0.1")
    OptimiseState.set_row.fn(state, 0, "log", True)
    OptimiseState.choose_strategy.fn(state, "random")
    before = len(sent)  # the dataset's own jobs (its upload's)
    event = await OptimiseState.submit.fn(state, {"maxTrials": "2", "parallelTrials": "2", "maxEpochs": "2"})
    assert not state.open and state.errors == {} and event is ExperimentState.load
    with session_scope(write=False) as s:
        kinds = sorted(s.get(Job, job_id).type for job_id in sent[before:])
    assert kinds.count("training.train") == 2, kinds  # two trials queued at once
    page = await root_state.get_state(ExperimentState)
    await ExperimentState.load.fn(page)
    assert page.has_study and page.live  # the page's live refresh follows the running study
    assert page.study["statusText"] == "Running" and page.study["progress"] == "0 of 2 trials done"
    assert page.study["percent"] == 0 and page.study["strategy"] == "Random" and page.study["bestName"] == ""


async def test_the_panel_follows_the_study_live(root_state, demo_users, experiment, sent, monkeypatch) -> None:
    from aisystem_app.state.catalog.experiments import detail as detail_module

    monkeypatch.setattr(detail_module, "LIVE_SECONDS", 0.05)
    experiment_id, dataset_id = experiment
    state = await open_dialog(root_state, demo_users["data_scientist"], experiment_id, dataset_id)
    OptimiseState.set_row.fn(state, 0, "min", "0.001")
    OptimiseState.set_row.fn(state, 0, "max", "0.1")
    await OptimiseState.submit.fn(state, {"maxTrials": "2", "parallelTrials": "2", "maxEpochs": "2"})
    page = await root_state.get_state(ExperimentState)
    await ExperimentState.load.fn(page)
    assert page.live and page.study["strategy"] == "Bayesian (TPE)"
    follower = asyncio.ensure_future(ExperimentState.follow_live.fn(page))
    await asyncio.sleep(0.2)
    assert not follower.done()
    with session_scope() as s:  # play a worker finishing the first trial
        s.execute(update(Trial).where(Trial.number == 0).values(
            status="completed", values=[0.875], parameters={"learningRate": 0.01}))
    result = await asyncio.wait_for(follower, 5)
    assert result is ExperimentState.load  # a trial ended: the page re-reads its runs
    assert page.study["progress"] == "1 of 2 trials done" and page.study["percent"] == 50
    assert page.study["bestName"] == "Trial 0" and page.study["bestObjective"] == "87.5%"
    assert page.study["bestParams"] == [{"key": "Learning rate", "value": "0.01"}]
