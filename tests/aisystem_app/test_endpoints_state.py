"""The endpoint pages' states driven without a browser: the list (status in words, versions, traffic,
figures from the prediction log), creating an endpoint, and one endpoint's page: "Try it" predicts a stored
example and explains it, the canary split, the blue-green switch, model keys (secret once, revoke), and
what a reader without write permission is shown."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

import pytest
from reflex.istate.data import ReflexURL, RouterData

from aisystem_app.state.catalog.endpoints import view
from aisystem_app.state.catalog.endpoints.detail import EndpointState, typed
from aisystem_app.state.catalog.endpoints.index import EndpointsState
from backend.core.db import session_scope
from backend.core.timeutil import utcnow
from backend.endpoints import demo, predlog, serving
from backend.endpoints import service as endpoints
from tests.aisystem_app.conftest import navigation, signed_in_as
from tests.backend.endpoints.conftest import iris_frame, iris_package

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _fresh_cache():
    serving.CACHE.clear()
    yield
    predlog.flush()
    serving.CACHE.clear()


@pytest.fixture
def served(principals) -> tuple[str, str]:
    """An iris model with versions 1.0.0 and 1.0.1, and an endpoint serving 1.0.0 with two stored examples."""
    with session_scope() as s:
        model_id = None
        for patch, seed in ((0, 0), (1, 1)):
            weights, config = iris_package(seed)
            model_id, _ = demo.register(s, principals["ml_engineer"], weights=weights, config=config,
                                        version=f"1.0.{patch}", model_id=model_id, name="Iris (state test)")
        rows = iris_frame().gather([0, 100]).to_dicts()
        examples = [{"input": {k: v for k, v in r.items() if k != "species"}, "expected": {"label": r["species"]}}
                    for r in rows]
        endpoint = endpoints.create_endpoint(session=s, actor=principals["ml_ops"],
                                             data={"name": "iris-ui", "examples": examples})
        endpoints.deploy(session=s, actor=principals["ml_ops"], endpoint_id=endpoint.id,
                         data={"modelId": model_id, "version": "1.0.0"})
        return endpoint.id, model_id


async def at(root_state, state_cls, user_id: str, path: str):
    await signed_in_as(root_state, user_id)
    state = await root_state.get_state(state_cls)
    state.router = RouterData(url=ReflexURL(f"http://testserver{path}"))
    return state


async def test_list_shows_status_versions_and_figures(root_state, demo_users, served):
    endpoint_id, _ = served
    state = await at(root_state, EndpointsState, demo_users["business_user"], view.ENDPOINTS)
    await EndpointsState.load.fn(state)
    row = next(r for r in state.rows if r["id"] == endpoint_id)
    assert row["status_text"] == "Serving" and row["versions"] == "1.0.0 (pinned)"
    assert row["traffic"] == "1.0.0 · 100 %" and row["p95"] == "—" and row["model"] == "Iris (state test)"
    assert row["spark"].startswith("data:image/svg+xml") and not state.can_create  # business users only read


async def test_create_endpoint_from_the_list(root_state, demo_users, served):
    _, model_id = served
    state = await at(root_state, EndpointsState, demo_users["ml_ops"], view.ENDPOINTS)
    await EndpointsState.load.fn(state)
    assert state.can_create
    await EndpointsState.open_new.fn(state, True)
    assert state.model_options[model_id] == "Iris (state test)"
    EndpointsState.pick_model.fn(state, model_id)
    assert list(state.version_options) == ["1.0.1", "1.0.0"] and state.new_version == "1.0.1"
    events = await EndpointsState.create.fn(state, {"name": "iris-second", "description": ""})
    path, _ = navigation(events)
    with session_scope(write=False) as s:
        created = s.get(endpoints.Endpoint, path.rsplit("/", 1)[-1])
        assert created.name == "iris-second" and created.version == "1.0.1" and created.status == "running"
    # A name in use is refused; the dialog stays open.
    await EndpointsState.open_new.fn(state, True)
    events = await EndpointsState.create.fn(state, {"name": "iris-second"})
    assert navigation(events) is None and state.new_open


async def test_try_it_predicts_and_explains(root_state, demo_users, served):
    endpoint_id, _ = served
    state = await at(root_state, EndpointState, demo_users["ml_ops"], f"{view.ENDPOINTS}/{endpoint_id}?tab=try")
    await EndpointState.load.fn(state)
    assert state.tab == "try" and state.status == "running"
    assert [c.name for c in state.columns] == ["sepal_length", "sepal_width", "petal_length", "petal_width",
                                               "petal_band"]
    band = next(c for c in state.columns if c.name == "petal_band")
    assert band.kind == "categorical" and set(band.options) == {"short", "medium", "long"}
    assert state.columns[0].value == "5.1"  # the first stored example fills the form
    EndpointState.pick_example.fn(state, state.examples[1])
    assert state.examples[1] == "Example 2 (expected: virginica)" and state.columns[0].value == "6.3"
    form = {c.name: c.value for c in state.columns}
    await EndpointState.predict.fn(state, form)
    assert state.predicted == "virginica" and state.answered_by.startswith("Answered by version 1.0.0 in")
    assert state.probabilities[0].label == "virginica" and state.probabilities[0].top
    assert state.has_explanation
    figure = state.explanation
    assert figure.layout.xaxis.title.text.startswith("Attribution to “virginica”")
    assert figure.layout.yaxis.title.text == "Input column"
    assert set(figure.data[0].y) == {"sepal_length", "sepal_width", "petal_length", "petal_width", "petal_band"}
    # The prediction is in the log and the metrics now.
    assert state.logs[0]["version"] == "1.0.0" and state.logs[0]["outcome"] == "OK"
    assert state.requests == "1" and state.has_traffic
    assert state.drift_rows == [] and state.drift_note == "1 instance in the window; drift needs at least 30"


async def test_metrics_tab_shows_input_drift(root_state, demo_users, principals, served):
    endpoint_id, _ = served
    shifted = iris_frame().drop("species").head(40).with_columns(petal_band=None).to_dicts()
    state = await at(root_state, EndpointState, demo_users["ml_ops"], f"{view.ENDPOINTS}/{endpoint_id}?tab=metrics")
    await EndpointState.load.fn(state)
    assert "drift needs at least 30" in state.drift_note
    await EndpointState.predict.fn(state, {**shifted[0], "sepal_length": "12.0"})  # one by hand, through the form
    with session_scope() as session:
        endpoints.predict(session=session, actor=principals["ml_ops"], endpoint_id=endpoint_id, instances=[{**r, "sepal_length": r["sepal_length"] + 5} for r in shifted])
    await EndpointState.load.fn(state)
    rows = {r["feature"]: r for r in state.drift_rows}
    assert rows["sepal_length"]["verdict"] == "Drifted" and rows["sepal_length"]["measure"].startswith("mean moved")
    assert rows["petal_band"]["verdict"] == "Drifted" and "(missing) (40)" in rows["petal_band"]["measure"]
    assert state.drift_rows[0]["verdict"] == "Drifted" and "41 inputs to version 1.0.0" in state.drift_note


def test_sparkline_draws_p95_latency_and_marks_error_minutes():
    now = utcnow().replace(second=0, microsecond=0)
    minute = lambda ago: (now - timedelta(minutes=ago)).strftime("%Y-%m-%dT%H:%M:00Z")  # noqa: E731
    series = [{"minute": minute(3), "requests": 10, "errors": 0, "p95": 4.0},
              {"minute": minute(2), "requests": 10, "errors": 5, "p95": 8.0},
              {"minute": minute(1), "requests": 4, "errors": 0, "p95": 2.0}]
    svg = unquote(view.sparkline(series).split(",", 1)[1])
    assert svg.count("<polyline") == 1 and svg.count("<line") == 1  # one run of minutes, one with errors
    label = view.sparkline_label({"series": series, "requests": 24, "error_rate": 5 / 24})
    assert label.startswith("p95 latency per minute over the last hour (highest 8.0 ms)") and "20.8%" in label


async def test_bad_input_names_the_field(root_state, demo_users, served):
    endpoint_id, _ = served
    state = await at(root_state, EndpointState, demo_users["ml_ops"], f"{view.ENDPOINTS}/{endpoint_id}?tab=try")
    await EndpointState.load.fn(state)
    form = {c.name: c.value for c in state.columns} | {"sepal_length": "tall"}
    assert typed(state.columns, form)["sepal_length"] == "tall"
    events = await EndpointState.predict.fn(state, form)
    assert "sepal_length" in str(events) and state.predicted == ""


async def test_canary_switch_and_keys(root_state, demo_users, served):
    endpoint_id, _ = served
    state = await at(root_state, EndpointState, demo_users["ml_ops"], f"{view.ENDPOINTS}/{endpoint_id}")
    await EndpointState.load.fn(state)
    assert state.may_write and state.candidate_options == {"1.0.1": "Version 1.0.1"}
    EndpointState.set_candidate.fn(state, "1.0.1")
    EndpointState.set_percent.fn(state, "10")
    await EndpointState.apply_canary.fn(state)
    assert state.traffic == "Canary: 10 % to 1.0.1"
    assert [(s.version, s.percent) for s in state.shares] == [("1.0.0", "90 %"), ("1.0.1", "10 %")]
    await EndpointState.switch.fn(state)
    assert state.version == "1.0.1" and [(s.version, s.percent) for s in state.shares] == [("1.0.1", "100 %"),
                                                                                           ("1.0.0", "0 %")]
    # Keys: the secret once, then listed by prefix; revoked keys stop being active.
    EndpointState.open_key.fn(state, True)
    events = await EndpointState.create_key.fn(state, {"keyName": "shop", "expiresInDays": ""})
    assert state.key_created and state.keys[0]["name"] == "shop" and state.keys[0]["state"] == "Active"
    # The key goes to the browser once, in a script, and is in no state var (states are persisted).
    script = str(events[0])
    secret = re.search(r"aimk_[A-Za-z0-9]+_[A-Za-z0-9_-]+", script).group(0)
    assert secret.startswith(state.keys[0]["prefix"].rstrip("…"))
    assert secret not in str(state.dict())
    await EndpointState.revoke_key.fn(state, state.keys[0]["id"])
    assert state.keys[0]["state"] == "Revoked" and state.keys[0]["active"] == ""
    # Scaling within bounds.
    await EndpointState.scale.fn(state, {"replicas": "2", "minReplicas": "1", "maxReplicas": "3",
                                         "autoScaling": "on", "targetUtilization": "60"})
    assert state.replicas == "2" and state.auto_scaling and state.target_utilization == "60"
    await EndpointState.undeploy.fn(state)
    assert state.status == "undeployed"


async def test_a_reader_sees_no_controls(root_state, demo_users, served):
    endpoint_id, _ = served
    state = await at(root_state, EndpointState, demo_users["business_user"], f"{view.ENDPOINTS}/{endpoint_id}")
    await EndpointState.load.fn(state)
    assert state.found and not state.may_write and state.may_invoke and state.keys == []
    EndpointState.set_candidate.fn(state, "1.0.1")
    events = await EndpointState.apply_canary.fn(state)
    assert "permission" in str(events)
    missing = await at(root_state, EndpointState, demo_users["business_user"], f"{view.ENDPOINTS}/nope")
    await EndpointState.load.fn(missing)
    assert not missing.found
