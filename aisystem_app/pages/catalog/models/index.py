"""/catalog/models: search (keyword or semantic), filter chips, sort, the models table, and registering a model.
Names, tags and snippets written by users are rendered as text."""

from __future__ import annotations

import reflex as rx

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.data_table import table_frame
from aisystem_app.components.dialogs import field_error, form_dialog, text_area_field
from aisystem_app.components.feedback import empty_state, not_permitted
from aisystem_app.components.forms import field_label, form_field
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.components.tone_badge import tone_badge
from aisystem_app.state.catalog.models import view
from aisystem_app.state.catalog.models.index import RELEVANCE, ModelsState

STATUS_COLORS = {"development": "gray", "training": "blue", "validation": "amber", "deployment": "violet",
                 "monitoring": "green", "retirement": "red"}


# --- search, filters, sort ------------------------------------------------------------------------


def search_bar() -> rx.Component:
    """The search box with its keyword / semantic toggle."""
    return rx.form(
        rx.hstack(
            rx.input(rx.input.slot(rx.icon("search", size=16)), name="q", id="models-search", size="3",
                     placeholder=rx.cond(ModelsState.mode == "semantic", "Describe what the model should do…",
                                         "Search names, descriptions, tags…"),
                     # keyed by the query, so a URL that brings another search re-fills the box
                     default_value=ModelsState.query, key=ModelsState.query, flex="1", max_length=500),
            rx.segmented_control.root(
                rx.segmented_control.item("Keyword", value="keyword"),
                rx.segmented_control.item("Semantic", value="semantic"),
                value=ModelsState.mode, on_change=ModelsState.choose_mode, size="3", id="search-mode",
            ),
            rx.button(rx.cond(ModelsState.loading & ModelsState.searching, rx.spinner(size="2")), "Search",
                      type="submit", size="3", id="models-search-submit"),
            width="100%",
            align="center",
            wrap="wrap",
        ),
        on_submit=ModelsState.search,
        reset_on_submit=False,
        width="100%",
    )


def chip(key: str, value: str) -> rx.Component:
    """A filter chip with its model count: on when the list is filtered by it."""
    selected = ModelsState.filters[key].to(str) == value
    return rx.button(
        # Frameworks are proper names (`scikit-learn`); types and statuses are worded.
        value if key == "framework" else fmt.label(value),
        rx.text(ModelsState.counts[f"{key}:{value}"], size="1", opacity="0.7", data_count=""),
        size="1", radius="full", type="button",
        variant=rx.cond(selected, "solid", "outline"), color_scheme=rx.cond(selected, "indigo", "gray"),
        on_click=ModelsState.toggle_filter(key, value),
        aria_pressed=rx.cond(selected, "true", "false"), data_filter=key, data_value=value,
    )


def chip_row(label: str, key: str, values: list[str]) -> rx.Component:
    return rx.hstack(
        rx.text(label, size="1", weight="bold", color_scheme="gray", min_width="5.5rem"),
        rx.flex(*[chip(key, v) for v in values], wrap="wrap", gap="1"),
        align="center",
        width="100%",
    )


def tag_filter() -> rx.Component:
    """Type a tag to filter by it; the active tag shows as a removable chip."""
    active = ModelsState.active_tag
    return rx.hstack(
        rx.text("Tag", size="1", weight="bold", color_scheme="gray", min_width="5.5rem"),
        rx.form(rx.input(name="tag", id="tag-filter", placeholder="e.g. sentiment", size="1", max_length=64,
                         width="14rem"),
                on_submit=ModelsState.add_tag, reset_on_submit=True),
        rx.cond(active != "", rx.button(active, rx.icon("x", size=12), size="1", radius="full", variant="solid",
                                        color_scheme="indigo", on_click=ModelsState.toggle_filter("tag", active),
                                        data_filter="tag", data_value=active, aria_label="Remove the tag filter")),
        align="center",
        width="100%",
    )


def sort_select() -> rx.Component:
    """The list's order. While searching it says "Relevance" (what is applied) and cannot change."""
    return rx.select.root(
        rx.select.trigger(placeholder="Sort", aria_label="Sort", id="models-sort"),
        rx.select.content(
            rx.cond(ModelsState.searching, rx.select.item("Relevance", value=RELEVANCE)),
            *[rx.select.item(label, value=value) for value, label in view.SORTS.items()],
        ),
        value=ModelsState.sort_shown,
        on_change=ModelsState.choose_sort,
        disabled=ModelsState.searching,
        size="2",
    )


def filters_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            search_bar(),
            *[chip_row(label, key, view.CHIPS[key])
              for label, key in (("Type", "type"), ("Status", "status"), ("Framework", "framework"))],
            tag_filter(),
            rx.hstack(
                rx.text("Sort", size="1", weight="bold", color_scheme="gray"),
                sort_select(),
                rx.cond(ModelsState.searching & (ModelsState.summary != ""),
                        rx.text(ModelsState.summary, size="1", color_scheme="gray", id="search-summary")),
                rx.spacer(),
                rx.button(rx.icon("x", size=14), "Clear search and filters", variant="ghost", size="1",
                          on_click=ModelsState.clear, id="clear-filters"),
                align="center",
                width="100%",
                wrap="wrap",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


# --- the table ------------------------------------------------------------------------------------


def tag_badges(tags: rx.Var[str]) -> rx.Component:
    return rx.flex(
        rx.foreach(tags.split(","), lambda t: rx.cond(t != "", rx.badge(t, variant="surface", color_scheme="gray",
                                                                        size="1"))),
        wrap="wrap", gap="1",
    )


def model_row(row: rx.Var) -> rx.Component:
    name = rx.vstack(
        rx.link(row["name"], href=row["href"], weight="medium", class_name="model-link"),
        rx.cond(row["snippet"] != "", rx.text(row["snippet"], size="1", color_scheme="gray", class_name="snippet")),
        spacing="0", align="start",
    )
    return rx.table.row(
        rx.table.cell(name),
        rx.cond(ModelsState.scored, rx.table.cell(rx.text(row["score"], class_name="score",
                                                          style={"fontVariantNumeric": "tabular-nums"}))),
        rx.table.cell(rx.text(row["type"])),
        rx.table.cell(rx.text(row["framework"])),
        rx.table.cell(tone_badge(row["status"].to(str), STATUS_COLORS, class_name="status-badge")),
        rx.table.cell(rx.text(row["version"], class_name="model-version")),
        rx.table.cell(rx.text(row["accuracy"])),
        rx.table.cell(tag_badges(row["tags"].to(str))),
        rx.table.cell(rx.text(row["updated"], size="1", color_scheme="gray", white_space="nowrap")),
        data_model=row["id"],
    )


def models_table() -> rx.Component:
    headers = ("Type", "Framework", "Status", "Version", "Accuracy", "Tags", "Updated")
    similarity = rx.table.column_header_cell(
        rx.tooltip(rx.text("Similarity"), content="Cosine similarity of your description and the model's text "
                                                   "(1 = same meaning, 0 = unrelated)"), id="score-header")
    table = rx.table.root(
        rx.table.header(rx.table.row(rx.table.column_header_cell("Name"), rx.cond(ModelsState.scored, similarity),
                                     *[rx.table.column_header_cell(h) for h in headers])),
        rx.table.body(rx.foreach(ModelsState.rows, model_row)),
        variant="surface", size="2", width="100%", id="models-table",
    )
    return table_frame(
        ModelsState, table, empty_state("No models match", "Try other words or fewer filters.", icon="box")
    )


# --- registering ----------------------------------------------------------------------------------


def _error(name: str) -> rx.Var[str]:
    return field_error(ModelsState.register_errors, name)


def type_field() -> rx.Component:
    return rx.vstack(
        field_label("Type", "type"),
        rx.select.root(rx.select.trigger(placeholder="Choose a type", id="type", width="100%"),
                       rx.select.content(*[rx.select.item(t, value=t) for t in view.MODEL_TYPES]),
                       name="type", size="3"),
        rx.cond(_error("type") != "", rx.text(_error("type"), size="1", color_scheme="red", id="type-error")),
        spacing="1", width="100%", align="start",
    )


def register_dialog() -> rx.Component:
    """The register form; the service's rules give the inline messages."""
    return form_dialog(
        "Register a model",
        form_field("Name", "name", _error("name"), placeholder="Customer Sentiment Analyzer", max_length=200),
        rx.grid(type_field(),
                form_field("Category", "category", _error("category"), placeholder="Text Classification"),
                form_field("Framework", "framework", _error("framework"), placeholder="PyTorch"),
                form_field("Architecture", "architecture", _error("architecture"), placeholder="Transformer"),
                form_field("Parameters", "parameters", _error("parameters"), placeholder="125000000"),
                form_field("First version (optional)", "version", _error("version"), placeholder="1.0.0"),
                columns="2", spacing="3", width="100%"),
        text_area_field("Description", "description", _error("description"),
                        placeholder="What the model does, for whom, and its limits"),
        rx.grid(form_field("Tags (comma-separated)", "tags", _error("tags"), placeholder="nlp, sentiment"),
                form_field("Licence", "license", _error("license"), placeholder="Apache-2.0"),
                columns="2", spacing="3", width="100%"),
        form_field("Documentation URL", "documentation", _error("documentation"), placeholder="https://…"),
        open=ModelsState.register_open,
        on_open_change=ModelsState.open_register,
        on_submit=ModelsState.register,
        submit_label="Register",
        busy=ModelsState.registering,
        dialog_id="register-dialog",
        max_width="40rem",
    )


def register_button() -> rx.Component:
    return rx.cond(ModelsState.can_create,
                   rx.button(rx.icon("plus", size=16), "Register model", on_click=ModelsState.open_register(True),
                             id="register-model"))


def models_list() -> rx.Component:
    return rx.vstack(
        page_header("Every trained, uploaded or published model, its versions and where each one runs.",
                    register_button()),
        filters_card(),
        rx.card(models_table(), width="100%"),
        register_dialog(),
        spacing="4",
        width="100%",
    )


@protected_page(routes.MODELS, "Models", on_load=[ModelsState.load])
def models() -> rx.Component:
    """The models list, for holders of `model:read`."""
    return rx.cond(ModelsState.allowed, models_list(), not_permitted("the model registry"))
