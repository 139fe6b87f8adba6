"""The `training_callbacks` hook: inside the training runner process, a trial's Trainer gets a Lightning
callback that reports the objective to its Optuna trial at every epoch end and, when the study's pruner
says so (`earlyStopping`), stops the training. The job then ends as any stopped job does (its best
checkpoint registered); the study's next step sees the trial's `prunedAtEpoch` mark and tells Optuna
PRUNED. Only single-objective studies report: Optuna does not prune on several objectives, and PBT
decides between rounds instead."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import select

log = logging.getLogger(__name__)


def callbacks_for(job: Any) -> list[Any]:
    from backend.core.db import session_scope
    from backend.tuning import strategies
    from backend.tuning.models import Study, Trial

    with session_scope(write=False) as session:
        trial = session.exec(select(Trial).where(Trial.training_job_id == job.id)).first()
        study = session.get(Study, trial.study_id) if trial is not None else None
        if study is None or trial.optuna_trial_id is None:
            return []
        if study.strategy == strategies.PBT or len(study.objectives) != 1:
            return []
        configuration, objective, trial_id = study.configuration, study.objectives[0], trial.optuna_trial_id
        study_id = study.id
    return [report_callback(study_id, configuration, objective, trial_id)]


def report_callback(study_id: str, configuration: dict[str, Any], objective: dict[str, Any], trial_id: int):  # noqa: ANN201
    import lightning as L
    import optuna

    from backend.tuning import strategies

    study = optuna.load_study(study_name=study_id, storage=strategies.storage(),
                              pruner=strategies.pruner(configuration))
    trial = optuna.trial.Trial(study, trial_id)
    metric = objective["metric"]
    prune = bool((configuration.get("earlyStopping") or {}).get("enabled"))

    class OptunaReport(L.Callback):
        def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            decision = None
            if trainer.is_global_zero:
                value = trainer.callback_metrics.get(metric)
                epoch = trainer.current_epoch
                if value is not None:
                    try:
                        trial.report(float(value), epoch)
                        if prune and trial.should_prune():
                            trial.set_user_attr("prunedAtEpoch", epoch + 1)
                            decision = "prune"
                    except Exception as exc:  # noqa: BLE001 - a study told elsewhere never breaks training
                        log.warning("optuna report failed: %s", str(exc)[:200])
            if trainer.world_size > 1:
                decision = trainer.strategy.broadcast(decision, src=0)
            if decision == "prune":
                log.info("pruned by the study after epoch %s (%s fell behind)", trainer.current_epoch + 1, metric)
                trainer.should_stop = True

    return OptunaReport()
