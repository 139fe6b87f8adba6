"""Issue 14's "Done means" over REST, end to end with real training: an ML engineer trains a model on a
dataset (a real training job run by the in-process worker), which registers version 1.0.0, and promotes it
to production; ML ops deploys an endpoint following production and hands an application a model key; the
application predicts and gets an explanation; a retrained version goes to 10 % of the traffic as a canary,
is promoted (the endpoint follows it) and rolled back (the endpoint follows that too). At each step the
assertion is what the caller would notice: which version answered, and in which role."""

from __future__ import annotations

import collections

import pytest

from backend.endpoints import predlog
from tests.backend.training.conftest import body, make_dataset

pytestmark = pytest.mark.slow

BASE = "/api/v1/catalog/endpoints"
CANARY_CALLS = 200
# Enough steps to learn the two blobs (a few seconds on one CPU thread).
HYPERPARAMETERS = {"maxEpochs": 12, "batchSize": 16, "hiddenSizes": [16]}


@pytest.fixture
def cpu_worker(monkeypatch, sent):
    """The worker, in this process, on the CPU: `run(job_id)` runs a queued platform job."""
    import backend.jobs.tasks as job_tasks
    from backend.jobs.devices import CPU_ONLY

    monkeypatch.setitem(job_tasks._this_worker, "devices", CPU_ONLY)
    return job_tasks.run_job


def train(api, headers, cpu_worker, dataset_id: str, **overrides) -> dict:
    """Start a training job over REST, let the worker run it, and return the finished job."""
    started = api.post("/api/v1/training/jobs", json=body(dataset_id, hyperparameters=HYPERPARAMETERS, **overrides),
                       headers=headers)
    assert started.status_code == 202, started.text
    cpu_worker(started.json()["jobId"])
    done = api.get(f"/api/v1/training/jobs/{started.json()['id']}", headers=headers).json()
    assert done["status"] == "succeeded", done.get("error")
    return done


def test_train_deploy_predict_explain_canary_promote_rollback(api, auth, session, principals, cpu_worker):
    engineer, ops = auth.headers("ml_engineer"), auth.headers("ml_ops")
    dataset_id = make_dataset(session, principals["ml_engineer"], name="blobs for an endpoint")

    # Train → a registered version, promoted to production.
    first = train(api, engineer, cpu_worker, dataset_id, modelName="blobs scorer")
    model_id, v1 = first["modelId"], first["modelVersion"]
    assert v1 == "1.0.0"
    promoted = api.post(f"/api/v1/catalog/models/{model_id}/versions/{v1}/promote",
                        json={"stage": "production", "reason": "first version"}, headers=engineer)
    assert promoted.status_code == 200, promoted.text

    # Deploy an endpoint that follows production.
    made = api.post(BASE, json={"name": "blobs", "rateLimitPerMinute": 100_000, "burst": 10_000}, headers=ops)
    assert made.status_code == 201, made.text
    endpoint_id = made.json()["id"]
    deployed = api.post(f"{BASE}/{endpoint_id}/deploy",
                        json={"modelId": model_id, "stage": "production", "followStage": True}, headers=ops)
    assert deployed.status_code == 200, deployed.text
    assert (deployed.json()["status"], deployed.json()["version"], deployed.json()["followStage"]) == (
        "running", v1, "production")

    # An application's model key; predict and explain with it.
    key = api.post(f"{BASE}/{endpoint_id}/keys", json={"name": "shop"}, headers=ops).json()["key"]
    app = {"X-Model-Key": key}
    row = {"x0": 2.0, "x1": 1.8, "x2": 2.1, "x3": 1.9, "colour": "red"}  # deep in the "yes" blob
    answer = api.post(f"{BASE}/{endpoint_id}/predict", json={"instances": [row]}, headers=app)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["version"], answer.json()["role"]) == (v1, "primary")
    prediction = answer.json()["predictions"][0]
    assert prediction["label"] == "yes" and set(prediction["probabilities"]) == {"yes", "no"}
    explained = api.post(f"{BASE}/{endpoint_id}/explain", json={"instances": [row]}, headers=app)
    assert explained.status_code == 200, explained.text
    attributions = explained.json()["explanations"][0]["attributions"]
    assert set(attributions) == {"x0", "x1", "x2", "x3", "colour"}
    assert explained.json()["explanations"][0]["target"] == "yes"
    assert sum(attributions[c] for c in ("x0", "x1", "x2", "x3")) > 0  # the blob's side drives the answer
    # The key is for this endpoint's inference only.
    assert api.get(f"{BASE}/{endpoint_id}/status", headers=app).status_code == 401

    # Retrain → a newer version of the same model; 10 % of the traffic goes to it.
    second = train(api, engineer, cpu_worker, dataset_id, modelId=model_id)
    v2 = second["modelVersion"]
    assert second["modelId"] == model_id and v2 != v1
    split = api.put(f"{BASE}/{endpoint_id}/traffic",
                    json={"mode": "canary", "candidateVersion": v2, "candidatePercent": 10}, headers=ops)
    assert split.status_code == 200, split.text
    seen = collections.Counter()
    for _ in range(CANARY_CALLS):
        got = api.post(f"{BASE}/{endpoint_id}/predict", json={"instances": [row]}, headers=app).json()
        seen[(got["version"], got["role"])] += 1
    assert set(seen) == {(v1, "primary"), (v2, "canary")}, seen
    assert 0.02 * CANARY_CALLS <= seen[(v2, "canary")] <= 0.25 * CANARY_CALLS, seen  # 10 %, give or take
    predlog.flush()
    by_version = {(v["version"], v["role"]): v["requests"] for v in
                  api.get(f"{BASE}/{endpoint_id}/metrics", headers=ops).json()["byVersion"]}
    assert by_version[(v2, "canary")] == seen[(v2, "canary")]  # the log says who answered

    # Promote the canary: the endpoint follows production, all traffic to it.
    promoted = api.post(f"/api/v1/catalog/models/{model_id}/versions/{v2}/promote",
                        json={"stage": "production", "reason": "canary looked good"}, headers=engineer)
    assert promoted.status_code == 200, promoted.text
    state = api.get(f"{BASE}/{endpoint_id}", headers=ops).json()
    assert state["version"] == v2 and state["traffic"]["mode"] == "single"
    answer = api.post(f"{BASE}/{endpoint_id}/predict", json={"instances": [row]}, headers=app).json()
    assert (answer["version"], answer["role"]) == (v2, "primary")

    # Roll back: production is the first version again, and so is the endpoint.
    rolled = api.post(f"/api/v1/catalog/models/{model_id}/rollback", json={"reason": "regression"},
                      headers=engineer)
    assert rolled.status_code == 200, rolled.text
    assert api.get(f"{BASE}/{endpoint_id}", headers=ops).json()["version"] == v1
    answer = api.post(f"{BASE}/{endpoint_id}/predict", json={"instances": [row]}, headers=app).json()
    assert (answer["version"], answer["role"]) == (v1, "primary")
