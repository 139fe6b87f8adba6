"""/api/v1/benchmark, /api/v1/analysis/inference-speed and the catalog aliases over HTTP: success and error
paths, permissions, and that `/catalog/models/rankings` is not taken by `/catalog/models/{modelId}`."""

from __future__ import annotations

import pytest

from backend.jobs import tasks as job_tasks
from tests.backend.benchmarks.conftest import FAST, upload
from tests.backend.endpoints.conftest import iris_frame


@pytest.fixture
def eng(auth):
    return auth.headers("ml_engineer")


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def test_run_get_leaderboard_submit(api, auth, eng, iris_versions, iris_dataset, sent):
    ids = iris_versions["ids"]
    body = {"versionIds": ids, "datasetId": iris_dataset, "settings": FAST}
    made = api.post("/api/v1/benchmark/run", json=body, headers=eng)
    assert made.status_code == 202, made.text
    doc = made.json()
    assert doc["status"] == "queued" and doc["split"] == "test" and doc["task"] == "classification" and doc["jobId"]
    job_tasks.run_job(doc["jobId"])
    got = api.get(f"/api/v1/benchmark/{doc['id']}", headers=eng)
    assert got.status_code == 200 and got.json()["status"] == "succeeded"
    results = got.json()["results"]
    assert len(results) == 2 and results[0]["perClass"] and results[0]["metrics"]["throughput_b64"] > 0
    error(api.get("/api/v1/benchmark/bench_nope", headers=eng), 404, "BENCH_001")
    error(api.get(f"/api/v1/benchmark/{doc['id']}", headers=auth.headers("data_scientist")), 404, "BENCH_001")
    board = api.get("/api/v1/benchmark/leaderboard", params={"datasetId": iris_dataset, "task": "classification"},
                    headers=eng)
    # A default leaderboard shows a dataset's results to those who may read the dataset.
    error(api.get("/api/v1/benchmark/leaderboard", params={"datasetId": iris_dataset},
                  headers=auth.headers("business_user")), 404, "DATA_001")
    assert board.status_code == 200 and [e["rank"] for e in board.json()["entries"]][0] == 1
    error(api.get("/api/v1/benchmark/leaderboard", headers=eng), 422, "REQ_001")
    error(api.get("/api/v1/benchmark/leaderboard", params={"name": "Nope"}, headers=eng), 404, "BENCH_004")
    submitted = api.post("/api/v1/benchmark/submit", json={"resultId": results[0]["id"], "leaderboard": "Iris"},
                         headers=eng)
    assert submitted.status_code == 201 and submitted.json()["rank"] == 1
    error(api.post("/api/v1/benchmark/submit", json={"resultId": results[0]["id"], "leaderboard": "Iris"},
                   headers=eng), 409, "BENCH_005")
    error(api.post("/api/v1/benchmark/submit", json={"resultId": "bres_nope", "leaderboard": "Iris"},
                   headers=eng), 404, "BENCH_001")
    error(api.post("/api/v1/benchmark/submit", json={"resultId": results[0]["id"], "leaderboard": "../x"},
                   headers=eng), 422, "REQ_001")
    error(api.post("/api/v1/benchmark/submit", json={"resultId": results[0]["id"], "leaderboard": "Iris"},
                   headers=auth.headers("business_user")), 403, "AUTH_002")
    named = api.get("/api/v1/benchmark/leaderboard", params={"name": "Iris"}, headers=auth.headers("business_user"))
    assert named.json()["kind"] == "named" and len(named.json()["entries"]) == 1
    listed = api.get("/api/v1/benchmark/leaderboards", headers=eng)
    assert {b["kind"] for b in listed.json()} == {"named", "default"}
    # The catalog alias of rankings answers (not the registry's GET /catalog/models/{modelId}).
    ranked = api.get("/api/v1/catalog/models/rankings", headers=auth.headers("business_user"))
    assert ranked.status_code == 200, ranked.text
    assert ranked.json()["tasks"][0]["models"][0]["modelId"] == iris_versions["model_id"]
    assert api.get("/api/v1/catalog/models/rankings", params={"task": "regression"}, headers=eng).json() == {"tasks": []}
    error(api.get("/api/v1/catalog/models/rankings", params={"task": "ranking"}, headers=eng), 422, "REQ_001")


def test_run_errors(api, auth, eng, session, engineer, iris_versions, iris_dataset, sent):
    ids = iris_versions["ids"]
    assert api.post("/api/v1/benchmark/run", json={"versionIds": ids, "datasetId": iris_dataset}).status_code == 401
    error(api.post("/api/v1/benchmark/run", json={"versionIds": ids, "datasetId": iris_dataset},
                   headers=auth.headers("business_user")), 403, "AUTH_002")
    error(api.post("/api/v1/benchmark/run", json={"versionIds": [], "datasetId": iris_dataset}, headers=eng),
          422, "REQ_001")
    error(api.post("/api/v1/benchmark/run", json={"versionIds": [ids[0], ids[0]], "datasetId": iris_dataset},
                   headers=eng), 422, "REQ_001")
    error(api.post("/api/v1/benchmark/run", json={"versionIds": ["v_nope"], "datasetId": iris_dataset},
                   headers=eng), 404, "MODEL_001")
    error(api.post("/api/v1/benchmark/run", json={"versionIds": ids, "datasetId": "dataset_nope"}, headers=eng),
          404, "DATA_001")
    other = upload(session, engineer, iris_frame().drop("petal_band"), "no band")
    wrong = error(api.post("/api/v1/benchmark/run", json={"versionIds": ids, "datasetId": other}, headers=eng),
                  422, "BENCH_002")
    assert wrong["details"]["missing"] == ["petal_band"] and not sent.routes
    error(api.post("/api/v1/benchmark/run", json={"versionIds": ids, "datasetId": iris_dataset, "task": "regression"},
                   headers=eng), 422, "BENCH_003")


def test_catalog_benchmark_alias(api, auth, eng, iris_versions, iris_dataset, sent):
    model_id = iris_versions["model_id"]
    made = api.post("/api/v1/catalog/models/benchmark", json={"modelId": model_id, "datasetId": iris_dataset,
                                                               "settings": FAST}, headers=eng)
    assert made.status_code == 202, made.text
    assert made.json()["versionIds"] == list(reversed(iris_versions["ids"]))  # newest first
    one = api.post("/api/v1/catalog/models/benchmark", json={"modelId": model_id, "versions": ["1.0.0"],
                                                              "datasetId": iris_dataset}, headers=eng)
    assert one.status_code == 202 and one.json()["versionIds"] == iris_versions["ids"][:1]
    error(api.post("/api/v1/catalog/models/benchmark", json={"modelId": model_id, "versions": ["9.9.9"],
                                                              "datasetId": iris_dataset}, headers=eng), 404, "MODEL_001")
    error(api.post("/api/v1/catalog/models/benchmark", json={"modelId": "model_nope", "datasetId": iris_dataset},
                   headers=eng), 404, "MODEL_001")
    error(api.post("/api/v1/catalog/models/benchmark", json={"modelId": model_id, "datasetId": iris_dataset},
                   headers=auth.headers("business_user")), 403, "AUTH_002")
    # The registry's own routes still answer beside the aliases.
    assert api.get(f"/api/v1/catalog/models/{model_id}", headers=eng).status_code == 200


def test_inference_speed(api, auth, eng, iris_versions, iris_dataset):
    body = {"versionIds": iris_versions["ids"][:1], "datasetId": iris_dataset, "batchSizes": [1, 8],
            "repetitions": 5, "warmup": 0}
    timed = api.post("/api/v1/analysis/inference-speed", json=body, headers=eng)
    assert timed.status_code == 200, timed.text
    doc = timed.json()
    assert doc["device"] == "cpu" and [p["batchSize"] for p in doc["versions"][0]["points"]] == [1, 8]
    assert doc["versions"][0]["latencyP50Ms"] > 0
    error(api.post("/api/v1/analysis/inference-speed", json={**body, "batchSizes": [1000]}, headers=eng),
          422, "REQ_001")
    error(api.post("/api/v1/analysis/inference-speed", json=body, headers=auth.headers("business_user")),
          403, "AUTH_002")
    error(api.post("/api/v1/analysis/inference-speed", json={**body, "versionIds": ["v_nope"]}, headers=eng),
          404, "MODEL_001")
