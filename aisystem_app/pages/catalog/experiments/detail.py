"""/catalog/experiments/[experiment_id]: runs, charts, best parameters and one run's details."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.charts import chart
from aisystem_app.components.dialogs import dialog_frame
from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.components.forms import bare_checkbox
from aisystem_app.components.layout import protected_page
from aisystem_app.components.tabs import page_tabs
from aisystem_app.pages.catalog.experiments.common import experiment_status, run_status
from aisystem_app.pages.catalog.experiments.optimise import optimise_button, optimise_dialog, study_panel
from aisystem_app.state.catalog.experiments.detail import ExperimentState
from aisystem_app.state.catalog.experiments.view import EXPERIMENTS

S = ExperimentState


def _sort_header(label: rx.Var[str] | str, key: rx.Var[str] | str, **props) -> rx.Component:
    """A header that sorts the runs on the server by `key` (a metric, a param or an attribute)."""
    ascending = S.sort == key
    descending = S.sort == "-" + key
    icon = rx.cond(descending, rx.icon("arrow-down", size=14),
                   rx.cond(ascending, rx.icon("arrow-up", size=14), rx.icon("arrow-up-down", size=14, opacity="0.35")))
    return rx.table.column_header_cell(
        rx.button(label, icon, on_click=S.sort_runs(key), variant="ghost", color_scheme="gray", size="1",
                  high_contrast=True, white_space="nowrap"),
        aria_sort=rx.cond(descending, "descending", rx.cond(ascending, "ascending", "none")),
        data_sort_key=key, **props,
    )


def _run_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(bare_checkbox(checked=row["selected"] == "true", on_change=lambda _v: S.toggle_run(row["id"]),
                                  aria_label="Chart this run", class_name="pick-run")),
        rx.table.cell(rx.link(row["name"], on_click=S.open_run(row["id"]), cursor="pointer", weight="medium",
                              white_space="nowrap", class_name="run-link")),
        rx.table.cell(run_status(row["status"].to(str))),
        rx.foreach(S.metric_keys, lambda k: rx.table.cell(rx.text(row["m:" + k], style=styles.MONO,
                                                                  white_space="nowrap"))),
        rx.foreach(S.param_keys, lambda k: rx.table.cell(rx.text(row["p:" + k], style=styles.MONO,
                                                                 white_space="nowrap"))),
        rx.table.cell(rx.text(row["started"], white_space="nowrap")),
        rx.table.cell(rx.text(row["duration"], white_space="nowrap")),
        class_name="run-row", data_run=row["name"],
    )


def runs_tab() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(
            rx.table.column_header_cell("", width="2.5rem"),
            _sort_header("Run", "name"),
            _sort_header("Status", "status"),
            rx.foreach(S.metric_keys, lambda k: _sort_header(S.key_labels["m:" + k], "metrics." + k)),
            rx.foreach(S.param_keys, lambda k: _sort_header(S.key_labels["p:" + k], "params." + k)),
            _sort_header("Started", "startTime"),
            rx.table.column_header_cell("Duration"),
        )),
        rx.table.body(rx.foreach(S.rows, _run_row)),
        variant="surface", size="1", width="100%", id="runs-table",
    )
    return rx.vstack(
        rx.text("Click a column to sort every run by it; tick runs to chart them on the Charts tab "
                "(none ticked: the first eight are charted).", size="2", color_scheme="gray"),
        rx.cond(S.loading & (S.rows.length() == 0), loading_rows(),
                rx.cond(S.rows.length() == 0,
                        empty_state("No runs yet", "Start a training job in this experiment, or log a run from a "
                                    "script with an API key (POST /api/v1/catalog/experiments/{id}/runs).",
                                    icon="play"),
                        rx.scroll_area(table, type="auto", scrollbars="horizontal", width="100%"))),
        width="100%", spacing="3",
    )


def charts_tab() -> rx.Component:
    curves = rx.card(rx.vstack(
        rx.hstack(rx.heading("Metric curves", size="4"), rx.spacer(),
                  rx.cond(S.live, rx.badge(rx.spinner(size="1"), "Live: updating every few seconds", color_scheme="blue",
                                           id="live-badge")),
                  width="100%", align="center"),
        rx.text("Each metric over the training step, one line per run: ",
                rx.foreach(S.charted_names, lambda n: rx.code(n, margin_right="0.25rem")), size="2",
                color_scheme="gray"),
        rx.cond(S.has_curves, chart(S.curves),
                empty_state("No metrics logged yet", "Charts appear once the runs log metrics; tick runs on the "
                            "Runs tab to choose which are drawn.", icon="chart-line")),
        spacing="3", width="100%"), width="100%", id="curves-card")
    parallel = rx.card(rx.vstack(
        rx.heading("Hyperparameters vs objective", size="4"),
        rx.text("Each line is a run: the hyperparameters that differ between runs, and on the last axis the "
                "objective (", S.objective, "). Drag along an axis to filter.", size="2", color_scheme="gray"),
        rx.cond(S.has_parallel, chart(S.parallel),
                empty_state("Nothing to relate yet", "Needs an objective on the experiment and two runs or more "
                            "that logged its metric.", icon="chart-spline")),
        spacing="3", width="100%"), width="100%", id="parallel-card")
    history = rx.card(rx.vstack(
        rx.heading("Optimisation history", size="4"),
        rx.text("The objective (", S.objective, ") of each run in the order they started, and the best value "
                "reached so far.", size="2", color_scheme="gray"),
        rx.cond(S.has_history, chart(S.history),
                empty_state("No history yet", "Needs an objective on the experiment and a run that logged its "
                            "metric.", icon="history")),
        spacing="3", width="100%"), width="100%", id="history-card")
    importance = rx.card(rx.vstack(
        rx.heading("Parameter importance", size="4"),
        rx.text("How much of the objective's variation across runs each hyperparameter explains (fANOVA over "
                "the runs). ", S.importance_top, size="2", color_scheme="gray"),
        rx.cond(S.has_importance, chart(S.importance),
                empty_state("Not enough runs to weigh parameters", "Needs two runs or more that logged the "
                            "objective with different hyperparameters.", icon="chart-bar")),
        spacing="3", width="100%"), width="100%", id="importance-card")
    return rx.vstack(curves, parallel, rx.grid(history, importance, columns=rx.breakpoints(initial="1", lg="2"),
                                               spacing="4", width="100%"),
                     spacing="4", width="100%")


def _pairs(items: rx.Var, empty: str) -> rx.Component:
    return rx.cond(items.length() == 0, rx.text(empty, size="2", color_scheme="gray"),
                   rx.data_list.root(rx.foreach(items, lambda p: rx.data_list.item(
                       rx.data_list.label(p["key"]), rx.data_list.value(rx.text(p["value"], style=styles.MONO))))))


def best_tab() -> rx.Component:
    return rx.cond(
        S.best_name == "",
        empty_state("No best run yet", "Set an objective on the experiment "
                    "(e.g. maximise val accuracy); the best run appears once a run logs that metric.", icon="trophy"),
        rx.grid(
            rx.card(rx.vstack(rx.heading("Best run: ", S.best_name, size="4", id="best-run-name"),
                              rx.text("Chosen by the objective: ", S.objective, size="2", color_scheme="gray"),
                              rx.heading("Parameters", size="3", padding_top="0.5rem"),
                              _pairs(S.best_params, "This run logged no parameters."), spacing="2")),
            rx.card(rx.vstack(rx.heading("Its metrics (latest values)", size="4"),
                              _pairs(S.best_metrics, "This run logged no metrics."), spacing="2")),
            columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%",
        ),
    )


def _small_table(items: rx.Var, columns: list[tuple[str, str]], empty: str, table_id: str) -> rx.Component:
    return rx.cond(items.length() == 0, rx.text(empty, size="2", color_scheme="gray"), rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(label) for _, label in columns])),
        rx.table.body(rx.foreach(items, lambda r: rx.table.row(*[rx.table.cell(rx.text(r[k], style=styles.MONO))
                                                                 for k, _ in columns]))),
        size="1", variant="surface", width="100%", id=table_id))


def run_dialog() -> rx.Component:
    run = S.run
    return dialog_frame(
        rx.hstack(rx.text("Run ", run["name"].to(str)), run_status(run["status"].to(str)), align="center"),
        rx.vstack(
            rx.data_list.root(
                rx.data_list.item(rx.data_list.label("Started"), rx.data_list.value(run["started"].to(str))),
                rx.data_list.item(rx.data_list.label("Duration"), rx.data_list.value(run["duration"].to(str))),
                rx.data_list.item(rx.data_list.label("Source"), rx.data_list.value(run["source"].to(str))),
                rx.data_list.item(rx.data_list.label("Training job"), rx.data_list.value(run["job"].to(str))),
            ),
            rx.heading("Metrics", size="3"),
            _small_table(run["metrics"].to(list[dict[str, str]]),
                         [("key", "Metric"), ("latest", "Latest"), ("min", "Min"), ("max", "Max"), ("step", "Last step"),
                          ("count", "Points")], "No metrics logged.", "run-metrics"),
            rx.heading("Parameters", size="3"),
            _small_table(run["params"].to(list[dict[str, str]]), [("key", "Parameter"), ("value", "Value")],
                         "No parameters logged.", "run-params"),
            rx.heading("Tags", size="3"),
            _small_table(run["tags"].to(list[dict[str, str]]), [("key", "Tag"), ("value", "Value")],
                         "No tags.", "run-tags"),
            rx.heading("Files", size="3"),
            rx.cond(run["files"].to(list[dict[str, str]]).length() == 0,
                    rx.text("No files stored with this run.", size="2", color_scheme="gray"),
                    rx.table.root(
                        rx.table.header(rx.table.row(rx.table.column_header_cell("Path"),
                                                     rx.table.column_header_cell("Size"),
                                                     rx.table.column_header_cell(""))),
                        rx.table.body(rx.foreach(run["files"].to(list[dict[str, str]]), lambda f: rx.table.row(
                            rx.table.cell(rx.text(f["path"], style=styles.MONO)), rx.table.cell(f["size"]),
                            rx.table.cell(rx.button(rx.icon("download", size=14), "Download", size="1", variant="ghost",
                                                   on_click=S.download_file(f["href"]),
                                                   class_name="run-file-download"))))),
                        size="1", variant="surface", width="100%", id="run-files")),
            rx.heading("Log (last 200 lines)", size="3"),
            _small_table(run["logs"].to(list[dict[str, str]]), [("time", "Time"), ("level", "Level"),
                                                                 ("message", "Message")], "No log lines.", "run-logs"),
            rx.hstack(rx.spacer(), rx.button("Close", variant="soft", color_scheme="gray", on_click=S.close_run(False)),
                      width="100%"),
            spacing="3", width="100%", max_height="70vh", overflow_y="auto",
        ),
        open=S.run_open, on_open_change=S.close_run, dialog_id="run-dialog", max_width="52rem",
    )


def experiment_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.link(rx.hstack(rx.icon("arrow-left", size=14), rx.text("Experiments"), align="center", spacing="1"),
                    href=EXPERIMENTS, size="2", color_scheme="gray"),
            width="100%",
        ),
        rx.hstack(rx.heading(S.name, size="6", id="experiment-name"), experiment_status(S.status), rx.spacer(),
                  optimise_button(), align="center", spacing="3", wrap="wrap", width="100%"),
        rx.cond(S.description != "", rx.text(S.description, size="2", color_scheme="gray")),
        rx.flex(rx.foreach(S.facts, lambda f: rx.vstack(rx.text(f["label"], size="1", color_scheme="gray"),
                                                       rx.text(f["value"], size="2", weight="medium"), spacing="0")),
                gap="1.5rem", wrap="wrap", padding_y="0.5rem"),
        study_panel(),
        page_tabs([("runs", "Runs", runs_tab), ("charts", "Charts", charts_tab), ("best", "Best parameters", best_tab)],
                  value=S.tab, on_change=S.choose_tab),
        run_dialog(),
        optimise_dialog(),
        spacing="3", width="100%",
    )


@protected_page(routes.EXPERIMENT, "Experiment", on_load=[ExperimentState.load])
def experiment() -> rx.Component:
    return rx.cond(
        S.found,
        rx.cond(S.loading & (S.name == ""), loading_rows(), experiment_page()),
        empty_state("Experiment not found", "It may have been deleted, or the link is wrong. Open Experiments to "
                    "see those there are.", icon="flask-conical"),
    )
