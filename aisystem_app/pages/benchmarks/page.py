"""/compare/benchmarks: run a benchmark of model versions on a dataset version, follow it, read its figures
and charts, and the leaderboards."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.charts import chart
from aisystem_app.components.feedback import empty_state
from aisystem_app.components.forms import bare_checkbox
from aisystem_app.components.job_progress import job_progress
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.benchmarks.page import BenchmarksState

S = BenchmarksState


def _select(options: rx.Var, *, value: rx.Var, on_change: rx.EventHandler, trigger_id: str) -> rx.Component:
    return rx.select.root(
        rx.select.trigger(id=trigger_id, width="100%"),
        rx.select.content(rx.foreach(options, lambda kv: rx.select.item(kv[1], value=kv[0]))),
        value=value, on_change=on_change)


def _version(option: rx.Var) -> rx.Component:
    # Phrasing content only inside the label (rx.checkbox and stacks would put a <div> in it).
    return rx.el.label(
        bare_checkbox(checked=S.selected.contains(option["id"]),
                      on_change=lambda checked: S.toggle_version(option["id"], checked),
                      class_name="bench-version", data_version_id=option["id"]),
        rx.text(option["label"], as_="span", size="2", weight="medium"),
        rx.badge(option["task"], variant="soft", color_scheme="gray"),
        display="flex", align_items="center", gap="0.5rem", cursor="pointer",
    )


def _form() -> rx.Component:
    return rx.card(rx.vstack(
        rx.heading("New benchmark", size="4"),
        rx.text("Each version predicts the chosen part of the dataset's stored split on a worker, which measures "
                "its quality, its single-prediction latency and its throughput at batch sizes 1, 8 and 64.",
                size="2", color_scheme="gray"),
        rx.text("Model versions", size="2", weight="medium"),
        rx.cond(S.version_options.length() > 0,
                rx.flex(rx.foreach(S.version_options, _version), wrap="wrap", gap="4", id="bench-versions"),
                rx.text("No model version with a platform package to run.", size="2", color_scheme="gray")),
        rx.grid(
            rx.vstack(rx.text("Dataset version", size="2", weight="medium"),
                      _select(S.dataset_options, value=S.dataset_id, on_change=S.pick_dataset,
                              trigger_id="bench-dataset"), width="100%"),
            rx.vstack(rx.text("Rows scored", size="2", weight="medium"),
                      _select(S.split_options, value=S.split, on_change=S.pick_split, trigger_id="bench-split"),
                      width="100%"),
            columns=rx.breakpoints(initial="1", sm="2"), spacing="4", width="100%",
        ),
        rx.cond(S.form_error != "", rx.callout(S.form_error, icon="triangle_alert", color_scheme="red", size="1")),
        rx.hstack(rx.button(rx.icon("play", size=16), "Run benchmark", on_click=S.run, loading=S.starting,
                            disabled=S.job_active, id="bench-run"), justify="end", width="100%"),
        spacing="3", width="100%",
    ), width="100%")


def _results() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(
            rx.table.column_header_cell("Model version"),
            rx.table.column_header_cell("Rows"),
            rx.foreach(S.columns, lambda c: rx.table.column_header_cell(c["label"])),
        )),
        rx.table.body(rx.foreach(S.results, lambda r: rx.table.row(
            rx.table.cell(rx.text(r["name"], weight="medium"), min_width="12rem"),
            rx.table.cell(r["rows"].to(str)),
            rx.foreach(r["cells"].to(list[str]), lambda v: rx.table.cell(rx.text(v, white_space="nowrap"))),
            class_name="bench-result",
        ))),
        variant="surface", size="1", width="100%", id="bench-results",
    )
    classes = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Model version", "Class", "Precision", "Recall", "F1", "Support (rows)")])),
        rx.table.body(rx.foreach(S.classes, lambda c: rx.table.row(
            rx.table.cell(c["model"]), rx.table.cell(c["label"]), rx.table.cell(c["precision"]),
            rx.table.cell(c["recall"]), rx.table.cell(c["f1"]), rx.table.cell(c["support"])))),
        variant="surface", size="1", width="100%",
    )
    return rx.card(rx.vstack(
        rx.heading("Results", size="4"),
        rx.text(S.run_summary, size="2", color_scheme="gray", id="bench-summary"),
        rx.cond(S.has_results, rx.vstack(
            rx.box(table, overflow_x="auto", width="100%"),
            rx.grid(chart(S.latency_chart), chart(S.throughput_chart),
                    columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%", id="bench-charts"),
            rx.cond(S.classes.length() > 0, rx.vstack(
                rx.text("Per class", size="2", weight="medium"), rx.box(classes, overflow_x="auto", width="100%"),
                width="100%")),
            spacing="4", width="100%",
        ), empty_state("No figures yet", "They appear when the benchmark's job has finished.", icon="gauge")),
        spacing="3", width="100%",
    ), width="100%")


def _leaderboard() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Rank", "Model version", "Score", "Latency p95", "Throughput, batch 64",
                                        "Device", "Measured")])),
        rx.table.body(rx.foreach(S.board_entries, lambda e: rx.table.row(
            rx.table.cell(e["rank"]), rx.table.cell(rx.text(e["name"], weight="medium")), rx.table.cell(e["value"]),
            rx.table.cell(e["latency"]), rx.table.cell(e["throughput"]), rx.table.cell(e["device"]),
            rx.table.cell(rx.text(e["measured"], white_space="nowrap")), class_name="board-entry"))),
        variant="surface", size="1", width="100%", id="bench-board",
    )
    return rx.card(rx.vstack(
        rx.hstack(rx.heading("Leaderboard", size="4"), rx.spacer(),
                  rx.box(_select(S.board_options, value=S.board, on_change=S.pick_board, trigger_id="bench-board-pick"),
                         min_width="16rem"), width="100%", align="center"),
        rx.cond(S.board_entries.length() > 0, rx.vstack(
            rx.text(S.board_title, " · ", S.board_metric, size="2", color_scheme="gray"),
            rx.box(table, overflow_x="auto", width="100%"), width="100%"),
            empty_state("No leaderboard yet", "Run a benchmark, or submit a result to a named leaderboard.",
                        icon="trophy")),
        spacing="3", width="100%",
    ), width="100%")


@protected_page(routes.BENCHMARKS, "Benchmarks", on_load=[S.load])
def benchmarks_page() -> rx.Component:
    return rx.vstack(
        page_header("Measure model versions on the same data and device: quality, latency and throughput."),
        rx.cond(S.can_run, _form()),
        job_progress(S, title="Benchmark"),
        rx.cond(S.run_id != "", _results()),
        _leaderboard(),
        spacing="4", width="100%",
    )
