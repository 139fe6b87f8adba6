"""/: platform figures, two weeks of audit activity and the latest events."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.badges import outcome_badge
from aisystem_app.components.charts import chart_card
from aisystem_app.components.feedback import empty_state, panel
from aisystem_app.components.job_progress import job_progress
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.components.stat_card import stat_card, stat_grid
from aisystem_app.state.home import HomeState

# (figure key, label, icon)
STATS = (
    ("users", "Users", "users"),
    ("auditEvents24h", "Audit events, last 24 h", "activity"),
    ("jobsRunning", "Jobs running", "loader"),
    ("jobsQueued", "Jobs queued", "list-ordered"),
    ("models", "Models", "box"),
    ("datasets", "Datasets", "database"),
)


def activity_item(row: rx.Var) -> rx.Component:
    """One audit record: action, actor and time."""
    return rx.hstack(
        rx.vstack(
            rx.text(row["action"], size="2", weight="medium"),
            rx.text(row["actor"], " · ", row["entity"], size="1", color_scheme="gray"),
            spacing="0",
            align="start",
            min_width="0",
        ),
        rx.spacer(),
        rx.vstack(outcome_badge(row["outcome"].to(str)),
                  rx.text(row["ago"], size="1", color_scheme="gray", title=row["time"], white_space="nowrap"),
                  spacing="1", align="end"),
        width="100%",
        padding_y="0.5rem",
        border_bottom=f"1px solid {rx.color('gray', 4)}",
        class_name="recent-activity-item",
    )


def recent_activity() -> rx.Component:
    """The last audit records (holders of `audit:read` only)."""
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading("Recent activity", size="4"), rx.spacer(),
                      rx.link("View audit log", href=routes.AUDIT, size="2"), width="100%", align="center"),
            panel(HomeState.loading, HomeState.recent,
                  rx.vstack(rx.foreach(HomeState.recent, activity_item), spacing="0", width="100%"),
                  empty_state("No activity yet"), rows=5, height="1.75rem"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="recent-activity",
    )


def worker_check() -> rx.Component:
    """Admins: send a short self-test to the workers and watch one take it, live."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Workers", size="4"),
                rx.spacer(),
                rx.button("Run self-test", size="2", variant="soft", on_click=HomeState.test_workers,
                          disabled=HomeState.job_active, id="run-selftest"),
                width="100%",
                align="center",
            ),
            rx.text("A five-second job that proves a worker takes jobs, reports progress and finishes.",
                    size="2", color_scheme="gray"),
            job_progress(HomeState, title="Worker self-test"),
            spacing="3",
            width="100%",
        ),
        width="100%",
        id="worker-check",
    )


@protected_page(routes.HOME, "Home", on_load=[HomeState.load])
def home() -> rx.Component:
    """The dashboard."""
    return rx.vstack(
        page_header("An overview of the platform."),
        stat_grid(*[stat_card(label, HomeState.figures[key], icon, HomeState.loading, stat_id=key) for key, label, icon in STATS]),
        rx.grid(
            chart_card("Audit activity", HomeState.chart, loading=HomeState.loading, ready=HomeState.has_chart,
                       description="Audited events per day over the last 14 days, by outcome."),
            rx.cond(HomeState.shows_recent, recent_activity()),
            columns=rx.breakpoints(initial="1", lg=rx.cond(HomeState.shows_recent, "2", "1")),
            spacing="4",
            width="100%",
        ),
        rx.cond(HomeState.tests_workers, worker_check()),
        spacing="5",
        width="100%",
    )
