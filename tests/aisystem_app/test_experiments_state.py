"""The experiments pages' states: the list with its URL filters, an experiment's tabs, server-side sort by
a metric, run selection and charts, the compare view and the live refresh that ends with the run."""

from __future__ import annotations

import asyncio

import pytest
import reflex as rx
from reflex.istate.data import ReflexURL, RouterData

from aisystem_app.state.catalog.experiments import detail as detail_module
from aisystem_app.state.catalog.experiments.compare import CompareState
from aisystem_app.state.catalog.experiments.detail import ExperimentState
from aisystem_app.state.catalog.experiments.index import ExperimentsState
from backend.catalog.experiments import service
from backend.core.db import session_scope
from tests.aisystem_app.conftest import follow, navigation, signed_in_as

pytestmark = pytest.mark.anyio


def make(actor, name: str, runs: dict[str, tuple[str, list[float]]], objective="maximize_val_accuracy",
         running: tuple[str, ...] = ()) -> tuple[str, dict[str, str]]:
    """An experiment whose runs logged val_accuracy per step (values given) and param lr."""
    ids = {}
    with session_scope() as s:
        experiment = service.create_experiment(session=s, actor=actor, data={
            "name": name, "objective": objective, "task": "classification"})
        for run_name, (lr, values) in runs.items():
            run = service.start_run(session=s, actor=actor, experiment_id=experiment.id,
                                    data={"name": run_name, "params": {"lr": lr, "batch": "32"}})
            service.log_metrics(session=s, actor=actor, run_id=run.id, metrics=[
                ("val_accuracy", v, 1000 + i, i) for i, v in enumerate(values)])
            if run_name not in running:
                service.set_run_status(session=s, actor=actor, run_id=run.id, status="FINISHED")
            ids[run_name] = run.id
        return experiment.id, ids


@pytest.fixture
def scientist(demo_users):
    from backend.auth.principal import Principal

    return Principal(user_id=demo_users["data_scientist"], username="data_scientist", role="data_scientist",
                     credential_type="session")


async def open_page(root_state, user_id: str, path: str):
    await signed_in_as(root_state, user_id)
    state = await root_state.get_state(ExperimentState)
    state.router = RouterData(url=ReflexURL(f"http://testserver{path}"))
    await ExperimentState.load.fn(state)
    return state


async def test_list_filters_live_in_the_url(root_state, demo_users, scientist) -> None:
    make(scientist, "Churn MLP", {"a": ("0.1", [0.5, 0.7])})
    make(scientist, "Digits CNN", {"b": ("0.01", [0.9])})
    await signed_in_as(root_state, demo_users["data_scientist"])
    state = await root_state.get_state(ExperimentsState)
    state.router = RouterData(url=ReflexURL("http://testserver/catalog/experiments"))
    await ExperimentsState.load.fn(state)
    assert {r["name"] for r in state.rows} == {"Churn MLP", "Digits CNN"}
    churn = next(r for r in state.rows if r["name"] == "Churn MLP")
    assert churn["objective"] == "Maximise val accuracy" and churn["status"] == "completed"
    assert churn["best"] == "70.0% (a)" and churn["runs"] == "1" and churn["owner"] == "data_scientist"
    path, replace = await follow(state, ExperimentsState.apply_filters.fn(state, {"q": "churn", "status": "bogus"}))
    assert path == "/catalog/experiments?q=churn" and not replace
    assert [r["name"] for r in state.rows] == ["Churn MLP"] and state.filtered
    await follow(state, ExperimentsState.apply_filters.fn(state, {"q": "", "status": "running"}))
    assert state.rows == [] and state.filters["status"] == "running"


async def test_tabs_sort_and_selection_live_in_the_url(root_state, demo_users, scientist) -> None:
    experiment_id, runs = make(scientist, "LR sweep", {"slow": ("0.001", [0.5, 0.6]), "fast": ("0.1", [0.7, 0.9]),
                                                       "mid": ("0.01", [0.6, 0.8])})
    base = f"/catalog/experiments/{experiment_id}"
    state = await open_page(root_state, demo_users["data_scientist"], base)
    assert state.name == "LR sweep" and state.tab == "runs"
    assert state.metric_keys == ["val_accuracy"] and state.param_keys == ["lr", "batch"]  # the one that differs first

    path, _ = await follow(state, ExperimentState.sort_runs.fn(state, "metrics.val_accuracy"))
    assert path == f"{base}?sort=-metrics.val_accuracy"
    assert [r["name"] for r in state.rows] == ["fast", "mid", "slow"]
    assert state.rows[0]["m:val_accuracy"] == "90.0%" and state.rows[0]["p:lr"] == "0.1"
    await follow(state, ExperimentState.sort_runs.fn(state, "metrics.val_accuracy"))
    assert [r["name"] for r in state.rows] == ["slow", "mid", "fast"]

    # The best parameters follow the objective; the charts tab is in the URL and draws the picked runs.
    assert state.best_name == "fast" and {"key": "Lr", "value": "0.1"} in state.best_params
    path, _ = await follow(state, ExperimentState.choose_tab.fn(state, "charts"))
    assert path == f"{base}?tab=charts&sort=metrics.val_accuracy" and state.tab == "charts"
    await follow(state, ExperimentState.toggle_run.fn(state, runs["fast"]))
    path, replace = await follow(state, ExperimentState.toggle_run.fn(state, runs["slow"]))
    assert replace and f"sel={runs['fast']}%2C{runs['slow']}" in path
    assert sorted(state.charted_names) == ["fast", "slow"] and state.has_curves
    figure = state.curves
    assert sorted(t.name for t in figure.data) == ["fast", "slow"]
    assert figure.layout.xaxis.title.text == "Step" and figure.layout.yaxis.title.text == "Val accuracy (%)"
    assert list(next(t for t in figure.data if t.name == "fast").y) == pytest.approx([70.0, 90.0])
    assert state.has_parallel  # lr varies, objective logged by 3 runs
    assert [d.label for d in state.parallel.data[0].dimensions] == ["Lr (log scale)", "Val accuracy (%)"]

    # A reload (another tab opening the same URL) shows the same view.
    other = await open_page(rx.State(_reflex_internal_init=True), demo_users["data_scientist"], path)
    assert other.tab == "charts" and sorted(other.charted_names) == ["fast", "slow"]
    assert [r["name"] for r in other.rows] == ["slow", "mid", "fast"]

    # The run dialog: its params, metrics and log.
    await follow(state, ExperimentState.open_run.fn(state, runs["fast"]))
    assert state.run_open and state.run["name"] == "fast"
    assert {"key": "Lr", "value": "0.1"} in state.run["params"]
    assert state.run["metrics"][0]["latest"] == "90.0%" and state.run["metrics"][0]["count"] == "2"
    assert navigation(ExperimentState.close_run.fn(state, False))[0].endswith("tab=charts&sort=metrics.val_accuracy&"
                                                                            f"sel={runs['fast']}%2C{runs['slow']}")


async def test_unknown_experiment_says_not_found(root_state, demo_users) -> None:
    state = await open_page(root_state, demo_users["data_scientist"], "/catalog/experiments/experiment_nope")
    assert not state.found


async def test_compare_two_experiments(root_state, demo_users, scientist) -> None:
    first, _ = make(scientist, "Adam", {"a1": ("0.01", [0.6, 0.8])})
    second, _ = make(scientist, "SGD", {"s1": ("0.1", [0.5, 0.7])})
    await signed_in_as(root_state, demo_users["data_scientist"])
    lister = await root_state.get_state(ExperimentsState)
    lister.router = RouterData(url=ReflexURL("http://testserver/catalog/experiments"))
    await ExperimentsState.load.fn(lister)
    await follow(lister, ExperimentsState.toggle_pick.fn(lister, first))
    path, replace = await follow(lister, ExperimentsState.toggle_pick.fn(lister, second))
    assert replace and path == f"/catalog/experiments?pick={first}%2C{second}" and lister.picked == [first, second]
    state = await root_state.get_state(CompareState)
    state.router = RouterData(url=ReflexURL(f"http://testserver{lister.compare_href}"))
    await CompareState.load.fn(state)
    assert state.names == ["Adam", "SGD"] and state.best_runs == ["best run a1", "best run s1"]
    row = state.metric_rows[0]
    assert row["key"].startswith("Val accuracy") and (row["e0"], row["e1"]) == ("80.0%", "70.0%")
    assert row["b0"] == "true" and row["b1"] == ""
    lr = next(r for r in state.param_rows if r["key"] == "Lr")
    assert lr["differs"] == "true" and (lr["e0"], lr["e1"]) == ("0.01", "0.1")
    assert next(r for r in state.param_rows if r["key"] == "Batch")["differs"] == ""
    assert state.has_curves and len(state.curves.data) == 2

    state.router = RouterData(url=ReflexURL(f"http://testserver/catalog/experiments/compare?ids={first}"))
    await CompareState.load.fn(state)
    assert state.names == [] and "two experiments" in state.message


async def test_live_curves_refresh_until_the_run_ends(root_state, demo_users, scientist, monkeypatch) -> None:
    monkeypatch.setattr(detail_module, "LIVE_SECONDS", 0.05)
    experiment_id, runs = make(scientist, "Live", {"now": ("0.01", [0.5])}, running=("now",))
    state = await open_page(root_state, demo_users["data_scientist"], f"/catalog/experiments/{experiment_id}?tab=charts")
    assert state.live
    follower = asyncio.ensure_future(ExperimentState.follow_live.fn(state))
    await asyncio.sleep(0.3)
    with session_scope() as s:
        service.log_metrics(session=s, actor=scientist, run_id=runs["now"], metrics=[("val_accuracy", 0.75, 2000, 1)])
    for _ in range(50):
        await asyncio.sleep(0.05)
        if len(state.curves.data[0].y) == 2:
            break
    assert list(state.curves.data[0].y) == pytest.approx([50.0, 75.0])  # new point drawn without a reload
    assert not follower.done()
    with session_scope() as s:
        service.set_run_status(session=s, actor=scientist, run_id=runs["now"], status="FINISHED")
    result = await asyncio.wait_for(follower, 5)
    assert not state.live and result is ExperimentState.load  # stops and re-reads the page once
    assert state.rows[0]["status"] == "FINISHED"


async def test_the_charts_tab_has_history_and_importance(root_state, demo_users, scientist) -> None:
    experiment_id, _ids = make(scientist, "LR sweep", {
        "slow": ("0.0001", [0.6]), "good": ("0.01", [0.9]), "wild": ("0.1", [0.7]), "good too": ("0.01", [0.88])})
    state = await open_page(root_state, demo_users["data_scientist"], f"/catalog/experiments/{experiment_id}")
    assert not state.has_history  # computed for the Charts tab only
    state = await open_page(root_state, demo_users["data_scientist"], f"/catalog/experiments/{experiment_id}?tab=charts")
    assert state.has_history and state.has_importance
    names = [trace.name for trace in state.history.data]
    assert names == ["Run", "Best so far (highest)"]
    best = list(state.history.data[1].y)  # shares drawn as percentages; never worse than before
    assert len(best) == 4 and best == sorted(best) and best[-1] == 90.0
    assert list(state.importance.data[0].y) == ["Lr"]  # batch never changes: it cannot explain anything
    assert state.importance_top == ("Only lr varies between these runs, so all of the variation in val accuracy is "
                                    "put down to it.")

    empty_id, _ = make(scientist, "Nothing yet", {})
    state = await open_page(root_state, demo_users["data_scientist"], f"/catalog/experiments/{empty_id}?tab=charts")
    assert not state.has_history and not state.has_importance and state.importance_top == ""
