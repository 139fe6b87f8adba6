"""The home dashboard: platform figures, audit activity over two weeks, recent events."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app.components.charts import stacked_bars
from aisystem_app.state.audit import PERMISSION as AUDIT_READ
from aisystem_app.state.audit import read_page
from aisystem_app.state.session import invoke
from backend.auth.principal import Principal
from backend.platform_stats import service as platform_stats

RECENT_COUNT = 10
UNKNOWN = "—"
FIGURE_KEYS = ("users", "auditEvents24h", "jobsRunning", "jobsQueued", "models", "datasets")
# Outcome -> bar colour (Radix scale steps read well on light and dark backgrounds).
ACTIVITY_SERIES = {"success": "#3e63dd", "failure": "#e5484d", "denied": "#f76b15"}


@dataclass(frozen=True)
class Dashboard:
    """Everything the home page shows, read in one unit of work."""

    figures: dict[str, int]
    activity: list[dict]
    recent: list[dict[str, str]]
    shows_recent: bool


def read_dashboard(session: Session, principal: Principal) -> Dashboard:
    """The figures for everyone; the recent audit records only for holders of `audit:read`."""
    data = platform_stats.dashboard_figures(session=session)
    figures = {key: int(data.get(key) or 0) for key in FIGURE_KEYS}
    shows_recent = principal.can(AUDIT_READ)
    recent, _cursor = read_page(None, RECENT_COUNT)(session, principal) if shows_recent else ([], None)
    return Dashboard(figures, list(data.get("activity", [])), recent, shows_recent)


def activity_figure(activity: list[dict]) -> go.Figure:
    """Audit events per day, stacked by outcome."""
    days = [row["day"] for row in activity]
    series = {name: [int(row.get(name, 0)) for row in activity] for name in ACTIVITY_SERIES}
    return stacked_bars(days, series, ACTIVITY_SERIES)


class HomeState(rx.State):
    """Dashboard figures; loaded in the background on every visit."""

    loading: bool = True
    figures: dict[str, str] = dict.fromkeys(FIGURE_KEYS, UNKNOWN)
    chart: go.Figure = go.Figure()
    has_chart: bool = False
    recent: list[dict[str, str]] = []
    shows_recent: bool = False

    @rx.event(background=True)
    async def load(self):
        """Read the dashboard for the signed-in user."""
        async with self:
            self.loading = True
        outcome = await invoke(self, read_dashboard)
        async with self:
            self.loading = False
            if outcome.ok:
                self._show(outcome.value)
        return outcome.events or None

    def _show(self, dashboard: Dashboard) -> None:
        self.figures = {key: f"{value:,}" for key, value in dashboard.figures.items()}
        self.chart = activity_figure(dashboard.activity)
        self.has_chart = bool(dashboard.activity)
        self.recent = dashboard.recent
        self.shows_recent = dashboard.shows_recent
