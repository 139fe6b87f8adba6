"""Real packaged models for the endpoint tests: an iris classifier trained in-process (plain torch, well
under a second), two seeds of it cached per test session, registered afresh in each test's database."""

from __future__ import annotations

import functools

import polars as pl
import pytest

from backend.endpoints import demo, predlog, ratelimit, serving


@functools.cache
def iris_frame() -> pl.DataFrame:
    from sklearn.datasets import load_iris

    bunch = load_iris()
    columns = {n.replace(" (cm)", "").replace(" ", "_"): bunch.data[:, i] for i, n in enumerate(bunch.feature_names)}
    columns["petal_band"] = ["short" if v < 2.5 else "medium" if v < 5.0 else "long" for v in bunch.data[:, 2]]
    columns["species"] = [str(bunch.target_names[t]) for t in bunch.target]
    return pl.DataFrame(columns)


@functools.cache
def iris_package(seed: int) -> tuple[bytes, dict]:
    return demo.train_tabular(iris_frame(), label="species", seed=seed, steps=150)


def rows(n: int = 3) -> list[dict]:
    return iris_frame().drop("species").head(n).to_dicts()


@pytest.fixture(autouse=True)
def _fresh_serving():
    """Each test starts with an empty model cache, rate buckets and prediction log queue."""
    serving.CACHE.clear()
    ratelimit.LOCAL.clear()
    yield
    predlog.flush()
    serving.CACHE.clear()


@pytest.fixture
def iris_model(session, principals):
    """Registers versions 1.0.0 (seed 0) and 1.0.1 (seed 1) of an iris model; returns its id."""
    actor = principals["ml_engineer"]
    model_id = None
    for patch, seed in ((0, 0), (1, 1)):
        weights, config = iris_package(seed)
        model_id, _ = demo.register(session, actor, weights=weights, config=config, version=f"1.0.{patch}",
                                    model_id=model_id, name="iris")
    session.commit()
    return model_id
