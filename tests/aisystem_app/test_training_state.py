"""The training pages' states: the new-job form (defaults from the family, the service's field errors next
to the fields, the redirect to the job), the jobs table and one job's page with the controls its state and
the user's permission allow; and the words and figures they show."""

from __future__ import annotations

from datetime import timedelta

import pytest
from reflex.istate.data import ReflexURL, RouterData
from sqlalchemy import update

from aisystem_app.state.training import view
from aisystem_app.state.training.detail import TrainingJobState
from aisystem_app.state.training.index import TrainingJobsState
from aisystem_app.state.training.new import NEW_MODEL, NewTrainingJobState, hyperparameter_fields
from backend.auth.principal import Principal
from backend.core.db import session_scope
from backend.core.timeutil import utcnow
from backend.training.models import TrainingJob
from tests.aisystem_app.conftest import navigation, signed_in_as
from tests.backend.training.conftest import make_dataset

pytestmark = pytest.mark.anyio


@pytest.fixture
def scientist(demo_users, sent):
    return Principal(user_id=demo_users["data_scientist"], username="data_scientist", role="data_scientist",
                     credential_type="session")


@pytest.fixture
def dataset(scientist) -> str:
    with session_scope() as s:
        return make_dataset(s, scientist, name="blobs for the form")


async def at(root_state, state_cls, user_id: str, path: str):
    await signed_in_as(root_state, user_id)
    state = await root_state.get_state(state_cls)
    state.router = RouterData(url=ReflexURL(f"http://testserver{path}"))
    return state


async def open_form(root_state, user_id: str, dataset_id: str) -> NewTrainingJobState:
    state = await at(root_state, NewTrainingJobState, user_id, f"/training/jobs/new?dataset={dataset_id}")
    event = await NewTrainingJobState.load.fn(state)
    assert event is not None and dataset_id in [d["id"] for d in state.datasets]
    await NewTrainingJobState.choose_dataset.fn(state, dataset_id)  # what the returned events do
    assert state.dataset_id == dataset_id and [f["name"] for f in state.families] == ["tabular_mlp",
                                                                                        "text_classifier"]
    NewTrainingJobState.choose_family.fn(state, "tabular_mlp")
    return state


def form_values(state: NewTrainingJobState, **changes: str) -> dict[str, str]:
    values = {f["name"]: f["value"] for f in [*state.fields, *state.trainer_fields]}
    return {**values, "model_name": "Blobs classifier", "name": "", **changes}


def test_family_fields_carry_the_defaults_and_ranges() -> None:
    fields = {f["name"]: f for f in hyperparameter_fields("tabular_mlp")}
    assert [f["name"] for f in hyperparameter_fields("tabular_mlp")][:4] == ["maxEpochs", "learningRate", "batchSize",
                                                                              "optimizer"]
    assert fields["batchSize"]["value"] == "32" and "1 to 65,536" in fields["batchSize"]["help"]
    assert fields["hiddenSizes"]["value"] == "64, 32" and "commas" in fields["hiddenSizes"]["help"]
    assert fields["optimizer"]["kind"] == "choice" and "sgd" in fields["optimizer"]["options"]
    assert fields["learningRate"]["label"] == "Learning rate"


def test_eta_comes_from_progress_and_elapsed_time() -> None:
    now = utcnow()
    doc = {"status": "running", "progress": 0.25, "started_at": now - timedelta(seconds=60), "finished_at": None}
    assert view.eta_text(doc, now) == "about 3 min left"
    assert view.eta_text({**doc, "progress": 0.0}, now) == "Estimating…"
    assert view.eta_text({**doc, "status": "succeeded"}, now) == "Done"
    assert view.eta_text({**doc, "status": "paused"}, now) == view.fmt.NONE
    assert view.status_text({"status": "running", "control": "pause"}).startswith("Pausing")
    assert view.status_text({"status": "succeeded"}) == "Finished"


async def test_bad_hyperparameters_show_next_to_their_fields(root_state, demo_users, dataset) -> None:
    state = await open_form(root_state, demo_users["data_scientist"], dataset)
    assert state.version_split and state.label_column == "label" and state.target == NEW_MODEL
    result = await NewTrainingJobState.submit.fn(state, form_values(state, batchSize="0", maxEpochs="1000000",
                                                                    trainer__devices="64"))
    assert result is None  # the service checks the trainer's settings first, then the hyperparameters
    assert set(state.errors) == {"trainer__devices"} and state.form_error.startswith("Check the highlighted")
    await NewTrainingJobState.submit.fn(state, form_values(state, batchSize="0", maxEpochs="1000000"))
    assert set(state.errors) == {"batchSize", "maxEpochs"}
    assert "greater than or equal to 1" in state.errors["batchSize"]
    with session_scope() as s:
        assert s.query(TrainingJob).count() == 0  # nothing half-made

    await NewTrainingJobState.submit.fn(state, form_values(state, model_name=""))
    assert "model_name" in state.errors


async def test_a_job_from_the_form_then_its_page_and_controls(root_state, demo_users, dataset, sent) -> None:
    user = demo_users["data_scientist"]
    state = await open_form(root_state, user, dataset)
    result = await NewTrainingJobState.submit.fn(state, form_values(state, maxEpochs="3", hiddenSizes="16, 8"))
    target = navigation(result)
    assert target is not None and target[0].startswith("/training/jobs/train_")
    job_id = target[0].rsplit("/", 1)[-1]
    with session_scope() as s:
        job = s.get(TrainingJob, job_id)
        assert job.status == "queued" and job.hyperparameters["hiddenSizes"] == [16, 8]
        assert job.name == "Tabular MLP on blobs for the form v1"
        assert job.model_name == "Blobs classifier"

    page = await at(root_state, TrainingJobState, user, target[0])
    await TrainingJobState.load.fn(page)
    assert page.found and page.status == "queued" and page.status_words == ""  # the badge says it
    assert page.can_cancel and not page.can_pause and not page.can_resume
    assert {"label": "Compute", "value": "Not started yet"} in page.resources
    assert not page.has_curves and page.model_href == ""
    settings = {p["key"]: p["value"] for p in page.hyperparameters}
    assert settings["Hidden sizes"] == "16, 8" and settings["Max epochs"] == "3"
    assert settings["Learning-rate schedule"] == "none" and settings["Gradient clipping (max norm)"] == "Off"

    with session_scope() as s:  # the worker took it
        s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(
            status="running", started_at=utcnow() - timedelta(seconds=30), progress=0.5))
    await TrainingJobState.load.fn(page)
    assert page.can_pause and page.can_stop and page.eta.startswith("about")
    await TrainingJobState.pause.fn(page)
    with session_scope() as s:
        assert s.get(TrainingJob, job_id).control == "pause"
    await TrainingJobState.load.fn(page)
    assert not page.can_pause and page.status_words.startswith("Pausing")

    table = await at(root_state, TrainingJobsState, user, "/training/jobs")
    await TrainingJobsState.load.fn(table)
    row = next(r for r in table.rows if r["id"] == job_id)
    assert row["status"] == "running" and row["progress"] == "50" and row["eta"].startswith("about")
    assert row["family"] == "Tabular MLP" and row["owner"] == "data_scientist" and table.live and table.can_create
    filtered = await at(root_state, TrainingJobsState, user, "/training/jobs?status=succeeded")
    await TrainingJobsState.load.fn(filtered)
    assert filtered.status == "succeeded" and filtered.rows == []


async def test_someone_elses_job_is_not_found(root_state, demo_users, dataset, scientist) -> None:
    from backend.training import service

    with session_scope() as s:
        job = service.create_training_job(session=s, actor=scientist, data={
            "datasetId": dataset, "hyperparameters": {"maxEpochs": 1}})
        job_id = job.id
    page = await at(root_state, TrainingJobState, demo_users["business_user"], f"/training/jobs/{job_id}")
    await TrainingJobState.load.fn(page)
    assert not page.found
    table = await at(root_state, TrainingJobsState, demo_users["business_user"], "/training/jobs")
    await TrainingJobsState.load.fn(table)
    assert not table.allowed


def test_curves_are_a_loss_panel_and_an_accuracy_or_rmse_one() -> None:
    histories = {"loss": [(0, 0.9), (1, 0.7)], "val_loss": [(1, 0.8)], "val_accuracy": [(1, 0.75)]}
    panels = view.curve_panels(histories)
    assert panels == [("Loss", ["loss", "val_loss"]), ("Accuracy (%)", ["val_accuracy"])]
    figure = view.curve_figure(histories, *panels[1])
    assert list(figure.data[0].y) == [75.0] and figure.data[0].name == "Validation"
    assert figure.layout.xaxis.title.text == "Training step"
    assert view.curve_panels({"val_rmse": [(1, 3.2)]}, "price") == [("RMSE (price)", ["val_rmse"])]
