"""The home dashboard: platform figures, audit activity over two weeks, recent events."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.components.charts import stacked_bars
from aisystem_app.state.governance.audit import read_page
from aisystem_app.state.jobs import JobProgressMixin
from aisystem_app.state.session import invoke
from backend.audit.service import AUDIT_READ
from backend.auth.principal import Principal
from backend.jobs import service as jobs_service
from backend.platform_stats import service as platform_stats

RECENT_COUNT = 10
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
    tests_workers: bool = False


def read_dashboard(session: Session, principal: Principal) -> Dashboard:
    """The figures for everyone; the recent audit records only for holders of `audit:read`."""
    data = platform_stats.dashboard_figures(session=session)
    figures = {key: int(data.get(key) or 0) for key in FIGURE_KEYS}
    shows_recent = principal.can(AUDIT_READ)
    recent, _cursor = read_page(None, RECENT_COUNT)(session, principal) if shows_recent else ([], None)
    return Dashboard(figures, list(data.get("activity", [])), recent, shows_recent,
                     tests_workers=principal.can(START_JOBS))


SELFTEST_SECONDS = 5
START_JOBS = "job:create"  # only to show the button: the jobs service decides


def start_worker_selftest(session: Session, principal: Principal) -> str:
    """Queue a short worker self-test; its id, for the page to follow."""
    return jobs_service.start_job(session=session, actor=principal, type="platform.selftest",
                                  payload={"durationSeconds": SELFTEST_SECONDS}).id


def activity_figure(activity: list[dict]) -> go.Figure:
    """Audit events per day, stacked by outcome."""
    days = [fmt.day(row["day"], year=False) for row in activity]
    series = {name: [int(row.get(name, 0)) for row in activity] for name in ACTIVITY_SERIES}
    return stacked_bars(days, series, ACTIVITY_SERIES)


class HomeState(JobProgressMixin, rx.State):
    """Dashboard figures; loaded in the background on every visit. Admins may test the workers."""

    loading: bool = True
    figures: dict[str, str] = dict.fromkeys(FIGURE_KEYS, fmt.NONE)
    chart: go.Figure = go.Figure()
    has_chart: bool = False
    recent: list[dict[str, str]] = []
    shows_recent: bool = False
    tests_workers: bool = False

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
        self.figures = {key: fmt.count(value) for key, value in dashboard.figures.items()}
        self.chart = activity_figure(dashboard.activity)
        self.has_chart = bool(dashboard.activity)
        self.recent = dashboard.recent
        self.shows_recent = dashboard.shows_recent
        self.tests_workers = dashboard.tests_workers

    @rx.event(background=True)
    async def test_workers(self):
        """Run a worker self-test and follow it on the page."""
        outcome = await invoke(self, start_worker_selftest, write=True)
        return outcome.events if not outcome.ok else HomeState.follow_job(outcome.value)

    async def _job_finished(self, job: dict) -> list:
        """Reload the figures (the jobs counts moved); say how the self-test went."""
        done = rx.toast.success("A worker ran the self-test") if job["status"] == "succeeded" else None
        return [event for event in (done, HomeState.load) if event is not None]
