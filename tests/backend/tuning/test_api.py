"""The optimisation routes: start a study (its first trials queued as training jobs and runs), read its
trials and best parameters; bad input, missing things and other people's experiments. No worker runs
here (`sent`): the trials' training is tested in test_tasks.py."""

from __future__ import annotations

import pytest

from tests.backend.tuning.conftest import request

pytestmark = pytest.mark.usefixtures("sent")


def _url(experiment: str, what: str) -> str:
    return f"/api/v1/catalog/experiments/{experiment}/{what}"


def test_optimize_queues_the_first_trials_and_lists_them(api, auth, experiment, sent):
    headers = auth.headers("data_scientist")
    assert api.get(_url(experiment, "trials"), headers=headers).json()["error"]["code"] == "TUNE_001"
    response = api.post(_url(experiment, "optimize"), headers=headers,
                        json=request(maxTrials=5, parallelTrials=2, strategy="grid", gridPoints=3))
    assert response.status_code == 202, response.text
    study = response.json()
    assert study["strategy"] == "grid" and study["status"] == "running" and study["maxTrials"] == 5
    assert study["trialCounts"] == {"running": 2}
    assert study["objectives"] == [{"metric": "val_accuracy", "direction": "maximize"}]

    trials = api.get(_url(experiment, "trials"), headers=headers).json()
    assert [t["number"] for t in trials["trials"]] == [0, 1]
    for trial in trials["trials"]:
        assert trial["status"] == "running" and trial["runId"] and trial["jobId"]
        assert any(trial["parameters"]["learning_rate"] == pytest.approx(v) for v in (0.001, 0.01, 0.1))
    assert [sent.routes[j][0] for j in sent].count("training") == 2  # sent once the request committed
    runs = api.get(_url(experiment, "runs"), headers=headers).json()["items"]
    assert {r["id"] for r in runs} == {t["runId"] for t in trials["trials"]}

    # The experiment keeps the configuration it was optimised with (the design's document).
    document = api.get(f"/api/v1/catalog/experiments/{experiment}", headers=headers).json()
    assert document["configuration"]["strategy"] == "grid" and document["configuration"]["maxTrials"] == 5
    assert [t["id"] for t in document["trials"]] == [t["id"] for t in trials["trials"]]
    assert document["bestTrial"] is None  # none has completed yet

    best = api.get(_url(experiment, "best-params"), headers=auth.headers("ml_engineer")).json()
    assert best["bestTrial"] is None and best["paretoFront"] == [] and best["study"]["id"] == study["id"]

    again = api.post(_url(experiment, "optimize"), headers=headers, json=request())
    assert again.status_code == 409 and again.json()["error"]["code"] == "TUNE_002"


@pytest.mark.parametrize(("configuration", "field"), [
    ({"maxTrials": 10**9}, "maxTrials"),
    ({"searchSpace": {}}, "searchSpace"),
    ({"searchSpace": {"learning_rate": {"type": "float", "min": 1, "max": 0.1}}}, "searchSpace.learning_rate"),
    ({"searchSpace": {"learning_rate": {"type": "float", "min": -1, "max": 0.1, "scale": "log"}}},
     "searchSpace.learning_rate"),
    ({"searchSpace": {"nope": {"type": "int", "min": 1, "max": 3}}}, "searchSpace.nope"),
])
def test_bad_configurations_are_refused_before_anything_is_queued(api, auth, experiment, sent, configuration, field):
    response = api.post(_url(experiment, "optimize"), headers=auth.headers("data_scientist"),
                        json=request(**configuration))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"]["code"] == "TRAIN_003"
    assert field in {f["field"] for f in body["error"]["details"]["fields"]}
    assert not [j for j in sent if sent.routes[j][0] == "training"]
    missing = api.get(_url(experiment, "trials"), headers=auth.headers("data_scientist")).json()
    assert missing["error"]["code"] == "TUNE_001"


def test_bad_training_input_is_refused_too(api, auth, experiment, sent):
    headers = auth.headers("data_scientist")
    response = api.post(_url(experiment, "optimize"), headers=headers,
                        json={**request(), "hyperparameters": {"batchSize": 0}})
    assert response.status_code == 422 and response.json()["error"]["code"] == "TRAIN_003"
    response = api.post(_url(experiment, "optimize"), headers=headers, json={"modelName": "x"})
    assert response.status_code == 422 and response.json()["error"]["code"] == "TRAIN_003"  # no configuration anywhere
    assert not [j for j in sent if sent.routes[j][0] == "training"]


def test_missing_and_forbidden(api, auth, experiment, sent):
    assert api.post(_url("experiment_nope", "optimize"), headers=auth.headers("data_scientist"),
                    json=request()).json()["error"]["code"] == "EXP_001"
    assert api.get(_url("experiment_nope", "best-params"), headers=auth.headers("data_scientist")
                   ).json()["error"]["code"] == "EXP_001"
    # A business user may not optimise (experiment:write), nor read experiments.
    assert api.post(_url(experiment, "optimize"), headers=auth.headers("business_user"),
                    json=request()).status_code == 403
    assert api.get(_url(experiment, "trials"), headers=auth.headers("business_user")).status_code == 403
    # Another data scientist's experiment: readable, not optimisable.
    response = api.post(_url(experiment, "optimize"), headers=auth.headers("data_engineer"), json=request())
    assert response.status_code == 403
    assert api.post(_url(experiment, "optimize"), json=request()).status_code == 401
    assert sent == []


def test_stopping_a_study_cancels_its_unfinished_trials_and_keeps_it_readable(api, auth, experiment, sent):
    headers = auth.headers("data_scientist")
    assert api.post(_url(experiment, "optimize/stop"), headers=headers).json()["error"]["code"] == "TUNE_001"
    study = api.post(_url(experiment, "optimize"), headers=headers,
                     json=request(maxTrials=6, parallelTrials=2)).json()
    # Someone who may not write the experiment may not stop its study either.
    assert api.post(_url(experiment, "optimize/stop"), headers=auth.headers("data_engineer")).status_code == 403
    assert api.post(_url(experiment, "optimize/stop"), headers=auth.headers("business_user")).status_code == 403

    response = api.post(_url(experiment, "optimize/stop"), headers=headers)
    assert response.status_code == 200, response.text
    stopped = response.json()
    assert stopped["id"] == study["id"] and stopped["status"] == "stopped" and stopped["completedAt"]
    assert stopped["trialCounts"] == {"cancelled": 2}
    trials = api.get(_url(experiment, "trials"), headers=headers).json()["trials"]
    assert [t["status"] for t in trials] == ["cancelled", "cancelled"]
    for trial in trials:
        job = api.get(f"/api/v1/training/jobs/{trial['jobId']}", headers=headers).json()
        assert job["status"] == "cancelled"
    assert api.get(_url(experiment, "best-params"), headers=headers).json()["bestTrial"] is None

    again = api.post(_url(experiment, "optimize/stop"), headers=headers)
    assert again.status_code == 409 and again.json()["error"]["code"] == "TUNE_004"
    # A stopped study no longer blocks a new one.
    assert api.post(_url(experiment, "optimize"), headers=headers, json=request()).status_code == 202
