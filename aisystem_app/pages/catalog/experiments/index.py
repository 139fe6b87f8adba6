"""/catalog/experiments: experiments with their best result, searched and filtered in the URL."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.data_table import Column, _header, table_frame
from aisystem_app.components.dialogs import field_error, form_dialog, text_area_field
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.forms import bare_checkbox, choice, form_field
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.pages.catalog.experiments.common import experiment_status
from aisystem_app.state.catalog.experiments.index import ALL, STATUSES, TYPES, ExperimentsState

S = ExperimentsState
TYPE_WORDS = {"training": "Training", "hyperparameter_optimization": "Hyperparameter optimisation",
              "fine_tuning": "Fine-tuning", "evaluation": "Evaluation"}

COLUMNS = (
    Column("name", "Name"),
    Column("type", "Type"),
    Column("objective", "Objective"),
    Column("status", "Status", width="7rem"),
    Column("runs", "Runs", sort_key="runs_sort", width="5rem"),
    Column("best", "Best result"),
    Column("owner", "Owner"),
    Column("updated", "Updated", sort_key="updated_sort"),
)


def _row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(bare_checkbox(checked=S.picked.contains(row["id"]), on_change=lambda _v: S.toggle_pick(row["id"]),
                                  aria_label="Pick to compare", class_name="pick-experiment")),
        rx.table.cell(rx.link(row["name"], href=row["href"], weight="medium", class_name="experiment-link")),
        rx.table.cell(rx.text(row["type"])),
        rx.table.cell(rx.text(row["objective"])),
        rx.table.cell(experiment_status(row["status"].to(str))),
        rx.table.cell(rx.text(row["runs"], style=styles.MONO)),
        rx.table.cell(rx.text(row["best"])),
        rx.table.cell(rx.text(row["owner"])),
        rx.table.cell(rx.text(row["updated"])),
    )


def table() -> rx.Component:
    body = rx.table.root(
        rx.table.header(rx.table.row(rx.table.column_header_cell("", width="2.5rem"),
                                     *[_header(S, c) for c in COLUMNS])),
        rx.table.body(rx.foreach(S.sorted_rows, _row)),
        variant="surface", size="2", width="100%", id="experiments-table",
    )
    empty = rx.cond(
        ~S.filtered,
        empty_state("No experiments yet", "Create one with “New experiment”, or run the demo seed "
                    "(python -m backend.cli seed) for a trained example.", icon="flask-conical"),
        empty_state("No experiments match", "Clear the search or the filters to see every experiment.",
                    icon="search-x"),
    )
    return table_frame(S, body, empty)


def filter_bar() -> rx.Component:
    filters = S.filters
    return rx.form(
        rx.hstack(
            rx.input(name="q", placeholder="Search by name", default_value=filters["q"], max_length=100,
                     id="experiments-q", width="16rem"),
            choice({ALL: "Any type"} | {t: TYPE_WORDS[t] for t in TYPES}, name="type", default_value=filters["type"],
                   id="experiments-type", aria_label="Type"),
            choice({ALL: "Any status"} | {s: s.capitalize() for s in STATUSES}, name="status",
                   default_value=filters["status"], id="experiments-status", aria_label="Status"),
            rx.button("Search", type="submit", variant="soft", id="experiments-filter-submit"),
            rx.button("Clear", type="button", variant="ghost", color_scheme="gray", on_click=S.clear_filters),
            spacing="2", wrap="wrap", align="center",
        ),
        on_submit=S.apply_filters, reset_on_submit=False, key=filters.to_string(), id="experiments-filters",
    )


def new_dialog() -> rx.Component:
    errors = S.form_errors
    return form_dialog(
        "New experiment",
        form_field("Name", "name", field_error(errors, "name"), placeholder="e.g. Churn MLP tuning", max_length=256),
        text_area_field("Description", "description", placeholder="What you are trying out (optional)"),
        rx.vstack(rx.text("Type", size="2", weight="medium"),
                  choice(TYPE_WORDS, name="type", default_value="training", id="new-type", aria_label="Type"),
                  spacing="1", width="100%"),
        rx.hstack(
            rx.vstack(rx.text("Objective", size="2", weight="medium"),
                      choice({"maximize": "Maximise", "minimize": "Minimise"}, name="objective_goal",
                             default_value="maximize", id="new-goal", aria_label="Goal"), spacing="1"),
            form_field("Metric", "objective_metric", field_error(errors, "objective_metric"),
                       placeholder="e.g. val_accuracy (optional)", max_length=200),
            width="100%", align="start",
        ),
        open=S.dialog_open, on_open_change=S.set_dialog, on_submit=S.create_experiment, submit_label="Create",
        busy=S.creating, dialog_id="new-experiment",
        description="Runs logged to it (training jobs, tuning trials or your own scripts) are compared here.",
    )


def experiments_list() -> rx.Component:
    return rx.vstack(
        page_header(
            "Training runs grouped by what they try to achieve, with their best result.",
            rx.cond(S.picked.length() >= 2,
                    rx.link(rx.button(rx.icon("git-compare", size=16), "Compare ", S.picked.length(), variant="soft",
                                      id="compare-experiments"), href=S.compare_href),
                    rx.tooltip(rx.button(rx.icon("git-compare", size=16), "Compare", variant="soft", disabled=True),
                               content="Tick two experiments or more to compare them")),
            rx.button(rx.icon("plus", size=16), "New experiment", on_click=S.set_dialog(True), id="new-experiment-open"),
        ),
        filter_bar(),
        rx.card(table(), width="100%"),
        new_dialog(),
        spacing="4", width="100%",
    )


@protected_page(routes.EXPERIMENTS, "Experiments", on_load=[ExperimentsState.load])
def experiments() -> rx.Component:
    return rx.cond(S.allowed, experiments_list(), not_permitted("experiments"))
