"""/catalog/experiments/compare?ids=a,b: experiments side by side."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.charts import chart
from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.catalog.experiments.compare import MAX_COMPARED, CompareState
from aisystem_app.state.catalog.experiments.view import EXPERIMENTS

S = CompareState


def _heads(first: str) -> rx.Component:
    return rx.table.header(rx.table.row(
        rx.table.column_header_cell(first),
        rx.foreach(S.names, lambda n, i: rx.table.column_header_cell(
            rx.vstack(rx.text(n, weight="bold"), rx.text(S.best_runs[i], size="1", color_scheme="gray"),
                      spacing="0"))),
    ))


def metrics_table() -> rx.Component:
    def row(r: rx.Var) -> rx.Component:
        return rx.table.row(
            rx.table.row_header_cell(r["key"]),
            *[rx.cond(S.names.length() > i, rx.table.cell(
                rx.text(r[f"e{i}"], style=styles.MONO, weight=rx.cond(r[f"b{i}"] == "true", "bold", "regular"),
                        color=rx.cond(r[f"b{i}"] == "true", rx.color("green", 11), "inherit"))))
              for i in range(MAX_COMPARED)],
        )
    return rx.table.root(_heads("Metric (best value of each experiment's runs)"), rx.table.body(rx.foreach(S.metric_rows, row)),
                         variant="surface", size="2", width="100%", id="compare-metrics")


def params_table() -> rx.Component:
    def row(r: rx.Var) -> rx.Component:
        differs = r["differs"] == "true"
        return rx.table.row(
            rx.table.row_header_cell(rx.hstack(rx.text(r["key"]), rx.cond(differs, rx.badge("differs", color_scheme="amber")),
                                               align="center")),
            *[rx.cond(S.names.length() > i, rx.table.cell(rx.text(r[f"e{i}"], style=styles.MONO)))
              for i in range(MAX_COMPARED)],
            background_color=rx.cond(differs, rx.color("amber", 2), "transparent"),
            class_name=rx.cond(differs, "param-differs", "param-same"),
        )
    return rx.cond(S.param_rows.length() == 0,
                   rx.text("The best runs logged no parameters.", size="2", color_scheme="gray"),
                   rx.table.root(_heads("Parameter (of the best run)"), rx.table.body(rx.foreach(S.param_rows, row)),
                                 variant="surface", size="2", width="100%", id="compare-params"))


def compare_view() -> rx.Component:
    return rx.vstack(
        rx.card(rx.vstack(rx.heading("Best metrics", size="4"), rx.text(
            "Per metric, the best latest value among each experiment's runs; the better one is in green.", size="2",
            color_scheme="gray"), rx.scroll_area(metrics_table(), type="auto", scrollbars="horizontal"),
            spacing="3", width="100%"), width="100%"),
        rx.card(rx.vstack(rx.heading("Parameters", size="4"), rx.text(
            "The best runs' hyperparameters; those that differ come first.", size="2", color_scheme="gray"),
            rx.scroll_area(params_table(), type="auto", scrollbars="horizontal"), spacing="3", width="100%"),
            width="100%"),
        rx.card(rx.vstack(rx.heading("Curves of the best runs", size="4"),
                          rx.cond(S.has_curves, chart(S.curves),
                                  empty_state("No curves", "The best runs logged no metric history.",
                                              icon="chart-line")), spacing="3", width="100%"), width="100%"),
        spacing="4", width="100%",
    )


@protected_page(routes.EXPERIMENT_COMPARE, "Compare experiments", on_load=[CompareState.load])
def compare() -> rx.Component:
    return rx.vstack(
        page_header("Experiments side by side: their best results, how their best runs were set up, and their "
                    "curves.", rx.link(rx.button("Back to experiments", variant="soft"), href=EXPERIMENTS)),
        rx.cond(S.loading, loading_rows(),
                rx.cond(S.names.length() == 0, empty_state("Nothing to compare", "Tick two experiments or more on the Experiments page, then choose Compare.", icon="git-compare"),
                        compare_view())),
        width="100%",
    )
