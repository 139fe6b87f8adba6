"""The comparison page's state without a browser: the design's three listings are picked on a first visit,
sliders re-weigh in-process (no query) and change the radar and the winner, presets, search, exports."""

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
