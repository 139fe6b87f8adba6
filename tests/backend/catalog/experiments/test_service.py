"""Experiment tracking through the service: experiments, runs, logging (MLflow's rules), reads, sorting,
searching, comparing, the leaderboard, log lines and files."""

from __future__ import annotations

import io
import math
import random

import pytest
from sqlalchemy import event
from sqlmodel import select

from backend.audit.models import AuditRecord
from backend.auth.principal import SYSTEM, Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.experiments import service
from backend.catalog.experiments.models import Experiment, LatestMetric, Metric, Param, Run, RunLog
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelCreate
from backend.core import artifacts
from backend.core.db import get_engine, session_scope
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.jobs import service as jobs_service
from backend.jobs.models import Job
from backend.lineage.models import LineageEntity
from tests.backend.catalog.experiments.conftest import finish, log, make_experiment, make_run, trained_run


def _error(excinfo) -> tuple[str, dict]:
    return excinfo.value.code, excinfo.value.details


def _fields(excinfo) -> dict[str, str]:
    return {f["field"]: f["message"] for f in excinfo.value.details["fields"]}


def _audits(action: str) -> list[AuditRecord]:
    with session_scope(write=False) as s:
        return list(s.exec(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)).all())


# --- experiments ----------------------------------------------------------------------------------------


def test_create_an_experiment_with_the_design_fields(scientist):
    with session_scope() as s:
        model = registry.create_model(session=s, actor=SYSTEM, embed=False, data=ModelCreate.model_validate(
            {"name": "Sentiment", "type": "NLP", "category": "Text", "framework": "PyTorch"}))
        dataset = datasets_service.create_dataset(session=s, actor=scientist, data={"name": "Reviews", "type": "text"})
        model_id, dataset_id = model.id, dataset.id
    experiment_id = make_experiment(scientist, "Sentiment tuning", modelId=model_id, datasetId=dataset_id,
                                    type="hyperparameter_optimization", task="classification",
                                    objective="maximize_accuracy", tags={"team": "nlp"},
                                    configuration={"strategy": "bayesian_optimization", "maxTrials": 50})
    with session_scope(write=False) as s:
        experiment = service.get_experiment(session=s, actor=scientist, experiment_id=experiment_id)
        document = service.experiment_document(session=s, experiment=experiment)
    assert document["modelId"] == model_id and document["datasetId"] == dataset_id
    assert document["status"] == "created" and document["runCount"] == 0 and document["bestRun"] is None
    assert document["tags"] == {"team": "nlp"} and document["artifactLocation"] == "runs"
    assert document["configuration"]["maxTrials"] == 50 and document["lifecycleStage"] == "active"
    assert [a.entity_id for a in _audits("experiment.create")] == [experiment_id]


@pytest.mark.parametrize("fields,code", [
    ({"modelId": "model_missing"}, "MODEL_001"),
    ({"datasetId": "dataset_00000000000000000000"}, "DATA_001"),
    ({"objective": "maximize_a//b"}, "REQ_001"),
    ({"configuration": {"x": math.nan}}, "REQ_001"),
    ({"tags": {"bad*key": "x"}}, "REQ_001"),
])
def test_create_refuses_bad_references_and_fields(scientist, fields, code):
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.create_experiment(session=s, actor=scientist, data={"name": "Bad", **fields})
    assert excinfo.value.code == code
    with session_scope(write=False) as s:
        assert s.exec(select(Experiment)).all() == []


def test_experiment_names_are_unique_like_mlflow(scientist, engineer):
    make_experiment(scientist, "Churn")
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.create_experiment(session=s, actor=engineer, data={"name": "Churn"})
    assert _error(excinfo) == ("EXP_004", {"name": "Churn"})


def test_roles_without_experiment_create_are_refused(principals):
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.create_experiment(session=s, actor=principals["business_user"], data={"name": "Nope"})
    assert excinfo.value.code == "AUTH_002"


def test_list_filters_sorts_and_pages(scientist, engineer):
    ids = [make_experiment(scientist, f"Exp {i}", task="regression" if i % 2 else "classification") for i in range(5)]
    make_experiment(engineer, "Other", type="evaluation")
    with session_scope(write=False) as s:
        page1, cursor = service.list_experiments(session=s, actor=scientist, params=PageParams(limit=2), sort="name")
        page2, cursor2 = service.list_experiments(session=s, actor=scientist, params=PageParams(limit=10, cursor=cursor),
                                                  sort="name")
        assert [e.name for e in page1 + page2] == ["Exp 0", "Exp 1", "Exp 2", "Exp 3", "Exp 4", "Other"]
        assert cursor2 is None
        newest, _ = service.list_experiments(session=s, actor=scientist, params=PageParams(), created_by=scientist.user_id)
        assert [e.id for e in newest] == ids[::-1]
        regression, _ = service.list_experiments(session=s, actor=scientist, params=PageParams(), task="regression")
        assert {e.name for e in regression} == {"Exp 1", "Exp 3"}
        found, _ = service.list_experiments(session=s, actor=scientist, params=PageParams(), q="oth", type="evaluation")
        assert [e.name for e in found] == ["Other"]
        with pytest.raises(AISystemError) as excinfo:
            service.list_experiments(session=s, actor=scientist, params=PageParams(), sort="size")
        assert excinfo.value.code == "REQ_001"


def test_update_is_for_the_owner_and_managers(scientist, engineer, demo_users):
    experiment_id = make_experiment(scientist, "Mine", tags={"a": "1", "b": "2"})
    with session_scope() as s:
        experiment = service.update_experiment(session=s, actor=scientist, experiment_id=experiment_id, data={
            "description": "Tuned", "objective": "minimize_loss", "tags": {"a": "one", "b": None, "c": "3"}})
        document = service.experiment_document(session=s, experiment=experiment)
    assert document["description"] == "Tuned" and document["objective"] == "minimize_loss"
    assert document["tags"] == {"a": "one", "c": "3"}
    with session_scope() as s:
        service.update_experiment(session=s, actor=engineer, experiment_id=experiment_id, data={"name": "Renamed"})
    other = Principal(user_id=demo_users["ml_ops"], username="another", role="data_scientist")
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.update_experiment(session=s, actor=other, experiment_id=experiment_id, data={"description": "x"})
    assert excinfo.value.code == "AUTH_002" and "owner" in excinfo.value.details["reason"]
    make_experiment(scientist, "Taken")
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.update_experiment(session=s, actor=scientist, experiment_id=experiment_id, data={"name": "Taken"})
    assert excinfo.value.code == "EXP_004"
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.update_experiment(session=s, actor=scientist, experiment_id="experiment_nope", data={"name": "x"})
    assert excinfo.value.code == "EXP_001"
    assert len(_audits("experiment.update")) == 2


def test_delete_and_restore_take_the_runs_along(scientist, engineer):
    experiment_id = make_experiment(scientist)
    run_id = make_run(scientist, experiment_id)
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.delete_experiment(session=s, actor=scientist, experiment_id=experiment_id)
    assert excinfo.value.code == "AUTH_002"  # the design gives data scientists no experiment:delete
    with session_scope() as s:
        service.delete_experiment(session=s, actor=engineer, experiment_id=experiment_id)
    with session_scope(write=False) as s:
        assert s.get(Run, run_id).lifecycle_stage == "deleted"
        assert service.count_experiments(s) == 0
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, metrics=[("loss", 1.0)])
    assert excinfo.value.code == "EXP_003"
    for action in (service.delete_experiment, service.update_experiment):
        with pytest.raises(AISystemError) as excinfo, session_scope() as s:
            kwargs = {"data": {"name": "x"}} if action is service.update_experiment else {}
            action(session=s, actor=engineer, experiment_id=experiment_id, **kwargs)
        assert excinfo.value.code == "EXP_006"
    with pytest.raises(AISystemError) as excinfo:
        make_run(scientist, experiment_id)
    assert excinfo.value.code == "EXP_006"
    with session_scope() as s:
        service.restore_experiment(session=s, actor=engineer, experiment_id=experiment_id)
    with session_scope(write=False) as s:
        assert s.get(Run, run_id).lifecycle_stage == "active" and service.count_experiments(s) == 1
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.restore_experiment(session=s, actor=engineer, experiment_id=experiment_id)
    assert excinfo.value.code == "EXP_006"
    assert len(_audits("experiment.delete")) == len(_audits("experiment.restore")) == 1


# --- runs ----------------------------------------------------------------------------------------------------


def test_start_runs_records_lineage_and_follows_the_experiment_status(scientist):
    experiment_id = make_experiment(scientist)
    first = make_run(scientist, experiment_id, params={"lr": 0.01, "layers": 3, "amp": True}, tags={"git": "abc"})
    second = make_run(scientist, experiment_id, name="Baseline", parentRunId=first)
    with session_scope(write=False) as s:
        run = s.get(Run, first)
        document = service.run_document(session=s, run=run)
        assert run.name == "run-1" and s.get(Run, second).name == "Baseline"
        assert s.get(Run, second).parent_run_id == first
        assert document["params"] == {"amp": "True", "layers": "3", "lr": "0.01"}
        assert document["tags"] == {"git": "abc"} and document["status"] == "RUNNING"
        assert document["source"] == "external" and document["artifactUri"] == f"runs/{first}/artifacts"
        assert s.get(Experiment, experiment_id).status == "running"
        entity = s.exec(select(LineageEntity).where(LineageEntity.ref == first)).one()
        assert entity.kind == "run" and entity.label == "run-1 (Sentiment tuning)"
    finish(scientist, first)
    finish(scientist, second, "FAILED")
    with session_scope(write=False) as s:
        experiment = s.get(Experiment, experiment_id)
        assert experiment.status == "completed" and experiment.completed_at is not None
    statuses = [a.summary for a in _audits("experiment.run.status")]
    assert [(a["from"], a["to"]) for a in statuses] == [("RUNNING", "FINISHED"), ("RUNNING", "FAILED")]


def test_a_parent_run_must_exist_in_the_same_experiment(scientist):
    one, two = make_experiment(scientist, "One"), make_experiment(scientist, "Two")
    run_id = make_run(scientist, one)
    with pytest.raises(AISystemError) as excinfo:
        make_run(scientist, two, parentRunId=run_id)
    assert excinfo.value.code == "REQ_001"
    with pytest.raises(AISystemError) as excinfo:
        make_run(scientist, two, parentRunId="run_missing")
    assert excinfo.value.code == "EXP_002"


def test_runs_are_written_by_their_user_the_experiment_owner_and_managers(scientist, engineer, demo_users):
    experiment_id = make_experiment(engineer, "Engineer's")
    with pytest.raises(AISystemError) as excinfo:
        make_run(scientist, experiment_id)  # not the owner: read only
    assert excinfo.value.code == "AUTH_002"
    run_id = make_run(engineer, experiment_id)
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, metrics=[("loss", 1.0)])
    assert excinfo.value.code == "AUTH_002"
    mine = make_experiment(scientist, "Mine")
    theirs = make_run(engineer, mine)  # a manager starts a run in a scientist's experiment
    log(scientist, theirs, metrics=[("loss", 1.0)])  # the owner logs into it
    with session_scope(write=False) as s:
        assert service.get_run(session=s, actor=scientist, run_id=run_id).id == run_id  # everyone reads


def test_platform_runs_are_driven_by_their_job(engineer, sent):
    experiment_id = make_experiment(engineer)
    with session_scope() as s:
        run = service.create_platform_run(session=s, actor=engineer, experiment_id=experiment_id, name="trial-1",
                                          params={"lr": 0.001})
        job = jobs_service.create_job(session=s, actor=engineer, type="platform.selftest", payload={})
        with pytest.raises(AISystemError) as excinfo:
            service.attach_job(session=s, actor=engineer, run_id=run.id, job_id="job_missing")
        assert excinfo.value.code == "JOB_001"
        service.attach_job(session=s, actor=engineer, run_id=run.id, job_id=job.id)
        run_id, job_id = run.id, job.id
    with session_scope(write=False) as s:
        run = s.get(Run, run_id)
        assert (run.status, run.source, run.job_id) == ("SCHEDULED", "platform", job_id)
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.update_run(session=s, actor=engineer, run_id=run_id, data={"status": "FINISHED"})
    assert excinfo.value.code == "EXP_003"
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.delete_experiment(session=s, actor=engineer, experiment_id=experiment_id)
    assert _error(excinfo) == ("EXP_006", {"experimentId": experiment_id, "runId": run_id})
    with session_scope() as s:
        service.set_run_status(session=s, actor=SYSTEM, run_id=run_id, status="RUNNING")
    with session_scope() as s:
        service.stop_run(session=s, actor=engineer, run_id=run_id)
    with session_scope(write=False) as s:
        assert s.get(Run, run_id).status == "KILLED" and s.get(Run, run_id).end_time is not None
        assert s.get(Job, job_id).status == "cancelled"  # it was still queued
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.stop_run(session=s, actor=engineer, run_id=run_id)
    assert excinfo.value.code == "EXP_003"


def test_update_run_renames_ends_and_resumes(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    with session_scope() as s:
        service.update_run(session=s, actor=scientist, run_id=run_id, data={"name": "Final", "status": "FINISHED",
                                                                            "endTime": 1_900_000_000_000})
    with session_scope(write=False) as s:
        run = s.get(Run, run_id)
        assert (run.name, run.status, run.end_time) == ("Final", "FINISHED", 1_900_000_000_000)
        assert s.exec(select(LineageEntity.label).where(LineageEntity.ref == run_id)).one().startswith("Final")
    with session_scope() as s:
        service.update_run(session=s, actor=scientist, run_id=run_id, data={"status": "RUNNING"})  # as mlflow does
    with session_scope(write=False) as s:
        assert s.get(Run, run_id).end_time is None
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.update_run(session=s, actor=scientist, run_id=run_id, data={"endTime": 5})
    assert excinfo.value.code == "REQ_001"


# --- logging -------------------------------------------------------------------------------------------------


def test_thousands_of_points_go_in_one_insert_and_read_back_in_step_order(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    points = [{"key": "loss", "value": 1 / (step + 1), "timestamp": 1_000 + step, "step": step} for step in range(5000)]
    points += [{"key": "accuracy", "value": step / 5000, "step": step} for step in range(0, 5000, 10)]
    random.Random(7).shuffle(points)
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        if "catalog_experiment_metric" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append((executemany, len(parameters) if executemany else 1))

    event.listen(get_engine(), "before_cursor_execute", count)
    try:
        counts = log(scientist, run_id, metrics=points)
    finally:
        event.remove(get_engine(), "before_cursor_execute", count)
    assert counts.metrics == 5500
    assert statements == [(True, 5500)]  # one executemany for every point
    with session_scope(write=False) as s:
        history = service.metric_history(session=s, actor=scientist, run_id=run_id, key="loss")
        assert history.total_points == 5000 and not history.downsampled
        assert [p.step for p in history.points] == list(range(5000))
        assert history.points[0].value == 1.0 and history.points[-1].timestamp == 5_999
        chart = service.metric_history(session=s, actor=scientist, run_id=run_id, key="loss", max_points=100)
        assert len(chart.points) <= 100 and chart.downsampled and chart.total_points == 5000
        assert chart.points[0].step == 0 and chart.points[-1].step == 4999
        assert [p.step for p in chart.points] == sorted(p.step for p in chart.points)
        window = service.metric_history(session=s, actor=scientist, run_id=run_id, key="loss", min_step=10, max_step=19)
        assert [p.step for p in window.points] == list(range(10, 20))
        summary = {m.key: m for m in service.run_metrics(session=s, actor=scientist, run_id=run_id).metrics}
        assert summary["loss"].count == 5000 and summary["loss"].step == 4999 and summary["loss"].max == 1.0
        assert summary["accuracy"].count == 500 and summary["accuracy"].value == 4990 / 5000


def test_the_latest_metric_is_the_highest_step_across_batches(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    log(scientist, run_id, metrics=[("acc", 0.5, 100, 5), ("acc", 0.9, 50, 2)])
    log(scientist, run_id, metrics=[("acc", 0.1, 10, 3), ("acc", 0.2, 200, 1)])  # older steps: latest stays
    log(scientist, run_id, metrics=[("acc", 0.7, 100, 5)])  # same step and time, larger value wins (MLflow)
    with session_scope(write=False) as s:
        row = s.get(LatestMetric, (run_id, "acc"))
        assert (row.value, row.step, row.min_value, row.max_value, row.count) == (0.7, 5, 0.1, 0.9, 5)


def test_nan_and_infinity_are_stored_as_mlflow_stores_them(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    log(scientist, run_id, metrics=[("m", 2.0, 1, 0), ("m", "NaN", 2, 1), ("inf", math.inf, 1, 0),
                                    ("inf", "-Infinity", 2, 1), ("big", 10**400, 1, 0)])
    with session_scope(write=False) as s:
        rows = s.exec(select(Metric.key, Metric.value, Metric.is_nan).where(Metric.run_id == run_id)
                      .order_by(Metric.key, Metric.step)).all()
        assert [tuple(r) for r in rows] == [("big", service.MAX_FLOAT, False), ("inf", service.MAX_FLOAT, False),
                                            ("inf", -service.MAX_FLOAT, False), ("m", 2.0, False), ("m", 0.0, True)]
        latest = s.get(LatestMetric, (run_id, "m"))
        assert latest.is_nan and (latest.min_value, latest.max_value, latest.count) == (2.0, 2.0, 2)
        history = service.metric_history(session=s, actor=scientist, run_id=run_id, key="m")
        assert [p.value for p in history.points] == [2.0, "NaN"]
        assert service.run_document(session=s, run=s.get(Run, run_id))["metrics"]["m"] == "NaN"


@pytest.mark.parametrize("point,field", [
    ({"key": "a//b", "value": 1.0}, "metrics[1].key"),
    ({"key": "../up", "value": 1.0}, "metrics[1].key"),
    ({"key": "x" * 251, "value": 1.0}, "metrics[1].key"),
    ({"key": "semi;colon", "value": 1.0}, "metrics[1].key"),
    ({"key": "", "value": 1.0}, "metrics[1].key"),
    ({"key": "ok", "value": "high"}, "metrics[1].value"),
    ({"key": "ok", "value": True}, "metrics[1].value"),
    ({"key": "ok", "value": None}, "metrics[1].value"),
    ({"key": "ok", "value": 1.0, "timestamp": -1}, "metrics[1].timestamp"),
    ({"key": "ok", "value": 1.0, "timestamp": 1.5}, "metrics[1].timestamp"),
    ({"key": "ok", "value": 1.0, "step": 2**63}, "metrics[1].step"),
])
def test_a_bad_point_is_named_and_nothing_of_the_batch_is_stored(scientist, point, field):
    run_id = make_run(scientist, make_experiment(scientist))
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, metrics=[{"key": "fine", "value": 1.0}, point], params=[{"key": "p", "value": "1"}])
    assert excinfo.value.code == "REQ_001" and field in _fields(excinfo)
    with session_scope(write=False) as s:
        assert s.exec(select(Metric)).all() == [] and s.exec(select(Param)).all() == []


def test_batch_size_limits(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, metrics=[("m", 1.0)] * 10_001)
    assert _fields(excinfo) == {"metrics": "at most 10000 points per batch, got 10001"}
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, params=[{"key": f"p{i}", "value": "1"} for i in range(1001)])
    assert "params" in _fields(excinfo)
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, tags=[{"key": f"t{i}", "value": "1"} for i in range(1001)])
    assert "tags" in _fields(excinfo)


def test_params_never_change_and_tags_may(scientist):
    run_id = make_run(scientist, make_experiment(scientist), params={"lr": "0.1"})
    log(scientist, run_id, params=[{"key": "lr", "value": 0.1}, {"key": "epochs", "value": 10}])  # same text
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, params=[{"key": "batch", "value": 32}, {"key": "lr", "value": "0.2"}])
    code, details = _error(excinfo)
    assert code == "EXP_005" and (details["key"], details["loggedValue"], details["newValue"]) == ("lr", "0.1", "0.2")
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, params=[{"key": "x", "value": "1"}, {"key": "x", "value": "1"}])
    assert excinfo.value.code == "REQ_001" and "duplicate" in _fields(excinfo)["params[1].key"]
    with pytest.raises(AISystemError) as excinfo:
        log(scientist, run_id, params=[{"key": "long", "value": "v" * 6001}], tags=[{"key": "t", "value": "v" * 8001}])
    assert set(_fields(excinfo)) == {"params[0].value"}
    log(scientist, run_id, tags=[{"key": "stage", "value": "a"}, {"key": "stage", "value": "b"}])
    log(scientist, run_id, tags=[{"key": "note", "value": "v" * 8000}])
    log(scientist, run_id, tags=[{"key": "stage", "value": "c"}])
    with session_scope(write=False) as s:
        document = service.run_document(session=s, run=s.get(Run, run_id))
    assert document["params"] == {"epochs": "10", "lr": "0.1"}  # batch 32 was not kept either
    assert document["tags"]["stage"] == "c" and len(document["tags"]["note"]) == 8000
    logged = _audits("experiment.run.log")
    assert [a.summary["params"] for a in logged][:1] == [["lr", "epochs"]]


def test_metric_batches_are_not_audited_but_state_changes_carry_the_counts(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    before = len(_audits("experiment.run.log"))
    log(scientist, run_id, metrics=[("loss", float(i), 1, i) for i in range(100)])
    assert len(_audits("experiment.run.log")) == before
    with session_scope() as s:
        service.append_logs(session=s, actor=scientist, run_id=run_id, lines=["one", "two"])
    finish(scientist, run_id)
    summary = _audits("experiment.run.status")[-1].summary
    assert (summary["metricPoints"], summary["logLines"]) == (100, 2)


def test_discarding_points_after_a_checkpoint_step(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    log(scientist, run_id, metrics=[("loss", 10.0 - step, 1000 + step, step) for step in range(10)]
        + [("lr", 0.1, 1, 0)])
    with session_scope() as s:
        assert service.discard_metrics_after(session=s, actor=SYSTEM, run_id=run_id, step=5) == 4
    log(scientist, run_id, metrics=[("loss", 4.5, 2000, 6)])
    with session_scope(write=False) as s:
        row = s.get(LatestMetric, (run_id, "loss"))
        assert (row.step, row.value, row.count, row.min_value, row.max_value) == (6, 4.5, 7, 4.5, 10.0)
        assert s.get(LatestMetric, (run_id, "lr")).count == 1
        assert [p.step for p in service.metric_history(session=s, actor=scientist, run_id=run_id, key="loss").points] \
            == list(range(7))


def test_downsampling_keeps_the_ends_and_each_buckets_extremes():
    points = [service.Point(step, step, 1.0, False) for step in range(1000)]
    points[500] = service.Point(500, 500, 99.0, False)  # a spike
    points[700] = service.Point(700, 700, 0.0, True)  # NaN
    kept = service.downsample(points, 20)
    assert len(kept) <= 20 and kept[0].step == 0 and kept[-1].step == 999
    assert any(p.value == 99.0 for p in kept)
    assert service.downsample(points[:10], 20) == points[:10]


# --- sorting and searching -----------------------------------------------------------------------------------


@pytest.fixture
def sweep(scientist) -> tuple[str, dict[str, str]]:
    experiment_id = make_experiment(scientist, "Sweep", objective="maximize_accuracy")
    runs = {
        "a": trained_run(scientist, experiment_id, accuracy=0.81, loss=0.5, lr="0.1"),
        "b": trained_run(scientist, experiment_id, accuracy=0.93, loss=0.2, lr="0.01"),
        "c": trained_run(scientist, experiment_id, accuracy=0.88, loss=0.3, lr="0.001", status="RUNNING"),
        "d": make_run(scientist, experiment_id, params={"lr": "0.05", "optimizer": "Adam"}),  # no metrics yet
    }
    log(scientist, runs["a"], params=[{"key": "optimizer", "value": "adam"}], tags=[{"key": "kind", "value": "base"}])
    log(scientist, runs["b"], params=[{"key": "optimizer", "value": "sgd"}])
    return experiment_id, runs


def _names(session, actor, experiment_id, runs, **options) -> list[str]:
    found, _ = service.list_runs(session=session, actor=actor, experiment_id=experiment_id, params=PageParams(),
                                 **options)
    by_id = {v: k for k, v in runs.items()}
    return [by_id[r.id] for r in found]


def test_runs_sort_by_any_metric_with_missing_ones_last(scientist, sweep):
    experiment_id, runs = sweep
    with session_scope(write=False) as s:
        assert _names(s, scientist, experiment_id, runs, sort="-metrics.accuracy") == ["b", "c", "a", "d"]
        assert _names(s, scientist, experiment_id, runs, sort="metrics.accuracy") == ["a", "c", "b", "d"]
        assert _names(s, scientist, experiment_id, runs, sort="metrics.loss") == ["b", "c", "a", "d"]
        # each run's largest loss is its first (loss / 0.2): 2.5, 1.0, 1.5
        assert _names(s, scientist, experiment_id, runs, sort="-metrics.loss", metric_value="max") == ["a", "c", "b", "d"]
        assert _names(s, scientist, experiment_id, runs, sort="params.lr") == ["c", "b", "d", "a"]
        by_optimizer = _names(s, scientist, experiment_id, runs, sort="-params.optimizer")
        assert by_optimizer[0] == "b" and by_optimizer[-1] == "c"  # sgd first; no optimizer last
        assert _names(s, scientist, experiment_id, runs, sort="-startTime") == ["d", "c", "b", "a"]
        assert _names(s, scientist, experiment_id, runs, sort="endTime")[-2:] in (["c", "d"], ["d", "c"])
        for bad in ("size", "metrics.", "metrics.a//b", "-params."):
            with pytest.raises(AISystemError) as excinfo:
                _names(s, scientist, experiment_id, runs, sort=bad)
            assert excinfo.value.code == "REQ_001"


@pytest.mark.parametrize("sort", ["-metrics.accuracy", "metrics.loss", "params.lr", "-startTime", "name", "endTime"])
def test_keyset_pages_of_a_sort_are_the_whole_list(scientist, sweep, sort):
    experiment_id, runs = sweep
    with session_scope(write=False) as s:
        whole = _names(s, scientist, experiment_id, runs, sort=sort)
        pages, cursor = [], None
        while True:
            found, cursor = service.list_runs(session=s, actor=scientist, experiment_id=experiment_id, sort=sort,
                                              params=PageParams(limit=1, cursor=cursor))
            pages += found
            if cursor is None:
                break
        by_id = {v: k for k, v in runs.items()}
        assert [by_id[r.id] for r in pages] == whole
        with pytest.raises(AISystemError) as excinfo:
            service.list_runs(session=s, actor=scientist, experiment_id=experiment_id, sort=sort,
                              params=PageParams(cursor="bm90IGEgY3Vyc29y"))
        assert excinfo.value.code == "REQ_001"


@pytest.mark.parametrize("expression,expected", [
    ("metrics.accuracy > 0.85", {"b", "c"}),
    ("metrics.accuracy >= 0.81 and metrics.loss < 0.4", {"b", "c"}),
    ('params.lr = "0.01"', {"b"}),
    ('params.lr != "0.01"', {"a", "c", "d"}),
    ("params.optimizer LIKE 'a%'", {"a"}),  # case-sensitive, as on PostgreSQL
    ("params.optimizer ILIKE 'a%'", {"a", "d"}),
    ("params.optimizer NOT ILIKE 'a%'", {"b"}),
    ('tags.kind = "base"', {"a"}),
    ('status = "FINISHED"', {"a", "b"}),
    ("attributes.status != 'FINISHED' and metrics.accuracy > 0", {"c"}),
    ("run.name LIKE 'run-_'", {"a", "b", "c", "d"}),
    ("startTime > 0 AND metrics.`accuracy` < 0.9", {"a", "c"}),
    ("params.lr = 'it''s'", None),
])
def test_search_with_a_small_filter(scientist, sweep, expression, expected):
    experiment_id, runs = sweep
    with session_scope(write=False) as s:
        if expected is None:
            with pytest.raises(AISystemError) as excinfo:
                _names(s, scientist, experiment_id, runs, filter=expression)
            assert excinfo.value.code == "REQ_001"
            return
        assert set(_names(s, scientist, experiment_id, runs, filter=expression)) == expected


@pytest.mark.parametrize("expression", [
    "accuracy > 0.9", "metrics.accuracy > 'high'", "params.lr > 0.1", "params.lr = 0.1", "status = FINISHED",
    "startTime = 'x'", "color = 'red'", "metrics.a//b > 1", "x.y = '1'", "metrics.accuracy >", " and ".join(["status = 'x'"] * 21),
])
def test_bad_filters_are_refused_by_name(scientist, sweep, expression):
    experiment_id, runs = sweep
    with session_scope(write=False) as s, pytest.raises(AISystemError) as excinfo:
        _names(s, scientist, experiment_id, runs, filter=expression)
    assert excinfo.value.code == "REQ_001" and "filter" in _fields(excinfo)


def test_search_across_experiments_and_status(scientist, sweep):
    experiment_id, runs = sweep
    other = make_experiment(scientist, "Other")
    extra = trained_run(scientist, other, accuracy=0.99, loss=0.1, lr="0.1")
    with session_scope(write=False) as s:
        found, _ = service.search_runs(session=s, actor=scientist, experiment_ids=[experiment_id, other],
                                       params=PageParams(), sort="-metrics.accuracy", status="FINISHED")
        assert [r.id for r in found] == [extra, runs["b"], runs["a"]]
        with pytest.raises(AISystemError) as excinfo:
            service.search_runs(session=s, actor=scientist, experiment_ids=["experiment_x"], params=PageParams())
        assert excinfo.value.code == "EXP_001"


# --- compare and leaderboard --------------------------------------------------------------------------------


def test_compare_returns_four_metrics_curves_unless_asked_for_others(scientist):
    one, two = make_experiment(scientist, "Small net"), make_experiment(scientist, "Big net")
    for experiment in (one, two):
        run = trained_run(scientist, experiment, accuracy=0.8, loss=0.6, lr="0.1")
        log(scientist, run, metrics=[(key, 0.7, 2000, 0) for key in ("f1", "precision", "recall")])
    with session_scope(write=False) as s:
        result = service.compare_experiments(session=s, actor=scientist, request={"experimentIds": [one, two]})
    assert len(result.metrics) == 5
    keys = {c.key for c in result.curves}
    assert len(keys) == 4 and keys <= {m.key for m in result.metrics}
    assert {c.experiment_id for c in result.curves} == {one, two}


def test_compare_two_experiments(scientist):
    one = make_experiment(scientist, "Small net", objective="maximize_accuracy")
    two = make_experiment(scientist, "Big net", objective="maximize_accuracy")
    trained_run(scientist, one, accuracy=0.8, loss=0.6, lr="0.1")
    best_one = trained_run(scientist, one, accuracy=0.85, loss=0.5, lr="0.01")
    best_two = trained_run(scientist, two, accuracy=0.9, loss=0.4, lr="0.01", steps=500)
    log(scientist, best_two, params=[{"key": "layers", "value": 8}])
    with session_scope(write=False) as s:
        result = service.compare_experiments(session=s, actor=scientist, request={
            "experimentIds": [one, two], "curvePoints": 50})
    assert [(m.key, m.goal) for m in result.metrics] == [("accuracy", "max"), ("loss", "min")]
    first, second = result.experiments
    assert first.best_run.id == best_one and second.best_run.id == best_two
    assert first.best_metrics["accuracy"].value == pytest.approx(0.85)
    assert first.best_metrics["loss"].run_id == best_one and second.best_metrics["loss"].value == pytest.approx(0.4)
    assert [(p.key, p.differs) for p in result.parameters] == [("layers", True), ("lr", False)]
    assert result.parameters[0].values == {one: None, two: "8"}
    curves = {(c.experiment_id, c.key): c for c in result.curves}
    assert set(curves) == {(one, "accuracy"), (one, "loss"), (two, "accuracy"), (two, "loss")}
    big = curves[(two, "loss")]
    assert big.total_points == 500 and big.downsampled and len(big.points) <= 50
    with session_scope(write=False) as s:
        chosen = service.compare_experiments(session=s, actor=scientist, request={
            "experimentIds": [one, two], "metrics": ["loss"], "metric": "loss", "goals": {"loss": "max"},
            "curves": []})
        assert [(m.key, m.goal) for m in chosen.metrics] == [("loss", "max")] and chosen.curves == []
        assert chosen.experiments[0].best_metrics["loss"].value == pytest.approx(0.6)  # the larger latest loss
        for request, code in (({"experimentIds": [one, "experiment_nope"]}, "EXP_001"),
                              ({"experimentIds": [one, one]}, "REQ_001"),
                              ({"experimentIds": [one, two], "metrics": ["a//b"]}, "REQ_001")):
            with pytest.raises(AISystemError) as excinfo:
                service.compare_experiments(session=s, actor=scientist, request=request)
            assert excinfo.value.code == code


def test_leaderboard_ranks_finished_runs_across_experiments(scientist, engineer):
    text = make_experiment(scientist, "Text", datasetId=None, task="text_classification")
    tabular = make_experiment(engineer, "Tabular", task="classification")
    t1 = trained_run(scientist, text, accuracy=0.91, loss=0.3, lr="0.1", end_time=2_000)
    t2 = trained_run(scientist, text, accuracy=0.95, loss=0.2, lr="0.01", end_time=3_000)
    trained_run(scientist, text, accuracy=0.99, loss=0.1, lr="0.5", status="RUNNING")  # unfinished: not ranked
    trained_run(scientist, text, accuracy=0.98, loss=0.1, lr="0.7", status="FAILED")
    b1 = trained_run(engineer, tabular, accuracy=0.95, loss=0.25, lr="0.2", end_time=1_000)
    with session_scope(write=False) as s:
        board = service.leaderboard(session=s, actor=scientist, metric="accuracy")
        assert board.goal == "max" and [e.run.id for e in board.entries] == [b1, t2, t1]  # tie: ended first
        assert [e.rank for e in board.entries] == [1, 2, 3] and board.entries[1].experiment_name == "Text"
        assert board.entries[0].run.parameters == {"lr": "0.2"}
        best = service.leaderboard(session=s, actor=scientist, metric="accuracy", best_per_experiment=True)
        assert [e.run.id for e in best.entries] == [b1, t2]
        text_only = service.leaderboard(session=s, actor=scientist, metric="accuracy", task="text_classification")
        assert [e.run.id for e in text_only.entries] == [t2, t1]
        losses = service.leaderboard(session=s, actor=scientist, metric="loss", limit=1)
        assert losses.goal == "min" and [e.run.id for e in losses.entries] == [t2]
        worst_start = service.leaderboard(session=s, actor=scientist, metric="loss", aggregate="max", goal="max")
        assert worst_start.entries[0].run.id == t1  # 0.3 / 0.2
        assert service.leaderboard(session=s, actor=scientist, metric="accuracy", dataset_id="dataset_x").entries == []
        with pytest.raises(AISystemError):
            service.leaderboard(session=s, actor=scientist, metric="bad*name")


def test_the_best_run_of_an_experiment_follows_its_objective(scientist):
    experiment_id = make_experiment(scientist, objective="minimize_loss")
    trained_run(scientist, experiment_id, accuracy=0.9, loss=0.4, lr="0.1")
    best = trained_run(scientist, experiment_id, accuracy=0.8, loss=0.2, lr="0.2")
    with session_scope(write=False) as s:
        document = service.experiment_document(session=s, experiment=s.get(Experiment, experiment_id))
    assert document["bestRun"].id == best and document["bestRun"].parameters == {"lr": "0.2"}
    assert document["runCounts"] == {"FINISHED": 2} and document["durationSeconds"] is not None


# --- log lines and files ---------------------------------------------------------------------------------------


def test_log_lines_append_and_follow(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    with session_scope() as s:
        count, last = service.append_logs(session=s, actor=scientist, run_id=run_id, lines=[
            {"message": f"epoch {i}", "level": "INFO", "timestamp": 1000 + i} for i in range(5)])
    assert count == 5
    with session_scope(write=False) as s:
        first = service.read_logs(session=s, actor=scientist, run_id=run_id, limit=3)
        assert [line["message"] for line in first["lines"]] == ["epoch 0", "epoch 1", "epoch 2"] and first["more"]
        rest = service.read_logs(session=s, actor=scientist, run_id=run_id, after=first["lastId"])
        assert [line["message"] for line in rest["lines"]] == ["epoch 3", "epoch 4"] and not rest["more"]
        assert rest["lastId"] == last
        tail = service.read_logs(session=s, actor=scientist, run_id=run_id, tail=2)
        assert [line["message"] for line in tail["lines"]] == ["epoch 3", "epoch 4"]
        idle = service.read_logs(session=s, actor=scientist, run_id=run_id, after=last)
        assert idle["lines"] == [] and idle["lastId"] == last
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.append_logs(session=s, actor=scientist, run_id=run_id, lines=[{"message": "x", "level": "LOUD"}])
    assert "lines[0].level" in _fields(excinfo)
    with session_scope(write=False) as s:
        assert len(s.exec(select(RunLog)).all()) == 5


def test_run_files_go_to_the_artifact_store(scientist):
    run_id = make_run(scientist, make_experiment(scientist))
    store = artifacts.get_store()
    with session_scope() as s:
        row = service.store_run_artifact(session=s, actor=scientist, run_id=run_id, path="plots/loss.png",
                                         source=b"first")
        first_key = row.key
    assert first_key.startswith(f"runs/{run_id}/artifacts/") and first_key.endswith(".png")
    with session_scope() as s:
        service.store_run_artifact(session=s, actor=scientist, run_id=run_id, path="plots/loss.png",
                                   source=io.BytesIO(b"second"))
        service.store_run_artifact(session=s, actor=scientist, run_id=run_id, path="model/config.json", source=b"{}")
    assert not store.exists(first_key)  # the replaced bytes went once the new ones were committed
    with session_scope(write=False) as s:
        run, rows = service.list_run_artifacts(session=s, actor=scientist, run_id=run_id)
        assert [r.path for r in rows] == ["model/config.json", "plots/loss.png"]
        _run, plots = service.list_run_artifacts(session=s, actor=scientist, run_id=run_id, prefix="plots/")
        assert [r.path for r in plots] == ["plots/loss.png"]
        row = service.get_run_artifact(session=s, actor=scientist, run_id=run_id, path="plots/loss.png")
        assert store.read_bytes(row.key) == b"second"
        assert service.recorded_files(s)[row.key] == row.sha256
        with pytest.raises(AISystemError) as excinfo:
            service.get_run_artifact(session=s, actor=scientist, run_id=run_id, path="nope.txt")
        assert excinfo.value.code == "ARTIFACT_002"
    with pytest.raises(AISystemError) as excinfo, session_scope() as s:
        service.store_run_artifact(session=s, actor=scientist, run_id=run_id, path="../escape", source=b"x")
    assert excinfo.value.code == "REQ_001" and "path" in _fields(excinfo)
    # A file written for a transaction that rolls back is removed again.
    with pytest.raises(RuntimeError), session_scope() as s:
        row = service.store_run_artifact(session=s, actor=scientist, run_id=run_id, path="lost.bin",
                                         source=b"never committed")
        lost_key = row.key
        raise RuntimeError("the caller fails")
    assert not store.exists(lost_key)


def test_unknown_ids_are_not_found(scientist):
    with session_scope(write=False) as s:
        for call, code in ((lambda: service.get_experiment(session=s, actor=scientist, experiment_id="x" * 65), "EXP_001"),
                           (lambda: service.get_run(session=s, actor=scientist, run_id="run_nope"), "EXP_002"),
                           (lambda: service.run_metrics(session=s, actor=scientist, run_id="run_nope"), "EXP_002"),
                           (lambda: service.read_logs(session=s, actor=scientist, run_id="run_nope"), "EXP_002")):
            with pytest.raises(AISystemError) as excinfo:
                call()
            assert excinfo.value.code == code


def test_a_model_version_can_name_the_run_that_trained_it(engineer):
    from backend.catalog.model_registry.schemas import VersionCreate
    from backend.lineage import service as lineage

    run_id = trained_run(engineer, make_experiment(engineer), accuracy=0.9, loss=0.1, lr="0.01")
    with session_scope() as s:
        model = registry.create_model(session=s, actor=engineer, embed=False, data=ModelCreate.model_validate(
            {"name": "Churn", "type": "Tabular", "category": "Classification", "framework": "PyTorch"}))
        registry.create_version(session=s, actor=engineer, model_id=model.id, data=VersionCreate.model_validate(
            {"version": "1.0.0", "source": {"experimentRunId": run_id}}))
        model_id = model.id
    with session_scope(write=False) as s:
        ancestors = lineage.ancestors(session=s, actor=engineer, entity_id=f"model_version:{model_id}@1.0.0")
    assert any(entity.kind == "run" and entity.ref == run_id for entity, _depth in ancestors)
