"""/catalog/datasets/[dataset_id]: a dataset's Overview, Data (its rows), Schema, Profile, Quality, Versions (with the
steps of each transform), Lineage (what the versions came from and what was made of them) and Access tabs, and its upload, split and transform dialogs.

Column names, values and descriptions come from users' files: they are rendered as text only.
"""

from __future__ import annotations

import reflex as rx

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.charts import chart
from aisystem_app.components.facts import fact_list
from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.components.forms import field_label, form_error, form_field
from aisystem_app.components.layout import protected_page
from aisystem_app.components.lineage import lineage_panel
from aisystem_app.components.stat_card import stat_card, stat_grid
from aisystem_app.components.tabs import page_tabs
from aisystem_app.pages.catalog.datasets.actions import delete_dialog, download_menu
from aisystem_app.pages.catalog.datasets.data import data_tab
from aisystem_app.pages.catalog.datasets.dialogs import split_dialog, transform_dialog, upload_dialog
from aisystem_app.pages.catalog.datasets.index import type_icon
from aisystem_app.state.catalog.datasets.detail import DatasetDetailState
from aisystem_app.state.catalog.datasets.forms import RULE_TYPES
from aisystem_app.state.catalog.datasets.view import (
    AccessView,
    ColumnView,
    FieldView,
    RuleView,
    ScoreView,
    VersionView,
)

S = DatasetDetailState
STATS = (("records", "Records", "rows-3"), ("columns", "Columns", "columns-3"), ("size", "Stored size", "hard-drive"),
         ("versions", "Versions", "history"), ("quality", "Overall quality", "gauge"))


def _no_data(what: str) -> rx.Component:
    return empty_state("No data yet", f"Upload a file to see its {what}.", icon="upload")


def header() -> rx.Component:
    """Type, name, version and the actions the user may take."""
    return rx.hstack(
        rx.vstack(
            rx.link(rx.hstack(rx.icon("arrow-left", size=14), "Datasets", align="center", spacing="1"),
                    href=routes.DATASETS, size="2"),
            rx.hstack(type_icon(S.type, 22), rx.heading(S.name, size="6", id="dataset-name"),
                      rx.badge(S.version, variant="soft", radius="full", id="dataset-version"),
                      align="center", spacing="2"),
            rx.text(S.description, size="2", color_scheme="gray", max_width="48rem"),
            spacing="2", align="start",
        ),
        rx.spacer(),
        rx.cond(S.may_write, rx.hstack(upload_dialog(), rx.cond(S.has_data, split_dialog()),
                                       rx.cond(S.has_data, transform_dialog()), spacing="2")),
        rx.cond(S.has_data, download_menu()),
        rx.cond(S.may_delete, delete_dialog()),
        width="100%", align="start", wrap="wrap", spacing="3",
    )


# --- tabs -------------------------------------------------------------------------------------------------


def overview_tab() -> rx.Component:
    return rx.vstack(
        stat_grid(*[stat_card(label, S.stats[key], icon, S.loading, stat_id=key) for key, label, icon in STATS]),
        rx.cond(S.split_text != "", rx.callout(rx.el.span("Split: ", S.split_text), icon="split", width="100%",
                                               id="split-summary")),
        rx.card(fact_list(S.facts, id="dataset-facts"), width="100%"),
        spacing="4", width="100%",
    )


def _field_row(item: rx.Var[FieldView]) -> rx.Component:
    return rx.table.row(rx.table.cell(rx.text(item.name, weight="medium")), rx.table.cell(rx.code(item.type)),
                        rx.table.cell(rx.text(item.dtype, size="1", color_scheme="gray")),
                        rx.table.cell(item.nullable), rx.table.cell(rx.text(item.categories, size="1")))


def schema_tab() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Column", "Type", "Storage type", "Missing values", "Values")])),
        rx.table.body(rx.foreach(S.fields, _field_row)),
        variant="surface", width="100%", id="schema-table",
    )
    return rx.cond(S.has_data, rx.scroll_area(table, type="auto", scrollbars="horizontal"), _no_data("schema"))


def _profile_row(column: rx.Var[ColumnView]) -> rx.Component:
    selected = S.selected_column == column.name
    return rx.table.row(
        rx.table.cell(rx.button(column.name, variant="ghost", size="1", on_click=S.select_column(column.name),
                                high_contrast=selected, class_name="profile-column")),
        rx.table.cell(rx.code(column.type)), rx.table.cell(column.nulls), rx.table.cell(column.distinct),
        rx.table.cell(rx.text(column.summary, size="1")),
        background_color=rx.cond(selected, rx.color("accent", 3), "transparent"),
        data_column=column.name,
    )


def column_detail() -> rx.Component:
    """The selected column's histogram or top values, and its figures."""
    return rx.card(
        rx.vstack(
            rx.heading(S.selected_column, size="4", id="profile-column-name"),
            rx.grid(chart(S.column_chart), fact_list(S.column_facts, id="column-facts"),
                    columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%"),
            spacing="2", width="100%",
        ),
        width="100%", id="column-detail",
    )


def profile_tab() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Column", "Type", "Missing", "Distinct", "Figures")])),
        rx.table.body(rx.foreach(S.profile_columns, _profile_row)),
        variant="surface", size="1", width="100%", id="profile-table",
    )
    body = rx.vstack(
        rx.text(S.profile_note, size="1", color_scheme="gray", id="profile-note"),
        rx.cond(S.selected_column != "", column_detail()),
        rx.text("Choose a column to see its chart.", size="1", color_scheme="gray"),
        rx.scroll_area(table, type="auto", scrollbars="horizontal", max_height="28rem"),
        spacing="3", width="100%",
    )
    return rx.cond(S.has_data, body, _no_data("profile"))


def _score(score: rx.Var[ScoreView]) -> rx.Component:
    return rx.data_list.item(rx.data_list.label(score.label),
                             rx.data_list.value(rx.vstack(rx.text(score.value, weight="medium"),
                                                          rx.code(score.formula, size="1"), spacing="1")))


def _rule_result(result: rx.Var[RuleView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.badge(rx.cond(result.passed, "passed", "failed"), variant="soft",
                               color_scheme=rx.cond(result.passed, "green", "red"))),
        rx.table.cell(result.rule), rx.table.cell(result.column), rx.table.cell(result.failing),
        rx.table.cell(rx.text(result.detail, size="1")),
        class_name="rule-result",
    )


def rule_checks() -> rx.Component:
    """Add rules, run them on the newest version, see a result per rule."""
    builder = rx.form(
        rx.hstack(
            rx.vstack(field_label("Rule", "rule-kind"),
                      rx.select.root(rx.select.trigger(placeholder="Rule", id="rule-kind"),
                                     rx.select.content(*[rx.select.item(label, value=kind)
                                                         for kind, (label, _c, _a) in RULE_TYPES.items()]),
                                     name="kind", default_value="not_null", size="3"),
                      spacing="1"),
            rx.box(form_field("Column", "rule_column", S.rule_errors["column"], placeholder="column"), width="12rem"),
            rx.box(form_field("Argument", "rule_argument", S.rule_errors["argument"],
                              placeholder="0..100, a pattern, values…"), width="16rem"),
            rx.button(rx.icon("plus", size=16), "Add rule", type="submit", variant="soft", id="add-rule"),
            spacing="2", align="end", wrap="wrap",
        ),
        on_submit=S.add_rule, key=S.form_version, width="100%",
    )
    results = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Result", "Rule", "Column", "Failing rows", "Details")])),
        rx.table.body(rx.foreach(S.rule_results, _rule_result)),
        variant="surface", size="1", width="100%", id="rule-results",
    )
    return rx.card(rx.vstack(
        rx.heading("Rule checks", size="4"),
        builder,
        form_error(S.rule_errors["form"]),
        rx.foreach(S.rules, lambda r: rx.text("• ", r, size="2", class_name="rule-item")),
        rx.hstack(rx.button(rx.cond(S.checking, rx.spinner(size="2"), rx.icon("list-checks", size=16)), "Run checks",
                            on_click=S.check_rules, disabled=S.checking | (S.rules.length() == 0), id="run-checks"),
                  rx.button("Clear", on_click=S.clear_rules, variant="soft", color_scheme="gray"), spacing="2"),
        rx.cond(S.rules_summary != "", rx.text(S.rules_summary, weight="medium", id="rules-summary")),
        rx.cond(S.rule_results.length() > 0, results),
        spacing="3", width="100%",
    ), width="100%")


def quality_tab() -> rx.Component:
    scores = rx.card(rx.vstack(
        rx.grid(rx.foreach(S.gauges, lambda gauge: rx.box(chart(gauge), class_name="quality-gauge")),
                columns=rx.breakpoints(initial="2", sm="3", lg="5"), spacing="2", width="100%", id="quality-gauges"),
        rx.grid(rx.data_list.root(rx.foreach(S.scores, _score)), fact_list(S.quality_details, id="quality-details"),
                columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%"),
        spacing="3", width="100%"), width="100%", id="quality-scores")
    return rx.cond(S.has_data, rx.vstack(scores, rule_checks(), spacing="4", width="100%"), _no_data("quality"))


def _version(item: rx.Var[VersionView]) -> rx.Component:
    """A version in the lineage: where it came from, the steps that made it, its figures."""
    return rx.hstack(
        rx.vstack(rx.badge(item.label, size="2", radius="full",
                           color_scheme=rx.cond(item.current, "indigo", "gray")),
                  rx.box(width="2px", flex_grow="1", background_color=rx.color("gray", 5)),
                  align="center", spacing="1", height="100%"),
        rx.vstack(
            rx.hstack(rx.text(item.origin, weight="medium", class_name="version-origin"),
                      rx.cond(item.current, rx.badge("current", variant="outline", size="1")), spacing="2",
                      align="center"),
            rx.text(item.records, " records · ", item.columns, " columns · ", item.size, " · ", item.created,
                    size="1", color_scheme="gray"),
            rx.cond(item.message != "", rx.text(item.message, size="2", font_style="italic")),
            rx.foreach(item.steps, lambda step, i: rx.text(i + 1, ". ", step, size="2", class_name="lineage-step")),
            rx.cond(item.split != "", rx.text("Split: ", item.split, size="1", color_scheme="gray")),
            spacing="1", align="start", padding_bottom="1rem",
        ),
        spacing="3", align="stretch", width="100%", class_name="version-item", data_version=item.number,
    )


def versions_tab() -> rx.Component:
    return rx.cond(S.versions.length() == 0, _no_data("versions"),
                   rx.vstack(rx.foreach(S.versions, _version), spacing="0", width="100%", id="version-list"))


def _access_row(entry: rx.Var[AccessView]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(entry.subject_type), rx.table.cell(rx.text(entry.subject_label, weight="medium")),
        rx.table.cell(rx.badge(entry.permission, variant="soft")), rx.table.cell(entry.granted_by),
        rx.table.cell(rx.text(entry.granted, size="1")),
        rx.table.cell(rx.cond(S.may_manage, rx.button(
            "Remove", size="1", variant="ghost", color_scheme="red",
            on_click=S.revoke(entry.subject_type, entry.subject)))),
        class_name="access-entry",
    )


def share_form() -> rx.Component:
    """Owners and admins grant a user (by username), a role or a department access."""
    return rx.form(
        rx.hstack(
            rx.select.root(rx.select.trigger(id="share-type"),
                           rx.select.content(*[rx.select.item(fmt.label(t), value=t)
                                               for t in ("role", "user", "department")]),
                           name="subject_type", default_value="role"),
            rx.box(form_field("Who", "subject", S.share_errors["subject"], placeholder="data_engineer or a username"),
                   width="16rem"),
            rx.select.root(rx.select.trigger(id="share-permission"),
                           rx.select.content(rx.select.item("Read", value="read"), rx.select.item("Write", value="write")),
                           name="permission", default_value="read"),
            rx.button(rx.icon("user-plus", size=16), "Share", type="submit", disabled=S.working, id="share-submit"),
            spacing="2", align="end", wrap="wrap",
        ),
        form_error(S.share_errors["form"]),
        on_submit=S.share, key=S.form_version, width="100%",
    )


def access_tab() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(h) for h in
                                       ("Kind", "Who", "Access", "Granted by", "Since", "")])),
        rx.table.body(rx.foreach(S.access, _access_row)),
        variant="surface", size="1", width="100%", id="access-table",
    )
    return rx.vstack(
        rx.text("Owner: ", S.owner, " (and administrators) may change and share it.", size="2"),
        rx.cond(S.access.length() == 0, rx.text("Not shared with anyone.", size="2", color_scheme="gray"), table),
        rx.cond(S.may_manage, rx.card(rx.vstack(rx.heading("Share", size="4"), share_form(), width="100%"),
                                      width="100%")),
        spacing="3", width="100%",
    )


TABS = (("overview", "Overview", overview_tab), ("data", "Data", data_tab), ("schema", "Schema", schema_tab),
        ("profile", "Profile", profile_tab),
        ("quality", "Quality", quality_tab), ("versions", "Versions", versions_tab),
        ("lineage", "Lineage", lambda: lineage_panel(S)), ("access", "Access", access_tab))


def tabs() -> rx.Component:
    return page_tabs(TABS, value=S.tab, on_change=S.choose_tab)


def detail() -> rx.Component:
    return rx.vstack(header(), tabs(), spacing="4", width="100%")


@protected_page(routes.DATASET, "Dataset", on_load=[DatasetDetailState.load])
def dataset_detail() -> rx.Component:
    """One dataset, for users its ACL lets see it."""
    return rx.cond(
        S.found, detail(),
        rx.cond(S.loading, loading_rows(8),
                empty_state("Dataset not found", "It does not exist, or it was not shared with you.",
                            icon="search-x")),
    )
