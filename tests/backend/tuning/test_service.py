"""Checking an optimisation configuration (TRAIN_003 naming the field), each strategy's sampler, the
pruner of `earlyStopping`, the grid, and the Pareto front; no training runs here."""

from __future__ import annotations

import optuna
import pytest

from backend.core.errors import AISystemError
from backend.tuning import service, strategies
from backend.tuning.models import Study, Trial

HYPER = {"maxEpochs": 2, "batchSize": 32}
LR = {"type": "float", "min": 0.001, "max": 0.1, "scale": "log"}


def check(**configuration):
    raw = {"searchSpace": {"learning_rate": LR}, **configuration}
    return service.check_configuration(raw, family="tabular_mlp", task="classification", hyperparameters=HYPER)


def fields_of(exc: pytest.ExceptionInfo) -> dict[str, str]:
    return {f["field"]: f["message"] for f in exc.value.details.get("fields", [])}


@pytest.mark.parametrize(("configuration", "field"), [
    ({"maxTrials": 10**9}, "maxTrials"),
    ({"maxTrials": 0}, "maxTrials"),
    ({"parallelTrials": 99}, "parallelTrials"),
    ({"searchSpace": {}}, "searchSpace"),
    ({"searchSpace": {"learning_rate": {"type": "float", "min": 0.1, "max": 0.01}}}, "searchSpace.learning_rate"),
    ({"searchSpace": {"learning_rate": {"type": "float", "min": 0, "max": 0.1, "scale": "log"}}},
     "searchSpace.learning_rate"),
    ({"searchSpace": {"learning_rate": {"type": "float", "min": 0.001, "max": 50}}}, "searchSpace.learning_rate"),
    ({"searchSpace": {"learning_rate": {"type": "float", "max": 0.1}}}, "searchSpace.learning_rate"),
    ({"searchSpace": {"warp_factor": {"type": "float", "min": 1, "max": 2}}}, "searchSpace.warp_factor"),
    ({"searchSpace": {"batch_size": {"type": "int", "min": 8.5, "max": 64}}}, "searchSpace.batch_size"),
    ({"searchSpace": {"batch_size": {"type": "choice", "values": [16, 16]}}}, "searchSpace.batch_size"),
    ({"searchSpace": {"batch_size": {"type": "choice", "values": [16, 0]}}}, "searchSpace.batch_size"),
    ({"searchSpace": {"batch_size": {"type": "choice", "min": 1, "max": 2, "values": [1]}}},
     "searchSpace.batch_size"),
    ({"searchSpace": {"learning_rate": LR, "learningRate": LR}}, "searchSpace.learningRate"),
    ({"strategy": "simulated_annealing"}, "strategy"),
    ({"objective": "maximize_happiness"}, "objective"),
    ({"objective": "minimize_rmse"}, "objective"),
    ({"objective": "sideways_loss"}, "objective"),
    ({"objectives": [{"metric": "val_accuracy", "direction": "maximize"}]}, "objectives"),
    ({"earlyStopping": {"enabled": True}, "objective": "maximize_test_accuracy"}, "earlyStopping"),
    ({"earlyStopping": {"enabled": True}, "objectives": [
        {"metric": "val_accuracy", "direction": "maximize"},
        {"metric": "trainingSeconds", "direction": "minimize"}]}, "earlyStopping"),
    ({"strategy": "population_based_training", "maxTrials": 3}, "maxTrials"),
    ({"strategy": "population_based_training", "maxTrials": 8,
      "searchSpace": {"max_epochs": {"type": "int", "min": 1, "max": 3}}}, "searchSpace.max_epochs"),
    ({"surprise": 1}, "surprise"),
])
def test_bad_configurations_are_train_003_naming_the_field(configuration, field):
    with pytest.raises(AISystemError) as exc:
        check(**configuration)
    assert exc.value.code == "TRAIN_003"
    assert field in fields_of(exc), fields_of(exc)


def test_a_good_configuration_gets_its_defaults_and_objective():
    document, objectives = check(maxTrials=5, objective="maximize_accuracy",
                                 earlyStopping={"enabled": True, "patience": 2, "minDelta": 0.01})
    assert document["strategy"] == "bayesian_optimization" and document["parallelTrials"] == 1
    assert document["searchSpace"]["learning_rate"]["scale"] == "log"
    assert objectives == [{"metric": "val_accuracy", "direction": "maximize"}]
    _, two = check(objectives=[{"metric": "accuracy", "direction": "maximize"},
                               {"metric": "trainingSeconds", "direction": "minimize"}])
    assert [o["metric"] for o in two] == ["val_accuracy", "trainingSeconds"]


@pytest.mark.parametrize(("strategy", "kind"), [
    ("grid", optuna.samplers.GridSampler), ("random", optuna.samplers.RandomSampler),
    ("bayesian_optimization", optuna.samplers.TPESampler), ("genetic", optuna.samplers.NSGAIISampler),
    ("population_based_training", optuna.samplers.RandomSampler),
])
def test_each_strategy_has_its_sampler(strategy, kind):
    configuration = {"searchSpace": {"learning_rate": LR}, "maxTrials": 12, "gridPoints": 3}
    assert isinstance(strategies.sampler(strategy, configuration, seed=1), kind)


def test_early_stopping_is_a_patient_median_pruner():
    assert isinstance(strategies.pruner({}), optuna.pruners.NopPruner)
    assert isinstance(strategies.pruner({"earlyStopping": {"enabled": True}}), optuna.pruners.MedianPruner)
    patient = strategies.pruner({"earlyStopping": {"enabled": True, "patience": 2, "minDelta": 0.1,
                                                   "startupTrials": 1}})
    assert isinstance(patient, optuna.pruners.BasePruner) and patient.patience == 2
    study = optuna.create_study(direction="maximize", pruner=patient)
    distributions = {"x": optuna.distributions.FloatDistribution(0, 1)}
    study.add_trial(optuna.trial.create_trial(params={"x": 0.5}, distributions=distributions, value=0.9,
                                              intermediate_values={0: 0.9, 1: 0.9, 2: 0.9, 3: 0.9}))
    flat, climbing = study.ask(distributions), study.ask(distributions)
    for epoch, (a, b) in enumerate([(0.5, 0.3), (0.5, 0.5), (0.52, 0.7)]):
        flat.report(a, epoch)
        climbing.report(b, epoch)
    assert flat.should_prune()  # behind the median, and no gain of 0.1 within 2 epochs
    assert not climbing.should_prune()  # behind too, but still gaining


def test_the_grid_covers_choices_int_steps_and_log_floats():
    space = {"learning_rate": {"type": "float", "min": 0.001, "max": 0.1, "scale": "log"},
             "batch_size": {"type": "int", "min": 16, "max": 64, "step": 16},
             "hidden_sizes": {"type": "choice", "values": [[8], [16, 8]]}}
    grid = strategies.grid(space, 3)
    assert grid["learning_rate"] == pytest.approx([0.001, 0.01, 0.1])
    assert grid["batch_size"] == [16, 32, 48, 64]
    assert strategies.decode(space, {"hidden_sizes": grid["hidden_sizes"][1], "batch_size": 32.0}) == {
        "hidden_sizes": [16, 8], "batch_size": 32}
    assert strategies.grid_size(space, 3) == 3 * 4 * 2
    study = Study(id="s", experiment_id="e", strategy="grid", configuration={"searchSpace": space, "gridPoints": 3},
                  max_trials=100, parallel_trials=1, created_by="u")
    assert service.total_trials(study) == 24


def test_best_is_the_top_trial_or_the_pareto_front():
    def trial(number: int, values: list[float], status: str = "completed") -> Trial:
        return Trial(id=f"t{number}", study_id="s", number=number, status=status, values=values)

    one = Study(id="s", experiment_id="e", strategy="random", configuration={}, max_trials=3, parallel_trials=1,
                created_by="u", objectives=[{"metric": "val_loss", "direction": "minimize"}])
    trials = [trial(0, [0.5]), trial(1, [0.2]), trial(2, [0.1], "pruned")]
    assert [t.number for t in service.best_trials(one, trials)] == [1]
    two = Study(id="s", experiment_id="e", strategy="genetic", configuration={}, max_trials=4, parallel_trials=1,
                created_by="u", objectives=[{"metric": "val_accuracy", "direction": "maximize"},
                                            {"metric": "trainingSeconds", "direction": "minimize"}])
    trials = [trial(0, [0.9, 10.0]), trial(1, [0.8, 2.0]), trial(2, [0.7, 5.0]), trial(3, [0.95, 12.0])]
    assert [t.number for t in service.best_trials(two, trials)] == [3, 0, 1]


def test_optuna_never_uses_the_apps_database(monkeypatch):
    from backend.core.config import get_settings, reset_settings

    monkeypatch.setenv("AISYSTEM_OPTUNA_STORAGE_URL", get_settings().sqlalchemy_url)
    reset_settings()
    try:
        with pytest.raises(AISystemError) as exc:
            strategies.storage()
        assert exc.value.code == "TUNE_003"
    finally:
        monkeypatch.delenv("AISYSTEM_OPTUNA_STORAGE_URL")
        reset_settings()


def test_a_cancelled_trial_is_settled_and_replaced_and_the_sweep_finds_lost_steps(session, scientist, experiment,
                                                                                   sent, cpu_worker, monkeypatch):
    from sqlmodel import select

    from backend.core.db import session_scope
    from backend.jobs.models import Job
    from backend.training import service as training
    from tests.backend.tuning.conftest import request, trial_rows

    study = service.start_study(session=session, actor=scientist, experiment_id=experiment,
                                data=request(maxTrials=3, parallelTrials=2))
    session.commit()
    first, second = trial_rows(study.id)

    def broken(**_):
        raise RuntimeError("the step broke")

    # Cancelling a trial's training job (not started: it ends at once) runs its study's step inline;
    # when that step fails, a tuning.advance job is queued instead.
    step = service.advance
    monkeypatch.setattr(service, "advance", broken)
    training.cancel_training_job(session=session, actor=scientist, training_job_id=first.training_job_id)
    session.commit()
    monkeypatch.setattr(service, "advance", step)
    with session_scope(write=False) as s:
        steps = s.exec(select(Job.id).where(Job.type == service.ADVANCE_JOB)).all()
    assert len(steps) == 1 and sent.routes[steps[0]] == ("default", False)
    assert [t.status for t in trial_rows(study.id)] == ["running", "running"]
    # Had that step been lost, the sweep would queue another; either runs the same step once.
    with session_scope() as s:
        assert service.sweep(s) == {"queued": 1}
    for step in [j for j in sent if j not in (steps[0],)] + [steps[0]]:
        with session_scope(write=False) as s:
            if s.get(Job, step).type == service.ADVANCE_JOB:
                cpu_worker(step)
    trials = trial_rows(study.id)
    assert [(t.number, t.status) for t in trials] == [(0, "cancelled"), (1, "running"), (2, "running")]
    states = [t.state.name for t in optuna.load_study(study_name=study.id, storage=strategies.storage()).trials]
    assert states == ["FAIL", "RUNNING", "RUNNING"]
    # The ordinary case: the step runs inline, at once, with no job queued.
    training.cancel_training_job(session=session, actor=scientist, training_job_id=second.training_job_id)
    session.commit()
    assert [(t.number, t.status) for t in trial_rows(study.id)] == [(0, "cancelled"), (1, "cancelled"),
                                                                  (2, "running")]
    with session_scope(write=False) as s:
        assert len(s.exec(select(Job.id).where(Job.type == service.ADVANCE_JOB)).all()) == 2
    with session_scope() as s:
        assert service.sweep(s) == {"queued": 0}  # nothing lost now
