"""Optuna, as the platform uses it: its storage (a database of its own), the distributions of a search
space, the sampler of each strategy and the pruner of `earlyStopping`.

    grid                       GridSampler over every value (floats: `gridPoints` values per range)
    random                     RandomSampler
    bayesian_optimization      TPESampler (constant liar, so parallel trials do not all ask the same point)
    genetic                    NSGAIISampler (NSGA-II; single and multiple objectives)
    population_based_training  RandomSampler for the first round; later rounds are decided by the
                               platform (backend.tuning.pbt) and enqueued into Optuna as fixed trials
"""

from __future__ import annotations

import json
import logging
import math
from functools import lru_cache
from typing import Any

from backend.core.config import get_settings
from backend.core.errors import AISystemError

log = logging.getLogger(__name__)
PBT = "population_based_training"


@lru_cache(maxsize=4)
def _storage_for(url: str):  # noqa: ANN202
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        # Workers, runners and the web process share the file: wait for its lock instead of failing.
        kwargs["connect_args"] = {"timeout": 60}
    storage = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    if url.startswith("sqlite"):
        _write_ahead(storage.engine)
    return storage


def _write_ahead(engine) -> None:  # noqa: ANN001
    """Optuna commits every call (a step makes ~20), and SQLite's default journal syncs the disk at each
    commit: ~5 ms apiece, most of a step. WAL with synchronous=NORMAL, as the app's own database runs,
    syncs at checkpoints only. A power cut can lose the last few commits (a trial asked again and adopted,
    an outcome the sampler does not see), never corrupt the file."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # connections opened while Optuna created its tables reconnect with the settings


def storage():  # noqa: ANN201
    """Optuna's RDBStorage on `AISYSTEM_OPTUNA_STORAGE_URL` (TUNE_003 when it is the app's database or
    cannot be opened)."""
    settings = get_settings()
    url = settings.optuna_storage
    if url == settings.sqlalchemy_url:
        raise AISystemError("TUNE_003", "Optuna's storage must not be the app's database",
                            {"setting": "AISYSTEM_OPTUNA_STORAGE_URL"})
    try:
        return _storage_for(url)
    except Exception as exc:  # noqa: BLE001 - any driver error means the same to the caller
        raise AISystemError("TUNE_003", "Optuna's storage cannot be opened",
                            {"setting": "AISYSTEM_OPTUNA_STORAGE_URL", "reason": str(exc)[:300]}) from None


# --- search space --------------------------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float | str)


def encoded_choices(spec: dict[str, Any]) -> list[Any]:
    """A choice's values as Optuna keeps them: scalars as they are, lists and objects as JSON text."""
    values = spec["values"]
    return list(values) if all(_scalar(v) for v in values) else [json.dumps(v, sort_keys=True) for v in values]


def decode(space: dict[str, dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Optuna's parameter values back to the hyperparameters' own (JSON choices parsed, ints as ints)."""
    out = {}
    for name, value in params.items():
        spec = space.get(name, {})
        if spec.get("type") == "choice" and not all(_scalar(v) for v in spec["values"]):
            value = json.loads(value)
        elif spec.get("type") == "int":
            value = int(value)
        out[name] = value
    return out


def distributions(space: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for name, spec in space.items():
        log_scale = spec.get("scale") == "log"
        if spec["type"] == "float":
            out[name] = FloatDistribution(spec["min"], spec["max"], log=log_scale,
                                          step=None if log_scale else spec.get("step"))
        elif spec["type"] == "int":
            out[name] = IntDistribution(int(spec["min"]), int(spec["max"]), log=log_scale,
                                        step=1 if log_scale else int(spec.get("step") or 1))
        else:
            out[name] = CategoricalDistribution(encoded_choices(spec))
    return out


def grid(space: dict[str, dict[str, Any]], points: int) -> dict[str, list[Any]]:
    """Every value the grid strategy tries: choices as given, int ranges by their step (without one:
    every int, or `points` evenly spread ones when there are more), float ranges as `points` values (log-spaced on a log scale)."""
    out: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if spec["type"] == "choice":
            out[name] = encoded_choices(spec)
            continue
        low, high = float(spec["min"]), float(spec["max"])
        if spec["type"] == "float" and spec.get("scale") == "log":
            inner = [math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (points - 1))
                     for i in range(1, points - 1)]
            values = [low, *inner, high]  # the ends exactly (exp(log(x)) drifts past them)
        elif spec["type"] == "int" and ((high - low) / (spec.get("step") or 1) + 1 <= (1000 if spec.get("step")
                                                                                     else points)):
            step = int(spec.get("step") or 1)
            values = list(range(int(low), int(high) + 1, step))
        else:
            values = [low + (high - low) * i / (points - 1) for i in range(points)]
        if spec["type"] == "int":
            values = sorted({int(round(v)) for v in values})
        out[name] = list(dict.fromkeys(values))  # a range with min == max is one value, not several
    return out


def grid_size(space: dict[str, dict[str, Any]], points: int) -> int:
    return math.prod(len(values) for values in grid(space, points).values())


# --- samplers and pruners -------------------------------------------------------------------------------


def sampler(strategy: str, configuration: dict[str, Any], *, seed: int):  # noqa: ANN201
    """The Optuna sampler of a strategy. `seed` changes with each call (the platform rebuilds the sampler
    at every step of a study), so random draws do not repeat; TPE and NSGA-II read the history from the
    storage, so nothing is lost between steps."""
    import optuna

    space, max_trials = configuration["searchSpace"], int(configuration["maxTrials"])
    if strategy == "grid":
        return optuna.samplers.GridSampler(grid(space, int(configuration.get("gridPoints", 4))), seed=seed)
    if strategy == "bayesian_optimization":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True,
                                          n_startup_trials=min(10, max(2, max_trials // 5)))
    if strategy == "genetic":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, min(50, max_trials // 3)))
    return optuna.samplers.RandomSampler(seed=seed)  # random, and PBT's first round


def pruner(configuration: dict[str, Any]):  # noqa: ANN201
    """`earlyStopping` as an Optuna pruner: median of the other trials at the same epoch, patient when
    `patience` is set (no pruning while the trial still gains `minDelta` within `patience` epochs)."""
    PlateauPruner = _plateau_pruner_class()  # noqa: N806
    import optuna

    early = configuration.get("earlyStopping") or {}
    if not early.get("enabled"):
        return optuna.pruners.NopPruner()
    median = optuna.pruners.MedianPruner(n_startup_trials=int(early.get("startupTrials", 1)),
                                         n_warmup_steps=int(early.get("warmupEpochs", 0)))
    if early.get("patience"):
        return PlateauPruner(median, patience=int(early["patience"]), min_delta=float(early.get("minDelta") or 0.0))
    return median


def _plateau_pruner_class():  # noqa: ANN202
    import numpy as np
    import optuna

    class PlateauPruner(optuna.pruners.BasePruner):
        """Early stopping's meaning of patience: a trial that has not gained `min_delta` on its best
        value within its last `patience` epochs may be pruned, when the wrapped pruner (the median) also
        finds it behind. (Optuna's PatientPruner only prunes a trial that got worse, never a flat one.)"""

        def __init__(self, wrapped: optuna.pruners.BasePruner, *, patience: int, min_delta: float) -> None:
            self.wrapped, self.patience, self.min_delta = wrapped, patience, min_delta

        def prune(self, study: optuna.study.Study, trial: optuna.trial.FrozenTrial) -> bool:
            values = [trial.intermediate_values[step] for step in sorted(trial.intermediate_values)]
            if len(values) <= self.patience:
                return False
            before, recent = np.asarray(values[: -self.patience]), np.asarray(values[-self.patience:])
            if study.direction == optuna.study.StudyDirection.MINIMIZE:
                gained = np.nanmin(before) - np.nanmin(recent) >= max(self.min_delta, 1e-12)
            else:
                gained = np.nanmax(recent) - np.nanmax(before) >= max(self.min_delta, 1e-12)
            return not gained and self.wrapped.prune(study, trial)

    return PlateauPruner


def __getattr__(name: str) -> Any:
    # Built on first use: importing this module does not import Optuna (the API process's start).
    if name == "PlateauPruner":
        return _plateau_pruner_class()
    raise AttributeError(name)


def open_study(study_id: str, configuration: dict[str, Any], objectives: list[dict[str, Any]], *,
               seed: int | None = None):  # noqa: ANN201
    """The Optuna study of a platform study (created on first use), with its strategy's sampler and pruner."""
    import optuna

    directions = [o["direction"] for o in objectives]
    strategy = configuration["strategy"]
    chosen = {"sampler": sampler(strategy, configuration, seed=configuration.get("seed", 0) + (seed or 0)),
              "pruner": pruner(configuration) if len(directions) == 1 else None}
    try:
        # Loading first: `create_study(load_if_exists=True)` tries an INSERT that fails on every later step
        # (2.5 ms against 6 ms a step on SQLite).
        return optuna.load_study(study_name=study_id, storage=storage(), **chosen)
    except KeyError:
        return optuna.create_study(study_name=study_id, storage=storage(), directions=directions,
                                   load_if_exists=True, **chosen)
