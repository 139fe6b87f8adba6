"""Helpers of the experiment-tracking tests: experiments and runs made through the real service."""

from __future__ import annotations

from typing import Any

import pytest

from backend.catalog.experiments import service
from backend.core.db import session_scope

API = "/api/v1/catalog/experiments"


@pytest.fixture(autouse=True)
def no_broker(sent) -> None:
    """Jobs are recorded, not sent: these tests run no worker."""


@pytest.fixture
def scientist(principals):
    return principals["data_scientist"]


@pytest.fixture
def engineer(principals):
    return principals["ml_engineer"]


def make_experiment(actor, name: str = "Sentiment tuning", **fields: Any) -> str:
    with session_scope() as s:
        return service.create_experiment(session=s, actor=actor, data={"name": name, **fields}).id


def make_run(actor, experiment_id: str, **fields: Any) -> str:
    with session_scope() as s:
        return service.start_run(session=s, actor=actor, experiment_id=experiment_id, data=fields).id


def log(actor, run_id: str, metrics=(), params=(), tags=()) -> service.BatchCounts:
    with session_scope() as s:
        return service.log_batch(session=s, actor=actor, run_id=run_id, metrics=metrics, params=params, tags=tags)


def finish(actor, run_id: str, status: str = "FINISHED", end_time: int | None = None) -> None:
    with session_scope() as s:
        service.set_run_status(session=s, actor=actor, run_id=run_id, status=status, end_time=end_time)


def trained_run(actor, experiment_id: str, *, accuracy: float, loss: float, lr: str, status: str = "FINISHED",
                end_time: int | None = None, steps: int = 5) -> str:
    """A run that logged `steps` points of accuracy and loss ending at the given values, and `lr`."""
    run_id = make_run(actor, experiment_id, params={"lr": lr})
    points = []
    for step in range(steps):
        share = (step + 1) / steps
        points += [("accuracy", accuracy * share, 1000 + step, step), ("loss", loss / share, 1000 + step, step)]
    log(actor, run_id, metrics=points)
    if status != "RUNNING":
        finish(actor, run_id, status, end_time)
    return run_id
