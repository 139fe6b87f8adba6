"""The dataset page's Data tab: a version's rows, sortable by any column, filterable, a page at a time.

Cells, column names and the filter come from users: they are rendered as text only.
"""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.pages.catalog.datasets.actions import download_menu
from aisystem_app.state.catalog.datasets.data import FILTER_HINT
from aisystem_app.state.catalog.datasets.detail import DatasetDetailState
from aisystem_app.state.catalog.datasets.view import CellView, DataColumnView, DataRowView

S = DatasetDetailState
CELL_WIDTH = "22rem"


def _sort_icon(column: rx.Var[DataColumnView]) -> rx.Component:
    return rx.cond(
        column.sort == "ascending", rx.icon("arrow-up", size=14),
        rx.cond(column.sort == "descending", rx.icon("arrow-down", size=14),
                rx.icon("arrow-up-down", size=14, opacity="0.35")),
    )


def _header(column: rx.Var[DataColumnView]) -> rx.Component:
    """A column's name and type; a click sorts the whole version by it (not just this page)."""
    title = rx.vstack(rx.text(column.name, weight="medium", size="2", class_name="data-column-name"),
                      rx.text(column.type, size="1", color_scheme="gray", weight="regular"),
                      spacing="0", align="start")
    return rx.table.column_header_cell(
        rx.cond(column.sortable,
                rx.button(title, _sort_icon(column), variant="ghost", color_scheme="gray", size="1",
                          high_contrast=True, on_click=S.sort_rows(column.name), class_name="data-sort",
                          height="auto", padding_y="0.25rem"),
                title),
        aria_sort=rx.cond(column.sort == "", "none", column.sort),
        data_column=column.name,
        white_space="nowrap",
    )


def _cell(cell: rx.Var[CellView], column: rx.Var[DataColumnView]) -> rx.Component:
    return rx.table.cell(
        rx.text(cell.text, size="2", title=cell.text, color=rx.cond(cell.null, rx.color("gray", 10), "inherit"),
                font_style=rx.cond(cell.null, "italic", "normal"), overflow="hidden", text_overflow="ellipsis",
                white_space="nowrap", max_width=CELL_WIDTH, text_align=rx.cond(column.numeric, "right", "left")),
        class_name=rx.cond(cell.null, "data-cell data-null", "data-cell"),
    )


def _row(row: rx.Var[DataRowView]) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(row.number, size="1", color_scheme="gray")),
        rx.foreach(row.cells, lambda cell, i: _cell(cell, S.data_columns[i])),
        class_name="data-row", align="center",
    )


def _filter_form() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(name="filter", default_value=S.data_filter, key=S.data_filter, id="data-filter",
                     placeholder='rating >= 4 and sentiment == "positive"', width="100%", max_length=200,
                     aria_label="Filter rows"),
            rx.button(rx.icon("filter", size=16), "Filter", type="submit", id="data-filter-apply"),
            rx.cond(S.data_filter != "", rx.button("Clear", type="button", variant="soft", color_scheme="gray",
                                                   on_click=S.clear_filter, id="data-filter-clear")),
            width="100%", spacing="2",
        ),
        on_submit=S.filter_rows, reset_on_submit=False, width="100%",
    )


def _toolbar() -> rx.Component:
    """Which version, the filter, and a download of the version shown."""
    return rx.vstack(
        rx.hstack(
            rx.text("Version", size="2", weight="medium"),
            rx.select(S.data_versions, value=S.data_version, on_change=S.show_version, size="2",
                      id="data-version"),
            rx.spacer(),
            download_menu(S.data_version, label="Download this version", menu_id="data-download"),
            width="100%", align="center", spacing="2", wrap="wrap",
        ),
        _filter_form(),
        rx.text(FILTER_HINT, size="1", color_scheme="gray"),
        rx.cond(S.data_error != "",
                rx.callout(S.data_error, icon="triangle-alert", color_scheme="red", size="1", width="100%",
                           id="data-error")),
        width="100%", spacing="2",
    )


def _pager() -> rx.Component:
    return rx.hstack(
        rx.text(S.data_summary, size="2", color_scheme="gray", id="data-summary"),
        rx.spacer(),
        rx.text("Page ", S.data_page, size="2", color_scheme="gray", id="data-page"),
        rx.button(rx.icon("chevron-left", size=16), "Previous", variant="soft", color_scheme="gray",
                  disabled=(S.data_page <= 1) | S.data_loading, on_click=S.previous_rows, id="data-previous"),
        rx.button("Next", rx.icon("chevron-right", size=16), variant="soft", color_scheme="gray",
                  disabled=~S.data_has_next | S.data_loading, on_click=S.next_rows, id="data-next"),
        width="100%", align="center", spacing="2", wrap="wrap",
    )


def _table() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(rx.table.column_header_cell("#", width="4rem"),
                                     rx.foreach(S.data_columns, _header))),
        rx.table.body(rx.foreach(S.data_rows, _row)),
        variant="surface", size="1", width="100%", id="data-table",
    )
    nothing = rx.cond(
        S.data_error != "",
        rx.button("Show all rows", on_click=S.reset_rows, variant="soft", id="data-reset"),
        empty_state("No rows to show", "No row passes the filter, or this page is past the last row.",
                    icon="filter-x"),
    )
    return rx.cond(
        S.data_loading & (S.data_rows.length() == 0), loading_rows(8),
        rx.cond(S.data_rows.length() == 0, nothing,
                rx.scroll_area(table, type="auto", scrollbars="both", max_height="36rem",
                               opacity=rx.cond(S.data_loading, "0.6", "1"))),
    )


def data_tab() -> rx.Component:
    """The Data tab (an empty state until the dataset has data)."""
    return rx.cond(
        S.has_data,
        rx.vstack(_toolbar(), _pager(), _table(), spacing="3", width="100%"),
        empty_state("No data yet", "Upload a file to see its rows.", icon="upload"),
    )
