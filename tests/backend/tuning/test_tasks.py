"""Studies advanced for real (in-process worker, runner subprocesses, Optuna on SQLite in the test's data
dir): trials are runs and training jobs, each ended job runs a step that asks for the next trial, a
pruned trial stops early, a failed trial does not stop the study, and population-based training copies
the best member's checkpoint."""

from __future__ import annotations

import optuna
import pytest
from sqlmodel import select

from backend.catalog.experiments.models import Param, Run, RunTag
from backend.core.db import session_scope
from backend.jobs.models import Job
from backend.training.models import TrainingJob
from backend.tuning import service, strategies
from tests.backend.tuning.conftest import play, request, study_row, trial_rows

pytestmark = pytest.mark.slow


def _training(training_job_id: str) -> TrainingJob:
    with session_scope(write=False) as session:
        job = session.get(TrainingJob, training_job_id)
        session.expunge(job)
        return job


def test_a_study_runs_its_trials_as_runs_and_completes(session, scientist, experiment, cpu_worker, sent):
    study = service.start_study(session=session, actor=scientist, experiment_id=experiment,
                                data=request(maxTrials=2, parallelTrials=2, strategy="bayesian_optimization"))
    session.commit()
    first = trial_rows(study.id)
    assert [t.status for t in first] == ["running", "running"]  # min(parallelTrials, maxTrials) at once
    assert all(sent.routes[_training(t.training_job_id).job_id] == ("training", False) for t in first)

    ran = play(sent, cpu_worker)
    with session_scope(write=False) as s:
        # Each ended trial's step ran inline, in the worker that ended it: no tuning.advance job was needed.
        types = [s.get(Job, job_id).type for job_id in ran]
        assert types.count("training.train") == 2 and "tuning.advance" not in types
    done = study_row(study.id)
    assert done.status == "completed" and done.completed_at is not None
    trials = trial_rows(study.id)
    assert [t.number for t in trials] == [0, 1] and {t.status for t in trials} == {"completed"}
    for trial in trials:
        assert 0.001 <= trial.parameters["learning_rate"] <= 0.1
        assert trial.values == [trial.metrics["val_accuracy"]]
        with session_scope(write=False) as s:  # an ordinary run of the experiment, params = the trial's values
            run = s.get(Run, trial.run_id)
            assert run.experiment_id == experiment and run.status == "FINISHED"
            params = dict(s.exec(select(Param.key, Param.value).where(Param.run_id == run.id)).all())
            assert float(params["learningRate"]) == pytest.approx(trial.parameters["learning_rate"])
            tags = dict(s.exec(select(RunTag.key, RunTag.value).where(RunTag.run_id == run.id)).all())
            assert tags["tuning.studyId"] == study.id
    # Optuna saw every outcome, and the best parameters are those of the best trial.
    ostudy = optuna.load_study(study_name=study.id, storage=strategies.storage())
    assert [t.state.name for t in ostudy.trials] == ["COMPLETE"] * 2
    best = service.best_params(session=session, actor=scientist, experiment_id=experiment)
    assert best["bestTrial"]["values"][0] == pytest.approx(ostudy.best_value)
    assert best["bestTrial"]["parameters"]["learning_rate"] == pytest.approx(ostudy.best_params["learning_rate"])
    # Running a step again changes nothing (idempotent).
    session.expire_all()
    assert service.advance(session=session, study_id=study.id)["skipped"]


def test_early_stopping_prunes_a_trial_that_falls_behind(session, scientist, experiment, cpu_worker, sent):
    study = service.start_study(session=session, actor=scientist, experiment_id=experiment, data={
        **request(maxTrials=1, searchSpace={"learning_rate": {"type": "float", "min": 1e-7, "max": 2e-7}},
                  earlyStopping={"enabled": True, "patience": 1, "minDelta": 0.2}),
        "hyperparameters": {"maxEpochs": 5, "batchSize": 64, "hiddenSizes": [8]}})
    session.commit()
    # An earlier trial that was perfect at every epoch: the median this one is held against.
    ostudy = optuna.load_study(study_name=study.id, storage=strategies.storage())
    ostudy.add_trial(optuna.trial.create_trial(
        params={"learning_rate": 1.5e-7}, distributions=strategies.distributions(study.configuration["searchSpace"]),
        value=1.0, intermediate_values={epoch: 1.0 for epoch in range(5)}))
    play(sent, cpu_worker)
    [trial] = trial_rows(study.id)
    assert trial.status == "pruned"
    job = _training(trial.training_job_id)
    assert job.status == "succeeded" and job.epoch < 5  # stopped early, its best checkpoint kept
    assert study_row(study.id).status == "completed"
    states = {t.number: t.state.name for t in optuna.load_study(study_name=study.id, storage=strategies.storage()).trials}
    assert states[trial.number] == "PRUNED"


def test_a_failed_trial_does_not_stop_the_study(session, scientist, experiment, cpu_worker, sent, monkeypatch):
    study = service.start_study(session=session, actor=scientist, experiment_id=experiment,
                                data=request(maxTrials=2, parallelTrials=1))
    session.commit()
    [first] = trial_rows(study.id)
    # The first trial's training process cannot start (its settings are invalid): the job fails.
    monkeypatch.setenv("AISYSTEM_TRAINING_THREADS", "-1")
    cpu_worker(_training(first.training_job_id).job_id)
    monkeypatch.setenv("AISYSTEM_TRAINING_THREADS", "1")
    assert _training(first.training_job_id).status == "failed"
    play(sent, cpu_worker)
    trials = trial_rows(study.id)
    assert [t.status for t in trials] == ["failed", "completed"] and trials[0].error
    assert study_row(study.id).status == "completed"
    states = [t.state.name for t in optuna.load_study(study_name=study.id, storage=strategies.storage()).trials]
    assert states == ["FAIL", "COMPLETE"]
    best = service.best_params(session=session, actor=scientist, experiment_id=experiment)
    assert best["bestTrial"]["id"] == trials[1].id


def test_population_based_training_copies_the_best_members_checkpoint(session, scientist, experiment, cpu_worker,
                                                                       sent):
    study = service.start_study(session=session, actor=scientist, experiment_id=experiment, data=request(
        strategy="population_based_training", maxTrials=4, parallelTrials=2,
        population={"size": 2, "roundEpochs": 1, "exploitFraction": 0.5}))
    session.commit()
    play(sent, cpu_worker)
    assert study_row(study.id).status == "completed"
    trials = trial_rows(study.id)
    assert [(t.round, t.member) for t in sorted(trials, key=lambda t: (t.round, t.member))] == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    first = {t.member: t for t in trials if t.round == 0}
    second = {t.member: t for t in trials if t.round == 1}
    best, worst = sorted(first.values(), key=lambda t: -t.values[0])
    copy, kept = second[worst.member], second[best.member]
    assert copy.parent_trial_id == best.id and kept.parent_trial_id == best.id
    ratio = copy.parameters["learning_rate"] / best.parameters["learning_rate"]
    assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2) or copy.parameters["learning_rate"] in (0.001, 0.1)
    assert kept.parameters == best.parameters
    job = _training(copy.training_job_id)
    assert job.plan["warmStart"]["trainingJobId"] == best.training_job_id
    assert job.status == "succeeded" and job.epoch == 2  # continued from epoch 1 of the best member
    assert job.hyperparameters["learningRate"] == pytest.approx(copy.parameters["learning_rate"])
