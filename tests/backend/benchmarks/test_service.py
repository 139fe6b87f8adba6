"""The benchmark service: checks before queueing, the measurement job, leaderboards, rankings, the
comparison's `latest_results` and the inference-speed sweep, on real packaged iris models."""

from __future__ import annotations

import polars as pl
import pytest

from backend.benchmarks import seed as bench_seed
from backend.benchmarks import service
from backend.benchmarks.models import BenchmarkRun
from backend.core.errors import AISystemError, PermissionDenied
from backend.endpoints import demo
from backend.jobs import tasks as job_tasks
from backend.jobs.models import Job
from tests.backend.benchmarks.conftest import FAST, iris_regressor, run_done, upload
from tests.backend.endpoints.conftest import iris_frame


def code_of(call) -> str:  # noqa: ANN001
    with pytest.raises(AISystemError) as caught:
        call()
    return caught.value.code


def test_run_measures_every_version(session, engineer, iris_versions, iris_dataset, sent):
    ids = iris_versions["ids"]
    run = service.run_benchmark(session=session, actor=engineer, version_ids=ids, dataset_id=iris_dataset,
                                settings=FAST)
    session.commit()
    assert sent.routes[run.job_id][0] == "inference" and run.status == "queued" and run.task == "classification"
    job_tasks.run_job(run.job_id)
    session.expire_all()
    assert session.get(Job, run.job_id).status == "succeeded", session.get(Job, run.job_id).error
    doc = service.get_benchmark(session=session, actor=engineer, run_id=run.id)
    assert doc["status"] == "succeeded" and doc["progress"] == 1.0
    assert [r["model_version_id"] for r in doc["results"]] == ids
    test_rows = 45  # 30 % of 150, stratified
    for result in doc["results"]:
        m = result["metrics"]
        assert result["rows"] == test_rows and result["device"] == "cpu" and result["device_name"]
        assert 0.5 < m["accuracy"] <= 1 and 0 < m["f1_macro"] <= 1 and m["roc_auc"] is None  # three classes
        assert 0 < m["latency_p50_ms"] <= m["latency_p95_ms"] <= m["latency_p99_ms"]
        assert all(m[f"throughput_b{b}"] > 0 for b in (1, 8, 64))
        assert {c["label"] for c in result["per_class"]} == {"setosa", "versicolor", "virginica"}
        assert sum(c["support"] for c in result["per_class"]) == test_rows
    # The accuracy is what the model predicts on those rows, recomputed here independently.
    from backend.endpoints import serving
    from backend.ml import data as ml_data

    first = doc["results"][0]
    source = ml_data.open_source(session=session, dataset_id=iris_dataset)
    test = ml_data.read_split(source, iris_frame().drop("species").columns, label="species")["test"]
    from backend.catalog.model_registry.models import ModelVersion

    loaded = serving.load_version(session=session, actor=engineer, row=session.get(ModelVersion, ids[0]))
    predicted = loaded.predict(test.drop("species").to_dicts())
    expected = sum(p["label"] == t for p, t in zip(predicted, test["species"], strict=True)) / test.height
    assert first["metrics"]["accuracy"] == pytest.approx(expected)
    latest = service.latest_results(session, version_ids=[*ids, "modelversion_none"])
    assert set(latest) == set(ids) and "roc_auc" not in latest[ids[0]]
    assert latest[ids[0]]["accuracy"] == pytest.approx(expected)
    assert service.count_results(session) == 2


def test_binary_roc_auc_and_regression(session, engineer):
    frame = iris_frame().filter(pl.col("species") != "setosa")
    weights, config = demo.train_tabular(frame, label="species", seed=0, steps=120)
    model_id, _ = demo.register(session, engineer, weights=weights, config=config, version="1.0.0", name="two")
    weights, config = iris_regressor()
    reg_id, _ = demo.register(session, engineer, weights=weights, config=config, version="1.0.0", name="reg")
    session.commit()
    from backend.catalog.model_registry import service as registry

    binary = registry.find_version(session=session, model_id=model_id, version="1.0.0").id
    regressor = registry.find_version(session=session, model_id=reg_id, version="1.0.0").id
    dataset_id = upload(session, engineer, frame, "two species")
    doc = run_done(session, engineer, [binary], dataset_id)
    assert 0.5 <= doc["results"][0]["metrics"]["roc_auc"] <= 1
    all_rows = upload(session, engineer, iris_frame().drop("species"), "no species", split=False)
    doc = run_done(session, engineer, [regressor], all_rows, split="all")
    m = doc["results"][0]["metrics"]
    assert doc["task"] == "regression" and doc["results"][0]["rows"] == 150
    assert m["rmse"] > 0 and m["mae"] > 0 and m["r2"] > 0.5 and "accuracy" not in m
    # Models of two tasks in one run; a task that differs from the models'; no split.
    assert code_of(lambda: service.run_benchmark(session=session, actor=engineer, version_ids=[binary, regressor],
                                                 dataset_id=dataset_id)) == "BENCH_003"
    assert code_of(lambda: service.run_benchmark(session=session, actor=engineer, version_ids=[regressor],
                                                 dataset_id=all_rows, task="classification", split="all")) == "BENCH_003"
    assert code_of(lambda: service.run_benchmark(session=session, actor=engineer, version_ids=[regressor],
                                                 dataset_id=all_rows)) == "BENCH_003"


def test_wrong_schema_fails_before_queueing(session, engineer, iris_versions, sent):
    ids = iris_versions["ids"]
    lacking = upload(session, engineer, iris_frame().drop("petal_width"), "lacking")
    with pytest.raises(AISystemError) as caught:
        service.run_benchmark(session=session, actor=engineer, version_ids=ids, dataset_id=lacking)
    assert caught.value.code == "BENCH_002" and caught.value.details["missing"] == ["petal_width"]
    mistyped = upload(session, engineer, iris_frame().with_columns(pl.col("sepal_length").cast(pl.String)), "typed")
    with pytest.raises(AISystemError) as caught:
        service.run_benchmark(session=session, actor=engineer, version_ids=ids, dataset_id=mistyped)
    assert caught.value.details["mistyped"][0]["column"] == "sepal_length"
    unlabelled = upload(session, engineer, iris_frame().with_columns(pl.col("species").alias("kind")).drop("species"),
                        "unlabelled", split=False)
    with pytest.raises(AISystemError) as caught:
        service.run_benchmark(session=session, actor=engineer, version_ids=ids, dataset_id=unlabelled, split="all")
    assert caught.value.code == "BENCH_002" and caught.value.details["missingLabel"] == "species"
    session.rollback()
    assert session.query(BenchmarkRun).count() == 0 and not sent.routes
    assert code_of(lambda: service.run_benchmark(session=session, actor=engineer, version_ids=["nope"],
                                                 dataset_id=lacking)) == "MODEL_001"
    assert code_of(lambda: service.run_benchmark(session=session, actor=engineer, version_ids=ids,
                                                 dataset_id="dataset_nope")) == "DATA_001"


def test_permissions_and_visibility(session, principals, engineer, iris_versions, iris_dataset, sent):
    with pytest.raises(PermissionDenied):
        service.run_benchmark(session=session, actor=principals["business_user"],
                              version_ids=iris_versions["ids"], dataset_id=iris_dataset)
    run = service.run_benchmark(session=session, actor=engineer, version_ids=iris_versions["ids"][:1],
                                dataset_id=iris_dataset, settings=FAST)
    session.commit()
    assert code_of(lambda: service.get_benchmark(session=session, actor=principals["data_scientist"],
                                                 run_id=run.id)) == "BENCH_001"
    assert service.get_benchmark(session=session, actor=principals["admin"], run_id=run.id)["status"] == "queued"


def test_leaderboards_submit_and_rankings(session, principals, engineer, iris_versions, iris_dataset, sent):
    ids = iris_versions["ids"]
    doc = run_done(session, engineer, ids, iris_dataset)
    board = service.leaderboard(session=session, actor=engineer, dataset_id=iris_dataset, task="classification")
    assert board["kind"] == "default" and board["metric"] == "accuracy" and len(board["entries"]) == 2
    values = [e["value"] for e in board["entries"]]
    assert values == sorted(values, reverse=True) and board["entries"][0]["rank"] == 1
    fastest = service.leaderboard(session=session, actor=engineer, dataset_id=iris_dataset, metric="latency_p50_ms")
    assert not fastest["higher_is_better"]
    assert [e["value"] for e in fastest["entries"]] == sorted(e["value"] for e in fastest["entries"])
    assert code_of(lambda: service.leaderboard(session=session, actor=engineer, dataset_id=iris_dataset,
                                               metric="nonsense")) == "REQ_001"
    # A second run of the first version: the default board shows its newest result only.
    again = run_done(session, engineer, ids[:1], iris_dataset)
    board = service.leaderboard(session=session, actor=engineer, dataset_id=iris_dataset)
    assert again["results"][0]["id"] in {e["result_id"] for e in board["entries"]} and len(board["entries"]) == 2
    first, second = doc["results"]
    entry = service.submit(session=session, actor=engineer, result_id=first["id"], board="Iris open")
    assert entry["rank"] == 1
    service.submit(session=session, actor=engineer, result_id=second["id"], board="Iris open", note="seed 1")
    session.commit()
    named = service.leaderboard(session=session, actor=principals["business_user"], name="Iris open")
    assert named["kind"] == "named" and len(named["entries"]) == 2 and named["dataset_id"] == iris_dataset
    assert {e["note"] for e in named["entries"]} == {None, "seed 1"}
    assert code_of(lambda: service.submit(session=session, actor=engineer, result_id=first["id"],
                                          board="Iris open")) == "BENCH_005"
    assert code_of(lambda: service.submit(session=session, actor=principals["data_scientist"],
                                          result_id=first["id"], board="Other")) == "BENCH_001"
    assert code_of(lambda: service.leaderboard(session=session, actor=engineer, name="Nope")) == "BENCH_004"
    listed = service.leaderboards(session=session, actor=engineer)
    assert {(b["kind"], b["name"]) for b in listed} >= {("named", "Iris open"), ("default", "iris rows · classification")}
    ranked = service.rankings(session=session, actor=principals["business_user"])
    [classification] = ranked["tasks"]
    [row] = classification["models"]  # one model: its best version
    assert row["model_id"] == iris_versions["model_id"] and row["rank"] == 1
    assert row["value"] == max(e["value"] for e in board["entries"])


def test_mark_aborted_and_cancel(session, engineer, iris_versions, iris_dataset, sent):
    from backend.jobs import service as jobs_service

    run = service.run_benchmark(session=session, actor=engineer, version_ids=iris_versions["ids"],
                                dataset_id=iris_dataset, settings=FAST)
    session.commit()
    jobs_service.cancel_job(session=session, actor=engineer, job_id=run.job_id)
    session.commit()
    session.expire_all()
    assert session.get(BenchmarkRun, run.id).status == "cancelled"


def test_inference_speed(session, engineer, iris_versions, iris_dataset):
    with pytest.raises(AISystemError):
        service.inference_speed(session=session, actor=engineer, version_ids=iris_versions["ids"][:1])
    report = service.inference_speed(session=session, actor=engineer, version_ids=iris_versions["ids"],
                                     dataset_id=iris_dataset, batch_sizes=[1, 16], repetitions=5, warmup=1)
    assert report["device"] == "cpu" and len(report["versions"]) == 2
    row = report["versions"][0]
    assert [p["batch_size"] for p in row["points"]] == [1, 16] and all(p["throughput"] > 0 for p in row["points"])
    assert row["latency_p50_ms"] <= row["latency_p99_ms"]


def test_seed_benchmarks_two_trained_versions(session, monkeypatch):
    from backend.catalog.datasets import seed as dataset_seed
    from backend.endpoints import seed as endpoint_seed

    assert bench_seed.seed_demo_benchmark(session).startswith("no demo Wine model")
    monkeypatch.setattr(dataset_seed, "DEMO_DATASETS", [d for d in dataset_seed.DEMO_DATASETS if d["name"] == "Wine"])
    dataset_seed.seed_demo_datasets(session)
    endpoint_seed.seed_demo_endpoint(session)
    session.commit()
    monkeypatch.setattr(bench_seed, "SETTINGS", FAST)
    message = bench_seed.seed_demo_benchmark(session)
    session.commit()
    assert message.startswith("benchmarked"), message
    from backend.auth.principal import SYSTEM

    board = service.leaderboard(session=session, actor=SYSTEM, name=bench_seed.LEADERBOARD)
    assert {e["version"] for e in board["entries"]} == {"1.0.0", "1.1.0"}
    assert all(e["metrics"]["accuracy"] > 0.5 and e["metrics"]["throughput_b64"] > 0 for e in board["entries"])
    assert bench_seed.seed_demo_benchmark(session) == "demo benchmark already present"
