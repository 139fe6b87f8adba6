"""Population-based training (PBT) on top of training jobs and their checkpoints.

A population of `population.size` members trains in rounds of `population.roundEpochs` epochs; each
member's round is one trial (one training job, one run). Round 0 samples every member's hyperparameters
at random (Optuna's RandomSampler). When every member of a round has ended:

1. rank the members by the objective (failed members last);
2. exploit: the worst `exploitFraction` of them (at least one) take the best member's place — their next
   round starts from the best member's last checkpoint (weights, optimizer moments, epoch and step
   copied into the new job: `training.warm_start`) with the best member's hyperparameters;
3. explore: those copies multiply each float hyperparameter of the search space by one of
   `perturbFactors` (0.8 or 1.2 by default, drawn per value), clipped to its range; int and choice
   values are inherited unchanged, since they may shape the network and a checkpoint only loads into
   the same shape;
4. every other member continues from its own last checkpoint with its own hyperparameters.

Round r trains to epoch (r + 1) x roundEpochs, so a member's runs form one continuous curve. The next
round's members are planned at once (trials `waiting`) and start as room allows (`parallelTrials`).
Every member round is also an Optuna trial (enqueued with its fixed values), so Optuna's history and the
platform's agree. maxTrials is rounded down to whole rounds.
"""

from __future__ import annotations

import random
from typing import Any

from sqlmodel import Session

from backend.core.ids import new_id
from backend.training.models import TrainingJob
from backend.tuning import strategies
from backend.tuning.models import FINAL_TRIAL_STATUSES, Study, Trial


def rank(study: Study, members: list[Trial]) -> list[Trial]:
    """Best first by the first objective; members without a value (failed, cancelled) last."""
    sign = 1 if study.objectives[0]["direction"] == "maximize" else -1
    return sorted(members, key=lambda t: (t.values is None, -(t.values or [0.0])[0] * sign, t.member))


def perturb(space: dict[str, dict[str, Any]], params: dict[str, Any], factors: list[float],
            rng: random.Random) -> dict[str, Any]:
    out = dict(params)
    for name, spec in space.items():
        if spec["type"] == "float" and name in out:
            out[name] = min(float(spec["max"]), max(float(spec["min"]), float(out[name]) * rng.choice(factors)))
    return out


def plan_next_round(study: Study, members: list[Trial]) -> list[dict[str, Any]]:
    """The next round of each member: its hyperparameters and the trial whose checkpoint it continues."""
    population = study.configuration["population"]
    ranked = rank(study, members)
    best = ranked[0] if ranked[0].values is not None else None
    exploit = max(1, int(len(members) * float(population["exploitFraction"])))
    worst = {t.id for t in ranked[-exploit:]} if best is not None else set()
    round_no = members[0].round + 1
    plans = []
    for member in sorted(members, key=lambda t: t.member):
        rng = random.Random(f"{study.id}:{study.configuration.get('seed', 0)}:{round_no}:{member.member}")
        if member.id in worst and member.id != best.id:
            params = perturb(study.configuration["searchSpace"], best.parameters, population["perturbFactors"], rng)
            plans.append({"member": member.member, "parameters": params, "parent": best})
        else:
            plans.append({"member": member.member, "parameters": dict(member.parameters),
                          "parent": member if member.status == "completed" else None})
    return plans


def step(session: Session, study: Study, owner: Any, ostudy: Any, trials: list[Trial], *, launch: Any,
         strict: bool) -> int:
    """Plan the first round, or the next one once every member of the current round has ended; then start
    waiting members while fewer than parallelTrials run."""
    config = study.configuration
    size, rounds = int(config["population"]["size"]), study.max_trials // int(config["population"]["size"])
    space = config["searchSpace"]
    if not trials:
        for member in range(size):
            asked = ostudy.ask(strategies.distributions(space))
            trials.append(_planned(session, study, asked, member, 0, strategies.decode(space, asked.params), None))
    current_round = max(t.round for t in trials)
    current = [t for t in trials if t.round == current_round]
    if all(t.status in FINAL_TRIAL_STATUSES for t in current) and current_round + 1 < rounds:
        for plan in plan_next_round(study, current):
            ostudy.enqueue_trial(_encoded(space, plan["parameters"]), skip_if_exists=False)
            asked = ostudy.ask(strategies.distributions(space))
            trials.append(_planned(session, study, asked, plan["member"], current_round + 1, plan["parameters"],
                                   plan["parent"]))
    active = sum(1 for t in trials if t.status == "running")
    launched = 0
    epochs = int(config["population"]["roundEpochs"])
    for trial in sorted((t for t in trials if t.status == "waiting"), key=lambda t: (t.round, t.member)):
        if active >= study.parallel_trials:
            break
        parent = session.get(Trial, trial.parent_trial_id) if trial.parent_trial_id else None
        source = session.get(TrainingJob, parent.training_job_id) if parent and parent.training_job_id else None
        if source is not None and not any(not c.get("corrupted") for c in source.checkpoints or []):
            source = None  # nothing to continue from: this member starts afresh
        if not launch(session, study, owner, trial, strict=strict, max_epochs=(trial.round + 1) * epochs,
                      warm_from=source):
            break
        active, launched = active + 1, launched + 1
    return launched


def _encoded(space: dict[str, dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    import json

    out = {}
    for name, value in params.items():
        spec = space[name]
        if spec["type"] == "choice" and strategies.encoded_choices(spec) != list(spec["values"]):
            value = json.dumps(value, sort_keys=True)
        out[name] = value
    return out


def _planned(session: Session, study: Study, asked: Any, member: int, round_no: int, params: dict[str, Any],
             parent: Trial | None) -> Trial:
    trial = Trial(id=new_id("trial"), study_id=study.id, number=asked.number, optuna_trial_id=asked._trial_id,
                  status="waiting", parameters=params, member=member, round=round_no,
                  parent_trial_id=parent.id if parent else None)
    session.add(trial)
    session.flush()
    return trial
