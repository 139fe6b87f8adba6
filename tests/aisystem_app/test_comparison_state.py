"""The comparison page's state without a browser: the design's three listings are picked on a first visit,
sliders re-weigh in-process (no query) and change the radar and the winner, presets, search, exports; model
versions are offered, and two benchmarked versions show the bootstrap rank confidence."""

from __future__ import annotations

import json

import pytest
from reflex.istate.data import ReflexURL, RouterData

from aisystem_app.state.comparison import page as comparison_page
from aisystem_app.state.comparison.page import ComparisonState
from backend.core.db import session_scope
from tests.aisystem_app.conftest import signed_in_as

pytestmark = pytest.mark.anyio


@pytest.fixture
def listings(principals):
    """The design's GPT-4 / Claude 3 Opus / Llama 2 listings, published from the marketplace seed data."""
    from backend.auth.principal import SYSTEM
    from backend.marketplace import service as market
    from backend.marketplace.seed import _ensure_categories, _ensure_providers, listing_input
    from backend.marketplace.seed_data import LISTINGS

    with session_scope() as s:
        _ensure_categories(s)
        _ensure_providers(s)
        return {e["name"]: market.publish_listing(session=s, actor=SYSTEM, data=listing_input(e), embed=False).id
                for e in LISTINGS if e["name"] in ("GPT-4", "Claude 3 Opus", "Llama 2 70B Chat")}


async def at(root_state, user_id: str, path: str = "/compare"):
    await signed_in_as(root_state, user_id)
    state = await root_state.get_state(ComparisonState)
    state.router = RouterData(url=ReflexURL(f"http://testserver{path}"))
    return state


async def test_first_visit_compares_the_design_example(root_state, demo_users, listings, monkeypatch):
    state = await at(root_state, demo_users["business_user"])
    follow = await ComparisonState.load.fn(state)
    assert follow is not None
    assert state.selected == [listings["GPT-4"], listings["Claude 3 Opus"], listings["Llama 2 70B Chat"]]
    await ComparisonState.run_comparison.fn(state)
    assert state.winner == "Claude 3 Opus"
    assert [m["key"] for m in state.metric_list][:2] == ["performance", "cost_efficiency"]
    assert state.weights["performance"] == 25 and state.weights["cost_efficiency"] == 20
    radar = state.radar.to_dict()
    assert [t["type"] for t in radar["data"]] == ["scatterpolar"] * 3
    assert radar["data"][0]["name"].startswith("Claude 3 Opus · ")
    assert radar["data"][0]["theta"][0] == "Performance (25 %)"
    assert state.rows[0]["name"] == "Claude 3 Opus" and state.rows[0]["rank"] == "#1"
    assert state.cards[0]["name"] == "Claude 3 Opus" and state.insights
    assert state.missing_lines == ["No compared model has a value for Reliability (left out of every score)"]

    # Moving the cost slider re-evaluates without the database: Llama 2 becomes the winner.
    def no_query(*args, **kwargs):
        raise AssertionError("a slider move must not query")

    monkeypatch.setattr(comparison_page, "prepare", no_query)
    ComparisonState.set_weight.fn(state, "cost_efficiency", [90])
    assert state.winner == "Llama 2 70B Chat" and state.profile == ""
    radar = state.radar.to_dict()
    assert radar["data"][0]["name"].startswith("Llama 2 70B Chat · ")
    assert any(t.startswith("Cost Efficiency (") for t in radar["data"][0]["theta"])
    ComparisonState.use_profile.fn(state, "best_quality")
    assert state.winner == "Claude 3 Opus" and state.weights["cost_efficiency"] == 0
    csv_event = ComparisonState.export_csv.fn(state)
    json_event = ComparisonState.export_json.fn(state)
    assert csv_event is not None and json_event is not None
    assert json.loads(comparison_page.view.to_json(state.document))["recommendations"]["bestOverall"] == \
        listings["Claude 3 Opus"]
    assert comparison_page.view.to_csv(state.document).splitlines()[0].startswith("model_id,model,kind,overall_score")


async def test_search_pick_and_unpick(root_state, demo_users, listings):
    state = await at(root_state, demo_users["data_scientist"], f"/compare?models={listings['GPT-4']}")
    await ComparisonState.load.fn(state)
    assert state.selected == [listings["GPT-4"]]
    await ComparisonState.run_comparison.fn(state)
    assert state.rows == []  # one model: nothing to compare yet
    ComparisonState.set_query.fn(state, "llama 2")
    assert [m["label"] for m in state.matches] == ["Llama 2 70B Chat"]
    ComparisonState.pick.fn(state, listings["Llama 2 70B Chat"])
    await ComparisonState.run_comparison.fn(state)
    assert len(state.rows) == 2 and state.query == ""
    ComparisonState.unpick.fn(state, listings["GPT-4"])
    assert state.selected == [listings["Llama 2 70B Chat"]]


async def test_a_role_without_comparison_sees_no_page(root_state, demo_users, listings):
    state = await at(root_state, demo_users["data_engineer"])
    await ComparisonState.load.fn(state)
    assert not state.allowed


@pytest.fixture
def benchmarked(principals):
    """Two catalog models whose versions were benchmarked on the same 1,000 rows, with per-row samples:
    "Sharp" right on 92 % of them, "Blunt" on 80 %, at the same price."""
    import numpy as np

    from backend.catalog.model_registry import service as registry
    from backend.catalog.model_registry.schemas import ModelCreate
    from tests.backend.benchmarks.conftest import stored_result

    engineer = principals["ml_engineer"]
    rng = np.random.default_rng(11)
    truth = rng.integers(0, 2, 1000)
    ids = {}
    with session_scope() as s:
        for name, accuracy in (("Sharp", 0.92), ("Blunt", 0.80)):
            model = registry.create_model(session=s, actor=engineer, embed=False, data=ModelCreate.model_validate({
                "name": name, "type": "Tabular", "category": "Classification", "framework": "PyTorch",
                "pricing": {"model": "per_request", "inputTokens": 0.000002, "outputTokens": 0.000004},
                "version": "1.0.0"}))
            version = registry.find_version(session=s, model_id=model.id, version="1.0.0")
            predicted = np.where(rng.random(1000) < accuracy, truth, 1 - truth)
            stored_result(s, version_id=version.id, truth=truth, predicted=predicted)
            ids[name] = model.id
    return ids


async def test_rank_confidence_beside_the_ranking(root_state, demo_users, benchmarked, listings, monkeypatch):
    state = await at(root_state, demo_users["business_user"],
                     f"/compare?models={benchmarked['Sharp']},{benchmarked['Blunt']}")
    await ComparisonState.load.fn(state)
    await ComparisonState.run_comparison.fn(state)
    assert state.winner == "Sharp" and state.has_confidence
    rows = {r["name"]: r for r in state.rows}
    first = round(100 * next(m["probabilityFirst"] for m in state.document["rankConfidence"]["models"]
                             if m["modelId"] == benchmarked["Sharp"]))
    assert first >= 95 and rows["Sharp"]["first"] == f"{first} %" and rows["Sharp"]["rank_interval"] == "#1"
    assert rows["Blunt"]["rank_interval"].startswith("#")
    assert state.confidence_caption.startswith("Bootstrap: 1,000 resamples of the 1,000 test rows")
    assert "Performance recomputed on each" in state.confidence_caption
    assert any("ranks first in" in line and "bootstrap resamples" in line for line in state.insights)
    assert "p_first" in comparison_page.view.to_csv(state.document).splitlines()[0]

    # A slider move re-ranks the same resamples in-process: on cost alone (the same price) the two tie on
    # every resample and share it.
    def no_query(*args, **kwargs):
        raise AssertionError("a slider move must not query")

    monkeypatch.setattr(comparison_page, "prepare", no_query)
    for key in state.weights:
        ComparisonState.set_weight.fn(state, key, [100 if key == "cost_efficiency" else 0])
    rows = {r["name"]: r for r in state.rows}
    assert rows["Blunt"]["first"] == "50 %" == rows["Sharp"]["first"] and rows["Blunt"]["rank_interval"] == "#1"
    assert "carry no weight" in state.document["rankConfidence"]["note"]

    # Listings have no benchmark rows: no confidence columns at all.
    monkeypatch.undo()
    state.selected = [listings["GPT-4"], listings["Claude 3 Opus"]]
    await ComparisonState.run_comparison.fn(state)
    assert not state.has_confidence and state.confidence_caption == ""
    assert all(r["first"] == "" for r in state.rows)


@pytest.fixture
def versions(principals):
    """As the demo seed: one classifier with versions 1.0.0 and 1.1.0, both benchmarked on the same 1,000 test
    rows with per-row samples (1.1.0 right on 93 % of them, 1.0.0 on 85 %), and an unbenchmarked 2.0.0."""
    import numpy as np

    from backend.catalog.model_registry import service as registry
    from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
    from tests.backend.benchmarks.conftest import stored_result

    engineer = principals["ml_engineer"]
    rng = np.random.default_rng(7)
    truth = rng.integers(0, 2, 1000)
    ids = {}
    with session_scope() as s:
        model = registry.create_model(session=s, actor=engineer, embed=False, data=ModelCreate.model_validate({
            "name": "Cellar classifier", "type": "Tabular", "category": "Classification", "framework": "PyTorch",
            "version": "1.0.0"}))
        for number in ("1.1.0", "2.0.0"):
            registry.create_version(session=s, actor=engineer, model_id=model.id,
                                    data=VersionCreate.model_validate({"version": number}))
        for number, accuracy in (("1.0.0", 0.85), ("1.1.0", 0.93), ("2.0.0", None)):
            version = registry.find_version(session=s, model_id=model.id, version=number)
            ids[number] = version.id
            if accuracy is not None:
                predicted = np.where(rng.random(1000) < accuracy, truth, 1 - truth)
                stored_result(s, version_id=version.id, truth=truth, predicted=predicted)
        ids["model"] = model.id
    return ids


async def test_model_versions_are_offered(root_state, demo_users, versions):
    state = await at(root_state, demo_users["business_user"])
    await ComparisonState.load.fn(state)
    offered = [o for o in state.options if o["group"] == "Model versions"]
    assert [(o["value"], o["label"]) for o in offered if o["label"].startswith("Cellar classifier")] == [
        (versions["1.0.0"], "Cellar classifier 1.0.0"), (versions["1.1.0"], "Cellar classifier 1.1.0"),
        (versions["2.0.0"], "Cellar classifier 2.0.0")]
    assert {"value": versions["model"], "label": "Cellar classifier", "group": "Catalog", "slug": ""} in state.options
    ComparisonState.set_query.fn(state, "cellar 1.1")
    assert [m["value"] for m in state.matches] == [versions["1.1.0"]]


async def test_two_benchmarked_versions_show_the_rank_confidence(root_state, demo_users, versions):
    # A shared link names the versions by id; a reload picks them again, labelled as versions.
    state = await at(root_state, demo_users["business_user"],
                     f"/compare?models={versions['1.0.0']},{versions['1.1.0']}")
    await ComparisonState.load.fn(state)
    assert state.selected == [versions["1.0.0"], versions["1.1.0"]]
    assert [(c["label"], c["group"]) for c in state.chips] == [
        ("Cellar classifier 1.0.0", "Model versions"), ("Cellar classifier 1.1.0", "Model versions")]
    await ComparisonState.run_comparison.fn(state)
    assert state.winner == "Cellar classifier 1.1.0" and state.has_confidence
    rows = {r["name"]: r for r in state.rows}
    assert rows["Cellar classifier 1.1.0"]["kind"] == "Model version"
    assert rows["Cellar classifier 1.1.0"]["first"].endswith(" %") and rows["Cellar classifier 1.0.0"]["first"]
    assert rows["Cellar classifier 1.1.0"]["rank_interval"] == "#1"
    assert state.confidence_caption.startswith("Bootstrap: 1,000 resamples of the 1,000 test rows")

