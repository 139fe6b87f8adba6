"""The training routes over HTTP: success and error paths of every route, by role. No worker runs here
(`sent` records the queued jobs); the training itself is tested in test_tasks.py and test_worker.py."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from backend.core.config import reset_settings
from backend.core.db import session_scope
from backend.training.models import TrainingJob
from tests.backend.training.conftest import body, make_dataset

API = "/api/v1/training/jobs"


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    return error


def _fields(error: dict) -> set[str]:
    return {f["field"] for f in error["details"].get("fields", [])}


def _count() -> int:
    with session_scope(write=False) as s:
        return s.exec(select(func.count()).select_from(TrainingJob)).one()


@pytest.fixture
def ds(auth):
    return auth.headers("data_scientist")


def create(api, headers, dataset, **overrides) -> dict:
    response = api.post(API, json=body(dataset, **overrides), headers=headers)
    assert response.status_code == 202, response.text
    return response.json()


def test_create_queues_a_job_with_a_run_on_the_training_queue(api, ds, dataset, sent):
    job = create(api, ds, dataset)
    assert job["status"] == "queued" and job["family"] == "tabular_mlp" and job["task"] == "classification"
    assert job["hyperparameters"]["maxEpochs"] == 2 and job["trainer"]["devices"] == 1
    assert sent.routes[job["jobId"]] == ("training", False)
    run = api.get(f"/api/v1/catalog/experiments/runs/{job['runId']}", headers=ds).json()
    assert run["status"] == "SCHEDULED" and run["jobId"] == job["jobId"]
    assert api.get(f"{API}/{job['id']}", headers=ds).json()["id"] == job["id"]


@pytest.mark.parametrize(("section", "values", "field"), [
    ("hyperparameters", {"maxEpochs": 10**6}, "maxEpochs"),
    ("hyperparameters", {"batchSize": 0}, "batchSize"),
    ("trainer", {"devices": 64}, "devices"),
    ("hyperparameters", {"learningRate": -1}, "learningRate"),
])
def test_out_of_range_values_are_train_003_and_nothing_is_queued(api, ds, dataset, sent, section, values, field):
    response = api.post(API, json=body(dataset, **{section: values}), headers=ds)
    assert field in _fields(_error(response, 422, "TRAIN_003"))
    assert _count() == 0 and not sent


def test_a_dataset_without_a_split_or_missing_is_refused_before_queueing(api, ds, session, principals, sent):
    unsplit = make_dataset(session, principals["data_scientist"], split=None, name="unsplit")
    response = api.post(API, json=body(unsplit), headers=ds)
    assert response.status_code in (409, 422) and response.json()["error"]["code"] == "DATA_004", response.text
    _error(api.post(API, json=body("dataset_nope"), headers=ds), 404, "DATA_001")
    response = api.post(API, json=body(unsplit, labelColumn="nope"), headers=ds)
    assert response.json()["error"]["code"] in ("DATA_004", "TRAIN_003", "REQ_001"), response.text
    _error(api.post(API, json={**body(unsplit), "surprise": 1}, headers=ds), 422, "REQ_001")
    assert _count() == 0 and not sent


def test_roles(api, auth, dataset, session, principals, sent):
    _error(api.post(API, json=body(dataset), headers=auth.headers("business_user")), 403, "AUTH_002")
    _error(api.get(API, headers=auth.headers("business_user")), 403, "AUTH_002")
    mine = create(api, auth.headers("data_scientist"), dataset)
    engineers = make_dataset(session, principals["ml_engineer"], name="engineer's")
    theirs = create(api, auth.headers("ml_engineer"), engineers, modelName="engineer model")
    listed = [j["id"] for j in api.get(API, headers=auth.headers("data_scientist")).json()["items"]]
    assert listed == [mine["id"]]
    everyone = {j["id"] for j in api.get(API, headers=auth.headers("ml_engineer")).json()["items"]}
    assert everyone == {mine["id"], theirs["id"]}
    # Another user's job is not found, for reading and for control.
    _error(api.get(f"{API}/{theirs['id']}", headers=auth.headers("data_scientist")), 404, "TRAIN_006")
    _error(api.delete(f"{API}/{theirs['id']}", headers=auth.headers("data_scientist")), 404, "TRAIN_006")
    assert api.get(f"{API}/{mine['id']}", headers=auth.headers("ml_engineer")).status_code == 200


def test_unknown_ids_are_train_006_on_every_route(api, ds):
    for method, path in [("get", ""), ("put", ""), ("delete", ""), ("post", "/start"), ("post", "/pause"),
                         ("post", "/resume"), ("post", "/stop"), ("get", "/config"), ("put", "/config"),
                         ("get", "/hyperparameters"), ("put", "/hyperparameters"), ("get", "/metrics"),
                         ("get", "/logs"), ("get", "/checkpoints"), ("post", "/checkpoints/x/restore")]:
        kwargs = {"json": {}} if method in ("put",) else {}
        response = getattr(api, method)(f"{API}/train_nope{path}", headers=ds, **kwargs)
        _error(response, 404, "TRAIN_006")


def test_a_job_created_unstarted_changes_then_starts(api, ds, dataset, sent):
    job = create(api, ds, dataset, start=False)
    assert job["status"] == "created" and job["jobId"] is None and not sent
    response = api.put(f"{API}/{job['id']}", json={"name": "renamed", "hyperparameters": {"maxEpochs": 3}},
                       headers=ds)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "renamed" and response.json()["hyperparameters"]["maxEpochs"] == 3
    assert "batchSize" in _fields(_error(api.put(f"{API}/{job['id']}", json={"hyperparameters": {"batchSize": 0}},
                                                 headers=ds), 422, "TRAIN_003"))
    config = api.get(f"{API}/{job['id']}/config", headers=ds).json()
    assert config["family"] == "tabular_mlp" and config["labelColumn"] == "label"
    response = api.put(f"{API}/{job['id']}/config", json={"trainer": {"patience": 2, "minDelta": 0.01}}, headers=ds)
    assert response.status_code == 200 and response.json()["trainer"]["patience"] == 2, response.text
    _error(api.put(f"{API}/{job['id']}/config", json={"trainer": {"devices": 64}}, headers=ds), 422, "TRAIN_003")
    response = api.put(f"{API}/{job['id']}/hyperparameters", json={"maxEpochs": 2, "learningRate": 0.01}, headers=ds)
    assert response.status_code == 200 and response.json()["learningRate"] == 0.01, response.text
    assert api.get(f"{API}/{job['id']}/hyperparameters", headers=ds).json()["maxEpochs"] == 2
    _error(api.put(f"{API}/{job['id']}/hyperparameters", json={"maxEpochs": 10**6}, headers=ds), 422, "TRAIN_003")
    # Not running: pause, resume and stop are conflicts.
    for action in ("pause", "resume", "stop"):
        _error(api.post(f"{API}/{job['id']}/{action}", headers=ds), 409, "TRAIN_001")
    started = api.post(f"{API}/{job['id']}/start", headers=ds)
    assert started.status_code == 200 and started.json()["status"] == "queued", started.text
    assert started.json()["jobId"] in sent.routes
    _error(api.post(f"{API}/{job['id']}/start", headers=ds), 409, "TRAIN_001")
    _error(api.put(f"{API}/{job['id']}", json={"hyperparameters": {"maxEpochs": 3}}, headers=ds), 409, "TRAIN_001")
    _error(api.put(f"{API}/{job['id']}/config", json={"trainer": {}}, headers=ds), 409, "TRAIN_001")
    assert api.put(f"{API}/{job['id']}", json={"name": "still renamable"}, headers=ds).status_code == 200


def test_cancel_a_queued_job_and_monitoring_routes_of_a_job_not_run(api, ds, dataset, sent):
    job = create(api, ds, dataset)
    assert api.get(f"{API}/{job['id']}/checkpoints", headers=ds).json() == []
    assert api.get(f"{API}/{job['id']}/metrics", headers=ds).json()["metrics"] == []
    assert api.get(f"{API}/{job['id']}/logs", headers=ds).json()["lines"] == []
    cancelled = api.delete(f"{API}/{job['id']}", headers=ds)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    platform = api.get(f"/api/v1/jobs/{job['jobId']}", headers=ds).json()
    assert platform["status"] == "cancelled"
    run = api.get(f"/api/v1/catalog/experiments/runs/{job['runId']}", headers=ds).json()
    assert run["status"] == "KILLED"
    _error(api.delete(f"{API}/{job['id']}", headers=ds), 409, "TRAIN_001")
    _error(api.post(f"{API}/{job['id']}/checkpoints/x/restore", headers=ds), 409, "TRAIN_001")


def test_restore_names_a_listed_checkpoint(api, ds, dataset, sent):
    job = create(api, ds, dataset)
    with session_scope() as s:
        s.execute(update(TrainingJob).where(col(TrainingJob.id) == job["id"]).values(status="failed"))
    _error(api.post(f"{API}/{job['id']}/checkpoints/epoch-0009/restore", headers=ds), 404, "TRAIN_008")


def test_the_per_user_cap_on_active_jobs(monkeypatch, api, ds, auth, dataset, session, principals, sent):
    monkeypatch.setenv("AISYSTEM_TRAINING_MAX_ACTIVE_JOBS_PER_USER", "1")
    reset_settings()
    create(api, ds, dataset)
    _error(api.post(API, json=body(dataset), headers=ds), 409, "TRAIN_007")
    assert _count() == 1
    engineers = make_dataset(session, principals["ml_engineer"], name="engineer's")
    create(api, auth.headers("ml_engineer"), engineers)  # the cap is per user


def test_stopping_the_experiment_run_of_a_queued_training_job_cancels_it(api, ds, dataset, sent):
    job = create(api, ds, dataset)
    response = api.post(f"/api/v1/catalog/experiments/runs/{job['runId']}/stop", headers=ds)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "KILLED"
    assert api.get(f"{API}/{job['id']}", headers=ds).json()["status"] == "cancelled"
