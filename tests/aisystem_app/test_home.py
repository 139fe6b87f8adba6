"""The home dashboard's data: real figures for everyone, recent audit records only with `audit:read`."""

from __future__ import annotations

import pytest

from aisystem_app import access
from aisystem_app.state.home import FIGURE_KEYS, HomeState, activity_figure, read_dashboard
from backend.platform_stats import service as platform_stats
from tests.aisystem_app.conftest import caller, signed_in_as


def test_admin_sees_figures_and_recent_activity(demo_users) -> None:
    dashboard = access.run_as(caller(demo_users["admin"]), read_dashboard)
    assert set(dashboard.figures) == set(FIGURE_KEYS)
    assert dashboard.figures["users"] == len(demo_users)
    assert dashboard.shows_recent and dashboard.recent
    assert len(dashboard.activity) == 14


def test_recent_activity_needs_audit_read(demo_users) -> None:
    dashboard = access.run_as(caller(demo_users["business_user"]), read_dashboard)
    assert not dashboard.shows_recent and dashboard.recent == []


def test_dashboard_maps_the_service_figures(demo_users, monkeypatch) -> None:
    """The page's own mapping, independent of how the service counts."""
    canned = {"users": 7, "auditEvents24h": 3, "jobsRunning": 1, "jobsQueued": 2, "models": 0, "datasets": 0,
              "activity": [{"day": "2026-11-20", "success": 2, "failure": 1, "denied": 0}]}
    monkeypatch.setattr(platform_stats, "dashboard_figures", lambda *, session: canned)
    dashboard = access.run_as(caller(demo_users["ml_ops"]), read_dashboard)
    assert dashboard.figures == {key: canned[key] for key in FIGURE_KEYS}
    assert dashboard.activity == canned["activity"] and not dashboard.shows_recent


def test_activity_chart_stacks_one_trace_per_outcome() -> None:
    figure = activity_figure([{"day": "2026-11-20", "success": 3, "failure": 1, "denied": 0}])
    assert [t.name for t in figure.data] == ["Success", "Failure", "Denied"]
    assert figure.layout.barmode == "stack"


@pytest.mark.anyio
async def test_load_formats_the_figures(root_state, demo_users) -> None:
    await signed_in_as(root_state, demo_users["data_scientist"])
    home = await root_state.get_state(HomeState)
    assert not await HomeState.load.fn(home)
    assert home.figures["users"] == str(len(demo_users)) and not home.loading and not home.shows_recent
