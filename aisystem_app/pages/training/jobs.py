"""/training/jobs: training jobs with status, progress bar and time left; filtered by status in the URL."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.data_table import Column, _header, table_frame
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.forms import choice
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.pages.training.common import job_status
from aisystem_app.state.training.index import ALL, TrainingJobsState
from aisystem_app.state.training.view import NEW_JOB, STATUS_WORDS
from backend.training.models import TRAINING_STATUSES

S = TrainingJobsState

COLUMNS = (
    Column("name", "Job and target model"),
    Column("family", "Family"),
    Column("dataset", "Dataset"),
    Column("status_text", "Status", width="8rem"),
    Column("progress", "Progress", sort_key="progress_sort", width="11rem"),
    Column("eta", "Time left", width="7rem"),
    Column("started", "Started", sort_key="started_sort"),
    Column("owner", "By"),
)


def progress_bar(percent: rx.Var) -> rx.Component:
    """A thin bar filled to `percent` (text from the row, so drawn as a width rather than a progress value)."""
    return rx.box(rx.box(width=percent.to(str) + "%", height="100%", background_color=rx.color("accent", 9),
                         border_radius="9999px"),
                  width="6rem", height="6px", background_color=rx.color("gray", 4), border_radius="9999px",
                  overflow="hidden", role="progressbar", aria_valuenow=percent, aria_valuemin="0",
                  aria_valuemax="100", class_name="job-progress-bar")


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.link(row["name"], href=row["href"], weight="medium", class_name="job-link"),
            rx.cond(row["model"] != "", rx.text(row["model"], size="1", color_scheme="gray")),
            spacing="0")),
        rx.table.cell(rx.text(row["family"], white_space="nowrap")),
        rx.table.cell(rx.text(row["dataset"])),
        rx.table.cell(rx.tooltip(job_status(row["status"].to(str), class_name="job-status"),
                                 content=row["status_text"])),
        rx.table.cell(rx.hstack(progress_bar(row["progress"]),
                                rx.text(row["progress"], "%", size="1", white_space="nowrap"), align="center",
                                spacing="2")),
        rx.table.cell(rx.text(row["eta"], white_space="nowrap", class_name="job-eta")),
        rx.table.cell(rx.text(row["started"], white_space="nowrap")),
        rx.table.cell(rx.text(row["owner"])),
        class_name="job-row", data_job=row["id"], data_status=row["status"],
    )


def table() -> rx.Component:
    body = rx.table.root(
        rx.table.header(rx.table.row(*[_header(S, c) for c in COLUMNS])),
        rx.table.body(rx.foreach(S.sorted_rows, _row)),
        variant="surface", size="2", width="100%", id="training-jobs-table",
    )
    empty = rx.cond(
        S.status == ALL,
        empty_state("No training jobs yet", "Start one with “New training job”: pick a dataset with a stored split "
                    "(the demo Breast Cancer Wisconsin has one), a model family, and train.", icon="dumbbell"),
        empty_state("No jobs with this status", "Choose “Any status” to see every job.", icon="search-x"),
    )
    return table_frame(S, body, empty)


def jobs_list() -> rx.Component:
    return rx.vstack(
        page_header(
            "Models being trained on your datasets: progress, time left and what they register when done.",
            rx.cond(S.live, rx.badge(rx.spinner(size="1"), "Live", color_scheme="blue", id="jobs-live")),
            choice({ALL: "Any status"} | {s: STATUS_WORDS[s] for s in TRAINING_STATUSES}, value=S.status,
                   on_change=S.filter_status, id="jobs-status", aria_label="Status"),
            rx.cond(S.can_create, rx.link(rx.button(rx.icon("plus", size=16), "New training job", id="new-job-open"),
                                          href=NEW_JOB)),
        ),
        rx.card(table(), width="100%"),
        spacing="4", width="100%",
    )


@protected_page(routes.TRAINING_JOBS, "Training jobs", on_load=[TrainingJobsState.load])
def jobs() -> rx.Component:
    return rx.cond(S.allowed, jobs_list(), not_permitted("training jobs"))
