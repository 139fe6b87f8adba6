"""The benchmark page's state without a browser: the form offers packaged versions and tabular datasets, a
run queues the job and puts `?run=` in the URL, the loaded run shows labelled figures, charts with axis
titles and units, and the default leaderboard; a business user sees no form but reads the leaderboards."""

from __future__ import annotations

import pytest
from reflex.istate.data import ReflexURL, RouterData

from aisystem_app import routes
from aisystem_app.state.benchmarks.page import BenchmarksState
from backend.core.db import session_scope
from backend.endpoints import demo, serving
from backend.jobs import tasks as job_tasks
from backend.jobs.devices import CPU_ONLY
from tests.aisystem_app.conftest import navigation, signed_in_as
from tests.backend.benchmarks.conftest import upload
from tests.backend.endpoints.conftest import iris_frame, iris_package

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _cpu(monkeypatch):
    monkeypatch.setitem(job_tasks._this_worker, "devices", CPU_ONLY)
    serving.CACHE.clear()
    yield
    serving.CACHE.clear()


@pytest.fixture
def prepared(principals) -> tuple[str, list[str]]:
    engineer = principals["ml_engineer"]
    with session_scope() as s:
        model_id = None
        for patch, seed in ((0, 0), (1, 1)):
            weights, config = iris_package(seed)
            model_id, _ = demo.register(s, engineer, weights=weights, config=config, version=f"1.0.{patch}",
                                        model_id=model_id, name="Iris (bench state)")
        dataset_id = upload(s, engineer, iris_frame(), "iris bench")
    return dataset_id, model_id


async def at(root_state, user_id: str, path: str):
    await signed_in_as(root_state, user_id)
    state = await root_state.get_state(BenchmarksState)
    state.router = RouterData(url=ReflexURL(f"http://testserver{path}"))
    return state


async def test_run_and_read_results(root_state, demo_users, prepared, sent):
    dataset_id, _model_id = prepared
    state = await at(root_state, demo_users["ml_engineer"], routes.BENCHMARKS)
    await BenchmarksState.load.fn(state)
    assert state.can_run and [o["label"] for o in state.version_options] == ["Iris (bench state) 1.0.1",
                                                                           "Iris (bench state) 1.0.0"]
    assert state.dataset_options[dataset_id] == "iris bench (v1, Tabular)"
    await BenchmarksState.run.fn(state)
    assert state.form_error.startswith("Choose at least one")
    for option in state.version_options:
        BenchmarksState.toggle_version.fn(state, option["id"], True)
    BenchmarksState.pick_dataset.fn(state, dataset_id)
    events = await BenchmarksState.run.fn(state)
    path, _ = navigation(events)
    assert path.startswith(f"{routes.BENCHMARKS}?run=bench_")
    run_id = path.split("run=")[1]
    [job_id] = list(sent.routes)
    job_tasks.run_job(job_id)
    state.router = RouterData(url=ReflexURL(f"http://testserver{path}"))
    await BenchmarksState.load.fn(state)
    assert state.run_id == run_id and state.run_summary.startswith("Succeeded · iris bench v1 · Test split")
    assert "45 rows scored" in state.run_summary and "measured on CPU" in state.run_summary
    assert [c["label"] for c in state.columns][:2] == ["Accuracy", "Precision (macro)"]
    assert len(state.results) == 2
    cells = state.results[0]["cells"]
    assert cells[0].endswith("%") and cells[5].endswith(" ms") and cells[-1].endswith(" predictions/s")
    assert len(state.classes) == 6 and state.classes[0]["label"] == "setosa"
    assert state.latency_chart.layout.yaxis.title.text == "Latency (ms)"
    assert state.throughput_chart.layout.xaxis.title.text == "Batch size (rows per call)"
    assert state.throughput_chart.layout.yaxis.title.text == "Throughput (predictions/s)"
    assert state.board.startswith(f"default:{dataset_id}") and len(state.board_entries) == 2
    assert state.board_entries[0]["rank"] == "1" and state.board_metric.startswith("Ranked by Accuracy")
    await state._job_finished({"id": job_id, "status": "succeeded"})
    assert len(state.board_entries) == 2


async def test_reader_sees_leaderboards_only(root_state, demo_users, prepared):
    state = await at(root_state, demo_users["business_user"], routes.BENCHMARKS)
    await BenchmarksState.load.fn(state)
    assert not state.can_run and state.version_options == [] and state.board_entries == []
    events = BenchmarksState.pick_board.fn(state, "named:Nope")
    assert navigation(events)[0] == f"{routes.BENCHMARKS}?board=named%3ANope"
    state.router = RouterData(url=ReflexURL(f"http://testserver{routes.BENCHMARKS}?run=bench_nope"))
    events = await BenchmarksState.load.fn(state)
    assert state.run_id == "" and events  # not found: a toast
