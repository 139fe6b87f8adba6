"""/catalog/models/[model_id]: a model's header and its Overview, Versions, Metrics, Lineage and History tabs.
Text written by users (names, descriptions, notes, reasons) is rendered as text, never as markup."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.components.charts import chart
from aisystem_app.components.dialogs import dialog_frame, field_error, form_dialog, text_area_field
from aisystem_app.components.facts import fact_list
from aisystem_app.components.feedback import empty_state, loading_rows
from aisystem_app.components.forms import form_field
from aisystem_app.components.layout import protected_page
from aisystem_app.components.lineage import lineage_panel
from aisystem_app.components.tabs import page_tabs
from aisystem_app.components.tone_badge import tone_badge
from aisystem_app.components.upload_box import progress_bar, upload_box
from aisystem_app.pages.catalog.models.index import STATUS_COLORS
from aisystem_app.state.catalog.models import view
from aisystem_app.state.catalog.models.detail import UPLOAD_ID, ModelDetailState
from aisystem_app.state.catalog.models.view import FactGroup, VersionView

S = ModelDetailState
STAGE_COLORS = {"none": "gray", "staging": "amber", "production": "green", "archived": "gray"}
INTEGRITY_COLORS = {"ok": "green", "unverified": "gray", "mismatch": "red", "missing": "red"}


# --- header -------------------------------------------------------------------------------------------


def header() -> rx.Component:
    """Name, type, lifecycle status, the production version and the page's actions."""
    production = rx.cond(
        S.production != "",
        rx.hstack(rx.text("Production", size="2", color_scheme="gray"),
                  rx.badge(S.production, color_scheme="green", variant="solid", radius="full", id="production-version"),
                  spacing="2", align="center"),
        rx.text("No version in production", size="2", color_scheme="gray", id="production-version-none"),
    )
    return rx.hstack(
        rx.vstack(
            rx.link(rx.hstack(rx.icon("arrow-left", size=14), rx.text("Models", size="2"), align="center",
                              spacing="1"), href=routes.MODELS),
            rx.heading(S.name, size="7", id="model-name"),
            rx.hstack(rx.badge(S.model_type, variant="surface"),
                      tone_badge(S.status, STATUS_COLORS, id="model-status"), production,
                      rx.cond(S.listing_href != "",
                              rx.link(rx.icon("store", size=14), "On the marketplace", href=S.listing_href, size="2",
                                      id="marketplace-listing-link", display="inline-flex", align_items="center",
                                      gap="0.3rem")),
                      spacing="3", align="center", wrap="wrap"),
            spacing="2",
            align="start",
        ),
        rx.spacer(),
        rx.cond(S.can_create, rx.button(rx.icon("plus", size=16), "New version", on_click=S.open_version(True),
                                        id="new-version")),
        rx.cond(S.can_rollback, rx.button(rx.icon("undo-2", size=16), "Roll back", on_click=S.ask_rollback,
                                          color_scheme="orange", variant="soft", id="rollback")),
        width="100%",
        align="end",
        wrap="wrap",
        spacing="3",
    )


# --- overview -----------------------------------------------------------------------------------------


def fact_group(group: rx.Var[FactGroup]) -> rx.Component:
    return rx.card(rx.vstack(rx.heading(group.title, size="3"),
                             fact_list(group.facts, size="2"), spacing="3"),
                   class_name="fact-group")


def chips(values: rx.Var[list[str]], color: str) -> rx.Component:
    return rx.flex(rx.foreach(values, lambda v: rx.badge(v, variant="surface", color_scheme=color)), wrap="wrap",
                   gap="1")


def external_link(label: str, url: rx.Var[str]) -> rx.Component:
    """A link the service checked is http(s); shown with its address as text."""
    return rx.cond(url != "", rx.hstack(rx.text(label, size="2", weight="medium"),
                                        rx.link(url, href=url, is_external=True, rel="noopener noreferrer nofollow",
                                                size="2"), spacing="2"))


def overview() -> rx.Component:
    return rx.vstack(
        rx.cond(S.description != "", rx.text(S.description, size="3", white_space="pre-wrap", id="model-description"),
                rx.text("No description yet.", size="2", color_scheme="gray")),
        chips(S.tags, "gray"),
        rx.cond(S.capabilities.length() > 0, rx.vstack(rx.text("Capabilities", size="2", weight="medium"),
                                                       chips(S.capabilities, "indigo"), spacing="1")),
        external_link("Documentation", S.documentation),
        external_link("Paper", S.paper),
        rx.grid(rx.foreach(S.groups, fact_group), columns=rx.breakpoints(initial="1", md="2", xl="3"), spacing="4",
                width="100%", id="overview-facts"),
        spacing="4",
        width="100%",
        align="start",
    )


# --- versions -----------------------------------------------------------------------------------------


def move_button(version: rx.Var[VersionView], stage: rx.Var[str]) -> rx.Component:
    label = rx.match(stage, *view.STAGE_ACTIONS.items(), stage)
    return rx.button(label, size="1", variant=rx.cond(stage == "production", "solid", "soft"),
                     color_scheme=rx.cond(stage == "production", "green", "gray"),
                     on_click=S.ask_promote(version.version, stage), data_move=stage, class_name="move-button")


def version_card(version: rx.Var[VersionView]) -> rx.Component:
    """One version in the timeline: stage, who and when, metrics, artifact, notes and its actions."""
    artifact = rx.cond(
        version.has_artifact,
        rx.vstack(
            rx.hstack(rx.icon("package", size=14), rx.text(version.artifact, size="1", style=styles.MONO),
                      tone_badge(version.integrity, INTEGRITY_COLORS, size="1"), align="center", spacing="2",
                      wrap="wrap", class_name="artifact"),
            rx.cond(version.parameters != "",
                    rx.text(version.parameters,
                            rx.cond(version.declared != "",
                                    rx.badge(version.declared, color_scheme="amber", variant="soft", size="1",
                                             margin_left="0.5rem", class_name="declared-parameters")),
                            size="1", class_name="artifact-parameters")),
            rx.cond(version.signature != "",
                    rx.text(version.signature, size="1", color_scheme="gray", style=styles.MONO,
                            class_name="artifact-signature")),
            rx.cond(version.notice != "",
                    rx.callout(version.notice, icon="file-lock-2", size="1", color_scheme="gray",
                               class_name="artifact-notice")),
            spacing="1", align="start", width="100%",
        ),
        rx.text("No artifact yet", size="1", color_scheme="gray", class_name="no-artifact"),
    )
    actions = rx.flex(
        rx.foreach(version.moves, lambda stage: move_button(version, stage)),
        rx.cond(S.can_write & version.uploadable,
                rx.button(rx.icon("upload", size=14), rx.cond(version.has_artifact, "Replace artifact",
                                                              "Upload artifact"),
                          size="1", variant="outline", on_click=S.open_upload(version.version),
                          class_name="upload-button")),
        wrap="wrap", gap="2",
    )
    return rx.card(
        rx.vstack(
            rx.hstack(rx.heading(version.version, size="4", style=styles.MONO),
                      tone_badge(version.stage, STAGE_COLORS, class_name="stage-badge"), rx.spacer(),
                      rx.text(version.created, " · ", version.created_by, size="1", color_scheme="gray"),
                      width="100%", align="center"),
            rx.cond(version.metrics.length() > 0,
                    rx.flex(rx.foreach(version.metrics, lambda m: rx.badge(m.label, ": ", m.value, variant="outline",
                                                                            color_scheme="gray")), wrap="wrap", gap="1")),
            artifact,
            rx.cond(version.notes != "", rx.text(version.notes, size="2", white_space="pre-wrap")),
            actions,
            spacing="2",
            width="100%",
            align="start",
        ),
        width="100%",
        border_left=rx.cond(version.stage == "production", f"3px solid {rx.color('green', 9)}", "3px solid transparent"),
        data_version=version.version,
        data_stage=version.stage,
        class_name="version-card",
    )


def versions() -> rx.Component:
    return rx.cond(
        S.versions.length() == 0,
        empty_state("No versions yet", "Add a version, upload its artifact and promote it.", icon="git-branch"),
        rx.vstack(rx.foreach(S.versions, version_card), spacing="3", width="100%", id="versions"),
    )


# --- metrics, lineage, history ------------------------------------------------------------------------


def metric_table() -> rx.Component:
    return rx.table.root(
        rx.table.header(rx.table.row(rx.table.column_header_cell("Version"),
                                     rx.foreach(S.metric_names, rx.table.column_header_cell))),
        rx.table.body(rx.foreach(S.metric_rows, lambda row: rx.table.row(rx.foreach(row, rx.table.cell)))),
        variant="surface", size="1", width="100%", id="metrics-table",
    )


def metric_chart(title: str, figure: rx.Var, caption: rx.Var[str], card_id: str) -> rx.Component:
    """A titled chart whose caption (from the data: which metrics, what the axis spans) sits above it."""
    return rx.card(
        rx.vstack(rx.heading(title, size="4"), rx.text(caption, size="2", color_scheme="gray", class_name="caption"),
                  chart(figure), spacing="3", width="100%"),
        width="100%", id=card_id,
    )


def metrics() -> rx.Component:
    return rx.cond(
        S.metric_names.length() == 0,
        empty_state("No metrics recorded", "Versions record their metrics when they are added.",
                    icon="chart-no-axes-column"),
        rx.vstack(
            rx.grid(
                rx.cond(S.has_scores, metric_chart("Scores across versions", S.score_chart, S.score_caption,
                                                   "score-chart")),
                rx.cond(S.has_others, metric_chart("Other metrics across versions", S.other_chart, S.other_caption,
                                                   "other-chart")),
                columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%", id="metric-charts",
            ),
            rx.scroll_area(metric_table(), type="auto", scrollbars="horizontal", width="100%"),
            spacing="4",
            width="100%",
        ),
    )


def lineage() -> rx.Component:
    return lineage_panel(S)


HISTORY_COLUMNS = (("version", "Version"), ("stage", "Stage"), ("from", "From"), ("action", "Action"),
                   ("started", "From (time)"), ("ended", "Until"), ("by", "Moved by"), ("reason", "Reason"))


def history_row(row: rx.Var) -> rx.Component:
    def cell(key: str) -> rx.Component:
        if key == "stage":
            return rx.table.cell(tone_badge(row["stage"].to(str), STAGE_COLORS))
        return rx.table.cell(rx.text(row[key], size="2"), data_col=key)

    return rx.table.row(*[cell(k) for k, _ in HISTORY_COLUMNS], data_stage=row["stage"], data_action=row["action"],
                        data_version=row["version"], class_name="history-row")


def history() -> rx.Component:
    table = rx.table.root(
        rx.table.header(rx.table.row(*[rx.table.column_header_cell(label) for _, label in HISTORY_COLUMNS])),
        rx.table.body(rx.foreach(S.history, history_row)),
        variant="surface", size="1", width="100%", id="history-table",
    )
    return rx.vstack(
        rx.text("Which version held which stage, from when to when, who moved it and why. Newest first.",
                size="2", color_scheme="gray"),
        rx.scroll_area(table, type="auto", scrollbars="horizontal", width="100%"),
        rx.cond(S.history_more, rx.button("Show older", variant="soft", on_click=S.more_history, id="history-more")),
        spacing="3",
        width="100%",
    )


# --- dialogs -------------------------------------------------------------------------------------------


def move_dialog() -> rx.Component:
    """Asks why before a promotion or a rollback."""
    return form_dialog(
        S.move_title,
        text_area_field("Reason", "reason", placeholder="Why this move? It is kept in the stage history.",
                        max_length=1000),
        open=S.move_open, on_open_change=S.close_move, on_submit=S.confirm_move,
        submit_label="Confirm", busy=S.moving, dialog_id="move-dialog",
        description="The move is recorded with your name, the time and this reason.",
    )


def _verror(name: str) -> rx.Var[str]:
    return field_error(S.version_errors, name)


def version_dialog() -> rx.Component:
    return form_dialog(
        "New version",
        form_field("Version", "version", _verror("version"), placeholder="1.1.0"),
        text_area_field("Metrics", "metrics", _verror("metrics"), placeholder="accuracy=0.93\nf1Score=0.91"),
        text_area_field("Hyperparameters", "hyperparameters", _verror("hyperparameters"),
                        placeholder="learning_rate=0.0002\nepochs=3"),
        rx.grid(form_field("Experiment run id", "run", _verror("run"), placeholder="run_123"),
                form_field("Datasets (id@version, comma-separated)", "datasets", _verror("datasets"),
                           placeholder="dataset_789@2.0.0"),
                columns="2", spacing="3", width="100%"),
        text_area_field("Notes", "notes", _verror("notes")),
        open=S.version_open, on_open_change=S.open_version, on_submit=S.add_version,
        submit_label="Add version", busy=S.saving_version, dialog_id="version-dialog", max_width="36rem",
    )


def upload_dialog() -> rx.Component:
    start = S.upload_artifact(rx.upload_files_chunk(upload_id=UPLOAD_ID, on_upload_progress=S.upload_progress))
    return dialog_frame(
        "Upload artifact: version " + S.upload_version,
        rx.vstack(
            upload_box(UPLOAD_ID, disabled=S.uploading,
                       hint="safetensors weights with their config.json, or an ONNX model. Any other model file "
                            "is accepted as Opaque (stored and hashed, never loaded). Pickle-based files (.pt, "
                            ".pkl …) are refused."),
            rx.hstack(
                rx.text("Format", size="2", weight="medium"),
                rx.select.root(rx.select.trigger(id="upload-format"), rx.select.content(
                    *[rx.select.item(label, value=value) for value, label in view.FORMATS.items()]),
                    value=S.upload_format, on_change=S.choose_format, size="2"),
                align="center", spacing="3",
            ),
            progress_bar(S.upload_percent, active=S.uploading, bar_id="upload-progress"),
            rx.hstack(
                rx.spacer(),
                rx.button("Cancel", variant="soft", color_scheme="gray", type="button",
                          on_click=[rx.cancel_upload(UPLOAD_ID), rx.clear_selected_files(UPLOAD_ID), S.close_upload(False)]),
                rx.button(rx.cond(S.uploading, rx.spinner(size="2"), rx.icon("upload", size=16)), "Upload",
                          on_click=start, disabled=S.uploading | (rx.selected_files(UPLOAD_ID).length() == 0),
                          id="upload-submit"),
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        open=S.upload_open, on_open_change=S.close_upload, dialog_id="upload-dialog", max_width="34rem",
    )


# --- the page --------------------------------------------------------------------------------------------

TABS = (("overview", "Overview", overview), ("versions", "Versions", versions), ("metrics", "Metrics", metrics),
        ("lineage", "Lineage", lineage), ("history", "History", history))


def tabs() -> rx.Component:
    return page_tabs(TABS, value=S.tab, on_change=S.choose_tab)


def model_page() -> rx.Component:
    return rx.vstack(header(), tabs(), move_dialog(), version_dialog(), upload_dialog(), spacing="5", width="100%")


@protected_page(routes.MODEL_DETAIL, "Model", on_load=[ModelDetailState.load])
def model_detail() -> rx.Component:
    """One model, for holders of `model:read`."""
    return rx.cond(
        S.found,
        model_page(),
        rx.cond(S.loading, loading_rows(8),
                empty_state("Model not found", "It does not exist, was deleted, or you may not see it.", icon="box")),
    )
