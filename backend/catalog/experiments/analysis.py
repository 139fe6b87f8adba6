"""What an experiment's runs say about its hyperparameters: the optimisation history (the objective of
each run in start order, with the best so far), which hyperparameters mattered (importance), the best
run and its parameters, and the table a parallel-coordinates plot draws.

Everything is computed from the runs' params and latest metric values, so it works for any experiment:
runs of the platform's training jobs, of an Optuna study, or logged from a laptop with an API key.

Importance. The runs are replayed into an in-memory Optuna study (`optuna.trial.create_trial` +
`study.add_trial`, one completed trial per run that logged the objective) and Optuna's fANOVA evaluator
is asked for each hyperparameter's share of the objective's variance: a random forest is fitted on
(hyperparameters -> objective) and the variance of its prediction is decomposed over the parameters
(Hutter et al., 2014). Shares sum to one. It needs no assumption about how the runs were chosen (grid,
random, TPE or by hand), which is why it suits runs logged from outside. Params are strings in the
tracking tables (as in MLflow): a param whose every value parses as a number is numeric (an integer
range when all are integers; a log scale when it spans a factor of 20 or more, like a learning rate),
any other is categorical. Left out, because they cannot explain a difference: params that never
change, params missing from some scored run, and identifier-like text params (a different value in
every run, e.g. the training job id). The importance uses the most recent 100 scored runs (fANOVA's cost
grows steeply with the number of runs); the history and the best run use every run read.

    result = analyse(session=s, actor=user, experiment_id=e)          # the experiment's objective
    result = analyse(session=s, actor=user, experiment_id=e, metric="val_loss", goal="min")
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from backend.auth.principal import Principal
from backend.catalog.experiments import service
from backend.core.errors import InvalidRequest
from backend.core.pagination import PageParams

MAX_RUNS = 2000  # the most recent runs analysed (importance on more adds little and costs seconds)
PAGE = 500
LOG_SCALE_RATIO = 20
IMPORTANCE_SEED = 0  # the forest is seeded: the same runs always give the same shares
# fANOVA's cost grows steeply with the runs (2,000 runs took minutes here), so the importance is computed over
# the most recent scored runs only, with a smaller forest than Optuna's default (64 trees, depth 64).
MAX_IMPORTANCE_RUNS = 100
FOREST = {"n_trees": 32, "max_depth": 16}


@dataclass
class Point:
    """One scored run in start order, with the best objective value up to and including it."""

    run_id: str
    name: str
    start_time: int
    value: float
    best_so_far: float
    params: dict[str, str]


@dataclass
class Analysis:
    metric: str | None
    goal: str  # "max" | "min"
    runs_total: int = 0
    history: list[Point] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)  # those that vary between scored runs
    importance: dict[str, float] = field(default_factory=dict)  # share of the objective's variance; sums to 1
    importance_method: str = "fanova"
    best: Point | None = None

    @property
    def best_params(self) -> dict[str, str]:
        return dict(self.best.params) if self.best else {}


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _score(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # "NaN" arrives as text
    return float(value) if math.isfinite(value) else None


def _better(a: float, b: float, goal: str) -> bool:
    return a > b if goal == "max" else a < b


def history_of(runs: list[dict[str, Any]], metric: str, goal: str) -> list[Point]:
    """The runs that logged `metric`, oldest first, each with the best value so far."""
    scored = [(r, _score(r["metrics"].get(metric))) for r in runs]
    points: list[Point] = []
    best: float | None = None
    for run, value in sorted(((r, v) for r, v in scored if v is not None), key=lambda p: (p[0]["startTime"],
                                                                                           p[0]["id"])):
        best = value if best is None or _better(value, best, goal) else best
        points.append(Point(run["id"], run["name"], run["startTime"], value, best, dict(run["params"])))
    return points


def varying_parameters(points: list[Point]) -> list[str]:
    """Params present in every scored run that take two values or more and are not identifiers."""
    if len(points) < 2:
        return []
    common = set.intersection(*(set(p.params) for p in points))
    keys = []
    for key in sorted(common):
        values = [p.params[key] for p in points]
        distinct = set(values)
        if len(distinct) < 2:
            continue
        numeric = all(_number(v) is not None for v in values)
        if not numeric and len(distinct) == len(values) and len(values) > 2:
            continue  # a different text in every run: an id, not a setting
        keys.append(key)
    return keys


def _distribution(values: list[str]) -> tuple[Any, list[Any]]:
    """An Optuna distribution fitting these param values, and the values in its terms."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    numbers = [_number(v) for v in values]
    if all(n is not None for n in numbers):
        low, high = min(numbers), max(numbers)
        if all(float(n).is_integer() for n in numbers) and abs(high) < 2**53:
            return IntDistribution(int(low), int(high)), [int(n) for n in numbers]
        log = low > 0 and high / low >= LOG_SCALE_RATIO
        return FloatDistribution(low, high, log=log), numbers
    return CategoricalDistribution(sorted(set(values))), list(values)


def importance_of(points: list[Point], keys: list[str], goal: str) -> dict[str, float]:
    """Each key's share of the objective's variance (fANOVA over an in-memory study of the runs);
    empty with fewer than two runs or no varying parameter, or when the objective never changes."""
    points = sorted(points, key=lambda p: p.start_time)[-MAX_IMPORTANCE_RUNS:]
    if len(points) < 2 or not keys or len({p.value for p in points}) < 2:
        return {}
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    columns = {k: _distribution([p.params[k] for p in points]) for k in keys}
    study = optuna.create_study(direction="maximize" if goal == "max" else "minimize")
    for i, point in enumerate(points):
        study.add_trial(optuna.trial.create_trial(
            params={k: values[i] for k, (_d, values) in columns.items()},
            distributions={k: d for k, (d, _values) in columns.items()}, value=point.value))
    shares = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=IMPORTANCE_SEED, **FOREST), normalize=True)
    return {k: float(v) for k, v in sorted(shares.items(), key=lambda kv: (-kv[1], kv[0]))}


def _runs(session: Session, actor: Principal, experiment_id: str) -> tuple[list[dict[str, Any]], int]:
    docs: list[dict[str, Any]] = []
    cursor = None
    while len(docs) < MAX_RUNS:
        runs, cursor = service.list_runs(session=session, actor=actor, experiment_id=experiment_id,
                                         params=PageParams(limit=PAGE, cursor=cursor), sort="-startTime")
        docs += service.run_documents(session=session, runs=runs)
        if cursor is None:
            break
    return docs[:MAX_RUNS], len(docs)


def analyse(*, session: Session, actor: Principal, experiment_id: str, metric: str | None = None,
            goal: str | None = None) -> Analysis:
    """History, importance and best run of an experiment's runs for `metric` (default: the experiment's
    objective; `goal` "max" | "min", default the objective's or the metric's usual direction).
    Needs `experiment:read` on it (EXP_001 otherwise); REQ_001 for a bad metric name or goal."""
    experiment = service.get_experiment(session=session, actor=actor, experiment_id=experiment_id)
    if goal is not None and goal not in ("max", "min"):
        raise InvalidRequest("Invalid goal", {"goal": "max or min"})
    if metric is not None:
        problem = service.key_problem(metric)
        if problem:
            raise InvalidRequest("Invalid metric name", {"metric": problem})
    objective = service.objective_of(experiment.objective)
    if metric is None and objective is not None:
        metric = objective[0]
    if goal is None:
        goal = objective[1] if objective and objective[0] == metric else service.default_goal(metric or "")
    result = Analysis(metric=metric, goal=goal)
    if metric is None:
        return result
    runs, result.runs_total = _runs(session, actor, experiment_id)
    result.history = history_of(runs, metric, goal)
    if result.history:
        best = result.history[-1].best_so_far
        result.best = next(p for p in result.history if p.value == best)
    result.parameters = varying_parameters(result.history)
    result.importance = importance_of(result.history, result.parameters, goal)
    return result
