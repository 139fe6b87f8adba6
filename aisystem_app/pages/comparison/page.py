"""/compare: weighted multi-criteria comparison of catalog models, model versions and marketplace listings."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.charts import plot
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.comparison.page import ComparisonState

S = ComparisonState
RADAR_CONFIG = {"displayModeBar": True, "displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["zoom2d", "pan2d", "select2d", "lasso2d", "autoScale2d"],
                "toImageButtonOptions": {"format": "png", "filename": "comparison-radar", "scale": 2}}


def picker() -> rx.Component:
    chip = lambda c: rx.badge(  # noqa: E731
        rx.text(c["label"]), rx.text(c["group"], size="1", color_scheme="gray"),
        rx.icon_button(rx.icon("x", size=12), size="1", variant="ghost", on_click=S.unpick(c["value"]),
                       aria_label="Remove " + c["label"].to(str), class_name="compare-unpick"),
        # A version's label is long ("Wine classifier (demo endpoint) 1.1.0"): wrap inside the card, keep the ×.
        size="2", variant="surface", class_name="compare-chip", data_model=c["value"], max_width="100%",
        white_space="normal", height="auto", flex_wrap="wrap")
    option = lambda o: rx.button(  # noqa: E731
        rx.icon("plus", size=14), o["label"], rx.text(o["group"], size="1", color_scheme="gray"),
        size="1", variant="soft", on_click=S.pick(o["value"]), class_name="compare-option", data_model=o["value"])
    return rx.card(rx.vstack(
        rx.hstack(rx.text("Models", weight="medium"),
                  rx.text("2 to 10: catalog models or their versions, marketplace listings", size="1", color_scheme="gray"),
                  align="baseline", spacing="2"),
        rx.flex(rx.foreach(S.chips, chip), wrap="wrap", gap="2", id="compare-selected"),
        rx.input(placeholder="Search models, versions and listings to add…", value=S.query, on_change=S.set_query,
                 id="compare-search", width="100%", max_length=120),
        rx.cond(S.query != "", rx.flex(rx.foreach(S.matches, option), wrap="wrap", gap="2", id="compare-matches")),
        spacing="2", width="100%"), width="100%")


def weights_panel() -> rx.Component:
    def slider(m: rx.Var) -> rx.Component:
        return rx.vstack(
            rx.hstack(rx.text(m["label"], size="2", title=m["description"]), rx.spacer(),
                      rx.text(S.weights[m["key"]].to(int), size="2", class_name="compare-weight-value"),
                      width="100%"),
            rx.slider(value=[S.weights[m["key"]].to(float)], min=0, max=100, step=1,
                      on_change=lambda v: S.set_weight(m["key"], v), id="weight-" + m["key"].to(str),
                      class_name="compare-weight", aria_label="Weight of " + m["label"].to(str)),
            spacing="1", width="100%")

    presets = rx.hstack(
        rx.foreach(S.profile_options, lambda item: rx.button(
            item[1], size="1", variant=rx.cond(S.profile == item[0], "solid", "outline"),
            on_click=S.use_profile(item[0]), id="preset-" + item[0].to(str))),
        wrap="wrap", spacing="2")
    return rx.card(rx.vstack(
        rx.text("Weights", weight="medium"),
        rx.text("Relative importance; normalised to sum to 100 %.", size="1", color_scheme="gray"),
        presets,
        rx.foreach(S.metric_list, slider),
        spacing="3", width="100%"), width="100%")


def cards() -> rx.Component:
    card = lambda c: rx.card(rx.hstack(  # noqa: E731
        rx.icon(c["icon"].to(str), size=20),
        rx.vstack(rx.text(c["title"], size="1", color_scheme="gray"),
                  rx.text(c["name"], weight="bold", class_name="compare-recommendation-name"), spacing="0"),
        align="center"), class_name="compare-recommendation", data_key=c["key"], flex="1", min_width="12rem")
    return rx.flex(rx.foreach(S.cards, card), gap="3", wrap="wrap", width="100%", id="compare-recommendations")


def ranking_table() -> rx.Component:
    def row(r: rx.Var) -> rx.Component:
        return rx.table.row(
            rx.table.cell(rx.text(r["rank"], weight="bold")),
            rx.table.cell(rx.hstack(rx.box(width="10px", height="10px", border_radius="50%", background=r["colour"]),
                                    rx.vstack(rx.text(r["name"], weight="medium"),
                                              rx.text(r["kind"], size="1", color_scheme="gray"), spacing="0"),
                                    align="center")),
            rx.table.cell(rx.text(r["overall"], weight="bold")),
            rx.table.cell(rx.text(r["coverage"], size="1")),
            rx.cond(S.has_confidence, rx.table.cell(rx.text(r["first"], weight="medium", class_name="compare-first"))),
            rx.cond(S.has_confidence, rx.table.cell(rx.text(r["rank_interval"], size="2", white_space="nowrap",
                                                            class_name="compare-rank-interval"))),
            rx.foreach(r["cells"].to(list[str]), lambda c: rx.table.cell(rx.text(c, size="2", white_space="nowrap"))),
            class_name="compare-row", data_model=r["id"])

    return rx.table.root(
        rx.table.header(rx.table.row(
            rx.table.column_header_cell("Rank"), rx.table.column_header_cell("Model"),
            rx.table.column_header_cell("Overall"), rx.table.column_header_cell("Weight covered"),
            rx.cond(S.has_confidence, rx.table.column_header_cell(
                rx.tooltip(rx.text("P(first)"), content="Share of bootstrap resamples of the benchmark rows in which "
                                                        "the model ranks first overall"))),
            rx.cond(S.has_confidence, rx.table.column_header_cell(
                rx.tooltip(rx.text("Rank (95 %)"), content="The range its overall rank stays in over 95 % of the "
                                                           "bootstrap resamples"))),
            rx.foreach(S.metric_headers, lambda h: rx.table.column_header_cell(h)))),
        rx.table.body(rx.foreach(S.rows, row)),
        variant="surface", size="1", width="100%", id="compare-ranking")


def results() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.heading(rx.cond(S.winner != "", "Winner: " + S.winner, "No winner"), size="4", id="compare-winner"),
            rx.spacer(),
            rx.button(rx.icon("download", size=14), "CSV", variant="outline", size="1", on_click=S.export_csv,
                      id="export-csv"),
            rx.button(rx.icon("braces", size=14), "JSON", variant="outline", size="1", on_click=S.export_json,
                      id="export-json"),
            rx.button(rx.icon("save", size=14), "Save", size="1", on_click=S.save, id="compare-save"),
            width="100%", align="center", wrap="wrap"),
        cards(),
        rx.grid(
            rx.card(rx.box(plot(S.radar, config=RADAR_CONFIG), width="100%",
                           id="compare-radar"), width="100%"),
            rx.card(rx.vstack(
                rx.text("Insights", weight="medium"),
                rx.foreach(S.insights, lambda line: rx.hstack(rx.icon("lightbulb", size=14, flex_shrink="0"),
                                                              rx.text(line, size="2"), align="start",
                                                              class_name="compare-insight")),
                spacing="2", width="100%"), width="100%"),
            # Side by side only on wide screens: the radar's axis labels need the width.
            columns=rx.breakpoints(initial="1", xl="2"), spacing="3", width="100%"),
        rx.card(rx.vstack(
            rx.box(ranking_table(), overflow_x="auto", width="100%"),
            rx.cond(S.has_confidence, rx.text(S.confidence_caption, size="1", color_scheme="gray",
                                              id="compare-confidence-caption")),
            spacing="2", width="100%"), width="100%"),
        rx.cond(S.missing_lines.length() > 0, rx.callout.root(
            # root, not rx.callout(): its text is a <p>, which may not hold the lines' block.
            rx.callout.icon(rx.icon("info")),
            rx.vstack(rx.foreach(S.missing_lines, lambda t: rx.text(t, size="2")), spacing="1"),
            color_scheme="gray", width="100%", id="compare-missing")),
        rx.card(rx.box(plot(S.sensitivity_chart), width="100%",
                       id="compare-sensitivity"), width="100%"),
        spacing="3", width="100%", min_width="0")


def comparison_body() -> rx.Component:
    return rx.vstack(
        page_header("Weigh performance, cost, context, capabilities, deployment and reliability; the radar, ranking "
                    "and winner follow the sliders. Missing values are left out of a model's score, never zero."),
        rx.grid(
            rx.vstack(picker(), weights_panel(), spacing="3", width="100%"),
            rx.cond(S.rows.length() > 0, results(),
                    empty_state("Pick two to ten models", "Search the catalog, model versions and the marketplace above.",
                                icon="git-compare")),
            columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%",
            style={"grid_template_columns": rx.breakpoints(initial="1fr", lg="minmax(280px, 360px) 1fr")}),
        spacing="4", width="100%")


@protected_page(routes.COMPARE, "Compare models", on_load=[ComparisonState.load])
def comparison() -> rx.Component:
    return rx.cond(S.allowed, comparison_body(), not_permitted("model comparison"))
