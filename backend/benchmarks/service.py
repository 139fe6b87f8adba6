"""Benchmarks: run packaged model versions on a dataset version's split and keep what they measured.

`run_benchmark` checks everything before it queues (the versions exist and hold a platform package,
the caller may read them and the dataset, the tasks agree, the split exists, and the dataset's columns
fit each model's input schema: BENCH_002 names what does not) and queues `benchmarks.run` on the
`inference` queue; the job (`tasks.py`) calls `measure_run` and `store_results`. Models are loaded
through the serving layer (`backend.endpoints.serving.load_version`: safetensors only, hashes checked)
and typed with `serving.typed_frame`; the split is read by `backend.ml.data`.

Results are kept per run and version; the current figure of a (model version, dataset version, task) is
its newest result. `latest_results` (for the comparison) takes each version's newest result across
datasets: the one most recently measured, whatever dataset it was on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.benchmarks import measure, samples
from backend.benchmarks.models import BenchmarkResult, BenchmarkRun, LeaderboardEntry
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets.models import Dataset
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.models import ModelVersion, RegisteredModel
from backend.core.authorization import authorize
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.timeutil import utcnow
from backend.endpoints import serving
from backend.jobs import service as jobs_service
from backend.jobs.models import Job
from backend.ml import data as ml_data

log = logging.getLogger(__name__)
BENCHMARK_JOB = "benchmarks.run"
TABULAR_TYPES = ("tabular", "text")


def not_found(run_id: str) -> AISystemError:
    return AISystemError("BENCH_001", "No such benchmark", {"benchmarkId": str(run_id)[:60]})


def unfit(message: str, **details: Any) -> AISystemError:
    return AISystemError("BENCH_003", message, details)


# --- checking before queueing ------------------------------------------------------------------------


def _versions(session: Session, actor: Principal, version_ids: Sequence[str]
              ) -> list[tuple[ModelVersion, RegisteredModel, dict[str, Any]]]:
    """Each version with its live model and package config; MODEL_001 for one that does not exist (or whose
    model the caller may not read), BENCH_003 for one without a platform package."""
    out = []
    for version_id in version_ids:
        row = session.get(ModelVersion, version_id)
        model = registry.find_model(session=session, model_id=row.model_id) if row is not None else None
        if row is None or model is None:
            raise AISystemError("MODEL_001", "No such model version", {"versionId": str(version_id)[:60]})
        registry.get_model(session=session, actor=actor, model_id=model.id)  # model:read on this model
        config = serving.package_config(row)
        if config is None:
            raise unfit(f"Version {row.version} of {model.name} has no platform model package (safetensors "
                        "weights and their config) to run", versionId=row.id, modelId=model.id, reason="no_package")
        out.append((row, model, config))
    return out


def _fits(kind: str, dtype: pl.DataType) -> bool:
    if dtype == pl.Null:
        return True
    if kind == "numeric":
        return dtype.is_numeric() or dtype == pl.Boolean
    if kind == "text":
        return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    if kind == "image":
        return dtype in (pl.Binary, pl.String)
    return True  # categorical: any value is read as its text


def schema_problems(config: dict[str, Any], schema: pl.Schema) -> dict[str, Any]:
    """What keeps a dataset's columns from feeding a model: missing inputs, inputs of the wrong kind, a
    missing label column. Empty when it fits."""
    missing, mistyped = [], []
    for column in config["inputSchema"]["columns"]:
        name, kind = column["name"], column["kind"]
        if name not in schema:
            missing.append(name)
        elif not _fits(kind, schema[name]):
            mistyped.append({"column": name, "expected": kind, "found": str(schema[name])})
    problems: dict[str, Any] = {}
    if missing:
        problems["missing"] = missing[:50]
    if mistyped:
        problems["mistyped"] = mistyped[:50]
    label = (config.get("label") or {}).get("name")
    if label and label not in schema:
        problems["missingLabel"] = label
    return problems


def check_schema(config: dict[str, Any], schema: pl.Schema, *, version_id: str, name: str) -> None:
    """BENCH_002 when the dataset's columns do not fit the model's input schema (and label)."""
    problems = schema_problems(config, schema)
    if not problems:
        return
    parts = []
    if "missing" in problems:
        parts.append(f"lacks the input columns {', '.join(problems['missing'][:5])}")
    if "mistyped" in problems:
        parts.append("has " + ", ".join(f"'{m['column']}' as {m['found']} where the model reads {m['expected']} values"
                                        for m in problems["mistyped"][:3]))
    if "missingLabel" in problems:
        parts.append(f"has no label column '{problems['missingLabel']}'")
    raise AISystemError("BENCH_002", f"The dataset does not fit {name}: it {'; it '.join(parts)}",
                        {"versionId": version_id, **problems})


def _task(configs: Sequence[dict[str, Any]], requested: str | None) -> str:
    tasks = {c["task"] for c in configs}
    if requested is not None:
        wrong = sorted(tasks - {requested})
        if wrong:
            raise unfit(f"The task is {requested} but some models are {', '.join(wrong)} models",
                        task=requested, reason="task_mismatch", field="task")
        return requested
    if len(tasks) != 1:
        raise unfit("The models do not share one task; benchmark classifiers and regressors apart",
                    tasks=sorted(tasks), reason="task_mismatch")
    return tasks.pop()


def _dataset_version(session: Session, actor: Principal, dataset_id: str, version: int | None):  # noqa: ANN202
    dataset, row = datasets.get_version(session=session, actor=actor, dataset_id=dataset_id, version=version)
    if dataset.type not in TABULAR_TYPES:
        raise unfit(f"Benchmarks read tabular and text datasets; '{dataset.name}' is {dataset.type}",
                    datasetId=dataset.id, reason="dataset_type")
    return dataset, row


def _check_split(row: Any, split: str, dataset_id: str) -> None:
    if split == "all":
        return
    if not row.split_blob_sha256:
        raise unfit("This dataset version has no stored train/validation/test split; split it, or benchmark on "
                    "`all` rows", datasetId=dataset_id, version=row.number, reason="no_split", field="split")
    counts = (row.split or {}).get("counts") or {}
    if counts and not counts.get(split):
        raise unfit(f"The '{split}' part of this version's split is empty", datasetId=dataset_id,
                    version=row.number, reason="empty_split", field="split")


def _schema(session: Session, dataset_id: str, number: int) -> pl.Schema:
    _row, frame = datasets.read_version_frame(session=session, dataset_id=dataset_id, version=number)
    return frame.collect_schema()


def run_benchmark(*, session: Session, actor: Principal, version_ids: Sequence[str], dataset_id: str,
                  dataset_version: int | None = None, task: str | None = None, split: str = "test",
                  settings: dict[str, int] | None = None, queue: bool = True) -> BenchmarkRun:
    """Check the benchmark and queue it (`queue=False`: the caller runs `measure_run` itself, as the seed)."""
    authorize(actor, "benchmark:create")
    versions = _versions(session, actor, version_ids)
    dataset, row = _dataset_version(session, actor, dataset_id, dataset_version)
    chosen = _task([c for _r, _m, c in versions], task)
    _check_split(row, split, dataset.id)
    schema = _schema(session, dataset.id, row.number)
    for version, model, config in versions:
        check_schema(config, schema, version_id=version.id, name=f"{model.name} {version.version}")
    settings = {"repetitions": measure.DEFAULT_REPETITIONS, "warmup": measure.DEFAULT_WARMUP, **(settings or {})}
    run = BenchmarkRun(id=new_id("bench"), status="queued" if queue else "running", dataset_id=dataset.id,
                       dataset_version=row.number, task=chosen, split=split, version_ids=list(version_ids),
                       settings={"repetitions": int(settings["repetitions"]), "warmup": int(settings["warmup"]),
                                 "batchSizes": list(measure.BATCH_SIZES)},
                       created_by=actor.user_id)
    session.add(run)
    session.flush()
    if queue:
        job = jobs_service.create_job(session=session, actor=actor, type=BENCHMARK_JOB, payload={"runId": run.id})
        run.job_id = job.id
        session.add(run)
        session.flush()
    audit.record(session=session, actor=actor, action="benchmark.run", entity_type="benchmark", entity_id=run.id,
                 summary={"versions": list(version_ids), "datasetId": dataset.id, "datasetVersion": row.number,
                          "task": chosen, "split": split})
    return run


def benchmark_model(*, session: Session, actor: Principal, model_id: str, versions: Sequence[str] | None,
                    dataset_id: str, dataset_version: int | None = None, task: str | None = None,
                    split: str = "test", settings: dict[str, int] | None = None) -> BenchmarkRun:
    """The design's `/catalog/models/benchmark`: versions of one model by number (all its packaged versions,
    newest first, at most 10, when `versions` is empty)."""
    authorize(actor, "benchmark:create")
    model = registry.get_model(session=session, actor=actor, model_id=model_id)
    if versions:
        rows = []
        for number in versions:
            row = registry.find_version(session=session, model_id=model.id, version=number)
            if row is None:
                raise registry.not_found(model.id, number)
            rows.append(row)
    else:
        rows = [r for r in session.exec(select(ModelVersion).where(ModelVersion.model_id == model.id)
                                        .order_by(col(ModelVersion.major).desc(), col(ModelVersion.minor).desc(),
                                                  col(ModelVersion.patch).desc())).all()
                if serving.package_config(r) is not None][:10]
        if not rows:
            raise unfit(f"{model.name} has no version with a platform model package to run", modelId=model.id,
                        reason="no_package")
    return run_benchmark(session=session, actor=actor, version_ids=[r.id for r in rows], dataset_id=dataset_id,
                         dataset_version=dataset_version, task=task, split=split, settings=settings)


# --- measuring ------------------------------------------------------------------------------------


def split_frame(session: Session, *, dataset_id: str, version: int, split: str, columns: Sequence[str],
                label: str) -> pl.DataFrame:
    """The labelled rows of a split part (`all`: every labelled row), `columns` and the label only."""
    source = ml_data.open_source(session=session, dataset_id=dataset_id, version=version)
    wanted = list(dict.fromkeys([*columns, label]))
    if split == "all":
        labelled = pl.col(label).is_not_null()
        if source.columns[label].is_float():
            labelled = labelled & pl.col(label).is_not_nan()
        return source.frame.select(wanted).filter(labelled).collect()
    return ml_data.read_split(source, columns, label=label)[split]


def measure_run(*, session: Session, actor: Principal, run: BenchmarkRun,
                progress: Callable[[float, str], None] = lambda f, m: None,
                cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any] | None:
    """Measure every version of a run on this process's device: {"device", "deviceName", "results": [...]},
    or None when `cancelled()` said stop between versions. Reads only; `store_results` writes."""
    device = measure.worker_device()
    settings = run.settings or {}
    repetitions = int(settings.get("repetitions", measure.DEFAULT_REPETITIONS))
    warmup = int(settings.get("warmup", measure.DEFAULT_WARMUP))
    results, total = [], len(run.version_ids)
    share = 1 / max(total, 1)
    for i, version_id in enumerate(run.version_ids):
        row = session.get(ModelVersion, version_id)
        if row is None:
            raise AISystemError("MODEL_001", "A benchmarked version no longer exists", {"versionId": version_id})

        def step(fraction: float, message: str, *, i: int = i, name: str = row.version) -> None:
            progress(min(0.99, (i + fraction) * share), f"version {name} ({i + 1} of {total}): {message}")

        step(0.0, "loading the model")
        loaded = serving.load_version(session=session, actor=actor, row=row)
        measure.place(loaded, device)
        config = loaded.config
        inputs = [c["name"] for c in config["inputSchema"]["columns"]]
        label = config["label"]["name"]
        frame = split_frame(session, dataset_id=run.dataset_id, version=run.dataset_version, split=run.split,
                            columns=inputs, label=label)
        if frame.height == 0:
            raise unfit("No labelled rows to score in this split", reason="empty_split")
        typed = serving.typed_frame(config, frame)
        step(0.1, f"scoring {frame.height} rows")
        outputs = loaded.family.predict_frame(loaded.module, config, typed)
        metrics, per_class = measure.quality(config, outputs, frame[label])
        kept = samples.from_outputs(config, outputs, frame[label].cast(pl.String if config["task"] == "classification"
                                                                         else pl.Float64).to_list())
        if cancelled():
            return None
        step(0.3, "timing single predictions")
        metrics.update(measure.speed(loaded, typed, repetitions=repetitions, warmup=warmup,
                                     on_step=lambda done, message, step=step: step(0.5 + 0.5 * done, message)))
        results.append({"versionId": row.id, "modelId": row.model_id, "version": row.version, "rows": frame.height,
                        "metrics": metrics, "perClass": per_class, "samples": kept})
        del loaded
        if cancelled():
            return None
    progress(0.99, "storing the results")
    return {"device": device.kind, "deviceName": device.name, "results": results}


def mark_running(*, session: Session, run_id: str) -> None:
    run = session.get(BenchmarkRun, run_id)
    if run is not None and run.status == "queued":
        run.status = "running"
        session.add(run)
        session.flush()
        audit.record(session=session, actor=None, action="benchmark.start", entity_type="benchmark",
                     entity_id=run.id, summary={"jobId": run.job_id})


def store_results(*, session: Session, actor: Principal, run_id: str, measured: dict[str, Any]) -> list[BenchmarkResult]:
    """Write the measured figures of a run and mark it succeeded (in the caller's transaction)."""
    run = session.get(BenchmarkRun, run_id)
    if run is None:
        raise not_found(run_id)
    rows = []
    for item in measured["results"]:
        result_id = new_id("bres")
        kept = item.get("samples")
        # The per-row outcomes go to the artifact store first: a row never names a file that is not there.
        reference = samples.store(kept, run_id=run.id, result_id=result_id) if kept is not None else None
        result = BenchmarkResult(id=result_id, run_id=run.id, model_version_id=item["versionId"],
                                 model_id=item["modelId"], version=item["version"], dataset_id=run.dataset_id,
                                 dataset_version=run.dataset_version, task=run.task, split=run.split,
                                 rows=item["rows"], metrics=item["metrics"], per_class=item["perClass"],
                                 device=measured["device"], device_name=measured["deviceName"][:200],
                                 samples=reference, created_by=run.created_by)
        session.add(result)
        rows.append(result)
    run.status, run.finished_at = "succeeded", utcnow()
    session.add(run)
    session.flush()
    audit.record(session=session, actor=actor, action="benchmark.finish", entity_type="benchmark", entity_id=run.id,
                 summary={"results": len(rows), "device": measured["device"], "deviceName": measured["deviceName"]})
    return rows


def mark_aborted(session: Session, job: Job) -> None:
    """on_abort of the job: the run ends failed (or cancelled) with the job's error, in the job's commit."""
    run_id = (job.payload or {}).get("runId")
    run = session.get(BenchmarkRun, run_id) if run_id else None
    if run is None or run.status in ("succeeded", "failed", "cancelled"):
        return
    run.status = "cancelled" if job.status == "cancelled" else "failed"
    run.error = (job.error or "")[:1000] or None
    run.finished_at = utcnow()
    session.add(run)
    session.flush()
    audit.record(session=session, actor=None, action="benchmark.abort", entity_type="benchmark", entity_id=run.id,
                 outcome="failure", summary={"status": run.status, "error": run.error})


# --- reading ----------------------------------------------------------------------------------------


def _names(session: Session, model_ids: set[str]) -> dict[str, str]:
    if not model_ids:
        return {}
    rows = session.exec(select(RegisteredModel.id, RegisteredModel.name)
                        .where(col(RegisteredModel.id).in_(model_ids))).all()
    return dict(rows)


def result_document(result: BenchmarkResult, names: dict[str, str]) -> dict[str, Any]:
    return {"id": result.id, "run_id": result.run_id, "model_version_id": result.model_version_id,
            "model_id": result.model_id, "model_name": names.get(result.model_id), "version": result.version,
            "dataset_id": result.dataset_id, "dataset_version": result.dataset_version, "task": result.task,
            "split": result.split, "rows": result.rows, "metrics": dict(result.metrics),
            "per_class": list(result.per_class), "device": result.device, "device_name": result.device_name,
            "samples": ({k: result.samples[k] for k in ("key", "sha256", "size", "rows")} if result.samples else None),
            "created_at": result.created_at}


def _visible_run(session: Session, actor: Principal, run_id: str) -> BenchmarkRun:
    run = session.get(BenchmarkRun, run_id)
    if run is None or (run.created_by != actor.user_id and not actor.is_admin):
        raise not_found(run_id)
    return run


def get_benchmark(*, session: Session, actor: Principal, run_id: str) -> dict[str, Any]:
    """A run with its progress (from its job) and its per-version results; yours, unless you are an admin."""
    authorize(actor, "benchmark:read")
    run = _visible_run(session, actor, run_id)
    results = session.exec(select(BenchmarkResult).where(BenchmarkResult.run_id == run.id)).all()
    order = {v: i for i, v in enumerate(run.version_ids)}
    results = sorted(results, key=lambda r: order.get(r.model_version_id, len(order)))
    names = _names(session, {r.model_id for r in results})
    job = session.get(Job, run.job_id) if run.job_id else None
    progress = 1.0 if run.status == "succeeded" else float(job.progress) if job is not None else 0.0
    return {"id": run.id, "status": run.status, "job_id": run.job_id, "progress": progress,
            "message": job.message if job is not None else None, "dataset_id": run.dataset_id,
            "dataset_version": run.dataset_version, "task": run.task, "split": run.split,
            "version_ids": list(run.version_ids), "settings": {k: v for k, v in run.settings.items() if isinstance(v, int)},
            "error": run.error or (job.error if job is not None and run.status == "failed" else None),
            "results": [result_document(r, names) for r in results], "created_by": run.created_by,
            "created_at": run.created_at, "finished_at": run.finished_at}


def list_benchmarks(*, session: Session, actor: Principal, limit: int = 20) -> list[BenchmarkRun]:
    """Your most recent runs (everyone's for an admin), newest first."""
    authorize(actor, "benchmark:read")
    query = select(BenchmarkRun).order_by(col(BenchmarkRun.created_at).desc(), col(BenchmarkRun.id).desc())
    if not actor.is_admin:
        query = query.where(BenchmarkRun.created_by == actor.user_id)
    return list(session.exec(query.limit(limit)).all())


def _newest_per_version(results: Sequence[BenchmarkResult]) -> list[BenchmarkResult]:
    newest: dict[str, BenchmarkResult] = {}
    for r in results:
        current = newest.get(r.model_version_id)
        if current is None or (r.created_at, r.id) > (current.created_at, current.id):
            newest[r.model_version_id] = r
    return list(newest.values())


def _ranked(results: Sequence[BenchmarkResult], metric: str, higher: bool) -> list[tuple[int, BenchmarkResult]]:
    """Sorted by the metric (missing values last; ties share a rank, "1, 1, 3")."""
    def key(r: BenchmarkResult) -> tuple:
        value = r.metrics.get(metric)
        return (value is None, -(value or 0) if higher else (value or 0), r.created_at, r.id)

    ordered = sorted(results, key=key)
    ranked, previous, rank = [], object(), 0
    for i, r in enumerate(ordered):
        value = r.metrics.get(metric)
        if value != previous:
            rank, previous = i + 1, value
        ranked.append((rank, r))
    return ranked


def _metric(task: str | None, metric: str | None) -> tuple[str, bool]:
    if metric is None:
        return measure.PRIMARY.get(task or "classification", ("accuracy", True))
    known = set(measure.CLASSIFICATION_METRICS + measure.REGRESSION_METRICS + measure.SPEED_METRICS)
    if metric not in known:
        raise AISystemError("REQ_001", f"Unknown metric '{metric[:40]}'", {"fields": {"metric": "unknown metric"}})
    return metric, metric not in measure.LOWER_IS_BETTER


def _rows(ranked: list[tuple[int, BenchmarkResult]], metric: str, names: dict[str, str],
          entries: dict[str, LeaderboardEntry] | None = None) -> list[dict[str, Any]]:
    out = []
    for rank, r in ranked:
        entry = (entries or {}).get(r.id)
        out.append({"rank": rank, "result_id": r.id, "model_id": r.model_id, "model_name": names.get(r.model_id, r.model_id),
                    "version": r.version, "model_version_id": r.model_version_id, "value": r.metrics.get(metric),
                    "metrics": dict(r.metrics), "device": r.device, "device_name": r.device_name,
                    "measured_at": r.created_at, "submitted_by": entry.submitted_by if entry else None,
                    "note": entry.note if entry else None})
    return out


def leaderboard(*, session: Session, actor: Principal, name: str | None = None, dataset_id: str | None = None,
                dataset_version: int | None = None, task: str | None = None, metric: str | None = None) -> dict[str, Any]:
    """A named public leaderboard (`name`), or the default one of a dataset and task: the newest result of
    every version benchmarked on it (on `dataset_version`, or on any version of the dataset), sorted by the
    task's primary metric (accuracy; RMSE for regression) or by `metric`."""
    authorize(actor, "benchmark:read")
    if name is not None:
        pairs = session.exec(select(LeaderboardEntry, BenchmarkResult)
                             .join(BenchmarkResult, BenchmarkResult.id == LeaderboardEntry.result_id)
                             .where(LeaderboardEntry.leaderboard == name)).all()
        if not pairs:
            raise AISystemError("BENCH_004", f"No leaderboard named '{name[:80]}'", {"leaderboard": name[:80]})
        first = min(pairs, key=lambda p: (p[0].submitted_at, p[0].id))[1]
        chosen, higher = _metric(first.task, metric)
        results = [r for _e, r in pairs]
        names = _names(session, {r.model_id for r in results})
        dataset = session.get(Dataset, first.dataset_id)
        return {"name": name, "kind": "named", "dataset_id": first.dataset_id,
                "dataset_name": dataset.name if dataset else None, "dataset_version": first.dataset_version,
                "task": first.task, "metric": chosen, "higher_is_better": higher,
                "entries": _rows(_ranked(results, chosen, higher), chosen, names, {e.result_id: e for e, _r in pairs})}
    if dataset_id is None:
        raise AISystemError("REQ_001", "Name a leaderboard, or a dataset (and task) for its default leaderboard",
                            {"fields": {"datasetId": "required without name"}})
    dataset = datasets.get_dataset(session=session, actor=actor, dataset_id=dataset_id)
    query = select(BenchmarkResult).where(BenchmarkResult.dataset_id == dataset.id)
    if dataset_version is not None:
        query = query.where(BenchmarkResult.dataset_version == dataset_version)
    if task is not None:
        query = query.where(BenchmarkResult.task == task)
    results = list(session.exec(query).all())
    if task is None and results:
        task = max(results, key=lambda r: (r.created_at, r.id)).task  # the task measured last
        results = [r for r in results if r.task == task]
    chosen, higher = _metric(task, metric)
    results = _newest_per_version(results)
    names = _names(session, {r.model_id for r in results})
    suffix = f" v{dataset_version}" if dataset_version is not None else ""
    return {"name": f"{dataset.name}{suffix} · {task or 'classification'}", "kind": "default", "dataset_id": dataset.id,
            "dataset_name": dataset.name, "dataset_version": dataset_version, "task": task, "metric": chosen,
            "higher_is_better": higher, "entries": _rows(_ranked(results, chosen, higher), chosen, names)}


def leaderboards(*, session: Session, actor: Principal) -> list[dict[str, Any]]:
    """The named leaderboards and the default ones (one per dataset and task with results you may read)."""
    authorize(actor, "benchmark:read")
    out = []
    named = session.exec(select(LeaderboardEntry, BenchmarkResult)
                         .join(BenchmarkResult, BenchmarkResult.id == LeaderboardEntry.result_id)
                         .order_by(LeaderboardEntry.submitted_at, LeaderboardEntry.id)).all()
    boards: dict[str, list] = {}
    for entry, result in named:
        boards.setdefault(entry.leaderboard, []).append(result)
    dataset_names = dict(session.exec(select(Dataset.id, Dataset.name)).all())
    for name, results in sorted(boards.items()):
        first = results[0]
        out.append({"name": name, "kind": "named", "dataset_id": first.dataset_id,
                    "dataset_name": dataset_names.get(first.dataset_id), "dataset_version": first.dataset_version,
                    "task": first.task, "entries": len(results)})
    pairs = session.exec(select(BenchmarkResult.dataset_id, BenchmarkResult.task, BenchmarkResult.model_version_id)
                         .distinct()).all()
    counts: dict[tuple[str, str], int] = {}
    for dataset_id, task, _v in pairs:
        counts[(dataset_id, task)] = counts.get((dataset_id, task), 0) + 1
    for (dataset_id, task), n in sorted(counts.items()):
        try:
            dataset = datasets.get_dataset(session=session, actor=actor, dataset_id=dataset_id)
        except AISystemError:
            continue
        out.append({"name": f"{dataset.name} · {task}", "kind": "default", "dataset_id": dataset_id,
                    "dataset_name": dataset.name, "dataset_version": None, "task": task, "entries": n})
    return out


def submit(*, session: Session, actor: Principal, result_id: str, board: str, note: str | None = None) -> dict[str, Any]:
    """Add one of your results to a named public leaderboard (its first submission fixes its dataset and
    task; BENCH_005 for a result of another dataset or task, or one already on the board)."""
    authorize(actor, "benchmark:submit")
    result = session.get(BenchmarkResult, result_id)
    if result is None or (result.created_by != actor.user_id and not actor.is_admin):
        raise AISystemError("BENCH_001", "No such benchmark result", {"resultId": str(result_id)[:60]})
    existing = session.exec(select(LeaderboardEntry, BenchmarkResult)
                            .join(BenchmarkResult, BenchmarkResult.id == LeaderboardEntry.result_id)
                            .where(LeaderboardEntry.leaderboard == board)
                            .order_by(LeaderboardEntry.submitted_at, LeaderboardEntry.id)).all()
    if existing:
        first = existing[0][1]
        if (first.dataset_id, first.task) != (result.dataset_id, result.task):
            raise AISystemError("BENCH_005", f"Leaderboard '{board}' ranks {first.task} on dataset {first.dataset_id}; "
                                "this result is of another dataset or task",
                                {"leaderboard": board, "datasetId": first.dataset_id, "task": first.task})
        if any(e.result_id == result.id for e, _r in existing):
            raise AISystemError("BENCH_005", f"This result is already on leaderboard '{board}'",
                                {"leaderboard": board, "resultId": result.id})
    entry = LeaderboardEntry(id=new_id("lbe"), leaderboard=board, result_id=result.id, note=note,
                             submitted_by=actor.user_id)
    session.add(entry)
    session.flush()
    audit.record(session=session, actor=actor, action="benchmark.submit", entity_type="benchmark",
                 entity_id=result.run_id, summary={"leaderboard": board, "resultId": result.id})
    metric, higher = _metric(result.task, None)
    ranked = _ranked([r for _e, r in existing] + [result], metric, higher)
    rank = next(rank for rank, r in ranked if r.id == result.id)
    return {"id": entry.id, "leaderboard": board, "result_id": result.id, "rank": rank,
            "submitted_at": entry.submitted_at}


def rankings(*, session: Session, actor: Principal, task: str | None = None,
             dataset_id: str | None = None) -> dict[str, Any]:
    """Models ranked per task by their best result (the task's primary metric) over their versions'
    newest results on every dataset (or on `dataset_id`): models you may read."""
    authorize(actor, "benchmark:read")
    query = select(BenchmarkResult)
    if task is not None:
        query = query.where(BenchmarkResult.task == task)
    if dataset_id is not None:
        query = query.where(BenchmarkResult.dataset_id == dataset_id)
    results = list(session.exec(query).all())
    newest: dict[tuple[str, str, int, str], BenchmarkResult] = {}
    for r in results:
        key = (r.model_version_id, r.dataset_id, r.dataset_version, r.task)
        if key not in newest or (r.created_at, r.id) > (newest[key].created_at, newest[key].id):
            newest[key] = r
    readable: dict[str, bool] = {}

    def may_read(model_id: str) -> bool:
        if model_id not in readable:
            try:
                registry.get_model(session=session, actor=actor, model_id=model_id)
                readable[model_id] = True
            except AISystemError:
                readable[model_id] = False
        return readable[model_id]

    out = []
    for each in sorted({r.task for r in newest.values()}):
        metric, higher = measure.PRIMARY[each]
        best: dict[str, BenchmarkResult] = {}
        for r in newest.values():
            if r.task != each or r.metrics.get(metric) is None or not may_read(r.model_id):
                continue
            current = best.get(r.model_id)
            value = r.metrics[metric]
            if current is None or (value > current.metrics[metric] if higher else value < current.metrics[metric]):
                best[r.model_id] = r
        names = _names(session, set(best))
        ranked = _ranked(list(best.values()), metric, higher)
        out.append({"task": each, "metric": metric, "higher_is_better": higher, "models": [
            {"rank": rank, "model_id": r.model_id, "model_name": names.get(r.model_id, r.model_id), "version": r.version,
             "model_version_id": r.model_version_id, "result_id": r.id, "dataset_id": r.dataset_id,
             "dataset_version": r.dataset_version, "value": r.metrics.get(metric)} for rank, r in ranked]})
    return {"tasks": out}


def latest_results(session: Session, *, version_ids: list[str]) -> dict[str, dict[str, float]]:
    """Version id -> metric key -> value of each version's newest result, whichever dataset it was measured on
    (a version benchmarked on several datasets reports the one measured last). Versions never benchmarked are
    absent; metrics that do not apply (ROC-AUC of a multi-class model) are left out. No authorization here:
    the caller (the comparison service) has authorized its reader."""
    if not version_ids:
        return {}
    results = session.exec(select(BenchmarkResult).where(col(BenchmarkResult.model_version_id).in_(list(version_ids)))).all()
    return {r.model_version_id: {k: float(v) for k, v in r.metrics.items() if v is not None}
            for r in _newest_per_version(results)}


def latest_result_rows(session: Session, *, version_ids: list[str]) -> dict[str, BenchmarkResult]:
    """Version id -> the newest result row, the one `latest_results` reports (the comparison reads its
    dataset version, split and per-row samples reference). No authorization here, as `latest_results`."""
    if not version_ids:
        return {}
    results = session.exec(select(BenchmarkResult).where(col(BenchmarkResult.model_version_id).in_(list(version_ids)))).all()
    return {r.model_version_id: r for r in _newest_per_version(results)}


def count_results(session: Session) -> int:
    from sqlalchemy import func

    return int(session.exec(select(func.count()).select_from(BenchmarkResult)).one())


# --- a speed sweep now -------------------------------------------------------------------------------


def inference_speed(*, session: Session, actor: Principal, version_ids: Sequence[str], dataset_id: str | None = None,
                    dataset_version: int | None = None, batch_sizes: Sequence[int] = measure.BATCH_SIZES,
                    repetitions: int = 50, warmup: int = 3) -> dict[str, Any]:
    """Time the versions now, in this process (latency percentiles and throughput per batch size) on rows of
    the dataset (each version's training dataset when none is named). Nothing is stored."""
    authorize(actor, "benchmark:create")
    versions = _versions(session, actor, version_ids)
    device = measure.worker_device()
    out = []
    for row, model, config in versions:
        source_id, source_version = dataset_id, dataset_version
        if source_id is None:
            source = config.get("dataset") or {}
            source_id, source_version = source.get("datasetId"), source_version or source.get("version")
            if not source_id:
                raise unfit(f"Name a dataset to time {model.name} {row.version} on: its package names none",
                            versionId=row.id, reason="no_dataset", field="datasetId")
        dataset, ds_row = _dataset_version(session, actor, source_id, source_version)
        schema = _schema(session, dataset.id, ds_row.number)
        problems = schema_problems(config, schema)
        problems.pop("missingLabel", None)  # timing needs the inputs only
        if problems:
            check_schema({**config, "label": {}}, schema, version_id=row.id, name=f"{model.name} {row.version}")
        inputs = [c["name"] for c in config["inputSchema"]["columns"]]
        _r, lazy = datasets.read_version_frame(session=session, dataset_id=dataset.id, version=ds_row.number)
        frame = lazy.select(inputs).head(max(batch_sizes) * 8).collect()
        if frame.height == 0:
            raise unfit("The dataset version has no rows", datasetId=dataset.id, reason="empty")
        loaded = serving.load_version(session=session, actor=actor, row=row)
        measure.place(loaded, device)
        typed = serving.typed_frame(config, frame)
        speed = measure.speed(loaded, typed, batch_sizes=batch_sizes, repetitions=repetitions, warmup=warmup)
        points = [{"batch_size": b, "throughput": speed[f"throughput_b{b}"],
                   "latency_ms": 1000 * b / speed[f"throughput_b{b}"]} for b in batch_sizes]
        out.append({"model_version_id": row.id, "model_id": model.id, "model_name": model.name, "version": row.version,
                    "latency_p50_ms": speed["latency_p50_ms"], "latency_p95_ms": speed["latency_p95_ms"],
                    "latency_p99_ms": speed["latency_p99_ms"], "points": points})
    return {"device": device.kind, "device_name": device.name, "repetitions": repetitions, "warmup": warmup,
            "versions": out, "measured_at": utcnow()}


# --- what the UI offers ------------------------------------------------------------------------------


def benchmarkable_versions(*, session: Session, actor: Principal) -> list[dict[str, Any]]:
    """Models you may read with versions holding a platform package, each version with its id and task."""
    authorize(actor, "benchmark:create")
    rows = session.exec(select(ModelVersion, RegisteredModel.name)
                        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
                        .where(ModelVersion.artifact_format == "safetensors", col(RegisteredModel.deleted_at).is_(None))
                        .order_by(RegisteredModel.name, col(ModelVersion.major).desc(), col(ModelVersion.minor).desc(),
                                  col(ModelVersion.patch).desc()).limit(500)).all()
    out = []
    for version, name in rows:
        config = serving.package_config(version)
        if config is None:
            continue
        try:
            registry.get_model(session=session, actor=actor, model_id=version.model_id)
        except AISystemError:
            continue
        out.append({"version_id": version.id, "model_id": version.model_id, "model_name": name,
                    "version": version.version, "task": config["task"],
                    "dataset_id": (config.get("dataset") or {}).get("datasetId")})
    return out
