"""The pure engine: normalisation, missing values, the tie rule, the Pareto front and the exact sensitivity
(checked against a brute-force sweep of the weight)."""

from __future__ import annotations

import random

import pytest

from backend.comparison import engine, formula
from backend.comparison.engine import MetricDef, Subject
from backend.core.errors import AISystemError

KEYS = ("a", "b", "c")


def metric(key: str, **kw) -> MetricDef:
    return MetricDef(key=key, label=key.upper(), sources=(), **kw)


def test_normalise():
    assert engine.normalise(metric("x"), {"p": 10, "q": 20, "r": None}) == {"p": 0.0, "q": 100.0, "r": None}
    assert engine.normalise(metric("x", direction="lower"), {"p": 10, "q": 20}) == {"p": 100.0, "q": 0.0}
    assert engine.normalise(metric("x"), {"p": 5, "q": 5}) == {"p": 100.0, "q": 100.0}
    log = engine.normalise(metric("x", scale="log"), {"p": 1_000, "q": 10_000, "r": 100_000})
    assert log == {"p": 0.0, "q": pytest.approx(50.0), "r": 100.0}
    ref = engine.normalise(metric("x", normalization="reference", reference=1.0), {"p": 0.9, "q": 1.2})
    assert ref == {"p": pytest.approx(90.0), "q": 100.0}
    lower = engine.normalise(metric("x", normalization="reference", reference=50, direction="lower"),
                             {"p": 100, "q": 25})
    assert lower == {"p": 50.0, "q": 100.0}


def test_missing_values_are_excluded_not_zero():
    scores = {"a": {"p": 80.0, "q": 60.0}, "b": {"p": None, "q": 100.0}}
    overall = engine.overall_scores(scores, {"a": 0.5, "b": 0.5}, ["p", "q"])
    assert overall == {"p": 80.0, "q": 80.0}


def test_ties_share_a_rank_at_one_decimal():
    assert engine.ranks({"p": 90.04, "q": 90.01, "r": 80.0, "s": None}) == {"p": 1, "q": 1, "r": 3, "s": None}
    names = {"p": "Zeta", "q": "Alpha", "r": "Mid"}
    assert engine.tie_order({"p": 90.04, "q": 90.01, "r": 80.0}, names) == ["q", "p", "r"]


def test_pareto_front_with_missing_values():
    scores = {"a": {"p": 90.0, "q": 80.0, "r": 70.0}, "b": {"p": 50.0, "q": 50.0, "r": None}}
    front, dominated = engine.pareto(scores, ["p", "q", "r"])
    # q is beaten everywhere by p; r lacks b, so p (which has b) dominates it on a alone... p > r on a.
    assert front == ["p"] and dominated == {"q": "p", "r": "p"}


def _brute(scores, weights, ids, names, key):
    base = engine._winner(scores, weights, ids, names)
    ups = [t / 10000 for t in range(int(weights[key] * 10000) + 1, 10001)]
    for t in ups:
        who = engine._winner(scores, engine._shifted(weights, key, t), ids, names)
        if who != base:
            return t, who
    return None


@pytest.mark.parametrize("seed", range(8))
def test_sensitivity_matches_a_brute_force_sweep(seed):
    rng = random.Random(seed)
    ids = [f"m{i}" for i in range(4)]
    names = {i: i for i in ids}
    scores = {k: {i: (None if rng.random() < 0.15 else rng.uniform(0, 100)) for i in ids} for k in KEYS}
    raw = {k: rng.uniform(0.05, 1) for k in KEYS}
    weights = engine.normalise_weights(raw)
    result = {s["key"]: s for s in engine.sensitivity(scores, weights, ids, names)}
    for key in KEYS:
        brute = _brute(scores, weights, ids, names, key)
        up = result[key]["increase"]
        if brute is None:
            assert up is None
        else:
            assert up is not None and up["newWinner"] == brute[1]
            assert brute[0] - 0.0001 <= up["weight"] <= brute[0] + 0.0001


def test_evaluate_builds_insights_from_numbers():
    metrics = [metric("performance"), metric("cost_efficiency", direction="lower", unit="USD")]
    subjects = [Subject("x", "Xavier", "model", raw={"performance": 0.9, "cost_efficiency": 10.0}),
                Subject("y", "Yolanda", "model", raw={"performance": 0.8, "cost_efficiency": 1.0})]
    scores = {m.key: engine.normalise(m, {s.id: s.raw[m.key] for s in subjects}) for m in metrics}
    doc = engine.evaluate(metrics=metrics, subjects=subjects, scores=scores, weights={"performance": 1,
                                                                                     "cost_efficiency": 1})
    assert doc["models"][0]["overallScore"] == 50.0 and doc["models"][1]["overallScore"] == 50.0
    assert doc["rankings"] == {"x": {"overall": 1, "performance": 1, "cost_efficiency": 2},
                               "y": {"overall": 1, "performance": 2, "cost_efficiency": 1}}
    assert doc["insights"][0] == "Xavier and Yolanda tie for the highest overall score of 50.0"
    assert "Yolanda offers the best cost efficiency at $1.00 per 1,000 predictions against $10.00 for Xavier" \
        in doc["insights"]


def test_formula_is_whitelisted_arithmetic():
    tree, keys = formula.parse("0.5 * a + max(b, 10) - raw.c / 2 ** 2")
    assert keys == {"a", "b", "c"}
    assert formula.evaluate(tree, {"a": 80.0, "b": 5.0}, {"c": 8.0}) == 40 + 10 - 2
    for bad in ("__import__('os')", "a.b", "[1, 2]", "a if b else c", "lambda: 1", "'text'", "a < b", "open(a)",
                "x[0]", "a +"):
        with pytest.raises(AISystemError) as caught:
            formula.parse(bad)
        assert caught.value.code == "COMPARE_006"
    tree, _ = formula.parse("a / b")
    with pytest.raises(AISystemError):
        formula.evaluate(tree, {"a": 1.0, "b": 0.0}, {})
    with pytest.raises(formula.Missing):
        formula.evaluate(tree, {"a": 1.0, "b": None}, {})
    with pytest.raises(AISystemError):
        formula.evaluate(formula.parse("a ** 1000")[0], {"a": 2.0}, {})
