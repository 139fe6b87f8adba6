"""/catalog/datasets: the datasets the user may see (type, size, versions, quality), searched, filtered
and paged, and the dialog that creates one. Names and descriptions are rendered as text only."""

from __future__ import annotations

import reflex as rx

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.data_table import table_frame
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.forms import choice, field_label, form_error, form_field
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.state.catalog.datasets.index import ALL, SORTS, TYPES, DatasetsState
from aisystem_app.state.catalog.datasets.view import TYPE_ICONS

HEADINGS = ("Name", "Type", "Size", "Versions", "Records", "Quality", "Updated")


def type_icon(kind: rx.Var[str], size: int = 16) -> rx.Component:
    """The icon of a dataset type (tabular, text, image, audio)."""
    return rx.match(kind, *[(k, rx.icon(icon, size=size)) for k, icon in TYPE_ICONS.items()],
                    rx.icon("database", size=size))


def quality_badge(label: rx.Var[str], color: rx.Var[str]) -> rx.Component:
    """The overall quality score, coloured by how good it is."""
    scheme = rx.match(color, ("green", "green"), ("amber", "amber"), ("red", "red"), "gray")
    return rx.badge(label, color_scheme=scheme, variant="soft", radius="full", class_name="quality-badge")


def dataset_row(row: rx.Var) -> rx.Component:
    """One dataset; its name opens it."""
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.link(row["name"], href=row["href"], weight="medium", class_name="dataset-link"),
            rx.text(row["description"], size="1", color_scheme="gray", max_width="32rem", truncate=True),
            spacing="0", align="start")),
        rx.table.cell(rx.hstack(type_icon(row["type"]), rx.text(row["type_label"]), spacing="2", align="center")),
        rx.table.cell(rx.text(row["size"])),
        rx.table.cell(rx.text(row["versions"])),
        rx.table.cell(rx.text(row["records"])),
        rx.table.cell(quality_badge(row["quality"], row["quality_color"])),
        rx.table.cell(rx.text(row["updated"], size="1", color_scheme="gray")),
        data_dataset=row["id"],
    )


def datasets_table() -> rx.Component:
    """The page of datasets, with loading and empty states and the pager."""
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in HEADINGS])),
        rx.table.body(rx.foreach(DatasetsState.sorted_rows, dataset_row)),
        variant="surface", size="2", width="100%", id="datasets-table",
    )
    return table_frame(
        DatasetsState, table,
        empty_state("No datasets", "Create one, or ask a colleague to share theirs.", icon="database"),
    )


def toolbar() -> rx.Component:
    """Search by name, filter by type, order."""
    return rx.hstack(
        rx.form(
            rx.hstack(
                rx.input(rx.input.slot(rx.icon("search", size=16)), name="q", placeholder="Search by name",
                         default_value=DatasetsState.query, key=DatasetsState.query, id="dataset-search", max_length=100, width="16rem"),
                rx.button("Search", type="submit", variant="soft", id="dataset-search-submit"),
                spacing="2",
            ),
            on_submit=DatasetsState.search,
        ),
        choice({ALL: "All types"} | {t: fmt.label(t) for t in TYPES}, value=DatasetsState.type_filter,
               on_change=DatasetsState.filter_type, id="dataset-type-filter", aria_label="Type"),
        choice(SORTS, value=DatasetsState.sort, on_change=DatasetsState.sort_list, aria_label="Order", id="dataset-sort"),
        spacing="3",
        wrap="wrap",
        width="100%",
        align="center",
    )


def create_form() -> rx.Component:
    """Name, type and description of a new dataset; its data comes by upload afterwards."""
    return rx.form(
        rx.vstack(
            form_field("Name", "name", DatasetsState.name_error, placeholder="Customer feedback", max_length=200),
            rx.vstack(field_label("Type", "type"),
                      choice(TYPES, name="type", default_value="tabular", id="type", width="100%"),
                      spacing="1", width="100%"),
            rx.vstack(field_label("Description", "description"),
                      rx.text_area(name="description", id="description", max_length=5000, width="100%"),
                      spacing="1", width="100%"),
            form_field("Label column (optional)", "label_column", DatasetsState.label_error,
                       placeholder="sentiment", max_length=256),
            form_field("Tags (comma-separated)", "tags", DatasetsState.tags_error, placeholder="nlp, feedback"),
            form_error(DatasetsState.form_error),
            rx.hstack(
                rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                rx.button(rx.cond(DatasetsState.creating, rx.spinner(size="2"), rx.icon("plus", size=16)),
                          "Create", type="submit", disabled=DatasetsState.creating, id="create-dataset-submit"),
                justify="end", width="100%", spacing="3",
            ),
            spacing="3",
        ),
        on_submit=DatasetsState.create,
        key=DatasetsState.form_version,
        id="create-dataset-form",
    )


def create_dialog() -> rx.Component:
    """The button (for roles that may create) and its dialog."""
    return rx.cond(
        DatasetsState.may_create,
        rx.dialog.root(
            rx.dialog.trigger(rx.button(rx.icon("plus", size=16), "New dataset", id="new-dataset")),
            rx.dialog.content(
                rx.dialog.title("New dataset"),
                rx.dialog.description("Describe it now; upload its data on the next page.", size="2",
                                      margin_bottom="1rem"),
                create_form(),
                max_width="32rem",
            ),
            open=DatasetsState.create_open,
            on_open_change=DatasetsState.open_create,
        ),
    )


def datasets_page() -> rx.Component:
    return rx.vstack(
        page_header("Datasets you own or that were shared with you: upload, profile, split and transform them.",
                    create_dialog()),
        toolbar(),
        rx.card(datasets_table(), width="100%"),
        spacing="4",
        width="100%",
    )


@protected_page(routes.DATASETS, "Datasets", on_load=[DatasetsState.load])
def datasets() -> rx.Component:
    """The datasets list, for holders of `dataset:read`."""
    return rx.cond(DatasetsState.allowed, datasets_page(), not_permitted("datasets"))
