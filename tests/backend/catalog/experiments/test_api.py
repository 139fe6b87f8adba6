"""The experiment-tracking routes over HTTP: every route's success and error paths, roles, and a script
logging into a run with an API key."""

from __future__ import annotations

import hashlib

import pytest

from tests.backend.catalog.experiments.conftest import API


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def _fields(body: dict) -> set[str]:
    return {f["field"] for f in body["details"].get("fields", [])}


def create(api, headers, name="Churn model sweep", **fields) -> dict:
    response = api.post(API, json={"name": name, **fields}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def start(api, headers, experiment_id, **fields) -> dict:
    response = api.post(f"{API}/{experiment_id}/runs", json=fields, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def ds(auth):
    return auth.headers("data_scientist")


@pytest.fixture
def eng(auth):
    return auth.headers("ml_engineer")


def test_experiment_crud(api, ds, eng):
    created = create(api, ds, objective="maximize_accuracy", task="classification", tags={"team": "growth"},
                     configuration={"strategy": "random", "maxTrials": 10})
    experiment_id = created["id"]
    assert created["status"] == "created" and created["lifecycleStage"] == "active"
    assert created["tags"] == {"team": "growth"} and created["createdAt"].endswith("Z")
    _error(api.post(API, json={"name": "Churn model sweep"}, headers=ds), 409, "EXP_004")
    body = _error(api.post(API, json={"name": "X", "colour": "red"}, headers=ds), 422, "REQ_001")
    assert "body.colour" in _fields(body)
    _error(api.post(API, json={"name": "X", "objective": "best"}, headers=ds), 422, "REQ_001")
    _error(api.post(API, json={"name": "X", "modelId": "model_nope"}, headers=ds), 404, "MODEL_001")

    got = api.get(f"{API}/{experiment_id}", headers=ds)
    assert got.status_code == 200 and got.json()["configuration"] == {"strategy": "random", "maxTrials": 10}
    _error(api.get(f"{API}/experiment_nope", headers=ds), 404, "EXP_001")

    updated = api.put(f"{API}/{experiment_id}", json={"description": "Weekly churn", "tags": {"team": None}}, headers=ds)
    assert updated.status_code == 200 and updated.json()["description"] == "Weekly churn"
    assert updated.json()["tags"] == {}
    _error(api.put(f"{API}/experiment_nope", json={"description": "x"}, headers=ds), 404, "EXP_001")
    _error(api.put(f"{API}/{experiment_id}", json={"name": None}, headers=ds), 422, "REQ_001")

    listed = api.get(API, params={"q": "churn", "task": "classification"}, headers=ds).json()
    assert [e["id"] for e in listed["items"]] == [experiment_id] and listed["nextCursor"] is None
    assert listed["items"][0]["runCount"] == 0
    _error(api.get(API, params={"sort": "size"}, headers=ds), 422, "REQ_001")

    _error(api.delete(f"{API}/{experiment_id}", headers=ds), 403, "AUTH_002")
    assert api.delete(f"{API}/{experiment_id}", headers=eng).status_code == 204
    _error(api.delete(f"{API}/{experiment_id}", headers=eng), 409, "EXP_006")
    _error(api.delete(f"{API}/experiment_nope", headers=eng), 404, "EXP_001")
    _error(api.put(f"{API}/{experiment_id}", json={"description": "x"}, headers=ds), 409, "EXP_006")
    assert api.get(API, headers=ds).json()["items"] == []
    deleted = api.get(API, params={"lifecycleStage": "deleted"}, headers=ds).json()["items"]
    assert [e["lifecycleStage"] for e in deleted] == ["deleted"]
    restored = api.post(f"{API}/{experiment_id}/restore", headers=eng)
    assert restored.status_code == 200 and restored.json()["lifecycleStage"] == "active"
    _error(api.post(f"{API}/{experiment_id}/restore", headers=eng), 409, "EXP_006")
    _error(api.post(f"{API}/experiment_nope/restore", headers=eng), 404, "EXP_001")


def test_roles(api, auth, ds):
    experiment_id = create(api, ds)["id"]
    business = auth.headers("business_user")
    _error(api.get(API, headers=business), 403, "AUTH_002")
    _error(api.post(API, json={"name": "Mine"}, headers=business), 403, "AUTH_002")
    _error(api.get(API, headers={}), 401, "AUTH_001")
    # Another role reads everything but changes only what it owns or manages.
    ops = auth.headers("ml_ops")
    _error(api.get(f"{API}/{experiment_id}", headers=ops), 403, "AUTH_002")
    engineer = auth.headers("ml_engineer")
    assert api.put(f"{API}/{experiment_id}", json={"description": "by a manager"}, headers=engineer).status_code == 200
    engineers = create(api, engineer, name="Engineer's")["id"]
    body = _error(api.post(f"{API}/{engineers}/runs", json={}, headers=ds), 403, "AUTH_002")
    assert "owner" in body["details"]["reason"]
    assert api.get(f"{API}/{engineers}", headers=ds).status_code == 200


def test_a_script_logs_a_run_with_an_api_key(api, ds, auth):
    created_key = api.post("/api/v1/auth/api-keys", json={"name": "laptop"}, headers=ds).json()
    key = created_key["key"]
    script = {"X-API-Key": key}
    experiment_id = create(api, ds, objective="minimize_loss")["id"]
    run = start(api, script, experiment_id, name="laptop run", params={"lr": 0.001, "epochs": 3},
                tags={"mlflow.source.name": "train.py"})
    run_id = run["id"]
    assert run["status"] == "RUNNING" and run["source"] == "external" and run["params"] == {"epochs": "3",
                                                                                           "lr": "0.001"}
    points = [{"key": "loss", "value": 1 / (i + 1), "step": i, "timestamp": 1_700_000_000_000 + i} for i in range(2000)]
    logged = api.post(f"{API}/runs/{run_id}/metrics", json={"metrics": points}, headers=script)
    assert logged.status_code == 200 and logged.json() == {"runId": run_id, "metrics": 2000, "params": 0, "tags": 0}
    batch = api.post(f"{API}/runs/{run_id}/log-batch", headers=script, json={
        "metrics": [{"key": "val/accuracy", "value": "NaN", "step": 0}, {"key": "val/accuracy", "value": 0.9,
                                                                          "step": 1}],
        "params": [{"key": "optimizer", "value": "adam"}], "tags": [{"key": "stage", "value": "done"}]})
    assert batch.json() == {"runId": run_id, "metrics": 2, "params": 1, "tags": 1}
    assert api.post(f"{API}/runs/{run_id}/params", json={"params": [{"key": "seed", "value": 7}]},
                    headers=script).json()["params"] == 1
    assert api.post(f"{API}/runs/{run_id}/tags", json={"tags": [{"key": "stage", "value": "final"}]},
                    headers=script).json()["tags"] == 1
    lines = api.post(f"{API}/runs/{run_id}/logs", json={"lines": [{"message": "epoch 1 done"},
                                                                   {"message": "boom", "level": "ERROR"}]},
                     headers=script)
    assert lines.status_code == 200 and lines.json()["lines"] == 2
    upload = api.post(f"{API}/runs/{run_id}/artifacts", params={"path": "plots/loss.png"}, content=b"\x89PNG fake",
                      headers={**script, "Content-Type": "application/octet-stream"})
    assert upload.status_code == 201 and upload.json()["sha256"] == hashlib.sha256(b"\x89PNG fake").hexdigest()
    ended = api.put(f"{API}/runs/{run_id}", json={"status": "FINISHED"}, headers=script)
    assert ended.status_code == 200 and ended.json()["status"] == "FINISHED" and ended.json()["endTime"] is not None

    got = api.get(f"{API}/runs/{run_id}", headers=ds).json()
    assert got["metrics"] == {"loss": 1 / 2000, "val/accuracy": 0.9}
    assert got["params"] == {"epochs": "3", "lr": "0.001", "optimizer": "adam", "seed": "7"}
    assert got["tags"] == {"mlflow.source.name": "train.py", "stage": "final"}
    experiment = api.get(f"{API}/{experiment_id}", headers=ds).json()
    assert experiment["status"] == "completed" and experiment["bestRun"]["id"] == run_id
    trail = api.get("/api/v1/governance/audit", params={"entityId": run_id}, headers=auth.headers("admin")).json()
    actions = [r["action"] for r in trail["items"]]
    # One record per params/tags write and per state change; the 2,002 metric points and the log lines none.
    assert sorted(actions) == ["experiment.run.artifact", "experiment.run.create", "experiment.run.log",
                               "experiment.run.log", "experiment.run.log", "experiment.run.status"]
    assert {r["credentialId"] for r in trail["items"]} == {created_key["id"]}
    assert [r["summary"] for r in trail["items"] if r["action"] == "experiment.run.status"][0]["metricPoints"] == 2002


def test_metric_routes(api, ds):
    run_id = start(api, ds, create(api, ds)["id"])["id"]
    points = [{"key": "loss", "value": float(1000 - i), "step": i} for i in range(1000)]
    points.append({"key": "loss", "value": "Infinity", "step": 1000})
    assert api.post(f"{API}/runs/{run_id}/metrics", json={"metrics": points}, headers=ds).status_code == 200
    read = api.get(f"{API}/runs/{run_id}/metrics", params={"key": "loss", "maxPoints": 50}, headers=ds)
    assert read.status_code == 200, read.text
    body = read.json()
    assert body["metrics"][0]["key"] == "loss" and body["metrics"][0]["count"] == 1001
    assert body["metrics"][0]["value"] == 1.7976931348623157e308
    history = body["histories"][0]
    assert history["totalPoints"] == 1001 and history["downsampled"] and len(history["points"]) <= 50
    assert history["points"][0] == {"step": 0, "timestamp": history["points"][0]["timestamp"], "value": 1000.0}
    window = api.get(f"{API}/runs/{run_id}/metrics", params={"key": "loss", "minStep": 5, "maxStep": 7},
                     headers=ds).json()["histories"][0]
    assert [p["step"] for p in window["points"]] == [5, 6, 7]
    _error(api.get(f"{API}/runs/run_nope/metrics", headers=ds), 404, "EXP_002")
    _error(api.get(f"{API}/runs/{run_id}/metrics", params={"key": "a//b"}, headers=ds), 422, "REQ_001")
    _error(api.get(f"{API}/runs/{run_id}/metrics", params={"maxPoints": 1}, headers=ds), 422, "REQ_001")

    bad = _error(api.post(f"{API}/runs/{run_id}/metrics", headers=ds, json={"metrics": [
        {"key": "ok", "value": 1}, {"key": "bad key!", "value": 1}, {"key": "ok", "value": "lots"}]}), 422, "REQ_001")
    assert _fields(bad) == {"metrics[1].key", "metrics[2].value"}
    bad = _error(api.post(f"{API}/runs/{run_id}/metrics", headers=ds, json={"metrics": [
        {"key": "ok", "value": True}]}), 422, "REQ_001")
    assert any("value" in f for f in _fields(bad))
    _error(api.post(f"{API}/runs/{run_id}/metrics", json={"metrics": []}, headers=ds), 422, "REQ_001")
    too_many = {"metrics": [{"key": "m", "value": 1}] * 10_001}
    assert "body.metrics" in _fields(_error(api.post(f"{API}/runs/{run_id}/metrics", json=too_many, headers=ds),
                                            422, "REQ_001"))
    _error(api.post(f"{API}/runs/run_nope/metrics", json={"metrics": [{"key": "m", "value": 1}]}, headers=ds),
           404, "EXP_002")
    assert api.get(f"{API}/runs/{run_id}/metrics", headers=ds).json()["metrics"][0]["count"] == 1001  # unchanged


def test_param_tag_and_batch_errors(api, ds):
    run_id = start(api, ds, create(api, ds)["id"], params={"lr": "0.1"})["id"]
    conflict = _error(api.post(f"{API}/runs/{run_id}/params", json={"params": [{"key": "lr", "value": "0.2"}]},
                               headers=ds), 409, "EXP_005")
    assert conflict["details"]["key"] == "lr" and conflict["details"]["loggedValue"] == "0.1"
    same = api.post(f"{API}/runs/{run_id}/params", json={"params": [{"key": "lr", "value": "0.1"}]}, headers=ds)
    assert same.status_code == 200
    dup = _error(api.post(f"{API}/runs/{run_id}/params", headers=ds, json={"params": [
        {"key": "a", "value": "1"}, {"key": "a", "value": "2"}]}), 422, "REQ_001")
    assert _fields(dup) == {"params[1].key"}
    _error(api.post(f"{API}/runs/{run_id}/params", json={"params": [{"key": "x", "value": None}]}, headers=ds),
           422, "REQ_001")
    _error(api.post(f"{API}/runs/{run_id}/tags", json={"tags": [{"key": "t", "value": "v" * 8001}]}, headers=ds),
           422, "REQ_001")
    _error(api.post(f"{API}/runs/run_nope/tags", json={"tags": [{"key": "t", "value": "v"}]}, headers=ds), 404,
           "EXP_002")
    _error(api.post(f"{API}/runs/{run_id}/log-batch", json={"params": [{"key": "../p", "value": "1"}]}, headers=ds),
           422, "REQ_001")
    _error(api.post(f"{API}/runs/run_nope/log-batch", json={}, headers=ds), 404, "EXP_002")
    _error(api.post(f"{API}/runs/run_nope/params", json={"params": [{"key": "a", "value": 1}]}, headers=ds), 404,
           "EXP_002")
    assert api.post(f"{API}/runs/{run_id}/log-batch", json={}, headers=ds).json()["metrics"] == 0  # as mlflow


def test_run_routes_and_states(api, ds, eng):
    experiment_id = create(api, ds)["id"]
    _error(api.post(f"{API}/experiment_nope/runs", json={}, headers=ds), 404, "EXP_001")
    _error(api.post(f"{API}/{experiment_id}/runs", json={"parentRunId": "run_nope"}, headers=ds), 404, "EXP_002")
    _error(api.post(f"{API}/{experiment_id}/runs", json={"params": {"bad key!": 1}}, headers=ds), 422, "REQ_001")
    _error(api.post(f"{API}/{experiment_id}/runs", json={"training": {"family": "tabular_mlp"}}, headers=ds),
           422, "REQ_001")  # the training piece adds this field
    run = start(api, ds, experiment_id, name="first")
    assert api.get(f"{API}/runs/{run['id']}", headers=ds).json()["name"] == "first"
    _error(api.get(f"{API}/runs/run_nope", headers=ds), 404, "EXP_002")
    renamed = api.put(f"{API}/runs/{run['id']}", json={"name": "renamed"}, headers=ds)
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed" and renamed.json()["status"] == "RUNNING"
    _error(api.put(f"{API}/runs/run_nope", json={"name": "x"}, headers=ds), 404, "EXP_002")
    _error(api.put(f"{API}/runs/{run['id']}", json={"status": "DONE"}, headers=ds), 422, "REQ_001")
    stopped = api.post(f"{API}/runs/{run['id']}/stop", headers=ds)
    assert stopped.status_code == 200 and stopped.json()["status"] == "KILLED"
    _error(api.post(f"{API}/runs/{run['id']}/stop", headers=ds), 409, "EXP_003")
    _error(api.post(f"{API}/runs/run_nope/stop", headers=ds), 404, "EXP_002")
    assert api.get(f"{API}/{experiment_id}", headers=ds).json()["status"] == "stopped"
    assert api.delete(f"{API}/{experiment_id}", headers=eng).status_code == 204
    _error(api.post(f"{API}/runs/{run['id']}/metrics", json={"metrics": [{"key": "m", "value": 1}]}, headers=ds),
           409, "EXP_003")
    _error(api.post(f"{API}/{experiment_id}/runs", json={}, headers=ds), 409, "EXP_006")


def test_list_runs_sorted_filtered_and_paged(api, ds):
    experiment_id = create(api, ds)["id"]
    runs = {}
    for name, accuracy in (("a", 0.7), ("b", 0.9), ("c", 0.8), ("d", None)):
        runs[name] = start(api, ds, experiment_id, name=name, params={"optimizer": "adam" if name < "c" else "sgd"})["id"]
        if accuracy is not None:
            api.post(f"{API}/runs/{runs[name]}/metrics", json={"metrics": [{"key": "accuracy", "value": accuracy}]},
                     headers=ds)
    url = f"{API}/{experiment_id}/runs"
    by_accuracy = api.get(url, params={"sort": "-metrics.accuracy"}, headers=ds).json()
    assert [r["name"] for r in by_accuracy["items"]] == ["b", "c", "a", "d"]
    names, cursor = [], None
    while True:
        page = api.get(url, params={"sort": "-metrics.accuracy", "limit": 3, **({"cursor": cursor} if cursor else {})},
                       headers=ds).json()
        names += [r["name"] for r in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert names == ["b", "c", "a", "d"]
    filtered = api.get(url, params={"filter": 'metrics.accuracy >= 0.8 and params.optimizer = "adam"'}, headers=ds)
    assert [r["name"] for r in filtered.json()["items"]] == ["b"]
    assert [r["name"] for r in api.get(url, params={"status": "RUNNING", "sort": "name"}, headers=ds).json()["items"]] \
        == ["a", "b", "c", "d"]
    assert _fields(_error(api.get(url, params={"filter": "accuracy >> 1"}, headers=ds), 422, "REQ_001")) == {"filter"}
    assert _fields(_error(api.get(url, params={"sort": "metrics"}, headers=ds), 422, "REQ_001")) == {"sort"}
    _error(api.get(url, params={"cursor": "!!"}, headers=ds), 422, "REQ_001")
    _error(api.get(f"{API}/experiment_nope/runs", headers=ds), 404, "EXP_001")


def test_log_line_routes(api, ds):
    run_id = start(api, ds, create(api, ds)["id"])["id"]
    posted = api.post(f"{API}/runs/{run_id}/logs", headers=ds, json={"lines": [
        {"message": f"line {i}", "timestamp": 1000 + i} for i in range(4)]}).json()
    first = api.get(f"{API}/runs/{run_id}/logs", params={"limit": 2}, headers=ds).json()
    assert [line["message"] for line in first["lines"]] == ["line 0", "line 1"] and first["more"]
    rest = api.get(f"{API}/runs/{run_id}/logs", params={"after": first["lastId"]}, headers=ds).json()
    assert [line["message"] for line in rest["lines"]] == ["line 2", "line 3"] and rest["lastId"] == posted["lastId"]
    tail = api.get(f"{API}/runs/{run_id}/logs", params={"tail": 1}, headers=ds).json()
    assert [line["message"] for line in tail["lines"]] == ["line 3"]
    _error(api.get(f"{API}/runs/run_nope/logs", headers=ds), 404, "EXP_002")
    _error(api.post(f"{API}/runs/run_nope/logs", json={"lines": [{"message": "x"}]}, headers=ds), 404, "EXP_002")
    _error(api.post(f"{API}/runs/{run_id}/logs", json={"lines": []}, headers=ds), 422, "REQ_001")
    _error(api.post(f"{API}/runs/{run_id}/logs", json={"lines": [{"message": "x", "level": "LOUD"}]}, headers=ds),
           422, "REQ_001")


def test_artifact_routes(api, ds, auth):
    run_id = start(api, ds, create(api, ds)["id"])["id"]
    octet = {**ds, "Content-Type": "application/octet-stream"}
    url = f"{API}/runs/{run_id}/artifacts"
    assert api.post(url, params={"path": "model/weights.safetensors"}, content=b"w" * 1000, headers=octet).status_code == 201
    assert api.post(url, params={"path": "notes.txt"}, content=b"first", headers=octet).status_code == 201
    replaced = api.post(url, params={"path": "notes.txt"}, content=b"second", headers=octet)
    assert replaced.status_code == 201 and replaced.json()["size"] == 6
    listing = api.get(url, headers=ds).json()
    assert listing["artifactUri"] == f"runs/{run_id}/artifacts"
    assert [(a["path"], a["size"]) for a in listing["items"]] == [("model/weights.safetensors", 1000), ("notes.txt", 6)]
    assert [a["path"] for a in api.get(url, params={"prefix": "model/"}, headers=ds).json()["items"]] \
        == ["model/weights.safetensors"]
    download = api.get(f"{url}/notes.txt", headers=auth.headers("ml_engineer"))
    assert download.status_code == 200 and download.content == b"second"
    assert download.headers["x-artifact-sha256"] == hashlib.sha256(b"second").hexdigest()
    assert "notes.txt" in download.headers["content-disposition"]
    assert api.get(f"{url}/model/weights.safetensors", headers=ds).content == b"w" * 1000
    _error(api.get(f"{url}/missing.txt", headers=ds), 404, "ARTIFACT_002")
    _error(api.get(f"{API}/runs/run_nope/artifacts", headers=ds), 404, "EXP_002")
    _error(api.post(url, params={"path": "../up"}, content=b"x", headers=octet), 422, "REQ_001")
    _error(api.post(url, params={"path": "a.txt"}, content=b"x", headers={**ds, "Content-Type": "text/plain"}),
           422, "REQ_001")
    _error(api.post(url, content=b"x", headers=octet), 422, "REQ_001")
    _error(api.post(f"{API}/runs/run_nope/artifacts", params={"path": "a.txt"}, content=b"x", headers=octet),
           404, "EXP_002")
    _error(api.post(url, params={"path": "a.txt"}, content=b"x",
                    headers={**auth.headers("ml_ops"), "Content-Type": "application/octet-stream"}), 403, "AUTH_002")


def test_compare_and_leaderboard_routes(api, ds):
    ids = []
    for name, accuracy in (("Small", 0.8), ("Large", 0.9)):
        experiment_id = create(api, ds, name=name, objective="maximize_accuracy", task="classification")["id"]
        ids.append(experiment_id)
        run_id = start(api, ds, experiment_id, params={"width": name})["id"]
        api.post(f"{API}/runs/{run_id}/metrics", headers=ds, json={"metrics": [
            {"key": "accuracy", "value": accuracy * s / 10, "step": s} for s in range(1, 11)]})
        api.put(f"{API}/runs/{run_id}", json={"status": "FINISHED"}, headers=ds)
    compared = api.post(f"{API}/compare", json={"experimentIds": ids, "curvePoints": 5}, headers=ds)
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert [e["bestMetrics"]["accuracy"]["value"] for e in body["experiments"]] == pytest.approx([0.8, 0.9])
    assert body["parameters"] == [{"key": "width", "values": {ids[0]: "Small", ids[1]: "Large"}, "differs": True}]
    assert all(2 < len(c["points"]) <= 5 and c["downsampled"] and c["totalPoints"] == 10 for c in body["curves"])
    assert len(body["curves"]) == 2
    _error(api.post(f"{API}/compare", json={"experimentIds": [ids[0], "experiment_nope"]}, headers=ds), 404, "EXP_001")
    _error(api.post(f"{API}/compare", json={"experimentIds": [ids[0]]}, headers=ds), 422, "REQ_001")

    board = api.get(f"{API}/leaderboard", params={"metric": "accuracy", "task": "classification"}, headers=ds)
    assert board.status_code == 200
    entries = board.json()["entries"]
    assert [(e["rank"], e["experimentName"], e["value"]) for e in entries] == [(1, "Large", 0.9), (2, "Small", 0.8)]
    assert entries[0]["run"]["parameters"] == {"width": "Large"}
    assert api.get(f"{API}/leaderboard", params={"metric": "accuracy", "task": "regression"},
                   headers=ds).json()["entries"] == []
    _error(api.get(f"{API}/leaderboard", headers=ds), 422, "REQ_001")
    _error(api.get(f"{API}/leaderboard", params={"metric": "bad key!"}, headers=ds), 422, "REQ_001")
