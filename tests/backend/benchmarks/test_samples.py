"""Per-row samples of benchmark results: kept by the job in the artifact store with their hash, read back
only when the hash matches, and the weighted metrics agree with `measure.quality` at unit weights."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest

from backend.benchmarks import measure, samples, service
from backend.benchmarks.models import BenchmarkResult
from backend.core import artifacts
from tests.backend.benchmarks.conftest import iris_regressor, run_done, upload
from tests.backend.endpoints.conftest import iris_frame


def _classification_case(labels, rows: int, seed: int, *, binary_scores: bool):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(labels), rows)
    predicted = np.where(rng.random(rows) < 0.7, truth, rng.integers(0, len(labels), rows))
    outputs = []
    for p in predicted:
        probabilities = {label: 0.0 for label in labels}
        if binary_scores:  # a noisy score, with ties, for ROC-AUC
            probabilities[labels[1]] = round(float(rng.random() * 0.5 + 0.5 * (p == 1)), 1)
        outputs.append({"label": labels[p], "probabilities": probabilities})
    return [labels[t] for t in truth], outputs


@pytest.mark.parametrize(("labels", "binary"), [(("a", "b", "c", "d"), False), (("no", "yes"), True)])
def test_unit_weights_give_the_measured_metrics(labels, binary):
    truth, outputs = _classification_case(labels, 300, 1, binary_scores=binary)
    config = {"task": "classification", "labelNames": list(labels)}
    expected, _ = measure.quality(config, outputs, pl.Series(truth))
    kept = samples.from_outputs(config, outputs, truth)
    got = samples.weighted_metrics(kept, np.ones((1, kept.rows)), samples.RESAMPLABLE["classification"])
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
        assert got[key][0] == pytest.approx(expected[key], abs=1e-12), key
    if binary:
        assert got["roc_auc"][0] == pytest.approx(expected["roc_auc"], abs=1e-12)
    else:
        assert np.isnan(got["roc_auc"][0]) and expected["roc_auc"] is None
    # A weight of 2 on each row is the same resample as 1; a weight of 0 drops the row.
    twice = samples.weighted_metrics(kept, np.full((1, kept.rows), 2.0), ["accuracy", "f1_macro"])
    assert twice["accuracy"][0] == pytest.approx(expected["accuracy"])
    # Counts 0, 1, 2, 3 per row: the metrics of the rows written out that many times.
    counts = np.arange(kept.rows) % 4
    expanded = np.repeat(np.arange(kept.rows), counts)
    direct, _ = measure.quality(config, [outputs[i] for i in expanded], pl.Series([truth[i] for i in expanded]))
    got = samples.weighted_metrics(kept, counts[None, :].astype(float), samples.RESAMPLABLE["classification"])
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro") + (("roc_auc",) if binary else ()):
        assert got[key][0] == pytest.approx(direct[key], abs=1e-12), key


def test_regression_unit_weights_and_duplicated_rows():
    rng = np.random.default_rng(2)
    y = rng.normal(10, 3, 200)
    pred = y + rng.normal(0, 1, 200)
    config = {"task": "regression"}
    outputs = [{"value": float(v)} for v in pred]
    expected, _ = measure.quality(config, outputs, pl.Series(y))
    kept = samples.from_outputs(config, outputs, y.tolist())
    got = samples.weighted_metrics(kept, np.ones((1, 200)), ["rmse", "mae", "r2"])
    for key in ("rmse", "mae", "r2"):
        assert got[key][0] == pytest.approx(expected[key], rel=1e-10), key
    # Counts of 2 on the first 50 rows: the metrics of those rows written out twice.
    counts = np.ones((1, 200))
    counts[0, :50] = 2
    doubled = np.r_[np.arange(200), np.arange(50)]
    twice, _ = measure.quality(config, [outputs[i] for i in doubled], pl.Series(y[doubled]))
    got = samples.weighted_metrics(kept, counts, ["rmse", "r2"])
    assert got["rmse"][0] == pytest.approx(twice["rmse"]) and got["r2"][0] == pytest.approx(twice["r2"])


def test_store_hashes_and_refuses_a_changed_file(tmp_path):
    truth, outputs = _classification_case(("no", "yes"), 50, 3, binary_scores=True)
    config = {"task": "classification", "labelNames": ["no", "yes"]}
    kept = samples.from_outputs(config, outputs, truth)
    reference = samples.store(kept, run_id="bench_t", result_id="bres_t")
    data = artifacts.get_store().open(reference["key"]).read()
    assert reference["sha256"] == hashlib.sha256(data).hexdigest() and reference["rows"] == 50
    back = samples.load(reference)
    assert back.same_rows(kept) and np.array_equal(back.predicted, kept.predicted)
    assert np.array_equal(back.score, kept.score) and back.labels == ("no", "yes")
    with pytest.raises(samples.SamplesUnavailable, match="hash"):
        samples.load({**reference, "sha256": "0" * 64})
    artifacts.get_store().put(reference["key"], samples.to_bytes(samples.Samples(
        "classification", kept.truth, 1 - kept.predicted, kept.labels)))
    with pytest.raises(samples.SamplesUnavailable, match="hash"):
        samples.load(reference)
    with pytest.raises(samples.SamplesUnavailable, match="missing"):
        samples.load({**reference, "key": "benchmarks/bench_t/none.npz"})


def test_the_job_keeps_each_results_rows(session, engineer, iris_versions, iris_dataset):
    doc = run_done(session, engineer, iris_versions["ids"], iris_dataset)
    assert doc["status"] == "succeeded"
    loaded = []
    for result in doc["results"]:
        reference = result["samples"]
        assert reference["rows"] == result["rows"] == 45 and reference["key"].endswith(f"{result['id']}.npz")
        row = session.get(BenchmarkResult, result["id"])
        kept = samples.load(row.samples)
        loaded.append(kept)
        assert kept.labels[:3] == ("setosa", "versicolor", "virginica") and kept.score is None
        again = samples.weighted_metrics(kept, np.ones((1, kept.rows)), ["accuracy", "f1_macro"])
        assert again["accuracy"][0] == pytest.approx(result["metrics"]["accuracy"])
        assert again["f1_macro"][0] == pytest.approx(result["metrics"]["f1_macro"])
    assert loaded[0].same_rows(loaded[1])  # both versions scored on the same rows: resamples pair them
    rows = service.latest_result_rows(session, version_ids=iris_versions["ids"])
    assert {r.id for r in rows.values()} == {r["id"] for r in doc["results"]}


def test_regression_job_keeps_values(session, engineer):
    from backend.catalog.model_registry import service as registry
    from backend.endpoints import demo

    weights, config = iris_regressor()
    model_id, _ = demo.register(session, engineer, weights=weights, config=config, version="1.0.0", name="reg")
    session.commit()
    version_id = registry.find_version(session=session, model_id=model_id, version="1.0.0").id
    dataset_id = upload(session, engineer, iris_frame().drop("species"), "no species", split=False)
    doc = run_done(session, engineer, [version_id], dataset_id, split="all")
    result = doc["results"][0]
    kept = samples.load(session.get(BenchmarkResult, result["id"]).samples)
    assert kept.task == "regression" and kept.rows == 150
    again = samples.weighted_metrics(kept, np.ones((1, 150)), ["rmse", "r2"])
    assert again["rmse"][0] == pytest.approx(result["metrics"]["rmse"])
    assert again["r2"][0] == pytest.approx(result["metrics"]["r2"])
