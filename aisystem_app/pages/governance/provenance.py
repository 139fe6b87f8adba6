"""/governance/provenance: the PROV graph around an artifact (click a node to read its record), recent
provenance records and the training-data integrity check."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.charts import plot
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.forms import choice
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.governance.provenance import DEPTHS, ProvenanceState


def entity_form() -> rx.Component:
    """The artifact to centre the graph on, and how far to walk."""
    return rx.form(
        rx.hstack(
            rx.input(name="entity", placeholder="model:<id>, dataset_version:<id>@2 or an id",
                     default_value=ProvenanceState.entity, max_length=200, id="provenance-entity", width="24rem"),
            choice({d: f"Depth {d}" for d in DEPTHS}, name="depth", default_value=ProvenanceState.depth,
                   id="provenance-depth", aria_label="Depth"),
            rx.button("Show graph", type="submit", variant="soft", id="provenance-show"),
            spacing="2", wrap="wrap", align="center",
        ),
        on_submit=ProvenanceState.show,
        reset_on_submit=False,
        key=ProvenanceState.entity + ProvenanceState.depth,
    )


def _record_row(row: rx.Var) -> rx.Component:
    return rx.table.row(rx.table.cell(rx.text(row["label"], weight="medium", size="2")),
                        rx.table.cell(rx.text(row["value"], size="2", style=styles.MONO, word_break="break-all")))


def record_panel() -> rx.Component:
    """The clicked node's record."""
    return rx.card(
        rx.vstack(
            rx.heading("Record", size="4"),
            rx.cond(
                ProvenanceState.selected_rows.length() > 0,
                rx.table.root(rx.table.body(rx.foreach(ProvenanceState.selected_rows, _record_row)), size="1",
                              width="100%", id="provenance-record"),
                rx.text("Click a node of the graph to read its provenance record: "
                        "what generated it, who and when, what it derives from, and its content hash.",
                        size="2", color_scheme="gray"),
            ),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def _edge_end(text: rx.Var) -> rx.Component:
    return rx.text(text, size="2")


def graph_card() -> rx.Component:
    """The drawing, clickable; then its relations in words."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading("Lineage graph", size="4"),
                rx.badge(ProvenanceState.graph_root, variant="soft", id="provenance-root"),
                rx.spacer(),
                rx.button(rx.cond(ProvenanceState.checking, rx.spinner(size="2"), rx.icon("file-check", size=16)),
                          "Check training data", on_click=ProvenanceState.check_integrity,
                          disabled=ProvenanceState.checking, variant="soft", id="provenance-integrity"),
                width="100%", align="center",
            ),
            rx.text("Left to right, from the data to what was made of it: datasets, training, model versions, "
                    "deployments, endpoints. Click a node to read its record.", size="2", color_scheme="gray"),
            rx.box(plot(ProvenanceState.lineage_chart, on_click=ProvenanceState.pick), width="100%",
                   id="lineage-graph"),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def _relation(edge: rx.Var) -> rx.Component:
    return rx.table.row(rx.table.cell(_edge_end(edge["from"])), rx.table.cell(rx.badge(edge["relation"], variant="soft")),
                        rx.table.cell(_edge_end(edge["to"])))


def relations() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Relations", size="4"),
            rx.table.root(rx.table.header(rx.table.row(rx.table.column_header_cell("From"),
                                                       rx.table.column_header_cell("Relation"),
                                                       rx.table.column_header_cell("To"))),
                          rx.table.body(rx.foreach(ProvenanceState.lineage, _relation)), size="1", width="100%",
                          id="lineage-edges"),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def _finding(row: rx.Var) -> rx.Component:
    return rx.table.row(*[rx.table.cell(rx.text(row[k], size="2")) for k in ("model", "dataset", "status")],
                        *[rx.table.cell(rx.text(row[k], size="2", style=styles.MONO)) for k in ("recorded", "current")])


def integrity_result() -> rx.Component:
    return rx.cond(
        ProvenanceState.check_done,
        rx.vstack(
            rx.callout(ProvenanceState.check_summary,
                       icon=rx.cond(ProvenanceState.check_intact, "circle-check", "triangle-alert"),
                       color_scheme=rx.cond(ProvenanceState.check_intact, "green", "red"), width="100%",
                       id="provenance-integrity-result",
                       data_intact=rx.cond(ProvenanceState.check_intact, "true", "false")),
            rx.cond(ProvenanceState.check_rows.length() > 0, rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                    "Model version", "Trained on", "Status", "Recorded hash", "Hash now")])),
                rx.table.body(rx.foreach(ProvenanceState.check_rows, _finding)), size="1", width="100%")),
            width="100%", spacing="2",
        ),
    )


def _recent(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["time"], size="2", style=styles.MONO)),
        rx.table.cell(rx.badge(row["kind"], variant="soft")),
        rx.table.cell(rx.cond(row["target"] != "",
                              rx.link(row["activity"], on_click=ProvenanceState.open_entity(row["target"]),
                                      cursor="pointer"),
                              rx.text(row["activity"]))),
        rx.table.cell(rx.text(row["agent"], size="2")),
        rx.table.cell(rx.text(row["used"], size="2")),
        rx.table.cell(rx.text(row["generated"], size="2")),
    )


def recent_records() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Recent provenance records", size="4"),
            rx.table.root(
                rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in (
                    "Time", "Kind", "Activity", "Who", "Used", "Generated")])),
                rx.table.body(rx.foreach(ProvenanceState.records, _recent)), size="1", width="100%",
                id="provenance-records"),
            spacing="3", width="100%",
        ),
        width="100%",
    )


def console() -> rx.Component:
    return rx.vstack(
        page_header("Where every dataset, model and endpoint came from: who did what, when, with which data.",
                    entity_form()),
        integrity_result(),
        rx.cond(
            ProvenanceState.graph_ready,
            rx.grid(graph_card(), record_panel(), columns=rx.breakpoints(initial="1", lg="3fr 1fr"), spacing="4",
                    width="100%"),
            rx.cond(ProvenanceState.loading, rx.skeleton(rx.box(height="340px", width="100%"), loading=True),
                    empty_state("No provenance recorded yet", "Upload a dataset or register a model to start.",
                                icon="git-fork")),
        ),
        rx.cond(ProvenanceState.graph_ready, relations()),
        recent_records(),
        spacing="4",
        width="100%",
    )


@protected_page(routes.PROVENANCE, "Provenance", on_load=[ProvenanceState.load])
def provenance() -> rx.Component:
    """The provenance console, for holders of `lineage:read`."""
    return rx.cond(ProvenanceState.allowed, console(), not_permitted("provenance"))
