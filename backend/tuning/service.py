"""Hyperparameter optimisation of an experiment: check the configuration, start a study, advance it
event by event, and read its trials and best parameters.

A study never waits for its trials (workers run one job at a time, so a driver job waiting for trials
would hold the worker its trials need). Instead:

    start_study     asks Optuna for min(parallelTrials, maxTrials) trials and queues their training jobs
    training ends   the training service calls the `training_finished` hooks after its commit;
                    `training_finished` here runs the study's step inline, in the worker that ended
                    the job (a `tuning.advance` job when that step fails)
    advance         (idempotent, serialised per study by a row lock) tells Optuna each ended trial's
                    outcome (COMPLETE with the objective values, PRUNED, FAIL), asks for the next trials
                    until maxTrials have been asked, and marks the study completed when none is left

A trial's training job is an ordinary one: a lost worker resumes it from its checkpoint (training's own
resume), and a job that fails or is cancelled makes its trial FAIL while the study goes on. The
periodic `tuning.sweep` queues an advance for a study whose step was lost (a process that died between a
training job's commit and its hook). Who may: starting needs `experiment:write` on the experiment and
`training:create`; reading needs `experiment:read`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from typing import Any

from sqlmodel import Session, col, func, select

from backend.audit import service as audit
from backend.auth.models import User
from backend.auth.principal import SYSTEM, Principal
from backend.auth.service import principal_for
from backend.catalog.experiments import service as experiments
from backend.catalog.experiments.models import Experiment
from backend.catalog.model_registry import service as models_service
from backend.core.authorization import authorize
from backend.core.config import get_settings
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.timeutil import utcnow
from backend.jobs import service as jobs_service
from backend.ml.hyperparameters import invalid, parse
from backend.training import service as training
from backend.training.models import TERMINAL, TrainingJob
from backend.tuning import pbt, strategies
from backend.tuning.models import FINAL_TRIAL_STATUSES, Study, Trial
from backend.tuning.schemas import MAX_PARAMETERS, OptimizationConfiguration, OptimizeRequest

log = logging.getLogger(__name__)
ADVANCE_JOB = "tuning.advance"
# Metrics a trial's training job reports at its end (plus trainingSeconds, its wall time); the per-epoch
# ones (train_*, val_*) are also reported to Optuna each epoch, which pruning needs.
PER_EPOCH = tuple(f"{stage}_{name}" for stage in ("train", "val") for name in ("loss", "accuracy", "rmse"))
AT_END = (*PER_EPOCH, "test_loss", "test_accuracy", "test_rmse", "trainingSeconds", "epochs")
SHORT_NAMES = {"accuracy": "val_accuracy", "loss": "val_loss", "rmse": "val_rmse"}


def _as(model: type, data: Any) -> Any:
    return data if isinstance(data, model) else model.model_validate(data or {})


# --- checking a configuration -----------------------------------------------------------------------------------


def _field_names(family: str) -> dict[str, str]:
    """Every name a family's hyperparameter goes by (snake_case and camelCase) -> its camelCase name."""
    from backend.ml.families import get_family

    model = get_family(family).hyperparameters
    names: dict[str, str] = {}
    for name, info in model.model_fields.items():
        names[name] = names[info.alias or name] = info.alias or name
    return names


def _check_space(space: dict[str, Any], *, family: str, base: dict[str, Any], strategy: str) -> None:
    """Each range is well formed and inside what the family accepts (TRAIN_003 naming searchSpace.<name>)."""
    from backend.ml.families import get_family

    if not space:
        raise invalid("The search space is empty", fields={"searchSpace": "name at least one hyperparameter"})
    if len(space) > MAX_PARAMETERS:
        raise invalid("The search space is too large", fields={"searchSpace": f"at most {MAX_PARAMETERS} names"})
    names = _field_names(family)
    model = get_family(family).hyperparameters
    seen: dict[str, str] = {}
    for name, spec in space.items():
        field = f"searchSpace.{name}"
        if name not in names:
            known = ", ".join(sorted({v for v in names.values()}))
            raise invalid(f"Unknown hyperparameter {name[:80]!r} for {family}",
                          fields={field: f"not a {family} hyperparameter; known: {known}"})
        if names[name] in seen:
            raise invalid("A hyperparameter is named twice", fields={field: f"same as {seen[names[name]]}"})
        seen[names[name]] = name
        if strategy == strategies.PBT and names[name] == "maxEpochs":
            raise invalid("Population-based training sets the epochs itself",
                          fields={field: "not searchable with population_based_training (see population.roundEpochs)"})
        for value in _candidates(spec, field):
            _check_value(model, base, names[name], value, field)


def _candidates(spec: dict[str, Any], field: str) -> list[Any]:
    kind, low, high = spec["type"], spec.get("min"), spec.get("max")
    if kind == "choice":
        if spec.get("values") is None or low is not None or high is not None:
            raise invalid("A choice takes values only", fields={field: "choice: give `values`, no min or max"})
        if len({repr(v) for v in spec["values"]}) != len(spec["values"]):
            raise invalid("A choice repeats a value", fields={field: "values must differ"})
        return list(spec["values"])
    if spec.get("values") is not None:
        raise invalid(f"A {kind} range takes min and max, not values", fields={field: "use type choice for values"})
    if low is None or high is None:
        raise invalid(f"A {kind} range needs min and max", fields={field: "min and max are required"})
    if not (math.isfinite(low) and math.isfinite(high)):
        raise invalid("A range must be finite", fields={field: "min and max must be finite numbers"})
    if low > high:
        raise invalid("A range's min is above its max", fields={field: f"min {low:g} > max {high:g}"})
    if spec.get("scale") == "log" and low <= 0:
        raise invalid("A log-scale range must be positive", fields={field: "scale log needs min > 0"})
    if spec.get("scale") == "log" and spec.get("step") is not None:
        raise invalid("A log-scale range takes no step", fields={field: "drop step, or use scale linear"})
    if kind == "int":
        if low != int(low) or high != int(high) or (spec.get("step") is not None and spec["step"] != int(spec["step"])):
            raise invalid("An int range needs whole numbers", fields={field: "min, max and step must be integers"})
        return [int(low), int(high)]
    return [float(low), float(high)]


def _check_value(model: type, base: dict[str, Any], name: str, value: Any, field: str) -> None:
    try:
        parse(model, {**base, name: value}, what="search space")
    except AISystemError as exc:
        reasons = [f["message"] for f in exc.details.get("fields", []) if f["field"].split(".")[0] == name]
        if not reasons:
            raise
        raise invalid(f"The search space goes outside what {name} accepts",
                      fields={field: f"{value!r:.60}: {reasons[0]}"}) from None


def _objectives(config: OptimizationConfiguration, experiment_objective: str | None, task: str,
                early_stopping: bool) -> list[dict[str, str]]:
    if config.objectives:
        wanted = [(o.metric, o.direction) for o in config.objectives]
        field = "objectives"
    else:
        text = config.objective or experiment_objective or (
            "maximize_accuracy" if task == "classification" else "minimize_rmse")
        parsed = experiments.objective_of(text)
        if parsed is None:
            raise invalid("The objective is not valid",
                          fields={"objective": "maximize_accuracy, minimize_loss, or maximize_/minimize_<metric>"})
        wanted = [(parsed[0], "maximize" if parsed[1] == "max" else "minimize")]
        field = "objective"
    out = []
    for metric, direction in wanted:
        metric = SHORT_NAMES.get(metric, metric)
        if metric not in AT_END:
            raise invalid(f"Trials do not log the metric {metric[:80]!r}",
                          fields={field: "one of " + ", ".join(AT_END)})
        if ("accuracy" in metric and task == "regression") or ("rmse" in metric and task == "classification"):
            raise invalid(f"A {task} model does not log {metric}", fields={field: f"not logged for {task}"})
        out.append({"metric": metric, "direction": direction})
    if len({o["metric"] for o in out}) != len(out):
        raise invalid("An objective is named twice", fields={field: "each metric once"})
    if early_stopping and (len(out) > 1 or out[0]["metric"] not in PER_EPOCH):
        raise invalid("Early stopping needs one objective logged every epoch",
                      fields={"earlyStopping": "one objective among " + ", ".join(PER_EPOCH)})
    return out


def check_configuration(raw: Any, *, family: str, task: str, hyperparameters: dict[str, Any],
                        experiment_objective: str | None = None) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(the configuration in its wire form with defaults, the objectives) or TRAIN_003 naming each bad field."""
    config = parse(OptimizationConfiguration, raw, what="optimisation configuration")
    space = {name: spec.model_dump(by_alias=True) for name, spec in config.search_space.items()}
    _check_space(space, family=family, base=hyperparameters, strategy=config.strategy)
    early = config.early_stopping.enabled
    if early and config.strategy == strategies.PBT:
        raise invalid("Population-based training does not prune",
                      fields={"earlyStopping": "disable it with population_based_training"})
    objectives = _objectives(config, experiment_objective, task, early)
    cap = get_settings().training_max_active_jobs_per_user
    if config.parallel_trials > cap:
        raise invalid("More parallel trials than training jobs one user may run at once",
                      fields={"parallelTrials": f"at most {cap} (AISYSTEM_TRAINING_MAX_ACTIVE_JOBS_PER_USER)"})
    if config.strategy == strategies.PBT and config.max_trials < config.population.size:
        raise invalid("Fewer trials than population members",
                      fields={"maxTrials": f"at least population.size ({config.population.size}): one trial is "
                              "one member's round"})
    document = config.model_dump(by_alias=True, mode="json")
    document["searchSpace"] = space
    return document, objectives


def total_trials(study: Study) -> int:
    """How many trials the study runs: maxTrials, or fewer when the grid has fewer points, or whole
    population rounds for PBT."""
    config = study.configuration
    if study.strategy == "grid":
        return min(study.max_trials, strategies.grid_size(config["searchSpace"], int(config.get("gridPoints", 4))))
    if study.strategy == strategies.PBT:
        size = int(config["population"]["size"])
        return (study.max_trials // size) * size
    return study.max_trials


# --- starting ---------------------------------------------------------------------------------------------------


def _experiment(session: Session, actor: Principal, experiment_id: str, need: str) -> Experiment:
    experiment = experiments.get_experiment(session=session, actor=actor, experiment_id=experiment_id, need=need)
    if need == "write" and experiment.lifecycle_stage != "active":
        raise AISystemError("EXP_006", "The experiment is deleted; restore it first", {"experimentId": experiment.id})
    return experiment


def _latest(session: Session, experiment_id: str) -> Study | None:
    return session.exec(select(Study).where(Study.experiment_id == experiment_id)
                        .order_by(col(Study.created_at).desc(), col(Study.id).desc())).first()


def start_study(*, session: Session, actor: Principal, experiment_id: str, data: OptimizeRequest | dict) -> Study:
    """Check everything (TRAIN_003, DATA_004, MODEL_001...), record the study, and queue its first trials
    (TUNE_002 while the experiment's previous study still runs)."""
    from backend.ml.training import check_trainable

    authorize(actor, "training:create")
    data = _as(OptimizeRequest, data)
    experiment = _experiment(session, actor, experiment_id, "write")
    running = _latest(session, experiment.id)
    if running is not None and running.status == "running":
        raise AISystemError("TUNE_002", "The experiment's optimisation is still running",
                            {"experimentId": experiment.id, "studyId": running.id})
    dataset_id = data.dataset_id or experiment.dataset_id
    if dataset_id is None:
        raise invalid("Name the dataset the trials train on", fields={"datasetId": "required: the experiment has none"})
    plan = check_trainable(session=session, actor=actor, dataset_id=dataset_id, family=data.family,
                           hyperparameters=data.hyperparameters, version=data.dataset_version,
                           label_column=data.label_column, input_columns=data.input_columns, task=data.task)
    raw = data.configuration if data.configuration is not None else (experiment.configuration or None)
    if raw is None:
        raise invalid("Give the optimisation configuration", fields={"configuration": "required: the experiment has none"})
    configuration, objectives = check_configuration(raw, family=plan.family, task=plan.task,
                                                    hyperparameters=plan.hyperparameters,
                                                    experiment_objective=experiment.objective)
    model_id = data.model_id or experiment.model_id
    if model_id is not None:
        models_service.get_model(session=session, actor=actor, model_id=model_id)
    else:
        model_id = _target_model(session, actor, plan, data.model_name or f"{experiment.name} (tuned)")
    now = utcnow()
    study = Study(
        id=new_id("study"), experiment_id=experiment.id, strategy=configuration["strategy"], status="running",
        configuration=configuration, objectives=objectives, max_trials=configuration["maxTrials"],
        parallel_trials=configuration["parallelTrials"], created_by=actor.user_id, created_at=now, updated_at=now,
        training={"datasetId": plan.dataset_id, "datasetVersion": plan.version, "family": plan.family,
                  "task": plan.task, "labelColumn": plan.label_column, "inputColumns": list(plan.input_columns),
                  "hyperparameters": dict(data.hyperparameters), "trainer": dict(data.trainer),
                  "modelId": model_id, "modelName": None})
    session.add(study)
    session.flush()
    experiments.update_experiment(session=session, actor=actor, experiment_id=experiment.id,
                                  data={"configuration": configuration})
    audit.record(session=session, actor=actor, action="tuning.start", entity_type="tuning_study", entity_id=study.id,
                 summary={"experimentId": experiment.id, "strategy": study.strategy, "maxTrials": study.max_trials,
                          "parallelTrials": study.parallel_trials})
    launched = _step(session, study, actor, strict=True)
    if not launched:
        raise AISystemError("TRAIN_007", "No trial could start: you have as many training jobs queued or running "
                            "as the platform allows", {"limit": get_settings().training_max_active_jobs_per_user})
    return study


def _target_model(session: Session, actor: Principal, plan: Any, name: str) -> str:
    """The model every trial registers its version in, created now (as a training job creates its model on
    success, with the same authority) so that parallel trials do not each create one."""
    from backend.catalog.model_registry.schemas import ModelCreate

    name = name[:200]
    if session.exec(select(models_service.RegisteredModel).where(models_service.RegisteredModel.name == name)
                    ).first() is not None:
        name = f"{name[:180]} ({new_id('x')[-8:]})"
    creator = Principal(user_id=actor.user_id, username=actor.username, role="admin", credential_type="system")
    model = models_service.create_model(session=session, actor=creator, data=ModelCreate(
        name=name, type={"tabular": "Tabular", "text": "NLP", "image": "Vision"}.get(plan.dataset_type, "Other"),
        category=plan.task, framework="PyTorch Lightning"))
    return model.id


# --- advancing --------------------------------------------------------------------------------------------------


def _owner(session: Session, study: Study) -> Principal:
    user = session.get(User, study.created_by)
    if user is None:
        raise AISystemError("TUNE_001", "The study's owner no longer exists", {"studyId": study.id})
    return principal_for(user, credential_id=None, credential_type="system")


def advance(*, session: Session, study_id: str) -> dict[str, Any]:
    """One step of a study (the `tuning.advance` job): settle ended trials, start the next ones, complete
    the study when none is left. Safe to run twice: the study row is locked for the step, a trial is
    told to Optuna once, and Optuna trials asked by a step that did not commit are adopted, not lost."""
    study = session.get(Study, study_id, with_for_update=True)
    if study is None or study.status != "running":
        return {"studyId": study_id, "skipped": True}
    try:
        owner = _owner(session, study)
    except AISystemError as exc:
        _fail(session, study, exc.message)
        return {"studyId": study_id, "status": study.status}
    launched = _step(session, study, owner, strict=False)
    return {"studyId": study.id, "status": study.status, "launched": launched}


def _step(session: Session, study: Study, owner: Principal, *, strict: bool) -> int:
    ostudy = strategies.open_study(study.id, study.configuration, study.objectives,
                                   seed=_count(session, study))
    trials = list(session.exec(select(Trial).where(Trial.study_id == study.id).order_by(col(Trial.number))).all())
    settled = sum(_settle(session, study, ostudy, t) for t in trials if t.status == "running")
    try:
        if study.strategy == strategies.PBT:
            launched = pbt.step(session, study, owner, ostudy, trials, launch=_launch, strict=strict)
        else:
            launched = _fill(session, study, owner, ostudy, trials, strict=strict)
    except AISystemError as exc:
        if strict:
            raise
        log.warning("study %s: a trial could not start: %s", study.id, exc.message)
        _fail(session, study, f"{exc.code}: {exc.message}")
        return 0
    trials = list(session.exec(select(Trial).where(Trial.study_id == study.id)).all())
    if len(trials) >= total_trials(study) and all(t.status in FINAL_TRIAL_STATUSES for t in trials):
        study.status, study.completed_at = "completed", utcnow()
        _orphans_failed(study, ostudy, {t.optuna_trial_id for t in trials})
    if settled or launched or study.status != "running":
        study.updated_at = utcnow()
        session.add(study)
        audit.record(session=session, actor=SYSTEM, action="tuning.advance", entity_type="tuning_study",
                     entity_id=study.id, summary={"settled": settled, "launched": launched, "status": study.status})
    return launched


def _count(session: Session, study: Study) -> int:
    return int(session.exec(select(func.count()).select_from(Trial).where(Trial.study_id == study.id)).one())


def _fail(session: Session, study: Study, message: str) -> None:
    study.status, study.error, study.completed_at, study.updated_at = "failed", message[:2000], utcnow(), utcnow()
    session.add(study)
    audit.record(session=session, actor=SYSTEM, action="tuning.failed", entity_type="tuning_study",
                 entity_id=study.id, summary={"error": message[:300]})


def _orphans_failed(study: Study, ostudy: Any, known: set[int | None]) -> None:
    """Optuna trials a step asked for but never committed a trial for: told FAIL when the study ends."""
    import optuna

    for frozen in ostudy.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if frozen._trial_id not in known:
            ostudy.tell(frozen.number, state=optuna.trial.TrialState.FAIL)


def _fill(session: Session, study: Study, owner: Principal, ostudy: Any, trials: list[Trial], *, strict: bool) -> int:
    """Ask Optuna for trials until parallelTrials run or every trial has been asked."""
    import optuna

    known = {t.optuna_trial_id for t in trials}
    orphans = [f for f in ostudy.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
               if f._trial_id not in known]
    active = sum(1 for t in trials if t.status == "running")
    count, launched = len(trials), 0
    space = study.configuration["searchSpace"]
    while active < study.parallel_trials and count < total_trials(study):
        if orphans:
            frozen = orphans.pop(0)
            number, trial_id, params = frozen.number, frozen._trial_id, frozen.params
        else:
            asked = ostudy.ask(strategies.distributions(space))
            number, trial_id, params = asked.number, asked._trial_id, asked.params
        trial = Trial(id=new_id("trial"), study_id=study.id, number=number, optuna_trial_id=trial_id,
                      parameters=strategies.decode(space, params), status="running")
        if not _launch(session, study, owner, trial, strict=strict):
            break  # the owner's training-job cap is full: the next ended job of theirs advances the study
        count, active, launched = count + 1, active + 1, launched + 1
    return launched


def _launch(session: Session, study: Study, owner: Principal, trial: Trial, *, strict: bool,
            max_epochs: int | None = None, warm_from: TrainingJob | None = None) -> bool:
    """Create and queue the trial's training job and run (in the study's experiment); False when the
    owner's cap on concurrent training jobs is reached (TRAIN_007)."""
    spec = study.training
    names = _field_names(spec["family"])
    hyper = {**spec["hyperparameters"], **{names[k]: v for k, v in trial.parameters.items()}}
    if max_epochs is not None:
        hyper["maxEpochs"] = max_epochs
    label = f"trial {trial.number}" if trial.member is None else f"member {trial.member} round {trial.round}"
    experiment = session.get(Experiment, study.experiment_id)
    request = {"name": f"{experiment.name} · {label}"[:200], "datasetId": spec["datasetId"],
               "datasetVersion": spec["datasetVersion"], "family": spec["family"], "task": spec["task"],
               "labelColumn": spec["labelColumn"], "inputColumns": spec["inputColumns"], "hyperparameters": hyper,
               "trainer": spec["trainer"], "modelId": spec.get("modelId"), "modelName": spec.get("modelName"),
               "experimentId": study.experiment_id, "start": warm_from is None}
    savepoint = session.begin_nested()
    try:
        job = training.create_training_job(session=session, actor=owner, data=request)
        if warm_from is not None:
            training.warm_start(session=session, actor=owner, training_job_id=job.id,
                                source_training_job_id=warm_from.id, checkpoint=training._last_checkpoint(warm_from))
        experiments.log_batch(session=session, actor=owner, run_id=job.run_id, tags=[
            {"key": "tuning.studyId", "value": study.id}, {"key": "tuning.trial", "value": str(trial.number)}])
        trial.training_job_id, trial.run_id, trial.status = job.id, job.run_id, "running"
        session.add(trial)
        session.flush()
        savepoint.commit()
    except AISystemError as exc:
        savepoint.rollback()
        if exc.code == "TRAIN_007" and not (strict and trial.number == 0):
            return False
        raise
    return True


def _settle(session: Session, study: Study, ostudy: Any, trial: Trial) -> bool:
    """Tell Optuna how an ended trial went (once) and record it; False while its training job runs."""
    import optuna

    job = session.get(TrainingJob, trial.training_job_id) if trial.training_job_id else None
    if job is None or job.status not in TERMINAL:
        return False
    State = optuna.trial.TrialState  # noqa: N806
    metrics = {**(job.metrics or {}), "trainingSeconds": float((job.resources or {}).get("wallSeconds") or 0.0)}
    frozen = strategies.storage().get_trial(trial.optuna_trial_id) if trial.optuna_trial_id is not None else None
    values = None
    if job.status == "succeeded" and frozen is not None and frozen.user_attrs.get("prunedAtEpoch"):
        status, state = "pruned", State.PRUNED
    elif job.status == "succeeded":
        missing = [o["metric"] for o in study.objectives if not isinstance(metrics.get(o["metric"]), int | float)]
        if missing:
            status, state, trial.error = "failed", State.FAIL, f"the trial did not log {', '.join(missing)}"
        else:
            values = [float(metrics[o["metric"]]) for o in study.objectives]
            status, state = "completed", State.COMPLETE
    else:
        status, state = job.status, State.FAIL  # failed | cancelled
        trial.error = job.error
    if frozen is not None and not frozen.state.is_finished():
        ostudy.tell(frozen.number, values if state == State.COMPLETE else None, state=state)
    trial.status, trial.metrics, trial.values, trial.finished_at = status, metrics, values, utcnow()
    session.add(trial)
    return True


# --- the hooks and the safety net -------------------------------------------------------------------------------


def queue_advance(session: Session, study: Study) -> None:
    jobs_service.create_job(session=session, actor=_owner(session, study), type=ADVANCE_JOB,
                            payload={"studyId": study.id})


def training_finished(training_job_id: str) -> None:
    """The `training_finished` hook (after the commit that ended a training job): advance, right here,
    the study it was a trial of, and the owner's running studies waiting for room under their job cap.
    Running the step inline (in the worker that ended the job, which then takes the trial it starts)
    saves two trips through the broker; a step that fails here is queued as a `tuning.advance` job."""
    from backend.core.db import session_scope

    with session_scope(write=False) as session:
        job = session.get(TrainingJob, training_job_id)
        if job is None:
            return
        trial = session.exec(select(Trial).where(Trial.training_job_id == training_job_id)).first()
        studies = {trial.study_id} if trial is not None else set()
        studies |= set(session.exec(select(Study.id).where(Study.created_by == job.created_by,
                                                            Study.status == "running")).all())
        due = [study.id for study in (session.get(Study, study_id) for study_id in sorted(studies))
               if study is not None and study.status == "running"
               and (study.id == getattr(trial, "study_id", None) or _has_room(session, study))]
    for study_id in due:
        _advance_inline(study_id)


def _advance_inline(study_id: str) -> None:
    from backend.core.db import session_scope

    try:
        with session_scope() as session:
            advance(session=session, study_id=study_id)
    except Exception:  # noqa: BLE001 - the queued step retries whatever went wrong here
        log.warning("study %s: the inline step failed; queueing a tuning.advance job", study_id, exc_info=True)
        with session_scope() as session:
            study = session.get(Study, study_id)
            if study is not None and study.status == "running":
                queue_advance(session, study)


def _has_room(session: Session, study: Study) -> bool:
    statuses = Counter(session.exec(select(Trial.status).where(Trial.study_id == study.id)).all())
    return statuses["running"] < study.parallel_trials and sum(statuses.values()) < total_trials(study) \
        or statuses["waiting"] > 0


def sweep(session: Session) -> dict[str, int]:
    """The periodic safety net: a running study with a trial whose training job has ended but which was
    not settled (its hook was lost with its process), or with nothing running, gets an advance job."""
    queued = 0
    for study in session.exec(select(Study).where(Study.status == "running")).all():
        running = session.exec(select(Trial.training_job_id).where(Trial.study_id == study.id,
                                                                   Trial.status == "running")).all()
        ended = session.exec(select(func.count()).select_from(TrainingJob).where(
            col(TrainingJob.id).in_(list(running) or [""]), col(TrainingJob.status).in_(TERMINAL))).one()
        if ended or not running:
            queue_advance(session, study)
            queued += 1
    return {"queued": queued}


# --- stopping ---------------------------------------------------------------------------------------------------


def stop_study(*, session: Session, actor: Principal, experiment_id: str) -> Study:
    """Stop the experiment's running optimisation: no trial starts after this, the trials still queued or
    training are cancelled (Optuna is told they failed), and the trials that ended keep their results, so the
    best parameters still answer. Needs `experiment:write` on the experiment; TUNE_001 when it has no study,
    TUNE_004 when the study has already ended."""
    import optuna

    experiment = _experiment(session, actor, experiment_id, "write")
    latest = _latest(session, experiment.id)
    if latest is None:
        raise AISystemError("TUNE_001", "The experiment has no hyperparameter optimisation",
                            {"experimentId": experiment.id})
    study = session.get(Study, latest.id, with_for_update=True)
    session.refresh(study)
    if study.status != "running":
        raise AISystemError("TUNE_004", f"The optimisation has already ended ({study.status})",
                            {"experimentId": experiment.id, "studyId": study.id, "status": study.status})
    ostudy = strategies.open_study(study.id, study.configuration, study.objectives, seed=_count(session, study))
    trials = trials_of(session, study)
    cancelled = 0
    for trial in trials:
        if trial.status in FINAL_TRIAL_STATUSES or _settle(session, study, ostudy, trial):
            continue
        job = session.get(TrainingJob, trial.training_job_id) if trial.training_job_id else None
        if job is not None:
            # The trials' jobs are the study owner's: whoever may stop the study may end them.
            owner = Principal(user_id=job.created_by, username="tuning", role="admin", credential_type="system")
            training.cancel_training_job(session=session, actor=owner, training_job_id=job.id)
        if trial.optuna_trial_id is not None:
            frozen = strategies.storage().get_trial(trial.optuna_trial_id)
            if not frozen.state.is_finished():
                ostudy.tell(frozen.number, state=optuna.trial.TrialState.FAIL)
        trial.status, trial.error, trial.finished_at = "cancelled", "the optimisation was stopped", utcnow()
        session.add(trial)
        cancelled += 1
    _orphans_failed(study, ostudy, {t.optuna_trial_id for t in trials})
    study.status, study.completed_at, study.updated_at = "stopped", utcnow(), utcnow()
    session.add(study)
    audit.record(session=session, actor=actor, action="tuning.stop", entity_type="tuning_study", entity_id=study.id,
                 summary={"experimentId": experiment.id, "cancelledTrials": cancelled})
    return study


# --- reading ----------------------------------------------------------------------------------------------------


def study_of(*, session: Session, actor: Principal, experiment_id: str) -> Study:
    """The experiment's latest study (EXP_001 / AUTH_002 for the experiment, TUNE_001 when it has none)."""
    experiment = _experiment(session, actor, experiment_id, "read")
    study = _latest(session, experiment.id)
    if study is None:
        raise AISystemError("TUNE_001", "The experiment has no hyperparameter optimisation",
                            {"experimentId": experiment.id})
    return study


def trials_of(session: Session, study: Study) -> list[Trial]:
    return list(session.exec(select(Trial).where(Trial.study_id == study.id)
                             .order_by(col(Trial.number), col(Trial.id))).all())


def study_document(session: Session, study: Study) -> dict[str, Any]:
    counts = Counter(session.exec(select(Trial.status).where(Trial.study_id == study.id)).all())
    return {"id": study.id, "experimentId": study.experiment_id, "strategy": study.strategy, "status": study.status,
            "objectives": study.objectives, "maxTrials": study.max_trials, "parallelTrials": study.parallel_trials,
            "trialCounts": dict(sorted(counts.items())), "error": study.error, "createdAt": study.created_at,
            "completedAt": study.completed_at}


def trial_document(trial: Trial) -> dict[str, Any]:
    return {"id": trial.id, "number": trial.number, "status": trial.status, "parameters": trial.parameters,
            "metrics": trial.metrics, "values": trial.values, "runId": trial.run_id, "jobId": trial.training_job_id,
            "member": trial.member, "round": trial.round, "parentTrialId": trial.parent_trial_id,
            "error": trial.error, "createdAt": trial.created_at, "finishedAt": trial.finished_at}


def _dominates(a: list[float], b: list[float], signs: list[int]) -> bool:
    better_or_equal = all(x * s >= y * s for x, y, s in zip(a, b, signs, strict=True))
    return better_or_equal and any(x * s > y * s for x, y, s in zip(a, b, signs, strict=True))


def best_trials(study: Study, trials: list[Trial]) -> list[Trial]:
    """The best completed trial (one objective), or the Pareto front (several), best first."""
    done = [t for t in trials if t.status == "completed" and t.values]
    signs = [1 if o["direction"] == "maximize" else -1 for o in study.objectives]
    if len(signs) == 1:
        return sorted(done, key=lambda t: (-t.values[0] * signs[0], t.number))[:1]
    front = [t for t in done if not any(_dominates(o.values, t.values, signs) for o in done if o is not t)]
    return sorted(front, key=lambda t: (-t.values[0] * signs[0], t.number))


def best_document(trial: Trial) -> dict[str, Any]:
    return {"id": trial.id, "number": trial.number, "parameters": trial.parameters, "metrics": trial.metrics,
            "values": trial.values, "runId": trial.run_id, "jobId": trial.training_job_id}


def best_params(*, session: Session, actor: Principal, experiment_id: str) -> dict[str, Any]:
    study = study_of(session=session, actor=actor, experiment_id=experiment_id)
    best = best_trials(study, trials_of(session, study))
    return {"study": study_document(session, study), "bestTrial": best_document(best[0]) if best else None,
            "paretoFront": [best_document(t) for t in best] if len(study.objectives) > 1 else []}


def list_trials(*, session: Session, actor: Principal, experiment_id: str) -> dict[str, Any]:
    study = study_of(session=session, actor=actor, experiment_id=experiment_id)
    return {"study": study_document(session, study), "trials": [trial_document(t) for t in trials_of(session, study)]}


def experiment_parts(session: Session, experiment: Experiment, document: dict[str, Any]) -> None:
    """The `experiment_document` hook: an optimised experiment's document shows its latest study's trials
    and best trial, as the design's Experiment document does (its `configuration` is already there)."""
    study = _latest(session, experiment.id)
    if study is None:
        return
    trials = trials_of(session, study)
    best = best_trials(study, trials)
    document["bestTrial"] = best_document(best[0]) if best else None
    document["trials"] = [trial_document(t) for t in trials]
