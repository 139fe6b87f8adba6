"""A lineage panel: the drawing, then every relation in words with each end linked to its page.

Pairs with `aisystem_app.state.lineage.LineageMixin`: `lineage_panel(PageState)` shows what it holds.
"""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.charts import chart


def _end(text: rx.Var, href: rx.Var) -> rx.Component:
    """One end of a relation: a link to its page where it has one."""
    return rx.cond(href != "", rx.link(text, href=href), rx.text(text))


def _relation(edge: rx.Var) -> rx.Component:
    return rx.table.row(rx.table.cell(_end(edge["from"], edge["from_href"])),
                        rx.table.cell(rx.badge(edge["relation"], variant="soft")),
                        rx.table.cell(_end(edge["to"], edge["to_href"])))


def lineage_panel(state: type[rx.State]) -> rx.Component:
    """The lineage `state` (a state with `LineageMixin`) holds; `#lineage-graph` and `#lineage-edges`."""
    return rx.vstack(
        rx.card(rx.box(chart(state.lineage_chart), id="lineage-graph"), width="100%"),
        rx.cond(state.lineage.length() == 0,
                rx.text("No relations recorded yet.", size="2", color_scheme="gray"),
                rx.table.root(rx.table.header(rx.table.row(rx.table.column_header_cell("From"),
                                                           rx.table.column_header_cell("Relation"),
                                                           rx.table.column_header_cell("To"))),
                              rx.table.body(rx.foreach(state.lineage, _relation)), variant="surface", size="1",
                              width="100%", id="lineage-edges")),
        spacing="4",
        width="100%",
    )
