"""/api/v1/catalog/endpoints over HTTP: permissions, model keys (AUTH-03), rate limits with Retry-After
(RES-06), the INFER_00x errors, and every route's success and error paths."""

from __future__ import annotations

import io

import pytest

from backend.endpoints import predlog
from tests.backend.endpoints.conftest import iris_frame, rows

BASE = "/api/v1/catalog/endpoints"


@pytest.fixture
def ops(auth):
    return auth.headers("ml_ops")


@pytest.fixture
def endpoint(api, ops, iris_model):
    """A deployed endpoint serving version 1.0.0 of the iris model."""
    made = api.post(BASE, json={"name": "iris", "examples": [{"input": rows(1)[0], "expected": {"label": "setosa"}}]},
                    headers=ops)
    assert made.status_code == 201, made.text
    deployed = api.post(f"{BASE}/{made.json()['id']}/deploy", json={"modelId": iris_model, "version": "1.0.0"},
                        headers=ops)
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["status"] == "running"
    return deployed.json()


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def test_crud(api, ops, auth):
    made = api.post(BASE, json={"name": "scoring", "rateLimitPerMinute": 120}, headers=ops)
    assert made.status_code == 201 and made.json()["status"] == "undeployed"
    endpoint_id = made.json()["id"]
    error(api.post(BASE, json={"name": "scoring"}, headers=ops), 409, "ENDPOINT_002")
    error(api.post(BASE, json={"name": "x", "unknown": 1}, headers=ops), 422, "REQ_001")
    listed = api.get(BASE, headers=auth.headers("business_user"))
    assert [e["id"] for e in listed.json()["items"]] == [endpoint_id]
    assert api.get(f"{BASE}/{endpoint_id}", headers=ops).json()["rateLimitPerMinute"] == 120
    changed = api.put(f"{BASE}/{endpoint_id}", json={"description": "scores"}, headers=ops)
    assert changed.status_code == 200 and changed.json()["description"] == "scores"
    error(api.get(f"{BASE}/endpoint_nope", headers=ops), 404, "ENDPOINT_001")
    error(api.put(f"{BASE}/endpoint_nope", json={}, headers=ops), 404, "ENDPOINT_001")
    assert api.delete(f"{BASE}/{endpoint_id}", headers=ops).status_code == 204
    error(api.delete(f"{BASE}/{endpoint_id}", headers=ops), 404, "ENDPOINT_001")


def test_permissions(api, auth, endpoint):
    business = auth.headers("business_user")
    error(api.post(BASE, json={"name": "mine"}, headers=business), 403, "AUTH_002")
    error(api.post(f"{BASE}/{endpoint['id']}/undeploy", headers=business), 403, "AUTH_002")
    error(api.post(f"{BASE}/{endpoint['id']}/keys", json={"name": "k"}, headers=business), 403, "AUTH_002")
    error(api.get(BASE), 401, "AUTH_001")
    error(api.post(f"{BASE}/{endpoint['id']}/predict", json={"instances": rows(1)}), 401, "AUTH_001")
    # endpoint:invoke: a business user's bearer token predicts.
    answer = api.post(f"{BASE}/{endpoint['id']}/predict", json={"instances": rows(1)}, headers=business)
    assert answer.status_code == 200 and answer.json()["predictions"][0]["label"] == "setosa"


def test_deploy_errors(api, ops, iris_model):
    endpoint_id = api.post(BASE, json={"name": "e"}, headers=ops).json()["id"]
    error(api.post(f"{BASE}/{endpoint_id}/deploy", json={"modelId": iris_model}, headers=ops), 422, "REQ_001")
    error(api.post(f"{BASE}/{endpoint_id}/deploy", json={"modelId": iris_model, "version": "7.0.0"}, headers=ops),
          404, "MODEL_001")
    error(api.post(f"{BASE}/{endpoint_id}/deploy", json={"modelId": iris_model, "stage": "staging"}, headers=ops),
          409, "ENDPOINT_002")
    error(api.post(f"{BASE}/{endpoint_id}/undeploy", headers=ops), 409, "ENDPOINT_002")
    error(api.post(f"{BASE}/{endpoint_id}/predict", json={"instances": rows(1)}, headers=ops), 503, "INFER_005")


def test_predict_errors(api, ops, endpoint):
    url = f"{BASE}/{endpoint['id']}/predict"
    body = error(api.post(url, json={"instances": [{**rows(1)[0], "petal_width": [1]}]}, headers=ops),
                 422, "INFER_002")
    assert body["details"]["field"] == "petal_width"
    error(api.post(url, json={"instances": []}, headers=ops), 422, "REQ_001")
    error(api.post(f"{BASE}/endpoint_nope/predict", json={"instances": rows(1)}, headers=ops), 404, "ENDPOINT_001")


def test_model_keys(api, ops, auth, endpoint, iris_model):
    """AUTH-03: a model key works only on its own endpoint's prediction routes, and stops when revoked."""
    made = api.post(f"{BASE}/{endpoint['id']}/keys", json={"name": "shop"}, headers=ops)
    assert made.status_code == 201, made.text
    key, key_id = made.json()["key"], made.json()["id"]
    model_key = {"X-Model-Key": key}
    answer = api.post(f"{BASE}/{endpoint['id']}/predict", json={"instances": rows(2)}, headers=model_key)
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2
    explained = api.post(f"{BASE}/{endpoint['id']}/explain", json={"instances": rows(1)}, headers=model_key)
    assert explained.status_code == 200
    error(api.get(f"{BASE}/{endpoint['id']}", headers=model_key), 401, "AUTH_001")
    error(api.post(f"{BASE}/{endpoint['id']}/undeploy", headers=model_key), 401, "AUTH_001")
    other = api.post(BASE, json={"name": "other"}, headers=ops).json()["id"]
    api.post(f"{BASE}/{other}/deploy", json={"modelId": iris_model, "version": "1.0.0"}, headers=ops)
    error(api.post(f"{BASE}/{other}/predict", json={"instances": rows(1)}, headers=model_key), 401, "AUTH_001")
    error(api.post(f"{BASE}/{endpoint['id']}/predict", json={"instances": rows(1)}, headers={"X-Model-Key": key + "x"}),
          401, "AUTH_001")
    listed = api.get(f"{BASE}/{endpoint['id']}/keys", headers=ops).json()["items"]
    assert [k["id"] for k in listed] == [key_id] and "key" not in listed[0]
    assert api.delete(f"{BASE}/{endpoint['id']}/keys/{key_id}", headers=ops).json()["revokedAt"]
    error(api.post(f"{BASE}/{endpoint['id']}/predict", json={"instances": rows(1)}, headers=model_key), 401, "AUTH_001")
    error(api.delete(f"{BASE}/{other}/keys/{key_id}", headers=ops), 404, "ENDPOINT_001")
    predlog.flush()
    logged = api.get(f"{BASE}/{endpoint['id']}/logs", headers=ops).json()["items"]
    assert key_id in {row["keyId"] for row in logged}


def test_rate_limit_answers_retry_after(api, ops, endpoint):
    """RES-06: a key's token bucket; an empty one answers 429 INFER_004 with Retry-After."""
    api.put(f"{BASE}/{endpoint['id']}", json={"rateLimitPerMinute": 30, "burst": 2}, headers=ops)
    key = api.post(f"{BASE}/{endpoint['id']}/keys", json={"name": "k"}, headers=ops).json()["key"]
    url = f"{BASE}/{endpoint['id']}/predict"
    for _ in range(2):
        assert api.post(url, json={"instances": rows(1)}, headers={"X-Model-Key": key}).status_code == 200
    limited = api.post(url, json={"instances": rows(1)}, headers={"X-Model-Key": key})
    error(limited, 429, "INFER_004")
    assert limited.headers["Retry-After"] == "2"
    # The bucket is the key's: the owner's own token still has its tokens.
    assert api.post(url, json={"instances": rows(1)}, headers=ops).status_code == 200


def test_status_health_scale_traffic(api, ops, endpoint):
    url = f"{BASE}/{endpoint['id']}"
    status = api.get(f"{url}/status", headers=ops).json()
    assert status["versions"] == [{"version": "1.0.0", "role": "primary", "percent": 100.0}]
    assert [c["name"] for c in status["inputSchema"]["columns"]][:2] == ["sepal_length", "sepal_width"]
    assert status["labelNames"] == ["setosa", "versicolor", "virginica"]
    assert api.get(f"{url}/health", headers=ops).json()["status"] == "healthy"
    scaled = api.post(f"{url}/scale", json={"replicas": 2, "maxReplicas": 3, "autoScaling": True}, headers=ops)
    assert scaled.json()["replicas"] == 2 and scaled.json()["autoscaling"]["autoScaling"] is True
    error(api.post(f"{url}/scale", json={"replicas": 9}, headers=ops), 422, "REQ_001")
    canary = api.put(f"{url}/traffic", json={"mode": "canary", "candidateVersion": "1.0.1", "candidatePercent": 10},
                     headers=ops)
    assert canary.json()["traffic"] == {"mode": "canary", "candidateVersion": "1.0.1", "candidatePercent": 10.0}
    error(api.put(f"{url}/traffic", json={"mode": "canary", "candidateVersion": "bad"}, headers=ops), 422, "REQ_001")
    switched = api.post(f"{url}/traffic/switch", headers=ops).json()
    assert switched["version"] == "1.0.1"
    single = api.put(f"{url}/traffic", json={"mode": "single"}, headers=ops).json()
    error(api.post(f"{url}/traffic/switch", headers=ops), 409, "ENDPOINT_002")
    assert single["traffic"]["mode"] == "single"


def test_logs_metrics_and_test(api, ops, endpoint):
    url = f"{BASE}/{endpoint['id']}"
    for n in (1, 2):
        api.post(f"{url}/predict", json={"instances": rows(n)}, headers=ops)
    api.post(f"{url}/predict", json={"instances": [{"sepal_length": 1}]}, headers=ops)
    logs = api.get(f"{url}/logs", headers=ops).json()["items"]
    assert [r["instances"] for r in logs] == [1, 2, 1] and logs[0]["errorCode"] == "INFER_002"
    assert len(api.get(f"{url}/logs", params={"status": "ok", "limit": 1}, headers=ops).json()["items"]) == 1
    metrics = api.get(f"{url}/metrics", params={"minutes": 10}, headers=ops).json()
    assert metrics["requests"] == 3 and metrics["errors"] == 1 and metrics["latencyMs"]["p95"] > 0
    error(api.get(f"{url}/metrics", params={"minutes": 0}, headers=ops), 422, "REQ_001")
    report = api.post(f"{url}/test", headers=ops).json()
    assert (report["passed"], report["failed"]) == (1, 0)
    error(api.get(f"{BASE}/endpoint_nope/logs", headers=ops), 404, "ENDPOINT_001")


def test_explain_routes(api, ops, auth, endpoint):
    url = f"{BASE}/{endpoint['id']}/explain"
    explained = api.post(url, json={"instances": rows(1), "steps": 16}, headers=ops).json()
    assert explained["method"] == "integrated_gradients"
    assert set(explained["explanations"][0]["attributions"]) >= {"petal_length", "petal_band"}
    error(api.post(url, json={"instances": rows(1), "steps": 1}, headers=ops), 422, "REQ_001")
    scientist = auth.headers("data_scientist")
    buffer = io.BytesIO()
    iris_frame().write_csv(buffer)
    dataset = api.post("/api/v1/catalog/datasets", json={"name": "iris", "type": "tabular"}, headers=scientist).json()
    uploaded = api.post(f"/api/v1/catalog/datasets/{dataset['id']}/upload", headers=scientist,
                        files={"file": ("iris.csv", buffer.getvalue(), "text/csv")})
    assert uploaded.status_code in (200, 201), uploaded.text
    report = api.get(url, params={"datasetId": dataset["id"], "rows": 150, "repeats": 1}, headers=scientist)
    assert report.status_code == 200, report.text
    assert report.json()["method"] == "permutation_importance" and report.json()["rows"] == 150
    error(api.get(url, params={"datasetId": "dataset_nope"}, headers=scientist), 404, "DATA_001")


def test_batch_predict_and_export(api, ops, auth, endpoint, sent):
    scientist = auth.headers("data_scientist")
    buffer = io.BytesIO()
    iris_frame().write_csv(buffer)
    dataset = api.post("/api/v1/catalog/datasets", json={"name": "iris", "type": "tabular"}, headers=scientist).json()
    api.post(f"/api/v1/catalog/datasets/{dataset['id']}/upload", headers=scientist,
             files={"file": ("iris.csv", buffer.getvalue(), "text/csv")})
    queued = api.post(f"{BASE}/{endpoint['id']}/batch-predict", json={"datasetId": dataset["id"], "batchSize": 50},
                      headers=scientist)
    assert queued.status_code == 202, queued.text
    assert sent.routes[queued.json()["jobId"]][0] == "inference"
    error(api.post(f"{BASE}/{endpoint['id']}/batch-predict", json={"datasetId": "dataset_nope"}, headers=scientist),
          404, "DATA_001")
    exported = api.get(f"{BASE}/{endpoint['id']}/export", headers=ops)
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/octet-stream"
    assert 'filename="iris-1.0.0.onnx"' in exported.headers["content-disposition"] and len(exported.content) > 1000
    error(api.get(f"{BASE}/{endpoint['id']}/export", params={"version": "1.0.1"}, headers=ops), 409, "ENDPOINT_002")
    error(api.get(f"{BASE}/{endpoint['id']}/export", headers=scientist), 403, "AUTH_002")


def test_timeout_is_504(api, ops, endpoint, monkeypatch):
    import time

    from backend.ml.families.tabular_mlp import TabularMLPFamily

    real = TabularMLPFamily.predict_frame

    def slow(self, module, config, frame):
        time.sleep(0.3)
        return real(self, module, config, frame)

    api.put(f"{BASE}/{endpoint['id']}", json={"timeoutMs": 50}, headers=ops)
    monkeypatch.setattr(TabularMLPFamily, "predict_frame", slow)
    body = error(api.post(f"{BASE}/{endpoint['id']}/predict", json={"instances": rows(1)}, headers=ops), 504, "INFER_003")
    assert body["details"]["timeoutMs"] == 50


def test_batch_predict_of_an_uploaded_file(api, auth, endpoint, sent, session):
    from sqlmodel import func, select

    from backend.catalog.datasets.models import Dataset
    from backend.jobs import tasks as job_tasks

    scientist = auth.headers("data_scientist")
    url = f"{BASE}/{endpoint['id']}/batch-predict/upload"
    buffer = io.BytesIO()
    iris_frame().drop("species").write_csv(buffer)
    queued = api.post(url, headers=scientist, data={"batchSize": "40"},
                      files={"file": ("rows.csv", buffer.getvalue(), "text/csv")})
    assert queued.status_code == 202, queued.text
    answer = queued.json()
    assert sent.routes[answer["jobId"]][0] == "inference"
    uploaded = api.get(f"/api/v1/catalog/datasets/{answer['datasetId']}", headers=scientist).json()
    assert uploaded["type"] == "tabular" and uploaded["name"].startswith(f"{endpoint['name']} batch input")
    job_tasks.run_job(answer["jobId"])  # play the worker: the uploaded rows are predicted like a dataset's
    done = api.get(f"/api/v1/jobs/{answer['jobId']}", headers=scientist).json()
    assert done["status"] == "succeeded", done
    assert done["payload"]["batchSize"] == 40 and done["payload"]["datasetId"] == answer["datasetId"]

    def datasets() -> int:
        count = session.exec(select(func.count()).select_from(Dataset)).one()
        session.rollback()  # end the transaction: the API's writes must not wait for it
        return count

    before = datasets()
    # A file the datasets upload path cannot read leaves nothing behind.
    bad = api.post(url, headers=scientist, files={"file": ("rows.parquet", b"not a parquet file", "application/octet-stream")})
    assert bad.status_code in (400, 422) and bad.json()["error"]["code"].startswith(("DATA", "REQ")), bad.text
    assert datasets() == before
    error(api.post(url, headers=scientist, data={"batchSize": "0"},
                   files={"file": ("rows.csv", buffer.getvalue(), "text/csv")}), 422, "REQ_001")
    error(api.post(url, headers=scientist, data={"note": "x"}, files={"other": ("a.csv", b"a\n1\n", "text/csv")}),
          422, "REQ_001")
    assert datasets() == before
    error(api.post(url, headers=auth.headers("ml_ops"), files={"file": ("rows.csv", b"a\n1\n", "text/csv")}),
          403, "AUTH_002")  # ml_ops may invoke but not create datasets
