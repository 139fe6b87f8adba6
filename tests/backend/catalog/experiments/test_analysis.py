"""An experiment's analysis from its runs: history with best so far, fANOVA importance over an
in-memory Optuna study, best parameters; and GET /catalog/experiments/{id}/analysis."""

from __future__ import annotations

import pytest

from backend.catalog.experiments import analysis
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from tests.backend.catalog.experiments.conftest import API, finish, log, make_experiment, make_run

# (learning rate, batch size, optimizer, accuracy): accuracy follows the learning rate; batch size and the
# optimizer are noise around it.
RUNS = [
    ("0.0001", "16", "adam", 0.61), ("0.001", "64", "sgd", 0.74), ("0.01", "32", "adam", 0.90),
    ("0.1", "16", "sgd", 0.70), ("0.0001", "64", "adam", 0.60), ("0.001", "32", "sgd", 0.75),
    ("0.01", "16", "sgd", 0.91), ("0.1", "64", "adam", 0.69), ("0.0001", "32", "sgd", 0.62),
    ("0.01", "64", "adam", 0.89), ("0.001", "16", "adam", 0.76), ("0.1", "32", "sgd", 0.71),
]


def sweep(actor, name: str = "LR sweep", objective: str | None = "maximize_accuracy", runs=RUNS) -> str:
    experiment_id = make_experiment(actor, name, **({"objective": objective} if objective else {}))
    for i, (lr, batch, optimizer, accuracy) in enumerate(runs):
        run_id = make_run(actor, experiment_id, name=f"run-{i}", start_time=1_000_000 + i * 1000,
                          params={"lr": lr, "batch_size": batch, "optimizer": optimizer, "job": f"train_{i}",
                                  "family": "tabular_mlp"})
        log(actor, run_id, metrics=[("accuracy", accuracy, 2_000_000 + i, 0), ("loss", 1 - accuracy, 2_000_000 + i, 0)])
        finish(actor, run_id)
    return experiment_id


def analyse(actor, experiment_id: str, **options) -> analysis.Analysis:
    with session_scope() as s:
        return analysis.analyse(session=s, actor=actor, experiment_id=experiment_id, **options)


def test_history_is_in_start_order_with_the_best_so_far(scientist):
    result = analyse(scientist, sweep(scientist))
    assert result.metric == "accuracy" and result.goal == "max" and result.runs_total == len(RUNS)
    assert [p.name for p in result.history] == [f"run-{i}" for i in range(len(RUNS))]
    assert [p.value for p in result.history] == [r[3] for r in RUNS]
    assert [p.best_so_far for p in result.history][:4] == [0.61, 0.74, 0.90, 0.90]
    assert result.history[-1].best_so_far == 0.91
    assert result.best.name == "run-6" and result.best_params["lr"] == "0.01"


def test_importance_ranks_the_parameter_that_drives_the_objective_first(scientist):
    result = analyse(scientist, sweep(scientist))
    # The constant family and the per-run job id explain nothing and are left out.
    assert result.parameters == ["batch_size", "lr", "optimizer"]
    assert list(result.importance)[0] == "lr"
    assert result.importance["lr"] > 0.6 and max(result.importance["batch_size"], result.importance["optimizer"]) < 0.25
    assert sum(result.importance.values()) == pytest.approx(1.0)
    assert analyse(scientist, sweep(scientist, "again")).importance == result.importance  # seeded: repeatable


def test_another_metric_and_goal_can_be_asked_for(scientist):
    experiment_id = sweep(scientist)
    result = analyse(scientist, experiment_id, metric="loss")
    assert result.goal == "min"  # a loss: lower is better
    assert result.best.name == "run-6" and result.best.value == pytest.approx(0.09)
    assert analyse(scientist, experiment_id, metric="loss", goal="max").best.name == "run-4"


def test_nothing_to_analyse_gives_empty_parts(scientist):
    assert analyse(scientist, sweep(scientist, "no objective", objective=None)).metric is None
    empty = analyse(scientist, make_experiment(scientist, "empty", objective="maximize_accuracy"))
    assert empty.history == [] and empty.importance == {} and empty.best is None
    one = analyse(scientist, sweep(scientist, "one run", runs=RUNS[:1]))
    assert len(one.history) == 1 and one.importance == {} and one.parameters == []
    assert one.best_params["optimizer"] == "adam"


def test_runs_without_the_metric_or_param_are_skipped(scientist):
    experiment_id = sweep(scientist, runs=RUNS[:4])
    stray = make_run(scientist, experiment_id, name="no metric", params={"lr": "0.5"})
    finish(scientist, stray)
    partial = make_run(scientist, experiment_id, name="partial", params={"lr": "0.02"})
    log(scientist, partial, metrics=[("accuracy", 0.5, 3_000_000, 0)])
    result = analyse(scientist, experiment_id)
    assert "no metric" not in [p.name for p in result.history] and len(result.history) == 5
    assert result.parameters == ["lr"]  # only lr is logged by every scored run


def test_bad_input_and_unknown_experiment(scientist):
    experiment_id = sweep(scientist, runs=RUNS[:2])
    with pytest.raises(AISystemError) as bad:
        analyse(scientist, experiment_id, metric="bad name!")
    assert bad.value.code == "REQ_001"
    with pytest.raises(AISystemError) as missing:
        analyse(scientist, "experiment_nope")
    assert missing.value.code == "EXP_001"


def test_the_analysis_route(api, auth, scientist):
    experiment_id = sweep(scientist)
    headers = auth.headers("data_scientist")
    response = api.get(f"{API}/{experiment_id}/analysis", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metric"] == "accuracy" and body["goal"] == "max" and len(body["history"]) == len(RUNS)
    assert body["history"][2]["bestSoFar"] == 0.9 and body["best"]["name"] == "run-6"
    assert body["bestParams"]["lr"] == "0.01" and list(body["importance"])[0] == "lr"
    other = api.get(f"{API}/{experiment_id}/analysis", params={"metric": "loss", "goal": "max"}, headers=headers)
    assert other.json()["best"]["name"] == "run-4"
    # Reading is for every holder of experiment:read; an engineer reads another's experiment.
    assert api.get(f"{API}/{experiment_id}/analysis", headers=auth.headers("ml_engineer")).status_code == 200

    def error(response, status, code):
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code

    error(api.get(f"{API}/experiment_nope/analysis", headers=headers), 404, "EXP_001")
    error(api.get(f"{API}/{experiment_id}/analysis", params={"goal": "best"}, headers=headers), 422, "REQ_001")
    error(api.get(f"{API}/{experiment_id}/analysis", params={"metric": "a&b"}, headers=headers), 422, "REQ_001")
    error(api.get(f"{API}/{experiment_id}/analysis"), 401, "AUTH_001")
    error(api.get(f"{API}/{experiment_id}/analysis", headers=auth.headers("business_user")), 403, "AUTH_002")
