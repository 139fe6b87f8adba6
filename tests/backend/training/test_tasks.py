"""Training jobs run for real (in-process worker, runner subprocess): registration with lineage,
pause/resume continuing the global step, duplicate delivery trains once, cancel."""

from __future__ import annotations

import math

import pytest
from sqlmodel import col, select

from backend.catalog.experiments.models import Metric, Run
from backend.catalog.model_registry.models import ModelVersion
from backend.core.db import session_scope
from backend.jobs.models import Job
from backend.lineage.models import LineageActivity
from backend.training import service
from tests.backend.training.conftest import body, read_training_job

_job = read_training_job


def _platform_job(job_id: str) -> Job:
    with session_scope(write=False) as session:
        job = session.get(Job, job_id)
        session.expunge(job)
        return job


def _metric_rows(run_id: str, key: str) -> list[tuple[int, float]]:
    with session_scope(write=False) as session:
        return [(m.step, m.value) for m in session.exec(
            select(Metric).where(Metric.run_id == run_id, Metric.key == key).order_by(col(Metric.step))).all()]


def _versions(model_id: str) -> list[ModelVersion]:
    with session_scope(write=False) as session:
        return list(session.exec(select(ModelVersion).where(ModelVersion.model_id == model_id)).all())


def _log_lines(run_id: str) -> list[dict]:
    from backend.auth.principal import SYSTEM
    from backend.catalog.experiments import service as experiments

    with session_scope(write=False) as s:
        return experiments.read_logs(session=s, actor=SYSTEM, run_id=run_id, tail=500)["lines"]


def test_a_training_job_trains_registers_a_version_with_lineage(session, scientist, dataset, cpu_worker, sent):
    job = service.create_training_job(session=session, actor=scientist, data=body(dataset))
    session.commit()
    assert job.status == "queued" and sent.routes[job.job_id] == ("training", False)
    cpu_worker(job.job_id)

    done = _job(job.id)
    assert _platform_job(job.job_id).status == "succeeded", _platform_job(job.job_id).error
    assert done.status == "succeeded" and done.model_version == "1.0.0"
    assert done.progress == 1.0 and done.epoch == 2 and done.global_step > 0
    assert len(done.checkpoints) == 2
    assert done.resources["computeType"] == "cpu" and done.resources["wallSeconds"] > 0
    assert "test_accuracy" in done.metrics and "val_loss" in done.metrics
    [version] = _versions(done.model_id)
    assert version.artifact_format == "safetensors" and version.source["trainingJobId"] == done.job_id
    assert version.source["datasets"] == [{"id": dataset, "version": str(done.dataset_version)}]
    with session_scope(write=False) as s:
        run = s.get(Run, done.run_id)
        assert run.status == "FINISHED"
        activity = s.exec(select(LineageActivity).where(LineageActivity.kind == "train")).all()
        assert len(activity) == 1
    # Per-step and per-epoch metrics, each step logged once.
    losses = _metric_rows(done.run_id, "loss")
    assert len(losses) == done.global_step and len({s for s, _ in losses}) == len(losses)
    assert len(_metric_rows(done.run_id, "val_loss")) == 2
    assert _metric_rows(done.run_id, "samples_per_second")
    # The log tells the job's story, not the libraries' deprecations between each other.
    lines = _log_lines(done.run_id)
    assert any("epoch 1/2" in line["message"] for line in lines)
    assert not [line for line in lines if line["level"] == "WARNING"], lines
    # The package loads and predicts, without pickle.
    from backend.catalog.model_registry import service as models_service
    from backend.ml.packaging import load_package

    with session_scope(write=False) as s:
        row = models_service.find_version(session=s, model_id=done.model_id, version="1.0.0")
        from backend.catalog.model_registry import artifacts as model_artifacts

        weights = model_artifacts.artifact_path(row.artifact_id).read_bytes()
        config = row.artifact_details.get("config") if row.artifact_details else None
    assert weights
    if config:
        loaded = load_package(weights, config)
        assert loaded.predict([{"x0": 1.0, "x1": 1.0, "x2": 1.0, "x3": 1.0, "colour": "red"}])

    # Duplicate delivery of the same message trains nothing more.
    cpu_worker(job.job_id)
    assert len(_versions(done.model_id)) == 1


def test_pause_then_resume_continues_the_global_step_without_duplicate_metrics(
        scientist, cpu_worker, sent, train_controlled):
    job = train_controlled(service.pause_training_job, when=lambda j: j.status == "running" and j.global_step > 0)
    paused = _job(job.id)
    assert paused.status == "paused", (paused.status, paused.error)
    assert _platform_job(job.job_id).result["paused"] is True
    assert 1 <= len(paused.checkpoints) < 6
    step_at_pause = paused.checkpoints[-1]["step"]
    assert paused.global_step == step_at_pause

    with session_scope() as s:
        resumed = service.resume_training_job(session=s, actor=scientist, training_job_id=job.id)
        second = resumed.job_id
    assert second != job.job_id and second in sent.routes
    cpu_worker(second)
    done = _job(job.id)
    assert done.status == "succeeded", done.error
    per_epoch = step_at_pause // paused.checkpoints[-1]["epoch"]
    assert done.global_step == 6 * per_epoch
    losses = _metric_rows(done.run_id, "loss")
    steps = [s for s, _ in losses]
    assert len(steps) == len(set(steps)) == done.global_step, "each step logged exactly once"
    assert [s for s, _ in _metric_rows(done.run_id, "val_loss")] == [per_epoch * e for e in range(1, 7)]
    assert len(_versions(done.model_id)) == 1


def test_cancel_while_running_ends_cancelled_and_discards_checkpoints(train_controlled):
    job = train_controlled(service.cancel_training_job, when=lambda j: j.status == "running" and len(j.checkpoints) >= 1)
    done = _job(job.id)
    assert done.status == "cancelled" and done.checkpoints == []
    assert _platform_job(job.job_id).status == "cancelled"
    assert done.model_version is None
    with session_scope(write=False) as s:
        assert s.get(Run, done.run_id).status == "KILLED"


def test_stop_ends_gracefully_and_registers_the_best_checkpoint(train_controlled):
    job = train_controlled(service.stop_training_job, epochs=8,
                           when=lambda j: j.status == "running" and len(j.checkpoints) >= 1)
    done = _job(job.id)
    assert done.status == "succeeded", done.error
    assert done.epoch < 8 and done.model_version == "1.0.0"
    assert _platform_job(job.job_id).result["stopped"] is True


def test_two_devices_train_data_parallel_with_one_set_of_metrics_and_one_version(session, scientist, dataset,
                                                                                 cpu_worker):
    job = service.create_training_job(session=session, actor=scientist, data=body(
        dataset, hyperparameters={"maxEpochs": 2, "batchSize": 16}, trainer={"accelerator": "cpu", "devices": 2}))
    session.commit()
    cpu_worker(job.job_id)
    done = _job(job.id)
    assert done.status == "succeeded", done.error
    assert done.resources["devices"] == 2
    per_epoch = done.checkpoints[0]["step"]
    train_rows = done.plan["counts"]["train"]
    rows_per_rank = math.ceil(train_rows / 2)
    assert per_epoch == math.ceil(rows_per_rank / 16), "each rank sees half of the training split"
    losses = _metric_rows(done.run_id, "loss")
    assert len(losses) == done.global_step == 2 * per_epoch, "one set of metrics (rank 0's)"
    assert len(_versions(done.model_id)) == 1


def test_fine_tune_starts_from_a_version_registers_a_child_and_evaluates_against_its_base(
        api, auth, session, scientist, dataset, cpu_worker, sent):
    from tests.backend.training.conftest import make_dataset

    ds = auth.headers("data_scientist")
    base = service.create_training_job(session=session, actor=scientist, data=body(dataset))
    session.commit()
    cpu_worker(base.job_id)
    base = _job(base.id)
    assert base.status == "succeeded", base.error
    other = make_dataset(session, scientist, name="blobs again", seed=11)

    response = api.post("/api/v1/training/fine-tune", headers=ds, json={
        "baseModelId": base.model_id, "baseModelVersion": base.model_version, "datasetId": other,
        "hyperparameters": {"maxEpochs": 1, "learningRate": 0.0005}})
    assert response.status_code == 202, response.text
    tuned = response.json()
    assert tuned["kind"] == "fine_tune" and tuned["baseModelVersion"] == "1.0.0"
    early = api.post(f"/api/v1/training/fine-tune/{tuned['id']}/evaluate", headers=ds)
    assert early.status_code == 409 and early.json()["error"]["code"] == "TRAIN_001"
    cpu_worker(tuned["jobId"])
    status = api.get(f"/api/v1/training/fine-tune/{tuned['id']}", headers=ds).json()
    assert status["status"] == "succeeded", status["error"]
    [version] = _versions(status["modelId"])
    assert version.source["parent"] == {"modelId": base.model_id, "version": "1.0.0"}
    report = api.post(f"/api/v1/training/fine-tune/{tuned['id']}/evaluate", headers=ds)
    assert report.status_code == 200, report.text
    report = report.json()
    assert report["rows"] > 0 and set(report["base"]["metrics"]) == {"loss", "accuracy"}
    assert report["difference"]["accuracy"] == pytest.approx(
        report["fineTuned"]["metrics"]["accuracy"] - report["base"]["metrics"]["accuracy"])
    # A plain training job is not a fine-tune; an unknown base is refused before anything is queued.
    assert api.get(f"/api/v1/training/fine-tune/{base.id}", headers=ds).json()["error"]["code"] == "TRAIN_006"
    missing = api.post("/api/v1/training/fine-tune", headers=ds, json={
        "baseModelId": "model_nope", "baseModelVersion": "1.0.0", "datasetId": other})
    assert missing.status_code == 404, missing.text
    refused = api.post("/api/v1/training/fine-tune", headers=ds, json={
        "baseModelId": base.model_id, "baseModelVersion": "1.0.0", "datasetId": other,
        "hyperparameters": {"batchSize": 0}})
    assert refused.json()["error"]["code"] == "TRAIN_003"


def test_a_corrupted_checkpoint_is_train_004_and_the_previous_one_is_used(scientist, cpu_worker, sent,
                                                                            train_controlled):
    from backend.core import artifacts

    job = train_controlled(service.pause_training_job, epochs=5,
                           when=lambda j: j.status == "running" and len(j.checkpoints) >= 2)
    paused = _job(job.id)
    assert paused.status == "paused" and len(paused.checkpoints) >= 2, paused.error
    last, previous = paused.checkpoints[-1], paused.checkpoints[-2]
    path = artifacts.get_store().local_path(last["key"])
    path.write_bytes(b"not a checkpoint" + path.read_bytes()[:100])

    with session_scope() as s:
        second = service.resume_training_job(session=s, actor=scientist, training_job_id=job.id).job_id
    cpu_worker(second)
    done = _job(job.id)
    assert done.status == "succeeded", done.error
    # The epoch after the sound checkpoint was trained again and its checkpoint written anew.
    [rewritten] = [c for c in done.checkpoints if c["name"] == last["name"]]
    assert not rewritten.get("corrupted") and rewritten["sha256"] != last["sha256"]
    lines = _log_lines(done.run_id)
    assert any("TRAIN_004" in line["message"] for line in lines)
    assert any(f"at step {previous['step']}" in line["message"] for line in lines)
    steps = [s for s, _ in _metric_rows(done.run_id, "loss")]
    assert len(steps) == len(set(steps)) == done.global_step, "the steps after the sound checkpoint, once"


def test_stopping_a_paused_job_registers_its_best_checkpoint_without_training_more(
        scientist, cpu_worker, sent, train_controlled):
    job = train_controlled(service.pause_training_job, when=lambda j: j.status == "running" and j.global_step > 0)
    paused = _job(job.id)
    assert paused.status == "paused", paused.error
    with session_scope() as s:
        second = service.stop_training_job(session=s, actor=scientist, training_job_id=job.id).job_id
    cpu_worker(second)
    done = _job(job.id)
    assert done.status == "succeeded" and done.model_version == "1.0.0", done.error
    assert done.global_step == paused.global_step, "a stop while paused trains no further"
