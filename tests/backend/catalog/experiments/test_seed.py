"""The demo experiment: runs trained for real, metrics logged through the tracking service, idempotent."""

from __future__ import annotations

from sqlmodel import select

from backend.auth.principal import SYSTEM
from backend.auth.seed import seed_demo_users
from backend.auth.service import find_user_by_username
from backend.catalog.datasets.seed import seed_demo_datasets
from backend.catalog.experiments import seed, service
from backend.catalog.experiments.models import Experiment, Run
from backend.core.pagination import PageParams


def test_demo_experiment_is_trained_and_idempotent(session, monkeypatch):
    seed_demo_users(session)
    seed_demo_datasets(session)
    trained = []
    real = seed.train_once

    def spy(s, dataset_id, learning_rate):
        result = real(s, dataset_id, learning_rate)
        trained.append((learning_rate, result[1]))
        assert result[2]["model/model.safetensors"]  # the packaged model of that very training
        return result

    monkeypatch.setattr(seed, "train_once", spy)
    assert "created" in seed.seed_demo_experiment(session)
    assert [lr for lr, _ in trained] == list(seed.LEARNING_RATES)
    experiment = session.exec(select(Experiment).where(Experiment.name == seed.EXPERIMENT_NAME)).one()
    # The demo's data scientist owns it, so may optimise it from the experiment page.
    assert experiment.created_by == find_user_by_username(session=session, username="data_scientist").id
    runs, _ = service.list_runs(session=session, actor=SYSTEM, experiment_id=experiment.id,
                                params=PageParams(limit=10), sort="name")
    assert len(runs) == len(seed.LEARNING_RATES)
    assert all(r.status == "FINISHED" for r in runs)
    # What is stored is exactly what the training produced, one point per epoch.
    for (lr, points), run in zip(trained, sorted(runs, key=lambda r: float(r.name.split("=")[1])), strict=True):
        history = service.metric_history(session=session, actor=SYSTEM, run_id=run.id, key="val_accuracy")
        assert [p.step for p in history.points] == list(range(seed.EPOCHS))
        assert [p.value for p in history.points] == [v for k, v, _, _ in points if k == "val_accuracy"]
        assert run.name == f"lr={lr:g}"
        _run, files = service.list_run_artifacts(session=session, actor=SYSTEM, run_id=run.id)
        assert sorted(f.path for f in files) == ["model/config.json", "model/model.safetensors"]
    losses = {r.name: service.metric_history(session=session, actor=SYSTEM, run_id=r.id, key="train_loss").points
              for r in runs}
    assert all(len(points) == seed.EPOCHS for points in losses.values())
    assert len({points[-1].value for points in losses.values()}) == len(runs)  # different rates, different curves
    assert seed.seed_demo_experiment(session) == "demo experiment already present"
    assert len(session.exec(select(Run).where(Run.experiment_id == experiment.id)).all()) == len(runs)
