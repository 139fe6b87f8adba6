"""Experiment tracking: experiments, runs and what runs log (params, metrics, tags, log lines, files).

Every function is keyword-only, session first, actor explicit; REST routes, the UI, the training
worker and (later) an MLflow-compatible edge call the same functions. Services only flush.

Who may do what: every holder of `experiment:read` sees every experiment and run (MLflow's default
READ for everyone). Changing an experiment, or starting runs in it, needs `experiment:write` and is
for its owner; logging to a run is for the run's own user or the experiment's owner; holders of
`experiment:manage` (ml_engineer, through `experiment:*`, and admins) may do both everywhere
(`experiment_access_rule`, an attribute rule). Deleting and restoring needs `experiment:delete`.

How the training piece uses this module (the platform's own runs):

    run = create_platform_run(session=, actor=, experiment_id=, name=, params={...})   # SCHEDULED
    job = jobs_service.create_job(..., payload={"runId": run.id, ...}); attach_job(session=, actor=, run_id=run.id, job_id=job.id)
    set_run_status(session=, actor=SYSTEM, run_id=, status="RUNNING")                 # the worker starts
    log_metrics(session=, actor=SYSTEM, run_id=, metrics=[(key, value, timestamp_ms, step), ...])  # batched
    append_logs(session=, actor=SYSTEM, run_id=, lines=[...]); store_run_artifact(...)
    discard_metrics_after(session=, actor=SYSTEM, run_id=, step=)                      # resuming a checkpoint
    set_run_status(session=, actor=SYSTEM, run_id=, status="FINISHED")                # or FAILED / KILLED

`start_run` is the branch point of `POST /catalog/experiments/{id}/runs`: it starts an external (manual)
run, or, given a training configuration, hands over to the training service, which creates the job and
the platform run through `create_platform_run`. `stop_run` is the other one: a training run stops
gracefully (the training service), any other run with a job asks the job to end (`_stop_job`).
The search language of run lists (filters, sorts, cursors) is in `search.py`.
"""

from __future__ import annotations

import json
import math
import numbers
import posixpath
import re
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.principal import SYSTEM, Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.experiments.models import (
    ACTIVE_RUN_STATUSES,
    RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    Experiment,
    ExperimentTag,
    LatestMetric,
    Metric,
    Param,
    Run,
    RunArtifact,
    RunLog,
    RunTag,
)
from backend.catalog.experiments.schemas import (
    INT64,
    MAX_LOG_LINE,
    MAX_LOG_LINES_PER_BATCH,
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VALUE,
    MAX_PARAMS_PER_BATCH,
    MAX_TAG_VALUE,
    MAX_TAGS_PER_BATCH,
    BestValue,
    ComparedExperiment,
    CompareMetric,
    CompareRequest,
    CompareResult,
    Curve,
    ExperimentCreate,
    ExperimentUpdate,
    Leaderboard,
    LeaderboardEntry,
    MetricHistory,
    MetricPoint,
    MetricSummary,
    ParameterDifference,
    RunBrief,
    RunCreate,
    RunMetrics,
    RunUpdate,
)
from backend.catalog.experiments.search import after_cursor, key_problem, parse_filter, sort_of
from backend.catalog.experiments.search import check_key as _check_key
from backend.catalog.model_registry import service as models_service
from backend.core import artifacts
from backend.core.authorization import authorize
from backend.core.db import is_sqlite, upsert
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, encode_cursor, paginate
from backend.core.timeutil import utcnow
from backend.core.unit_of_work import after_commit, after_rollback
from backend.jobs import service as jobs_service
from backend.jobs.models import Job
from backend.lineage import service as lineage

MANAGE = "experiment:manage"
ARTIFACT_ROOT = "runs"  # experiments' artifact location; a run's files go under runs/<run id>/artifacts
MAX_FLOAT = 1.7976931348623157e308  # what MLflow's SQL store keeps for +/-inf
OBJECTIVE = re.compile(r"^(maximize|minimize)_(.+)$")
# Metric names read as lower-is-better where nothing says otherwise (compare, leaderboard).
LOWER_IS_BETTER = re.compile(r"loss|error|err$|rmse|mse|mae|mape|perplexity|latency|duration|wer$|cer$", re.I)
MAX_HISTORY_POINTS = 100_000  # a history read without downsampling returns at most this many points
MAX_EXPERIMENT_TAGS = 100
DEFAULT_CURVES = 4  # a compare without `curves` returns the first four metrics' histories: a 2 × 2 grid of panels
MAX_CONFIGURATION_BYTES = 64 * 1024
EXPERIMENT_SORTS = {"createdAt": "created_at", "updatedAt": "updated_at", "name": "name"}


# --- errors and lookups ----------------------------------------------------------------------------------


def experiment_not_found(experiment_id: object) -> AISystemError:
    return AISystemError("EXP_001", "No such experiment", {"experimentId": str(experiment_id)[:64]})


def run_not_found(run_id: object) -> AISystemError:
    return AISystemError("EXP_002", "No such run", {"runId": str(run_id)[:64]})


def _run_state_conflict(run: Run, message: str) -> AISystemError:
    return AISystemError("EXP_003", message, {"runId": run.id, "status": run.status,
                                              "lifecycleStage": run.lifecycle_stage})


def _experiment_deleted(experiment: Experiment) -> AISystemError:
    return AISystemError("EXP_006", "The experiment is deleted; restore it first",
                         {"experimentId": experiment.id, "lifecycleStage": experiment.lifecycle_stage})


def _id_like(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 64


def experiment_access_rule(principal: Principal, permission: str, resource: object | None) -> str | None:
    """Changing an experiment or a run is for its owner (a run's also for its own user) and for holders of
    `experiment:manage`; reading is for every holder of `experiment:read`."""
    if not permission.startswith("experiment:") or permission == "experiment:read":
        return None
    if isinstance(resource, Experiment):
        owner = resource.created_by == principal.user_id
    elif isinstance(resource, Run):
        if resource.user_id == principal.user_id:
            return None
        session = object_session(resource)
        experiment = session.get(Experiment, resource.experiment_id) if session is not None else None
        owner = experiment is not None and experiment.created_by == principal.user_id
    else:
        return None
    if owner or principal.can(MANAGE):
        return None
    return "only its owner and experiment managers may change it"


def get_experiment(*, session: Session, actor: Principal, experiment_id: str, need: str = "read") -> Experiment:
    """The experiment (deleted ones too: they can be read and restored); EXP_001 when there is none,
    AUTH_002 when `actor` may not do `need` with it."""
    experiment = session.get(Experiment, experiment_id) if _id_like(experiment_id) else None
    if experiment is None:
        raise experiment_not_found(experiment_id)
    authorize(actor, f"experiment:{need}", experiment)
    return experiment


def _live_experiment(session: Session, actor: Principal, experiment_id: str, need: str = "write") -> Experiment:
    experiment = get_experiment(session=session, actor=actor, experiment_id=experiment_id, need=need)
    if experiment.lifecycle_stage != "active":
        raise _experiment_deleted(experiment)
    return experiment


def get_run(*, session: Session, actor: Principal, run_id: str, need: str = "read") -> Run:
    """The run; EXP_002 when there is none, AUTH_002 when `actor` may not do `need` with it."""
    run = session.get(Run, run_id) if _id_like(run_id) else None
    if run is None:
        raise run_not_found(run_id)
    authorize(actor, f"experiment:{need}", run)
    return run


def _live_run(session: Session, actor: Principal, run_id: str) -> Run:
    """A run that may be logged to and changed: not deleted (MLflow's "active" lifecycle stage)."""
    run = get_run(session=session, actor=actor, run_id=run_id, need="write")
    if run.lifecycle_stage != "active":
        raise _run_state_conflict(run, "The run is deleted; restore its experiment first")
    return run


def count_experiments(session: Session) -> int:
    """Experiments not deleted (a platform statistic)."""
    return session.exec(select(func.count()).select_from(Experiment)
                        .where(Experiment.lifecycle_stage == "active")).one()


# --- small helpers -----------------------------------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def ms_to_datetime(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


def _as(model: type, data: Any) -> Any:
    return data if isinstance(data, model) else model.model_validate(data)


def _problems(message: str, problems: dict[str, str]) -> InvalidRequest:
    return InvalidRequest(message, dict(list(problems.items())[:20]))


def objective_of(objective: str | None) -> tuple[str, str] | None:
    """(metric, "max" | "min") of `maximize_<metric>` / `minimize_<metric>`, or None."""
    match = OBJECTIVE.match(objective or "")
    if not match:
        return None
    return match.group(2), "max" if match.group(1) == "maximize" else "min"


def default_goal(key: str) -> str:
    return "min" if LOWER_IS_BETTER.search(key) else "max"


def _text_value(value: object, limit: int, field: str) -> str:
    """A param or tag value as MLflow stores it: its text (numbers and booleans as Python writes them)."""
    if isinstance(value, str | bool | int | float):
        text = value if isinstance(value, str) else str(value)
    else:
        raise InvalidRequest(f"Invalid value in {field}", {field: "must be a string, a number or a boolean"})
    if len(text) > limit:
        raise InvalidRequest(f"Value too long in {field}", {field: f"at most {limit} characters, got {len(text)}"})
    return text


def _out(value: float, is_nan: bool) -> float | str:
    return "NaN" if is_nan or value != value else value


# --- experiments ---------------------------------------------------------------------------------------------


def _check_references(session: Session, actor: Principal, model_id: str | None, dataset_id: str | None) -> None:
    """The model and dataset named exist and `actor` may see them (MODEL_001, DATA_001 otherwise)."""
    if model_id is not None:
        models_service.get_model(session=session, actor=actor, model_id=model_id)
    if dataset_id is not None:
        datasets_service.get_dataset(session=session, actor=actor, dataset_id=dataset_id)


def _check_objective(objective: str | None) -> None:
    parsed = objective_of(objective)
    if objective is not None and (parsed is None or key_problem(parsed[0])):
        raise InvalidRequest("The objective is not valid",
                             {"objective": "maximize_<metric> or minimize_<metric>, with a valid metric name"})


def _check_configuration(configuration: dict[str, Any]) -> None:
    try:
        size = len(json.dumps(configuration, allow_nan=False))
    except ValueError as exc:
        raise InvalidRequest("The configuration is not valid JSON", {"configuration": "no NaN or Infinity"}) from exc
    if size > MAX_CONFIGURATION_BYTES:
        raise InvalidRequest("The configuration is too large",
                             {"configuration": f"at most {MAX_CONFIGURATION_BYTES} bytes of JSON"})


def _check_name_free(session: Session, name: str, experiment_id: str | None = None) -> None:
    other = session.exec(select(Experiment.id).where(Experiment.name == name)).first()
    if other is not None and other != experiment_id:
        raise AISystemError("EXP_004", "An experiment with this name exists", {"name": name})


def _set_experiment_tags(session: Session, experiment_id: str, tags: Mapping[str, str | None]) -> None:
    for key, value in tags.items():
        _check_key(key, f"tags.{key}"[:300])
        row = session.get(ExperimentTag, (experiment_id, key))
        if value is None:
            if row is not None:
                session.delete(row)
            continue
        text = _text_value(value, MAX_TAG_VALUE, f"tags.{key}")
        if row is None:
            session.add(ExperimentTag(experiment_id=experiment_id, key=key, value=text))
        elif row.value != text:
            row.value = text
            session.add(row)
    session.flush()
    count = session.exec(select(func.count()).select_from(ExperimentTag)
                         .where(ExperimentTag.experiment_id == experiment_id)).one()
    if count > MAX_EXPERIMENT_TAGS:
        raise InvalidRequest("Too many tags", {"tags": f"an experiment has at most {MAX_EXPERIMENT_TAGS} tags"})


def _flush_audited(session: Session, actor: Principal, experiment: Experiment, action: str,
                   summary: dict[str, Any]) -> None:
    """Flush the experiment with its audit record in one savepoint (the audit rule is checked when a
    savepoint is released); a name taken by a concurrent transaction is EXP_004, not a database error."""
    try:
        with session.begin_nested():
            session.flush()
            audit.record(session=session, actor=actor, action=action, entity_type="experiment",
                         entity_id=experiment.id, summary=summary)
    except IntegrityError as exc:
        raise AISystemError("EXP_004", "An experiment with this name exists", {"name": experiment.name}) from exc


def create_experiment(*, session: Session, actor: Principal, data: ExperimentCreate | dict) -> Experiment:
    """Create an experiment owned by `actor` (EXP_004 when the name is taken)."""
    authorize(actor, "experiment:create")
    data = _as(ExperimentCreate, data)
    _check_objective(data.objective)
    _check_configuration(data.configuration)
    _check_references(session, actor, data.model_id, data.dataset_id)
    _check_name_free(session, data.name)
    now = utcnow()
    experiment = Experiment(
        id=new_id("experiment"), name=data.name, description=data.description, artifact_location=ARTIFACT_ROOT,
        model_id=data.model_id, dataset_id=data.dataset_id, type=data.type, task=data.task,
        objective=data.objective, configuration=data.configuration, created_by=actor.user_id, created_at=now,
        updated_at=now,
    )
    session.add(experiment)
    _flush_audited(session, actor, experiment, "experiment.create", {"name": experiment.name, "type": experiment.type})
    _set_experiment_tags(session, experiment.id, data.tags)
    return experiment


def list_experiments(
    *, session: Session, actor: Principal, params: PageParams, q: str | None = None,
    type: str | None = None, status: str | None = None, task: str | None = None,  # noqa: A002
    model_id: str | None = None, dataset_id: str | None = None, created_by: str | None = None,
    lifecycle_stage: str = "active", sort: str = "-createdAt",
) -> tuple[list[Experiment], str | None]:
    """A keyset page of experiments, filtered; `sort` is createdAt, updatedAt or name (`-` descending)."""
    authorize(actor, "experiment:read")
    query = select(Experiment)
    if lifecycle_stage != "all":
        query = query.where(Experiment.lifecycle_stage == lifecycle_stage)
    if q:
        query = query.where(col(Experiment.name).icontains(q, autoescape=True))
    for column, value in ((Experiment.type, type), (Experiment.status, status), (Experiment.task, task),
                          (Experiment.model_id, model_id), (Experiment.dataset_id, dataset_id),
                          (Experiment.created_by, created_by)):
        if value is not None:
            query = query.where(column == value)
    descending = sort.startswith("-")
    field = EXPERIMENT_SORTS.get(sort.lstrip("-"))
    if field is None:
        raise InvalidRequest("Unknown sort", {"sort": f"one of {', '.join(EXPERIMENT_SORTS)} (- for descending)"})
    first = getattr(Experiment, field)
    parse = [str if field == "name" else datetime.fromisoformat, str]
    return paginate(session, query, params=params, order=[first, Experiment.id], descending=descending, parse=parse)


def update_experiment(*, session: Session, actor: Principal, experiment_id: str,
                      data: ExperimentUpdate | dict) -> Experiment:
    """Change the fields sent; tags are merged (None removes one). EXP_006 on a deleted experiment."""
    experiment = _live_experiment(session, actor, experiment_id)
    data = _as(ExperimentUpdate, data)
    fields = data.model_fields_set
    for required in ("name", "type"):
        if required in fields and getattr(data, required) is None:
            raise InvalidRequest("A required field cannot be cleared", {required: "must not be null"})
    if "objective" in fields:
        _check_objective(data.objective)
    if "configuration" in fields:
        _check_configuration(data.configuration or {})
    _check_references(session, actor, data.model_id if "model_id" in fields else None,
                      data.dataset_id if "dataset_id" in fields else None)
    changed = []
    for field in ("name", "description", "model_id", "dataset_id", "type", "task", "objective", "configuration"):
        if field in fields:
            value = getattr(data, field)
            if field == "description" and value is None:
                value = ""
            if field == "configuration" and value is None:
                value = {}
            if getattr(experiment, field) != value:
                if field == "name":
                    _check_name_free(session, value, experiment.id)
                setattr(experiment, field, value)
                changed.append(field)
    if data.tags:
        changed.append("tags")
    if not changed:
        return experiment
    experiment.updated_at = utcnow()
    session.add(experiment)
    _flush_audited(session, actor, experiment, "experiment.update", {"fields": changed})
    if data.tags:
        _set_experiment_tags(session, experiment.id, data.tags)
    return experiment


def delete_experiment(*, session: Session, actor: Principal, experiment_id: str) -> Experiment:
    """Soft delete (MLflow's lifecycle stage `deleted`), its runs with it; `restore_experiment` undoes it.
    Refused (EXP_006) while one of its runs is driven by a job that is still scheduled or running."""
    experiment = get_experiment(session=session, actor=actor, experiment_id=experiment_id, need="delete")
    if experiment.lifecycle_stage != "active":
        raise AISystemError("EXP_006", "The experiment is already deleted", {"experimentId": experiment.id})
    busy = session.exec(select(Run.id).where(Run.experiment_id == experiment.id, Run.lifecycle_stage == "active",
                                             col(Run.job_id).is_not(None), col(Run.status).in_(ACTIVE_RUN_STATUSES))
                        .limit(1)).first()
    if busy is not None:
        raise AISystemError("EXP_006", "A training run of this experiment is still going; stop it first",
                            {"experimentId": experiment.id, "runId": busy})
    now = utcnow()
    experiment.lifecycle_stage, experiment.deleted_at, experiment.updated_at = "deleted", now, now
    session.add(experiment)
    runs = session.execute(update(Run).where(col(Run.experiment_id) == experiment.id,
                                             col(Run.lifecycle_stage) == "active")
                           .values(lifecycle_stage="deleted", deleted_at=now)).rowcount
    session.flush()
    audit.record(session=session, actor=actor, action="experiment.delete", entity_type="experiment",
                 entity_id=experiment.id, summary={"name": experiment.name, "runs": runs})
    return experiment


def restore_experiment(*, session: Session, actor: Principal, experiment_id: str) -> Experiment:
    """Undo a delete: the experiment and the runs deleted with it are active again."""
    experiment = get_experiment(session=session, actor=actor, experiment_id=experiment_id, need="delete")
    if experiment.lifecycle_stage == "active":
        raise AISystemError("EXP_006", "The experiment is not deleted", {"experimentId": experiment.id})
    runs = session.execute(update(Run).where(col(Run.experiment_id) == experiment.id,
                                             col(Run.lifecycle_stage) == "deleted",
                                             col(Run.deleted_at) == experiment.deleted_at)
                           .values(lifecycle_stage="active", deleted_at=None)).rowcount
    experiment.lifecycle_stage, experiment.deleted_at, experiment.updated_at = "active", None, utcnow()
    session.add(experiment)
    session.flush()
    audit.record(session=session, actor=actor, action="experiment.restore", entity_type="experiment",
                 entity_id=experiment.id, summary={"name": experiment.name, "runs": runs})
    return experiment


def _refresh_status(session: Session, experiment: Experiment) -> None:
    """The experiment's status, start and completion follow its runs (not deleted)."""
    session.flush()
    counts = dict(session.exec(select(Run.status, func.count()).where(
        Run.experiment_id == experiment.id, Run.lifecycle_stage == "active").group_by(Run.status)).all())
    if not counts:
        status = "created"
    elif any(counts.get(s) for s in ACTIVE_RUN_STATUSES):
        status = "running"
    elif counts.get("FINISHED"):
        status = "completed"
    elif counts.get("FAILED"):
        status = "failed"
    else:
        status = "stopped"
    started_at = experiment.started_at
    if started_at is None and counts:
        first = session.exec(select(func.min(Run.start_time)).where(Run.experiment_id == experiment.id)).one()
        started_at = ms_to_datetime(first)
    completed_at = experiment.completed_at
    if status in ("created", "running"):
        completed_at = None
    elif status != experiment.status or completed_at is None:
        completed_at = utcnow()
    if (status, started_at, completed_at) != (experiment.status, experiment.started_at, experiment.completed_at):
        experiment.status, experiment.started_at, experiment.completed_at = status, started_at, completed_at
        experiment.updated_at = utcnow()
        session.add(experiment)
        session.flush()


def experiment_documents(*, session: Session, experiments: Sequence[Experiment]) -> list[dict[str, Any]]:
    """Wire documents of a page of experiments (two queries for the page's tags and run counts)."""
    ids = [e.id for e in experiments]
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if ids:
        for experiment_id, key, value in session.exec(select(ExperimentTag.experiment_id, ExperimentTag.key,
                                                             ExperimentTag.value)
                                                      .where(col(ExperimentTag.experiment_id).in_(ids))).all():
            tags[experiment_id][key] = value
        for experiment_id, status, count in session.exec(
                select(Run.experiment_id, Run.status, func.count())
                .where(col(Run.experiment_id).in_(ids), Run.lifecycle_stage == "active")
                .group_by(Run.experiment_id, Run.status)).all():
            counts[experiment_id][status] = count
    now = utcnow()
    documents = []
    for experiment in experiments:
        duration = None
        if experiment.started_at is not None:
            duration = max(0.0, ((experiment.completed_at or now) - experiment.started_at).total_seconds())
        runs = counts.get(experiment.id, {})
        documents.append({
            "id": experiment.id, "name": experiment.name, "description": experiment.description,
            "modelId": experiment.model_id, "datasetId": experiment.dataset_id, "type": experiment.type,
            "task": experiment.task, "objective": experiment.objective, "status": experiment.status,
            "configuration": experiment.configuration, "tags": dict(sorted(tags.get(experiment.id, {}).items())),
            "artifactLocation": experiment.artifact_location, "lifecycleStage": experiment.lifecycle_stage,
            "createdBy": experiment.created_by, "createdAt": experiment.created_at,
            "updatedAt": experiment.updated_at, "startedAt": experiment.started_at,
            "completedAt": experiment.completed_at, "durationSeconds": duration, "deletedAt": experiment.deleted_at,
            "runCount": sum(runs.values()), "runCounts": dict(sorted(runs.items())), "bestRun": None,
        })
    return documents


def experiment_document(*, session: Session, experiment: Experiment) -> dict[str, Any]:
    """The wire document of one experiment, with its best run by the objective (when it has one)."""
    document = experiment_documents(session=session, experiments=[experiment])[0]
    objective = objective_of(experiment.objective)
    if objective:
        found = _best_runs(session, [experiment.id], objective[0], objective[1])
        if experiment.id in found:
            document["bestRun"] = run_brief(session, found[experiment.id][0])
    from backend import domains

    for add_parts in domains.hooks("experiment_document"):  # e.g. the optimisation's trials and best trial
        add_parts(session, experiment, document)
    return document


# --- runs -------------------------------------------------------------------------------------------------------


def _validated_run_inputs(params: Mapping[str, Any] | None, tags: Mapping[str, Any] | None
                          ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    param_rows = _validated_params([{"key": k, "value": v} for k, v in (params or {}).items()])
    tag_rows = _validated_tags([{"key": k, "value": v} for k, v in (tags or {}).items()])
    return param_rows, tag_rows


def _check_parent(session: Session, experiment: Experiment, parent_run_id: str | None) -> None:
    if parent_run_id is not None:
        parent = session.get(Run, parent_run_id) if _id_like(parent_run_id) else None
        if parent is None:
            raise run_not_found(parent_run_id)
        if parent.experiment_id != experiment.id:
            raise InvalidRequest("The parent run belongs to another experiment",
                                 {"parentRunId": "must be a run of the same experiment"})


def _create_run(session: Session, actor: Principal, experiment: Experiment, *, name: str | None, source: str,
                status: str, job_id: str | None, parent_run_id: str | None, start_time: int | None,
                params: list[dict[str, str]], tags: list[dict[str, str]]) -> Run:
    _check_parent(session, experiment, parent_run_id)
    if start_time is not None and not 0 <= start_time <= INT64:
        raise InvalidRequest("Invalid start time", {"startTime": "epoch milliseconds, not negative"})
    if name is None:
        count = session.exec(select(func.count()).select_from(Run).where(Run.experiment_id == experiment.id)).one()
        name = f"run-{count + 1}"
    run_id = new_id("run")
    run = Run(id=run_id, experiment_id=experiment.id, name=name, status=status,
              start_time=start_time if start_time is not None else now_ms(), user_id=actor.user_id,
              artifact_uri=f"{experiment.artifact_location}/{run_id}/artifacts", job_id=job_id, source=source,
              parent_run_id=parent_run_id)
    session.add(run)
    session.flush()
    _write_params(session, run.id, params)
    _write_tags(session, run.id, tags)
    lineage.record_entity(session=session, kind="run", ref=run.id, label=f"{run.name} ({experiment.name})")
    _refresh_status(session, experiment)
    audit.record(session=session, actor=actor, action="experiment.run.create", entity_type="run", entity_id=run.id,
                 summary={"experimentId": experiment.id, "name": run.name, "source": source, "status": status,
                          "jobId": job_id, "params": len(params), "tags": len(tags)})
    return run


def start_run(*, session: Session, actor: Principal, experiment_id: str, data: RunCreate | dict) -> Run:
    """Start a run in an experiment (`POST /catalog/experiments/{id}/runs`).

    Without a training configuration the run is external: a person or a script elsewhere logs into it
    (status RUNNING, source `external`). With one, the training service checks it and creates a training
    job in this experiment, whose run (status SCHEDULED, source `platform`, the job's id) is returned.
    """
    data = _as(RunCreate, data)
    experiment = _live_experiment(session, actor, experiment_id)
    params, tags = _validated_run_inputs(data.params, data.tags)
    if data.training is not None:
        return _start_training_run(session, actor, experiment, data, tags)
    return _create_run(session, actor, experiment, name=data.name, source="external", status="RUNNING", job_id=None,
                       parent_run_id=data.parent_run_id, start_time=data.start_time, params=params, tags=tags)


def _start_training_run(session: Session, actor: Principal, experiment: Experiment, data: RunCreate,
                        tags: list[dict[str, str]]) -> Run:
    """A training job inside the experiment; its run gets the request's tags and parent."""
    from backend.training import service as training  # lazy: training builds on this module

    problems = {"params": "a training run's params are its configuration"} if data.params else {}
    if data.start_time is not None:
        problems["startTime"] = "a training run starts when its job does"
    if problems:
        raise _problems("These fields do not go with a training configuration", problems)
    _check_parent(session, experiment, data.parent_run_id)
    job = training.create_training_job(session=session, actor=actor, data={
        **data.training.model_dump(by_alias=True, exclude_unset=True), "name": data.name,
        "experimentId": experiment.id})
    run = session.get(Run, job.run_id)
    platform_tags = set(session.exec(select(RunTag.key).where(RunTag.run_id == run.id)).all())
    taken = {row["key"]: "set by the platform for a training run" for row in tags if row["key"] in platform_tags}
    if taken:  # the caller's transaction is rolled back: no job is left behind
        raise _problems("Some tags are the platform's own", {f"tags.{k}": v for k, v in taken.items()})
    if data.parent_run_id is not None:
        run.parent_run_id = data.parent_run_id
        session.add(run)
        session.flush()
    _write_tags(session, run.id, tags)
    return run


def create_platform_run(*, session: Session, actor: Principal, experiment_id: str, name: str | None = None,
                        job_id: str | None = None, parent_run_id: str | None = None,
                        params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
                        status: str = "SCHEDULED") -> Run:
    """A run the platform starts (a training job, a tuning trial): source `platform`. `job_id` may come
    later through `attach_job` (create the run, then the job whose payload names it)."""
    if status not in ACTIVE_RUN_STATUSES:
        raise InvalidRequest("A platform run starts scheduled or running", {"status": "SCHEDULED or RUNNING"})
    experiment = _live_experiment(session, actor, experiment_id)
    param_rows, tag_rows = _validated_run_inputs(params, tags)
    return _create_run(session, actor, experiment, name=name, source="platform", status=status, job_id=job_id,
                       parent_run_id=parent_run_id, start_time=None, params=param_rows, tags=tag_rows)


def attach_job(*, session: Session, actor: Principal, run_id: str, job_id: str) -> Run:
    """Name the job that drives a platform run (once)."""
    run = _live_run(session, actor, run_id)
    if run.source != "platform":
        raise _run_state_conflict(run, "Only a platform run is driven by a job")
    if run.job_id not in (None, job_id):
        raise _run_state_conflict(run, "The run already has a job")
    if not _id_like(job_id) or session.get(Job, job_id) is None:
        raise AISystemError("JOB_001", "No such job", {"jobId": str(job_id)[:64]})
    if run.job_id is None:
        run.job_id = job_id
        session.add(run)
        session.flush()
        audit.record(session=session, actor=actor, action="experiment.run.job", entity_type="run", entity_id=run.id,
                     summary={"jobId": job_id})
    return run


def _ingest_counts(session: Session, run_id: str) -> dict[str, int]:
    points = session.exec(select(func.coalesce(func.sum(LatestMetric.count), 0))
                          .where(LatestMetric.run_id == run_id)).one()
    lines = session.exec(select(func.count()).select_from(RunLog).where(RunLog.run_id == run_id)).one()
    return {"metricPoints": int(points), "logLines": int(lines)}


def _change_status(session: Session, actor: Principal, run: Run, status: str, end_time: int | None,
                   action: str) -> Run:
    if status not in RUN_STATUSES:
        raise InvalidRequest("Unknown run status", {"status": f"one of {', '.join(RUN_STATUSES)}"})
    if end_time is not None and not 0 <= end_time <= INT64:
        raise InvalidRequest("Invalid end time", {"endTime": "epoch milliseconds, not negative"})
    before = run.status
    run.status = status
    run.end_time = (end_time if end_time is not None else now_ms()) if status in TERMINAL_RUN_STATUSES else None
    session.add(run)
    experiment = session.get(Experiment, run.experiment_id)
    _refresh_status(session, experiment)
    audit.record(session=session, actor=actor, action=action, entity_type="run", entity_id=run.id,
                 summary={"from": before, "to": status, **_ingest_counts(session, run.id)})
    return run


def set_run_status(*, session: Session, actor: Principal, run_id: str, status: str,
                   end_time: int | None = None) -> Run:
    """Set a run's status (MLflow's update_run / set_terminated); a terminal status sets `end_time`
    (default now), RUNNING or SCHEDULED clears it. For the platform's own runs (the training worker)."""
    run = _live_run(session, actor, run_id)
    return _change_status(session, actor, run, status, end_time, "experiment.run.status")


def update_run(*, session: Session, actor: Principal, run_id: str, data: RunUpdate | dict) -> Run:
    """`PUT /runs/{runId}`: rename, end or resume an external run. A platform run's status is its job's
    to set (EXP_003): stop it with `stop_run`."""
    data = _as(RunUpdate, data)
    run = _live_run(session, actor, run_id)
    if data.status is None and data.end_time is not None:
        raise InvalidRequest("endTime goes with a status", {"endTime": "send the status that ends the run"})
    if data.status is not None and run.source == "platform":
        raise _run_state_conflict(run, "A platform run's status follows its training job; stop it instead")
    if data.name is not None and data.name != run.name:
        old = run.name
        run.name = data.name
        session.add(run)
        session.flush()
        experiment = session.get(Experiment, run.experiment_id)
        lineage.record_entity(session=session, kind="run", ref=run.id, label=f"{run.name} ({experiment.name})")
        audit.record(session=session, actor=actor, action="experiment.run.rename", entity_type="run",
                     entity_id=run.id, summary={"from": old, "to": run.name})
    if data.status is not None and (data.status != run.status or data.end_time is not None):
        _change_status(session, actor, run, data.status, data.end_time, "experiment.run.status")
    return run


def _stop_job(session: Session, actor: Principal, run: Run) -> None:
    """Ask the job driving a platform run to end. The caller was authorized on the run; the job is
    cancelled on the platform's behalf (its creator may be someone else). Training replaces this with
    its graceful stop (end after a checkpoint, keep the best one)."""
    try:
        jobs_service.cancel_job(session=session, actor=SYSTEM, job_id=run.job_id)
    except AISystemError as exc:
        if exc.code not in ("JOB_001", "JOB_002"):  # gone or already ended: nothing to stop
            raise


def stop_run(*, session: Session, actor: Principal, run_id: str) -> Run:
    """Stop a scheduled or running run: it ends KILLED now (its job, if any, is asked to end).
    EXP_003 when the run has already ended or is deleted."""
    run = _live_run(session, actor, run_id)
    if run.status in TERMINAL_RUN_STATUSES:
        raise _run_state_conflict(run, f"The run has already ended ({run.status})")
    if run.job_id is not None:
        from backend.training import service as training  # lazy: training builds on this module

        if training.stop_for_run(session=session, run=run):
            return run  # a training run stops gracefully: it ends FINISHED with its best checkpoint
        _stop_job(session, actor, run)
    return _change_status(session, actor, run, "KILLED", None, "experiment.run.stop")


def _maps(session: Session, run_ids: Sequence[str]) -> tuple[dict, dict, dict]:
    """params, latest metric values and tags of these runs: {run id: {key: value}} each."""
    params: dict[str, dict[str, str]] = defaultdict(dict)
    metrics: dict[str, dict[str, float | str]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    ids = list(run_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for run_id, key, value in session.exec(select(Param.run_id, Param.key, Param.value)
                                               .where(col(Param.run_id).in_(chunk))).all():
            params[run_id][key] = value
        for run_id, key, value, is_nan in session.exec(
                select(LatestMetric.run_id, LatestMetric.key, LatestMetric.value, LatestMetric.is_nan)
                .where(col(LatestMetric.run_id).in_(chunk))).all():
            metrics[run_id][key] = _out(value, is_nan)
        for run_id, key, value in session.exec(select(RunTag.run_id, RunTag.key, RunTag.value)
                                               .where(col(RunTag.run_id).in_(chunk))).all():
            tags[run_id][key] = value
    return params, metrics, tags


def _run_doc(run: Run, params: dict, metrics: dict, tags: dict) -> dict[str, Any]:
    end = run.end_time if run.end_time is not None else None
    return {
        "id": run.id, "experimentId": run.experiment_id, "name": run.name, "status": run.status,
        "source": run.source, "jobId": run.job_id, "parentRunId": run.parent_run_id, "userId": run.user_id,
        "startTime": run.start_time, "endTime": run.end_time, "startedAt": ms_to_datetime(run.start_time),
        "endedAt": ms_to_datetime(end), "durationSeconds": None if end is None else max(0, end - run.start_time) / 1000,
        "lifecycleStage": run.lifecycle_stage, "artifactUri": run.artifact_uri,
        "params": dict(sorted(params.items())), "metrics": dict(sorted(metrics.items())),
        "tags": dict(sorted(tags.items())),
    }


def run_documents(*, session: Session, runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Wire documents of a page of runs (three queries for the page's params, metrics and tags)."""
    params, metrics, tags = _maps(session, [r.id for r in runs])
    return [_run_doc(r, params.get(r.id, {}), metrics.get(r.id, {}), tags.get(r.id, {})) for r in runs]


def run_document(*, session: Session, run: Run) -> dict[str, Any]:
    return run_documents(session=session, runs=[run])[0]


def run_brief(session: Session, run: Run) -> RunBrief:
    params, metrics, _tags = _maps(session, [run.id])
    return RunBrief(id=run.id, name=run.name, status=run.status, parameters=dict(sorted(params[run.id].items())),
                    metrics=dict(sorted(metrics[run.id].items())))


# --- logging: params, tags, metrics -------------------------------------------------------------------------


def _field_of(item: Any, name: str, default: Any = None) -> Any:
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def _validated_params(params: Sequence[Any]) -> list[dict[str, str]]:
    if len(params) > MAX_PARAMS_PER_BATCH:
        raise InvalidRequest("Too many params in one batch",
                             {"params": f"at most {MAX_PARAMS_PER_BATCH} per batch, got {len(params)}"})
    rows, seen, problems = [], {}, {}
    for i, item in enumerate(params):
        key, value = _field_of(item, "key"), _field_of(item, "value")
        problem = key_problem(key)
        if problem:
            problems[f"params[{i}].key"] = problem
            continue
        if key in seen:
            problems[f"params[{i}].key"] = f"duplicate key '{key}' (also params[{seen[key]}]); log a param once"
            continue
        seen[key] = i
        try:
            rows.append({"key": key, "value": _text_value(value, MAX_PARAM_VALUE, f"params[{i}].value")})
        except InvalidRequest as exc:
            problems.update({f["field"]: f["message"] for f in exc.details["fields"]})
    if problems:
        raise _problems("Invalid params", problems)
    return rows


def _validated_tags(tags: Sequence[Any]) -> list[dict[str, str]]:
    if len(tags) > MAX_TAGS_PER_BATCH:
        raise InvalidRequest("Too many tags in one batch",
                             {"tags": f"at most {MAX_TAGS_PER_BATCH} per batch, got {len(tags)}"})
    rows: dict[str, str] = {}
    problems = {}
    for i, item in enumerate(tags):
        key, value = _field_of(item, "key"), _field_of(item, "value")
        problem = key_problem(key)
        if problem:
            problems[f"tags[{i}].key"] = problem
            continue
        try:
            rows[key] = _text_value(value, MAX_TAG_VALUE, f"tags[{i}].value")  # the last value of a key wins
        except InvalidRequest as exc:
            problems.update({f["field"]: f["message"] for f in exc.details["fields"]})
    if problems:
        raise _problems("Invalid tags", problems)
    return [{"key": k, "value": v} for k, v in rows.items()]


_SPECIAL_VALUES = {"nan": math.nan, "infinity": math.inf, "inf": math.inf, "-infinity": -math.inf, "-inf": -math.inf,
                   "+infinity": math.inf, "+inf": math.inf}
METRIC_COLUMNS = ("run_id", "key", "value", "timestamp", "step", "is_nan")


def _metric_value(value: Any) -> float | None:
    """A metric value as a float (numbers of any kind, "NaN"/"Infinity"/"-Infinity"), or None if it is none."""
    if isinstance(value, str):
        return _SPECIAL_VALUES.get(value.strip().lower())
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        return float(value)
    except OverflowError:  # an int beyond the float range
        return math.inf if value > 0 else -math.inf


def _validated_metrics(run_id: str, metrics: Sequence[Any]) -> list[tuple]:
    """Rows (METRIC_COLUMNS) for the metric table: NaN is stored as 0 with is_nan, +/-inf as +/-MAX_FLOAT
    (MLflow's SQL store).

    Items are mappings or objects with key, value, timestamp (epoch ms; default now) and step (default
    0), or tuples (key, value[, timestamp[, step]]) for in-process callers that log fast. One loop with
    fast paths for plain floats and ints: validation must not cost more than the insert.
    """
    if len(metrics) > MAX_METRICS_PER_BATCH:
        raise InvalidRequest("Too many metrics in one batch",
                             {"metrics": f"at most {MAX_METRICS_PER_BATCH} points per batch, got {len(metrics)}"})
    now = now_ms()
    rows: list[tuple] = []
    append = rows.append
    good_keys: set[str] = set()
    problems: dict[str, str] = {}
    for i, item in enumerate(metrics):
        kind = type(item)
        if kind is dict:
            key, value, timestamp, step = item.get("key"), item.get("value"), item.get("timestamp"), item.get("step", 0)
        elif kind is tuple or kind is list:
            size = len(item)
            key = item[0] if size else None
            value = item[1] if size > 1 else None
            timestamp = item[2] if size > 2 else None
            step = item[3] if size > 3 else 0
        else:
            key, value = _field_of(item, "key"), _field_of(item, "value")
            timestamp, step = _field_of(item, "timestamp"), _field_of(item, "step", 0)
        if key not in good_keys:
            problem = key_problem(key)
            if problem:
                problems[f"metrics[{i}].key"] = problem
                continue
            good_keys.add(key)
        if type(value) is not float:
            value = _metric_value(value)
            if value is None:
                problems[f"metrics[{i}].value"] = 'a number, or "NaN", "Infinity", "-Infinity"'
                continue
        is_nan = value != value
        if is_nan:
            value = 0.0
        elif value > MAX_FLOAT or value < -MAX_FLOAT:  # +/-inf
            value = MAX_FLOAT if value > 0 else -MAX_FLOAT
        if timestamp is None:
            timestamp = now
        elif type(timestamp) is not int or not 0 <= timestamp <= INT64:
            problems[f"metrics[{i}].timestamp"] = "epoch milliseconds: a whole number, not negative"
            continue
        if step is None:
            step = 0
        elif type(step) is not int or not -INT64 <= step <= INT64:
            problems[f"metrics[{i}].step"] = "a whole number (64-bit)"
            continue
        append((run_id, key, value, timestamp, step, is_nan))
    if problems:
        raise _problems(f"Invalid metrics ({len(problems)} problem{'s' if len(problems) > 1 else ''})", problems)
    return rows


def _insert_many(session: Session, table: Any, columns: Sequence[str], rows: list[tuple]) -> None:
    """One INSERT executed for many rows by the driver (`executemany`) straight from tuples: SQLAlchemy's
    per-row parameter processing would cost more than the database's work."""
    connection = session.connection()
    dialect = connection.dialect
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if mark is None:  # a driver with another style: SQLAlchemy's own executemany
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    connection.exec_driver_sql(sql, rows)


def _write_params(session: Session, run_id: str, rows: list[dict[str, str]]) -> int:
    """Insert params; one already logged with the same value is fine, with another is EXP_005 (MLflow
    refuses changing a param). Race-safe: the insert skips existing keys, then every key is compared."""
    if not rows:
        return 0
    table = Param.__table__
    statement = upsert(session, table).on_conflict_do_nothing(index_elements=[table.c.run_id, table.c.key])
    session.execute(statement, [{"run_id": run_id, **row} for row in rows])
    wanted = {row["key"]: row["value"] for row in rows}
    stored = dict(session.exec(select(Param.key, Param.value).where(Param.run_id == run_id,
                                                                     col(Param.key).in_(list(wanted)))).all())
    changed = [key for key, value in wanted.items() if stored.get(key) != value]
    if changed:
        key = changed[0]
        raise AISystemError("EXP_005", f"Param '{key}' was already logged with another value; params never change",
                            {"runId": run_id, "key": key, "loggedValue": stored.get(key)[:200],
                             "newValue": wanted[key][:200], "keys": changed[:20]})
    return len(rows)


def _write_tags(session: Session, run_id: str, rows: list[dict[str, str]]) -> int:
    if not rows:
        return 0
    table = RunTag.__table__
    statement = upsert(session, table)
    statement = statement.on_conflict_do_update(index_elements=[table.c.run_id, table.c.key],
                                                set_={"value": statement.excluded.value})
    session.execute(statement, [{"run_id": run_id, **row} for row in rows])
    return len(rows)


def _newer(new: Any, old: Any):  # noqa: ANN202
    """MLflow's "latest": the higher step, then the later timestamp, then the larger value."""
    return or_(new.step > old.step, and_(new.step == old.step, new.timestamp > old.timestamp),
               and_(new.step == old.step, new.timestamp == old.timestamp, new.value > old.value))


def _smaller(a: Any, b: Any):  # noqa: ANN202
    """min(a, b) ignoring NULLs, the same on SQLite and PostgreSQL."""
    return case((a.is_(None), b), (b.is_(None), a), (b < a, b), else_=a)


def _larger(a: Any, b: Any):  # noqa: ANN202
    return case((a.is_(None), b), (b.is_(None), a), (b > a, b), else_=a)


def _write_metrics(session: Session, rows: list[tuple]) -> int:
    """All points in one executemany INSERT, then one upsert row per key into the latest-metric summary."""
    if not rows:
        return 0
    _insert_many(session, Metric.__table__, METRIC_COLUMNS, rows)
    summary: dict[tuple[str, str], list] = {}
    for run_id, key, value, timestamp, step, is_nan in rows:
        current = summary.get((run_id, key))
        finite = None if is_nan else value
        if current is None:  # [run_id, key, value, timestamp, step, is_nan, min, max, count]
            summary[(run_id, key)] = [run_id, key, value, timestamp, step, is_nan, finite, finite, 1]
            continue
        current[8] += 1
        if finite is not None:
            if current[6] is None or finite < current[6]:
                current[6] = finite
            if current[7] is None or finite > current[7]:
                current[7] = finite
        if (step, timestamp, value) > (current[4], current[3], current[2]):
            current[2:6] = [value, timestamp, step, is_nan]
    table = LatestMetric.__table__
    statement = upsert(session, table)
    new, old = statement.excluded, table.c
    newer = _newer(new, old)
    statement = statement.on_conflict_do_update(index_elements=[old.run_id, old.key], set_={
        "value": case((newer, new.value), else_=old.value),
        "timestamp": case((newer, new.timestamp), else_=old.timestamp),
        "step": case((newer, new.step), else_=old.step),
        "is_nan": case((newer, new.is_nan), else_=old.is_nan),
        "min_value": _smaller(old.min_value, new.min_value),
        "max_value": _larger(old.max_value, new.max_value),
        "count": old.count + new.count,
    })
    names = ("run_id", "key", "value", "timestamp", "step", "is_nan", "min_value", "max_value", "count")
    session.execute(statement, [dict(zip(names, row, strict=True)) for row in summary.values()])
    return len(rows)


@dataclass(frozen=True)
class BatchCounts:
    run_id: str
    metrics: int
    params: int
    tags: int


def log_batch(*, session: Session, actor: Principal, run_id: str, metrics: Sequence[Any] = (),
              params: Sequence[Any] = (), tags: Sequence[Any] = ()) -> BatchCounts:
    """MLflow's log_batch: validate everything first (REQ_001 naming each bad item), then params (EXP_005
    when one changes), tags (overwritten) and metric points (one INSERT). Params and tags are audited
    (one record per batch); metric points are not (see models.py)."""
    run = _live_run(session, actor, run_id)
    metric_rows = _validated_metrics(run.id, metrics)
    param_rows = _validated_params(params)
    tag_rows = _validated_tags(tags)
    counts = BatchCounts(run.id, _write_metrics(session, metric_rows), _write_params(session, run.id, param_rows),
                         _write_tags(session, run.id, tag_rows))
    if param_rows or tag_rows:
        audit.record(session=session, actor=actor, action="experiment.run.log", entity_type="run", entity_id=run.id,
                     summary={"params": [r["key"] for r in param_rows][:50], "tags": [r["key"] for r in tag_rows][:50],
                              "metricPoints": counts.metrics})
    return counts


def log_metrics(*, session: Session, actor: Principal, run_id: str, metrics: Sequence[Any]) -> int:
    """Log metric points (the training worker's fast path): one INSERT for the batch; the count stored."""
    return log_batch(session=session, actor=actor, run_id=run_id, metrics=metrics).metrics


def discard_metrics_after(*, session: Session, actor: Principal, run_id: str, step: int) -> int:
    """Remove the points logged after `step` and recompute the summary of the keys they belonged to:
    a training job resuming from a checkpoint at `step` logs those steps again, never twice."""
    run = _live_run(session, actor, run_id)
    keys = list(session.exec(select(Metric.key).where(Metric.run_id == run.id, Metric.step > step).distinct()).all())
    if not keys:
        return 0
    removed = session.execute(delete(Metric).where(col(Metric.run_id) == run.id, col(Metric.step) > step)).rowcount
    for key in keys:
        _recompute_latest(session, run.id, key)
    return removed


def _recompute_latest(session: Session, run_id: str, key: str) -> None:
    where = (Metric.run_id == run_id, Metric.key == key)
    latest = session.exec(select(Metric.value, Metric.timestamp, Metric.step, Metric.is_nan).where(*where).order_by(
        col(Metric.step).desc(), col(Metric.timestamp).desc(), col(Metric.value).desc()).limit(1)).first()
    row = session.get(LatestMetric, (run_id, key))
    if latest is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return
    low, high, count = session.exec(select(func.min(case((Metric.is_nan, None), else_=Metric.value)),
                                           func.max(case((Metric.is_nan, None), else_=Metric.value)),
                                           func.count()).where(*where)).one()
    row = row or LatestMetric(run_id=run_id, key=key, value=0.0, timestamp=0, step=0)
    row.value, row.timestamp, row.step, row.is_nan = latest
    row.min_value, row.max_value, row.count = low, high, count
    session.add(row)
    session.flush()


# --- metric reads ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    step: int
    timestamp: int
    value: float
    is_nan: bool


def downsample(points: Sequence[Point], limit: int) -> list[Point]:
    """At most `limit` points of a history for a chart: the first and the last, and of each of the
    equal-sized buckets between them the smallest and the largest value (so spikes survive), in order."""
    if limit < 2 or len(points) <= limit:
        return list(points)
    inner = points[1:-1]
    buckets = max(1, (limit - 2) // 2)
    kept = [points[0]]
    size = len(inner) / buckets
    for b in range(buckets):
        chunk = inner[int(b * size):int((b + 1) * size)]
        finite = [(i, p) for i, p in enumerate(chunk) if not p.is_nan]
        if not finite:
            if chunk:
                kept.append(chunk[0])
            continue
        low = min(finite, key=lambda ip: ip[1].value)
        high = max(finite, key=lambda ip: ip[1].value)
        kept.extend(p for _, p in sorted({low, high}, key=lambda ip: ip[0]))
    kept.append(points[-1])
    return kept


def _history(session: Session, run_id: str, key: str, max_points: int | None, min_step: int | None,
             max_step: int | None) -> tuple[list[Point], int]:
    table = Metric.__table__
    query = (select(table.c.step, table.c.timestamp, table.c.value, table.c.is_nan)
             .where(table.c.run_id == run_id, table.c.key == key))
    if min_step is not None:
        query = query.where(table.c.step >= min_step)
    if max_step is not None:
        query = query.where(table.c.step <= max_step)
    query = query.order_by(table.c.step, table.c.timestamp, table.c.id)
    if max_points is None:
        query = query.limit(MAX_HISTORY_POINTS)
    points = [Point(*row) for row in session.execute(query).all()]
    total = len(points)
    return (downsample(points, max_points) if max_points else points), total


def metric_history(*, session: Session, actor: Principal, run_id: str, key: str, max_points: int | None = None,
                   min_step: int | None = None, max_step: int | None = None) -> MetricHistory:
    """One metric's points in step order (then timestamp); `max_points` downsamples for a chart."""
    run = get_run(session=session, actor=actor, run_id=run_id)
    _check_key(key, "key")
    points, total = _history(session, run.id, key, max_points, min_step, max_step)
    return _history_doc(key, points, total)


def _history_doc(key: str, points: list[Point], total: int) -> MetricHistory:
    return MetricHistory(key=key, total_points=total, downsampled=len(points) < total, points=[
        MetricPoint(step=p.step, timestamp=p.timestamp, value=_out(p.value, p.is_nan)) for p in points])


def run_metrics(*, session: Session, actor: Principal, run_id: str, keys: Sequence[str] = (),
                max_points: int | None = None, min_step: int | None = None, max_step: int | None = None) -> RunMetrics:
    """Every metric's summary (latest, min, max, count) and the histories of `keys`."""
    run = get_run(session=session, actor=actor, run_id=run_id)
    keys = list(dict.fromkeys(keys))
    for i, key in enumerate(keys):
        _check_key(key, f"key[{i}]")
    rows = session.exec(select(LatestMetric).where(LatestMetric.run_id == run.id).order_by(LatestMetric.key)).all()
    summaries = [MetricSummary(key=r.key, value=_out(r.value, r.is_nan), step=r.step, timestamp=r.timestamp,
                               min=r.min_value, max=r.max_value, count=r.count) for r in rows]
    histories = []
    for key in keys:
        points, total = _history(session, run.id, key, max_points, min_step, max_step)
        histories.append(_history_doc(key, points, total))
    return RunMetrics(run_id=run.id, metrics=summaries, histories=histories)


# --- listing, sorting and searching runs ------------------------------------------------------------------------

def search_runs(
    *, session: Session, actor: Principal, experiment_ids: Sequence[str], params: PageParams,
    filter: str | None = None, status: str | None = None, sort: str = "-startTime",  # noqa: A002
    metric_value: str = "latest", lifecycle_stage: str = "active",
) -> tuple[list[Run], str | None]:
    """A keyset page of the runs of these experiments that pass `filter`, in `sort` order: an attribute,
    `metrics.<key>` (by its latest, min or max value: `metric_value`) or `params.<key>`; runs without
    the metric or param come last either way. Unknown experiments are EXP_001."""
    authorize(actor, "experiment:read")
    for experiment_id in experiment_ids:
        get_experiment(session=session, actor=actor, experiment_id=experiment_id)
    if metric_value not in ("latest", "min", "max"):
        raise InvalidRequest("Unknown metric value", {"metricValue": "latest, min or max"})
    spec = sort_of(sort, metric_value)
    value = spec.expression.label("sort_value")
    missing = case((spec.expression.is_(None), 1), else_=0)
    query = select(Run, value).where(col(Run.experiment_id).in_(list(experiment_ids)))
    if spec.join is not None:
        query = query.outerjoin(*spec.join)
    if lifecycle_stage != "all":
        query = query.where(Run.lifecycle_stage == lifecycle_stage)
    if status is not None:
        query = query.where(Run.status == status)
    if filter:
        query = query.where(*parse_filter(filter, sqlite=is_sqlite(session)))
    if params.cursor:
        query = query.where(after_cursor(params.cursor, spec, missing))
    direction = (lambda c: c.desc()) if spec.descending else (lambda c: c.asc())
    query = query.order_by(missing.asc(), direction(spec.expression), direction(col(Run.id))).limit(params.limit + 1)
    rows = session.exec(query).all()
    runs = [row[0] for row in rows]
    if len(rows) <= params.limit:
        return runs, None
    last_run, last_value = rows[params.limit - 1]
    cursor = encode_cursor([1 if last_value is None else 0, last_value, last_run.id])
    return runs[:params.limit], cursor


def list_runs(*, session: Session, actor: Principal, experiment_id: str, params: PageParams, **options: Any
              ) -> tuple[list[Run], str | None]:
    """The runs of one experiment (see `search_runs` for the options)."""
    return search_runs(session=session, actor=actor, experiment_ids=[experiment_id], params=params, **options)


# --- log lines -----------------------------------------------------------------------------------------------------


def append_logs(*, session: Session, actor: Principal, run_id: str, lines: Sequence[Any]) -> tuple[int, int]:
    """Store log lines (mappings or objects with message, level, timestamp) in one INSERT; returns how
    many and the id of the last one. Not audited: high-volume, like metric points."""
    run = _live_run(session, actor, run_id)
    if not lines:
        raise InvalidRequest("No log lines", {"lines": "send at least one line"})
    if len(lines) > MAX_LOG_LINES_PER_BATCH:
        raise InvalidRequest("Too many log lines in one batch",
                             {"lines": f"at most {MAX_LOG_LINES_PER_BATCH} per batch, got {len(lines)}"})
    now = now_ms()
    rows, problems = [], {}
    for i, line in enumerate(lines):
        message = line if isinstance(line, str) else _field_of(line, "message")
        level = "INFO" if isinstance(line, str) else (_field_of(line, "level") or "INFO")
        timestamp = None if isinstance(line, str) else _field_of(line, "timestamp")
        if not isinstance(message, str) or len(message) > MAX_LOG_LINE:
            problems[f"lines[{i}].message"] = f"text of at most {MAX_LOG_LINE} characters"
        elif level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            problems[f"lines[{i}].level"] = "DEBUG, INFO, WARNING, ERROR or CRITICAL"
        elif timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int)
                                        or not 0 <= timestamp <= INT64):
            problems[f"lines[{i}].timestamp"] = "epoch milliseconds"
        else:
            rows.append({"run_id": run.id, "timestamp": now if timestamp is None else timestamp, "level": level,
                         "message": message.replace("\x00", "")})
    if problems:
        raise _problems("Invalid log lines", problems)
    session.execute(insert(RunLog.__table__), rows)
    last = session.exec(select(func.max(RunLog.id)).where(RunLog.run_id == run.id)).one()
    return len(rows), int(last)


def read_logs(*, session: Session, actor: Principal, run_id: str, after: int | None = None, limit: int = 500,
              tail: int | None = None) -> dict[str, Any]:
    """Log lines in order: those after position `after` (following a live log), or the last `tail` ones."""
    run = get_run(session=session, actor=actor, run_id=run_id)
    table = RunLog.__table__
    query = select(table.c.id, table.c.timestamp, table.c.level, table.c.message).where(table.c.run_id == run.id)
    if tail is not None:
        rows = list(reversed(session.execute(query.order_by(table.c.id.desc()).limit(tail)).all()))
        more = False
    else:
        if after is not None:
            query = query.where(table.c.id > after)
        rows = session.execute(query.order_by(table.c.id).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
    last_id = rows[-1].id if rows else after
    return {"runId": run.id, "lines": [{"id": r.id, "timestamp": r.timestamp, "level": r.level, "message": r.message}
                                       for r in rows], "lastId": last_id, "more": more}


# --- artifacts ----------------------------------------------------------------------------------------------------


def check_artifact_path(path: str) -> str:
    """A run artifact's path: a relative path of safe parts (the store's key rule), 500 characters at most."""
    if not isinstance(path, str) or len(path) > 500:
        raise InvalidRequest("The artifact path is not valid", {"path": "a relative path of at most 500 characters"})
    try:
        return artifacts.check_key(path)
    except AISystemError as exc:
        raise InvalidRequest("The artifact path is not valid",
                             {"path": exc.message.removeprefix("The artifact key is not valid: ")}) from exc


def check_artifact_upload(*, session: Session, actor: Principal, run_id: str, path: str) -> Run:
    """Before the bytes arrive: the run exists, may be written by `actor` and the path is valid."""
    check_artifact_path(path)
    return _live_run(session, actor, run_id)


def _extension(path: str) -> str:
    suffix = posixpath.splitext(path)[1][1:].lower()
    return suffix if re.fullmatch(r"[a-z0-9]{1,10}", suffix) else "bin"


def store_run_artifact(*, session: Session, actor: Principal, run_id: str, path: str,
                       source: artifacts.Source, sha256: str | None = None, move: bool = False) -> RunArtifact:
    """Store a file of a run under `runs/<run id>/artifacts/` (content-addressed: a replaced path points at
    new bytes in one commit, and the old bytes go after it). `source` is bytes, a stream or a local file
    (`move` consumes it; `sha256` when its writer already hashed it, as an upload spool does)."""
    run = check_artifact_upload(session=session, actor=actor, run_id=run_id, path=path)
    stored = artifacts.get_store().put_blob(f"runs/{run.id}/artifacts", source, ext=_extension(path),
                                            move=move and isinstance(source, Path), sha256=sha256)
    row = session.exec(select(RunArtifact).where(RunArtifact.run_id == run.id, RunArtifact.path == path)).first()
    old_key = row.key if row is not None else None
    if stored.created:
        after_rollback(session, lambda: _remove_unreferenced(stored.key))
    if row is None:
        row = RunArtifact(id=new_id("runart"), run_id=run.id, path=path, key=stored.key, sha256=stored.sha256,
                          size=stored.size, created_by=actor.user_id)
    else:
        row.key, row.sha256, row.size = stored.key, stored.sha256, stored.size
        row.created_by, row.created_at = actor.user_id, utcnow()
    session.add(row)
    session.flush()
    if old_key and old_key != stored.key:
        after_commit(session, lambda: _remove_unreferenced(old_key))
    audit.record(session=session, actor=actor, action="experiment.run.artifact", entity_type="run", entity_id=run.id,
                 summary={"path": path, "size": stored.size, "sha256": stored.sha256,
                          "replaced": old_key is not None})
    return row


def _remove_unreferenced(key: str) -> None:
    """Delete a stored file unless a committed record still names it (same bytes at another path)."""
    from backend.core.db import session_scope

    with session_scope(write=False) as session:
        if session.exec(select(RunArtifact.id).where(RunArtifact.key == key).limit(1)).first() is None:
            artifacts.get_store().delete(key)


def list_run_artifacts(*, session: Session, actor: Principal, run_id: str,
                       prefix: str | None = None) -> tuple[Run, list[RunArtifact]]:
    run = get_run(session=session, actor=actor, run_id=run_id)
    query = select(RunArtifact).where(RunArtifact.run_id == run.id)
    if prefix:
        query = query.where(col(RunArtifact.path).startswith(prefix, autoescape=True))
    return run, list(session.exec(query.order_by(RunArtifact.path)).all())


def get_run_artifact(*, session: Session, actor: Principal, run_id: str, path: str) -> RunArtifact:
    """The record of one file of a run; ARTIFACT_002 when the run has no file at `path`."""
    run = get_run(session=session, actor=actor, run_id=run_id)
    row = session.exec(select(RunArtifact).where(RunArtifact.run_id == run.id, RunArtifact.path == path)).first()
    if row is None:
        raise AISystemError("ARTIFACT_002", "The run has no file at this path", {"runId": run.id, "path": path[:200]})
    return row


def recorded_files(session: Session) -> dict[str, str]:
    """Store key → sha256 of every run artifact (the `stored_files` hook of migrate-artifacts)."""
    return dict(session.exec(select(RunArtifact.key, RunArtifact.sha256)).all())


# --- compare and leaderboard -------------------------------------------------------------------------------------------


def _best_runs(session: Session, experiment_ids: Sequence[str], key: str, goal: str,
               aggregate: str = "latest") -> dict[str, tuple[Run, float]]:
    """Per experiment: its best run (not deleted) by `key` and that value (ties: the earlier run)."""
    column = {"latest": LatestMetric.value, "min": LatestMetric.min_value, "max": LatestMetric.max_value}[aggregate]
    ordering = col(column).desc() if goal == "max" else col(column).asc()
    found = {}
    for experiment_id in experiment_ids:
        query = (select(Run, column).join(LatestMetric, and_(LatestMetric.run_id == Run.id, LatestMetric.key == key))
                 .where(Run.experiment_id == experiment_id, Run.lifecycle_stage == "active", col(column).is_not(None)))
        if aggregate == "latest":
            query = query.where(LatestMetric.is_nan == False)  # noqa: E712
        row = session.exec(query.order_by(ordering, col(Run.start_time), col(Run.id)).limit(1)).first()
        if row is not None:
            found[experiment_id] = (row[0], row[1])
    return found


def compare_experiments(*, session: Session, actor: Principal, request: CompareRequest | dict) -> CompareResult:
    """Several experiments side by side: per metric the best latest value of each one's runs (and which
    run), each one's best run with its params (the parameters that differ between them first), and the
    best runs' curves, downsampled."""
    request = _as(CompareRequest, request)
    ids = list(dict.fromkeys(request.experiment_ids))
    if len(ids) < 2:
        raise InvalidRequest("Compare at least two experiments", {"experimentIds": "two different ids or more"})
    experiments = [get_experiment(session=session, actor=actor, experiment_id=i) for i in ids]
    for i, key in enumerate(request.metrics or []):
        _check_key(key, f"metrics[{i}]")
    if request.metric is not None:
        _check_key(request.metric, "metric")
    for key in request.goals:
        _check_key(key, f"goals.{key}"[:300])
    objectives = {e.id: objective_of(e.objective) for e in experiments}
    if request.metrics:
        keys = list(dict.fromkeys(request.metrics))
    else:
        logged = session.exec(select(LatestMetric.key).join(Run, Run.id == LatestMetric.run_id).where(
            col(Run.experiment_id).in_(ids), Run.lifecycle_stage == "active").distinct().order_by(LatestMetric.key)
            .limit(200)).all()
        preferred = [o[0] for o in objectives.values() if o and o[0] in logged]
        keys = list(dict.fromkeys([*preferred, *logged]))[:20]
    goals = {}
    for key in keys:
        named = [o[1] for o in objectives.values() if o and o[0] == key]
        goals[key] = request.goals.get(key) or (named[0] if named else default_goal(key))
    best: dict[str, dict[str, tuple[Run, float]]] = {key: _best_runs(session, ids, key, goals[key]) for key in keys}

    compared, best_runs = [], {}
    for experiment in experiments:
        objective = objectives[experiment.id]
        primary = request.metric or (objective[0] if objective else (keys[0] if keys else None))
        if primary is not None:
            goal = request.goals.get(primary) or (objective[1] if objective and objective[0] == primary
                                                  else goals.get(primary) or default_goal(primary))
            hit = (best.get(primary, {}).get(experiment.id) if goal == goals.get(primary)
                   else _best_runs(session, [experiment.id], primary, goal).get(experiment.id))
            if hit is not None:
                best_runs[experiment.id] = hit[0]
        run_count = session.exec(select(func.count()).select_from(Run).where(
            Run.experiment_id == experiment.id, Run.lifecycle_stage == "active")).one()
        brief = run_brief(session, best_runs[experiment.id]) if experiment.id in best_runs else None
        compared.append(ComparedExperiment(
            id=experiment.id, name=experiment.name, type=experiment.type, task=experiment.task,
            objective=experiment.objective, status=experiment.status, dataset_id=experiment.dataset_id,
            model_id=experiment.model_id, run_count=run_count, primary_metric=primary, best_run=brief,
            best_metrics={key: (BestValue(value=hit[1], run_id=hit[0].id) if (hit := best[key].get(experiment.id))
                                else None) for key in keys}))

    param_maps = {e.id: (c.best_run.parameters if c.best_run else {}) for e, c in zip(experiments, compared,
                                                                                     strict=True)}
    param_keys = sorted({k for m in param_maps.values() for k in m})
    differences = []
    for key in param_keys:
        values = {e.id: param_maps[e.id].get(key) for e in experiments}
        differences.append(ParameterDifference(key=key, values=values, differs=len(set(values.values())) > 1))
    differences.sort(key=lambda d: (not d.differs, d.key))

    curve_keys = list(dict.fromkeys(request.curves)) if request.curves is not None else keys[:DEFAULT_CURVES]
    for i, key in enumerate(curve_keys):
        _check_key(key, f"curves[{i}]")
    curves = []
    for experiment in experiments:
        run = best_runs.get(experiment.id)
        if run is None:
            continue
        for key in curve_keys:
            points, total = _history(session, run.id, key, request.curve_points, None, None)
            if total:
                history = _history_doc(key, points, total)
                curves.append(Curve(experiment_id=experiment.id, run_id=run.id, key=key, points=history.points,
                                    total_points=total, downsampled=history.downsampled))
    return CompareResult(metrics=[CompareMetric(key=k, goal=goals[k]) for k in keys], experiments=compared,
                         parameters=differences, curves=curves)


def leaderboard(*, session: Session, actor: Principal, metric: str, goal: str | None = None,
                aggregate: str = "latest", dataset_id: str | None = None, task: str | None = None,
                model_id: str | None = None, experiment_type: str | None = None, best_per_experiment: bool = False,
                limit: int = 20) -> Leaderboard:
    """The best finished runs across experiments by `metric` (its latest value, or its min or max over the
    run), best first; filtered by the experiments' dataset, task, model or type; `best_per_experiment`
    keeps each experiment's best run only. Ties go to the run that ended first."""
    authorize(actor, "experiment:read")
    _check_key(metric, "metric")
    goal = goal or default_goal(metric)
    column = {"latest": LatestMetric.value, "min": LatestMetric.min_value, "max": LatestMetric.max_value}[aggregate]
    query = (select(Run.id.label("run_id"), Run.experiment_id.label("experiment_id"), column.label("value"),
                    Run.end_time.label("end_time"))
             .join(LatestMetric, and_(LatestMetric.run_id == Run.id, LatestMetric.key == metric))
             .join(Experiment, Experiment.id == Run.experiment_id)
             .where(Run.status == "FINISHED", Run.lifecycle_stage == "active", Experiment.lifecycle_stage == "active",
                    col(column).is_not(None)))
    if aggregate == "latest":
        query = query.where(LatestMetric.is_nan == False)  # noqa: E712
    for field, value in ((Experiment.dataset_id, dataset_id), (Experiment.task, task),
                         (Experiment.model_id, model_id), (Experiment.type, experiment_type)):
        if value is not None:
            query = query.where(field == value)

    def ordering(value, end_time, run_id):  # noqa: ANN001, ANN202
        return [value.desc() if goal == "max" else value.asc(), end_time.asc(), run_id.asc()]

    if best_per_experiment:
        rank = func.row_number().over(partition_by=Run.experiment_id,
                                      order_by=ordering(column, col(Run.end_time), col(Run.id))).label("place")
        inner = query.add_columns(rank).subquery()
        query = select(inner.c.run_id, inner.c.experiment_id, inner.c.value).where(inner.c.place == 1).order_by(
            *ordering(inner.c.value, inner.c.end_time, inner.c.run_id))
    else:
        query = query.order_by(*ordering(column, col(Run.end_time), col(Run.id)))
    rows = session.execute(query.limit(limit)).all()
    runs = {r.id: r for r in session.exec(select(Run).where(col(Run.id).in_([row[0] for row in rows]))).all()}
    experiments = {e.id: e for e in session.exec(select(Experiment).where(
        col(Experiment.id).in_({row[1] for row in rows}))).all()}
    params, metrics, _tags = _maps(session, list(runs))
    entries = []
    for place, (run_id, experiment_id, value, *_rest) in enumerate(rows, start=1):
        run, experiment = runs[run_id], experiments[experiment_id]
        entries.append(LeaderboardEntry(
            rank=place, value=value,
            run=RunBrief(id=run.id, name=run.name, status=run.status, parameters=dict(sorted(params[run.id].items())),
                         metrics=dict(sorted(metrics[run.id].items()))),
            run_user_id=run.user_id, ended_at=ms_to_datetime(run.end_time), experiment_id=experiment.id,
            experiment_name=experiment.name, experiment_type=experiment.type, task=experiment.task,
            dataset_id=experiment.dataset_id, model_id=experiment.model_id))
    return Leaderboard(metric=metric, goal=goal, aggregate=aggregate, entries=entries)

