"""The experiment page's "Optimise hyperparameters" dialog and its Study panel."""

from __future__ import annotations

import reflex as rx

from aisystem_app import styles
from aisystem_app.components.dialogs import dialog_frame, field_error
from aisystem_app.components.forms import field_label, form_error
from aisystem_app.state.catalog.experiments.detail import ExperimentState
from aisystem_app.state.catalog.experiments.optimise import TYPES, OptimiseState

D = OptimiseState
S = ExperimentState


def _labelled(label: str, name: str, control: rx.Component, help_text: str = "") -> rx.Component:
    error = field_error(D.errors, name)
    return rx.vstack(
        field_label(label, name), control,
        rx.cond(error != "", rx.text(error, size="1", color_scheme="red", id=f"opt-{name}-error",
                                     class_name="field-error"),
                rx.text(help_text, size="1", color_scheme="gray")),
        spacing="1", width="100%", align="start",
    )


def _select(items: rx.Var, value: rx.Var, on_change, key: str, text: str, select_id: str) -> rx.Component:  # noqa: ANN001
    return rx.select.root(
        rx.select.trigger(width="100%", id=select_id),
        rx.select.content(rx.foreach(items, lambda item: rx.select.item(item[text], value=item[key]))),
        value=value, on_change=on_change, key=items.to_string() + value)


def _space_row(row: rx.Var, index: rx.Var) -> rx.Component:
    error = field_error(D.errors, "space:" + row["name"].to(str))
    numeric = row["type"] != "choice"
    return rx.vstack(
        rx.hstack(
            rx.select.root(rx.select.trigger(width="11rem", aria_label="Hyperparameter"),
                           rx.select.content(rx.foreach(D.hyperparameter_items,
                                                        lambda h: rx.select.item(h["text"], value=h["name"]))),
                           value=row["name"].to(str), on_change=lambda v: D.set_row(index, "name", v)),
            rx.select.root(rx.select.trigger(width="6rem", aria_label="Type"),
                           rx.select.content(*[rx.select.item(t, value=t) for t in TYPES]),
                           value=row["type"].to(str), on_change=lambda v: D.set_row(index, "type", v)),
            rx.cond(
                numeric,
                rx.hstack(
                    rx.input(value=row["min"].to(str), placeholder="min", width="6rem", aria_label="Min",
                             class_name="space-min", on_change=lambda v: D.set_row(index, "min", v)),
                    rx.input(value=row["max"].to(str), placeholder="max", width="6rem", aria_label="Max",
                             class_name="space-max", on_change=lambda v: D.set_row(index, "max", v)),
                    rx.cond(row["type"] == "float",
                            rx.text(rx.checkbox(checked=row["log"] == "true",
                                                on_change=lambda v: D.set_row(index, "log", v)),
                                    " log scale", as_="label", size="2", white_space="nowrap",
                                    display="flex", align_items="center", gap="0.25rem")),
                    align="center"),
                rx.input(value=row["values"].to(str), placeholder="values, separated by commas", width="18rem",
                         aria_label="Values", class_name="space-values",
                         on_change=lambda v: D.set_row(index, "values", v)),
            ),
            rx.icon_button(rx.icon("x", size=14), type="button", variant="ghost", color_scheme="gray",
                           aria_label="Remove this row", on_click=D.remove_row(index)),
            align="center", spacing="2", wrap="wrap",
        ),
        rx.cond(error != "", rx.text(error, size="1", color_scheme="red", class_name="field-error")),
        spacing="1", width="100%", class_name="space-row",
    )


def optimise_dialog() -> rx.Component:
    grid = {"columns": "2", "spacing": "3", "width": "100%"}
    return dialog_frame(
        "Optimise hyperparameters",
        rx.form(
            rx.vstack(
                rx.grid(
                    _labelled("Dataset", "datasetId", _select(D.datasets, D.dataset_id, D.choose_dataset, "id", "name",
                                                              "opt-dataset")),
                    _labelled("Version and split", "datasetVersion",
                              _select(D.versions, D.version, D.choose_version, "number", "text", "opt-version")),
                    _labelled("Label column", "labelColumn",
                              rx.select.root(rx.select.trigger(width="100%", id="opt-label"),
                                             rx.select.content(rx.foreach(D.columns,
                                                                          lambda c: rx.select.item(c, value=c))),
                                             value=D.label_column, on_change=D.choose_label,
                                             key=D.columns.to_string() + D.label_column)),
                    _labelled("Model family", "family", _select(D.families, D.family, D.choose_family, "name", "text",
                                                                "opt-family")),
                    **grid),
                rx.heading("Search space", size="3"),
                rx.text("One row per hyperparameter to search: a range of numbers (log scale for rates) or a "
                        "list of values to choose from.", size="1", color_scheme="gray"),
                rx.foreach(D.rows, _space_row),
                rx.cond(field_error(D.errors, "space") != "",
                        rx.text(field_error(D.errors, "space"), size="1", color_scheme="red", class_name="field-error")),
                rx.button(rx.icon("plus", size=14), "Add a hyperparameter", type="button", variant="soft", size="1",
                          on_click=D.add_row, id="add-space-row"),
                rx.grid(
                    _labelled("Strategy", "strategy", _select(D.strategies, D.strategy, D.choose_strategy, "value",
                                                              "text", "opt-strategy")),
                    _labelled("Objective", "objective",
                              rx.vstack(_select(D.objectives, D.objective, D.choose_objective, "value", "text",
                                                "opt-objective"),
                                        rx.cond((D.objective == "maximize") | (D.objective == "minimize"),
                                                rx.input(name="metric", id="opt-metric", placeholder="metric, e.g. val_f1",
                                                         width="100%")),
                                        width="100%", spacing="1")),
                    _labelled("Max trials", "maxTrials", rx.input(name="maxTrials", id="opt-max-trials",
                                                                  default_value="20", width="100%"), "1 to 1,000"),
                    _labelled("Parallel trials", "parallelTrials",
                              rx.input(name="parallelTrials", id="opt-parallel", default_value="2", width="100%"),
                              "Trials training at once, each on a worker"),
                    _labelled("Epochs per trial", "maxEpochs",
                              rx.input(name="maxEpochs", id="opt-epochs", placeholder="family default", width="100%")),
                    _labelled("Early stopping", "earlyStopping",
                              rx.text(rx.checkbox(name="earlyStopping", id="opt-early"), " prune trials that fall "
                                      "behind", as_="label", size="2")),
                    **grid),
                form_error(D.form_error),
                rx.hstack(
                    rx.spacer(),
                    rx.button("Cancel", type="button", variant="soft", color_scheme="gray", on_click=D.set_open(False)),
                    rx.button(rx.cond(D.starting, rx.spinner(size="2"), rx.icon("sparkles", size=16)), "Start study",
                              type="submit", disabled=D.starting, id="start-study"),
                    width="100%"),
                spacing="3", width="100%", max_height="75vh", overflow_y="auto", padding_right="0.5rem",
            ),
            on_submit=D.submit, reset_on_submit=False, id="optimise-form",
        ),
        open=D.open, on_open_change=D.set_open, dialog_id="optimise-dialog", max_width="48rem",
        description="Each trial is a training job in this experiment; the study picks the next trials' "
                    "hyperparameters from the results so far.",
    )


def optimise_button() -> rx.Component:
    return rx.cond(S.may_optimise, rx.button(rx.icon("sparkles", size=16), "Optimise hyperparameters",
                                             on_click=D.open_dialog(S.dataset_id), id="optimise-button", variant="soft"))


def stop_dialog() -> rx.Component:
    """Stop the study, after a question that says what happens to the trials."""
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(rx.button(rx.icon("square", size=14), "Stop study", size="1", variant="soft",
                                          color_scheme="red", id="open-stop-study")),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Stop this study?"),
            rx.alert_dialog.description(
                "No further trial starts, and the trials still queued or training are cancelled. Finished trials "
                "keep their results, so the best parameters stay available.", size="2"),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Keep it running", variant="soft", color_scheme="gray")),
                rx.button(rx.cond(D.stopping, rx.spinner(size="2"), rx.icon("square", size=14)), "Stop study",
                          color_scheme="red", on_click=D.stop_study, disabled=D.stopping, id="confirm-stop-study"),
                gap="3", justify="end", margin_top="1rem"),
            max_width="30rem"),
        open=D.stop_open, on_open_change=D.set_stop_open)


def study_panel() -> rx.Component:
    study = S.study
    return rx.cond(S.has_study, rx.card(rx.vstack(
        rx.hstack(rx.heading("Study", size="4"),
                  rx.badge(study["statusText"].to(str), id="study-status",
                           color_scheme=rx.match(study["status"].to(str), ("running", "blue"), ("completed", "green"),
                                                 ("stopped", "gray"), "red")),
                  rx.text(study["strategy"].to(str), " · ", study["objective"].to(str), size="2", color_scheme="gray"),
                  rx.spacer(),
                  rx.cond(study["status"] == "running", rx.badge(rx.spinner(size="1"), "Live", color_scheme="blue")),
                  rx.cond((study["status"] == "running") & S.may_optimise, stop_dialog()),
                  align="center", width="100%", wrap="wrap"),
        rx.text(study["progress"].to(str), size="2", id="study-progress"),
        rx.progress(value=study["percent"].to(int), max=100, width="100%"),
        rx.cond(study["error"] != "", rx.text(study["error"].to(str), size="2", color_scheme="red")),
        rx.cond(study["bestName"] != "",
                rx.vstack(rx.text("Best so far: ", rx.text.strong(study["bestName"].to(str)), " — ",
                                  study["objective"].to(str), ": ",
                                  rx.text.strong(study["bestObjective"].to(str)), size="2", id="study-best"),
                          rx.flex(rx.foreach(study["bestParams"].to(list[dict[str, str]]),
                                             lambda p: rx.badge(p["key"], ": ", rx.text(p["value"], style=styles.MONO),
                                                                variant="surface", color_scheme="gray")),
                                  gap="0.5rem", wrap="wrap"), spacing="2"),
                rx.text("No trial has finished yet.", size="2", color_scheme="gray")),
        spacing="2", width="100%"), width="100%", id="study-panel"))
