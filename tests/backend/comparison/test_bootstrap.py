"""The paired bootstrap behind `rankConfidence`: reproducible with its seed, paired across models, a clearly
better model nearly always first, two equal ones splitting the resamples, and a note instead of numbers
where nothing can be resampled."""

from __future__ import annotations

import numpy as np
import pytest

from backend.benchmarks.samples import Samples
from backend.comparison import bootstrap, engine
from backend.comparison.engine import MetricDef, Subject
from backend.comparison.metrics import BUILTIN_METRICS

PERFORMANCE = BUILTIN_METRICS[0]  # benchmark.accuracy first; reference 1.0 = 100
COST = MetricDef("cost", "Cost", ("derived.cost",), direction="lower")
LABELS = ("no", "yes")


def predictions(truth: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    """Predictions right on a random `accuracy` share of the rows."""
    rng = np.random.default_rng(seed)
    right = rng.permutation(truth.size) < round(accuracy * truth.size)
    return np.where(right, truth, 1 - truth).astype(np.int32)


def world(predicted: dict[str, np.ndarray], truth: np.ndarray, *, cost: dict[str, float] | None = None,
          without_samples: tuple[str, ...] = (), dataset: dict[str, tuple[str, int, str]] | None = None):
    """Subjects valued from their benchmark accuracy (and a fixed cost), with their measured results."""
    subjects, measured = [], {}
    for name, pred in predicted.items():
        x = Subject(id=name, name=name.title(), kind="version")
        x.raw = {"performance": float((pred == truth).mean()), "cost": (cost or {}).get(name)}
        x.sources = {"performance": "benchmark.accuracy"}
        if x.raw["cost"] is not None:
            x.sources["cost"] = "derived.cost"
        subjects.append(x)
        where = (dataset or {}).get(name, ("dataset_a", 1, "test"))
        kept = None if name in without_samples else Samples("classification", truth, pred, LABELS)
        measured[name] = bootstrap.Measured(f"bres_{name}", *where, samples=kept)
    return subjects, measured


def confidence(subjects, measured, *, metrics=(PERFORMANCE,), weights=None, **kw) -> dict:
    boot = bootstrap.plan(subjects=subjects, metrics=list(metrics), measured=measured, **kw)
    scores = {m.key: engine.normalise(m, {x.id: x.raw.get(m.key) for x in subjects}) for m in metrics}
    document = engine.evaluate(metrics=list(metrics), subjects=subjects, scores=scores,
                               weights=weights or {m.key: 1.0 for m in metrics}, bootstrap=boot)
    return document


def by_model(block: dict) -> dict[str, dict]:
    return {m["modelId"]: m for m in block["models"]}


TRUTH = np.random.default_rng(0).integers(0, 2, 2000).astype(np.int32)


def test_reproducible_with_its_seed():
    subjects, measured = world({"a": predictions(TRUTH, 0.80, 1), "b": predictions(TRUTH, 0.79, 2)}, TRUTH)
    first = bootstrap.plan(subjects=subjects, metrics=[PERFORMANCE], measured=measured)
    again = bootstrap.plan(subjects=subjects, metrics=[PERFORMANCE], measured=measured)
    other = bootstrap.plan(subjects=subjects, metrics=[PERFORMANCE], measured=measured, seed=7)
    assert first.seed == bootstrap.SEED and first.resamples == 1000
    assert np.array_equal(first.values["performance"]["a"], again.values["performance"]["a"])
    assert not np.array_equal(first.values["performance"]["a"], other.values["performance"]["a"])
    # The block sizes do not change the draws.
    small = np.concatenate(list(bootstrap.paired_counts(50, resamples=30, seed=3, block_cells=100)))
    large = np.concatenate(list(bootstrap.paired_counts(50, resamples=30, seed=3)))
    assert np.array_equal(small, large) and (small.sum(axis=1) == 50).all()
    doc1 = confidence(subjects, measured)
    doc2 = confidence(subjects, measured)
    assert doc1["rankConfidence"] == doc2["rankConfidence"]


def test_a_clearly_better_model_is_first_nearly_always():
    subjects, measured = world({"good": predictions(TRUTH, 0.90, 1), "fair": predictions(TRUTH, 0.80, 2),
                                "poor": predictions(TRUTH, 0.70, 3)}, TRUTH)
    doc = confidence(subjects, measured)
    block = doc["rankConfidence"]
    assert block["available"] and block["resamples"] == 1000 and block["metrics"] == ["performance"]
    assert block["dataset"] == {"datasetId": "dataset_a", "datasetVersion": 1, "split": "test", "rows": 2000}
    models = by_model(block)
    assert models["good"]["probabilityFirst"] >= 0.99 and models["good"]["rankInterval"] == [1, 1]
    assert models["poor"]["probabilityFirst"] == 0 and models["poor"]["rankInterval"] == [3, 3]
    low, high = models["good"]["scoreInterval"]
    assert low < 90.0 < high and high - low < 4  # about ± 1.96 · sqrt(.09 · .91 / 2000) = ± 1.3 points
    assert sum(m["probabilityFirst"] for m in block["models"]) == pytest.approx(1.0)
    assert [m["modelId"] for m in block["models"]][0] == "good"
    assert "Good ranks first in 100 % of 1,000 bootstrap resamples of the benchmark rows" in doc["insights"]


def test_two_equal_models_split_the_resamples():
    # Same accuracy, errors on different rows: each first about half the time.
    subjects, measured = world({"a": predictions(TRUTH, 0.80, 1), "b": predictions(TRUTH, 0.80, 2)}, TRUTH)
    models = by_model(confidence(subjects, measured)["rankConfidence"])
    assert 0.35 <= models["a"]["probabilityFirst"] <= 0.65
    assert models["a"]["probabilityFirst"] + models["b"]["probabilityFirst"] == pytest.approx(1.0)
    assert models["a"]["rankInterval"] == [1, 2] == models["b"]["rankInterval"]
    # The very same predictions tie on every resample: the tie is shared, not given to one of them.
    same = predictions(TRUTH, 0.8, 1)
    subjects, measured = world({"a": same, "b": same.copy()}, TRUTH)
    models = by_model(confidence(subjects, measured)["rankConfidence"])
    assert models["a"]["probabilityFirst"] == 0.5 == models["b"]["probabilityFirst"]
    assert models["a"]["rankInterval"] == [1, 1]


def test_resamples_are_paired():
    # b is right wherever a is, and on 8 rows more: on the same drawn rows a never gets ahead of b,
    # although their accuracies differ by 0.4 points, well inside one model's own spread (± 1.8 points).
    a = predictions(TRUTH, 0.80, 1)
    b = a.copy()
    wrong = np.flatnonzero(a != TRUTH)[:8]
    b[wrong] = TRUTH[wrong]
    subjects, measured = world({"a": a, "b": b}, TRUTH)
    models = by_model(confidence(subjects, measured)["rankConfidence"])
    assert models["b"]["rankInterval"] == [1, 1] and models["b"]["probabilityFirst"] > 0.75
    low, high = models["a"]["scoreInterval"]
    assert high - low > 2.5  # each score alone moves far more than the gap


def test_weights_and_fixed_metrics_go_through_the_engine():
    # Cost (not from a benchmark) stays fixed; weighted heavily it decides the ranking on every resample.
    subjects, measured = world({"a": predictions(TRUTH, 0.90, 1), "b": predictions(TRUTH, 0.80, 2)}, TRUTH,
                               cost={"a": 10.0, "b": 1.0})
    heavy = confidence(subjects, measured, metrics=(PERFORMANCE, COST), weights={"performance": 0.1, "cost": 0.9})
    assert heavy["recommendations"]["bestOverall"] == "b"
    models = by_model(heavy["rankConfidence"])
    assert models["b"]["probabilityFirst"] == 1.0 and heavy["rankConfidence"]["sources"] == {
        "performance": {"a": "benchmark.accuracy", "b": "benchmark.accuracy"}}
    # The score interval is the document's overall score's: b = 0.1 · 80 + 0.9 · 100 = 98.
    low, high = models["b"]["scoreInterval"]
    assert low <= heavy["models"][0]["overallScore"] <= high
    # No weight on the resampled metric: the ranking cannot move, and the note says so.
    none = confidence(subjects, measured, metrics=(PERFORMANCE, COST), weights={"performance": 0.0, "cost": 1.0})
    assert "carry no weight" in none["rankConfidence"]["note"]


def test_nothing_to_resample_gives_a_note_not_numbers():
    subjects, measured = world({"a": predictions(TRUTH, 0.9, 1), "b": predictions(TRUTH, 0.8, 2)}, TRUTH,
                               without_samples=("a", "b"))
    doc = confidence(subjects, measured)
    block = doc["rankConfidence"]
    assert not block["available"] and block["models"] == [] and block["resamples"] == 0
    assert "per-row samples" in block["note"] and set(block["unsampled"]) == {"a", "b"}
    assert not any("bootstrap" in line for line in doc["insights"])
    # No metric from a benchmark at all (e.g. marketplace listings).
    x = Subject(id="l1", name="L1", kind="listing", raw={"performance": 0.8}, sources={"performance": "derived.quality"})
    y = Subject(id="l2", name="L2", kind="listing", raw={"performance": 0.7}, sources={"performance": "derived.quality"})
    block = confidence([x, y], {})["rankConfidence"]
    assert not block["available"] and "No compared metric takes its value from a benchmark" in block["note"]


def test_old_results_and_other_datasets_stay_fixed_with_a_reason():
    other = np.random.default_rng(9).integers(0, 2, 2000).astype(np.int32)
    subjects, measured = world({"a": predictions(TRUTH, 0.9, 1), "b": predictions(TRUTH, 0.8, 2),
                                "old": predictions(TRUTH, 0.85, 3), "elsewhere": predictions(TRUTH, 0.7, 4)},
                               TRUTH, without_samples=("old",),
                               dataset={"elsewhere": ("dataset_b", 2, "test")})
    block = confidence(subjects, measured)["rankConfidence"]
    assert block["available"] and set(block["sources"]["performance"]) == {"a", "b"}
    assert "before per-row samples were kept" in block["unsampled"]["old"]
    assert "dataset_b v2 (test)" in block["unsampled"]["elsewhere"]
    models = by_model(block)
    assert not models["old"]["resampled"] and models["a"]["resampled"]
    # Same dataset version but other rows (e.g. a re-split): not paired either.
    subjects, measured = world({"a": predictions(TRUTH, 0.9, 1), "b": predictions(TRUTH, 0.8, 2)}, TRUTH)
    measured["b"] = bootstrap.Measured("bres_b", "dataset_a", 1, "test",
                                       samples=Samples("classification", other, predictions(other, 0.8, 2), LABELS))
    block = confidence(subjects, measured)["rankConfidence"]
    assert set(block["sources"]["performance"]) == {"a"} and "differ" in block["unsampled"]["b"]
