"""Input drift from the prediction log: shifted inputs are reported per feature, the training-like ones are
not, and a report needs enough predictions."""

from __future__ import annotations

import pytest

from backend.endpoints import drift
from tests.backend.endpoints.conftest import iris_frame, rows
from tests.backend.endpoints.test_api import BASE, error

CONFIG = {"preprocessing": {"numeric": [{"name": "x", "mean": 10.0, "std": 2.0}],
                            "categorical": [{"name": "colour", "categories": ["red", "blue"]}]}}


def test_shifted_and_unseen_inputs_drift():
    steady = [{"x": 10.0 + (i % 5 - 2), "colour": "red" if i % 2 else "blue"} for i in range(40)]
    report = drift.report(CONFIG, steady)
    assert report["available"] and report["drifted"] == []
    moved = [{"x": 13.0 + (i % 5 - 2), "colour": "green" if i % 4 == 0 else "red"} for i in range(40)]
    report = drift.report(CONFIG, moved)
    by_feature = {f["feature"]: f for f in report["features"]}
    assert report["drifted"] == ["x", "colour"]
    assert by_feature["x"]["meanShift"] == pytest.approx(1.5)
    assert by_feature["colour"]["unseenShare"] == pytest.approx(0.25)
    assert by_feature["colour"]["topUnseen"] == [{"value": "green", "count": 10}]


def test_a_changed_spread_drifts_and_missing_values_read_as_the_model_reads_them():
    wide = [{"x": 10.0 + (6 if i % 2 else -6), "colour": "red"} for i in range(40)]
    assert drift.report(CONFIG, wide)["drifted"] == ["x"]  # same mean, three times the spread
    missing = [{"colour": None} for _ in range(40)]
    report = drift.report(CONFIG, missing)
    assert report["drifted"] == ["x", "colour"]  # no spread left; every category unseen


def test_no_verdict_without_enough_rows_or_statistics():
    assert drift.report(CONFIG, [{"x": 1.0}] * 5)["available"] is False
    assert drift.report(CONFIG, [{"x": 1.0}] * 5)["reason"] == "5 instances in the window; drift needs at least 30"
    assert drift.report(CONFIG, [{"x": 1.0}])["reason"] == "1 instance in the window; drift needs at least 30"
    no_stats = drift.report({"preprocessing": {}}, [{"x": 1.0}] * 50)
    assert no_stats["available"] is False and "no training statistics" in no_stats["reason"]


def test_the_drift_route(api, auth, iris_model):
    ops = auth.headers("ml_ops")
    made = api.post(BASE, json={"name": "iris"}, headers=ops).json()
    url = f"{BASE}/{made['id']}/drift"
    error(api.get(url, headers=ops), 503, "INFER_005")
    api.post(f"{BASE}/{made['id']}/deploy", json={"modelId": iris_model, "version": "1.0.0"}, headers=ops)
    predict = f"{BASE}/{made['id']}/predict"
    assert api.post(predict, json={"instances": rows(40)}, headers=ops).status_code == 200
    report = api.get(url, headers=ops).json()
    assert report["available"] and report["instances"] == 40 and report["version"] == "1.0.0"
    shifted = iris_frame().drop("species").head(40).with_columns(petal_band=None).to_dicts()
    for row in shifted:
        row["sepal_length"] += 5.0
    assert api.post(predict, json={"instances": shifted}, headers=ops).status_code == 200
    report = api.get(url, params={"minutes": 5}, headers=ops).json()
    assert "sepal_length" in report["drifted"] and "petal_band" in report["drifted"]
    error(api.get(url, params={"minutes": 0}, headers=ops), 422, "REQ_001")
    error(api.get(url), 401, "AUTH_001")
    error(api.get(f"{BASE}/endpoint_missing/drift", headers=ops), 404, "ENDPOINT_001")
