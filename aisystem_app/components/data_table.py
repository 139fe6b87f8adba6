"""A table over a `TableMixin` state: sortable headers, cursor pagination, loading and empty states."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import reflex as rx

from aisystem_app.components.feedback import empty_state, loading_rows


@dataclass(frozen=True)
class Column:
    """A column: the row key it shows, its heading, and how a cell renders (plain text by default)."""

    key: str
    label: str
    render: Callable[[rx.Var[str]], rx.Component] | None = None
    sort_key: str | None = None  # another row key to sort by (e.g. a zero-padded number)
    width: str | None = None


def _header(state, column: Column) -> rx.Component:  # noqa: ANN001
    key = column.sort_key or column.key
    active = state.sort_key == key
    icon = rx.cond(
        active,
        rx.cond(state.sort_desc, rx.icon("arrow-down", size=14), rx.icon("arrow-up", size=14)),
        rx.icon("arrow-up-down", size=14, opacity="0.35"),
    )
    return rx.table.column_header_cell(
        rx.button(column.label, icon, on_click=state.sort_by(key), variant="ghost", color_scheme="gray",
                  size="1", high_contrast=True),
        aria_sort=rx.cond(active, rx.cond(state.sort_desc, "descending", "ascending"), "none"),
        width=column.width,
    )


def _cell(row: rx.Var, column: Column) -> rx.Component:
    value = row[column.key].to(str)
    return rx.table.cell(column.render(value) if column.render else rx.text(value))


def pagination(state, previous: str = "Newer", following: str = "Older", **props) -> rx.Component:  # noqa: ANN001
    """Previous / next buttons and the page number (`state` has `page_number`, `has_next`, `loading`,
    `previous_page` and `next_page`); a time-ordered table pages newer / older, a ranked list previous / next."""
    return rx.hstack(
        rx.text("Page ", state.page_number, size="2", color_scheme="gray"),
        rx.spacer(),
        rx.button(rx.icon("chevron-left", size=16), previous, variant="soft", color_scheme="gray",
                  disabled=(state.page_number <= 1) | state.loading, on_click=state.previous_page,
                  id="page-previous"),
        rx.button(following, rx.icon("chevron-right", size=16), variant="soft", color_scheme="gray",
                  disabled=~state.has_next | state.loading, on_click=state.next_page, id="page-next"),
        width="100%",
        align="center",
        **({"padding_top": "0.75rem"} | props),
    )


def data_table(
    state,  # noqa: ANN001  (a TableMixin subclass with next_page / previous_page handlers)
    columns: Sequence[Column],
    *,
    empty_title: str = "Nothing here yet",
    empty_description: str = "",
    table_id: str = "data-table",
) -> rx.Component:
    """The table, its pagination, and its empty and loading states."""
    table = rx.table.root(
        rx.table.header(rx.table.row(*[_header(state, c) for c in columns])),
        rx.table.body(
            rx.foreach(state.sorted_rows, lambda row: rx.table.row(*[_cell(row, c) for c in columns]))
        ),
        variant="surface",
        size="2",
        width="100%",
        id=table_id,
    )
    return table_frame(state, table, empty_state(empty_title, empty_description))


def table_frame(state, table: rx.Component, empty: rx.Component) -> rx.Component:  # noqa: ANN001
    """A table page's frame: loading rows, the empty state when there are no rows, and the pager."""
    return rx.vstack(
        rx.cond(
            state.loading & (state.rows.length() == 0),
            loading_rows(),
            rx.cond(state.rows.length() == 0, empty,
                    rx.scroll_area(table, type="auto", scrollbars="horizontal", width="100%")),
        ),
        pagination(state),
        width="100%",
        spacing="0",
    )
