"""Starting a run inside an experiment with a training configuration (`POST /catalog/experiments/{id}/runs`
with `training`): the run is a training job's, trains for real, and bad requests leave nothing behind."""

from __future__ import annotations

from sqlmodel import func, select

from backend.core.db import session_scope
from backend.training.models import TrainingJob

API = "/api/v1/catalog/experiments"


def _experiment(api, headers, name: str = "blobs sweep") -> str:
    response = api.post(API, json={"name": name, "task": "classification"}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _training(dataset_id: str, **overrides) -> dict:
    return {"datasetId": dataset_id, "family": "tabular_mlp", "modelName": "blobs from a run",
            "hyperparameters": {"maxEpochs": 1, "batchSize": 32, "hiddenSizes": [8]}, **overrides}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def _training_jobs() -> int:
    with session_scope(write=False) as s:
        return s.exec(select(func.count()).select_from(TrainingJob)).one()


def test_a_run_with_a_training_configuration_is_a_training_job_of_the_experiment(api, auth, dataset, cpu_worker,
                                                                                  sent):
    ds = auth.headers("data_scientist")
    experiment_id = _experiment(api, ds)
    response = api.post(f"{API}/{experiment_id}/runs", headers=ds, json={
        "name": "first try", "tags": {"idea": "small net"}, "training": _training(dataset)})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["status"] == "SCHEDULED" and run["source"] == "platform" and run["name"] == "first try"
    assert run["experimentId"] == experiment_id and run["jobId"] in sent
    assert run["tags"]["idea"] == "small net" and run["params"]["family"] == "tabular_mlp"
    job = api.get(f"/api/v1/training/jobs/{run['tags']['trainingJobId']}", headers=ds).json()
    assert job["runId"] == run["id"] and job["experimentId"] == experiment_id and job["jobId"] == run["jobId"]

    cpu_worker(run["jobId"])
    done = api.get(f"{API}/runs/{run['id']}", headers=ds).json()
    assert done["status"] == "FINISHED", done
    assert "val_loss" in done["metrics"] and "loss" in done["metrics"]
    job = api.get(f"/api/v1/training/jobs/{job['id']}", headers=ds).json()
    assert job["status"] == "succeeded" and job["modelVersion"] == "1.0.0"
    listed = api.get(f"{API}/{experiment_id}/runs", headers=ds).json()["items"]
    assert [r["id"] for r in listed] == [run["id"]]


def test_a_queued_training_run_can_be_a_child_run_and_stopping_it_cancels_its_job(api, auth, dataset, sent):
    ds = auth.headers("data_scientist")
    experiment_id = _experiment(api, ds)
    parent = api.post(f"{API}/{experiment_id}/runs", headers=ds, json={"name": "study"}).json()
    child = api.post(f"{API}/{experiment_id}/runs", headers=ds, json={
        "parentRunId": parent["id"], "training": _training(dataset)})
    assert child.status_code == 201, child.text
    child = child.json()
    assert child["parentRunId"] == parent["id"]
    stopped = api.post(f"{API}/runs/{child['id']}/stop", headers=ds)
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "KILLED"
    job = api.get(f"/api/v1/training/jobs/{child['tags']['trainingJobId']}", headers=ds).json()
    assert job["status"] == "cancelled", job


def test_a_bad_training_run_is_refused_and_leaves_nothing(api, auth, dataset, sent):
    ds, viewer = auth.headers("data_scientist"), auth.headers("business_user")
    experiment_id = _experiment(api, ds)
    other_id = _experiment(api, ds, name="another sweep")
    runs = f"{API}/{experiment_id}/runs"
    body = _error(api.post(runs, headers=ds, json={"training": _training(dataset, hyperparameters={"batchSize": 0})}),
                  422, "TRAIN_003")
    assert {f["field"] for f in body["details"]["fields"]} == {"batchSize"}
    body = _error(api.post(runs, headers=ds, json={"params": {"lr": "0.1"}, "startTime": 5,
                                                    "training": _training(dataset)}), 422, "REQ_001")
    assert {f["field"] for f in body["details"]["fields"]} == {"params", "startTime"}
    body = _error(api.post(runs, headers=ds, json={"tags": {"trainingJobId": "mine"}, "training": _training(dataset)}),
                  422, "REQ_001")
    assert {f["field"] for f in body["details"]["fields"]} == {"tags.trainingJobId"}
    _error(api.post(runs, headers=ds, json={"training": _training("dataset_nope")}), 404, "DATA_001")
    _error(api.post(runs, headers=ds, json={"training": {**_training(dataset), "colour": "red"}}), 422, "REQ_001")
    foreign_parent = api.post(f"{API}/{other_id}/runs", headers=ds, json={}).json()["id"]
    _error(api.post(runs, headers=ds, json={"parentRunId": foreign_parent, "training": _training(dataset)}),
           422, "REQ_001")
    _error(api.post(runs, headers=viewer, json={"training": _training(dataset)}), 403, "AUTH_002")
    _error(api.post(f"{API}/experiment_nope/runs", headers=ds, json={"training": _training(dataset)}), 404, "EXP_001")
    assert _training_jobs() == 0 and sent == []
    assert api.get(f"{API}/{experiment_id}/runs", headers=ds).json()["items"] == []
