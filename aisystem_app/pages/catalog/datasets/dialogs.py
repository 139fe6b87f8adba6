"""The dataset detail page's dialogs: upload (with import options, a preview of how the file is read, and the
browser's real progress), split and transform."""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.dialogs import dialog_frame
from aisystem_app.components.facts import fact_list
from aisystem_app.components.forms import field_label, form_error, form_field
from aisystem_app.components.upload_box import upload_box
from aisystem_app.state.catalog.datasets.detail import UPLOAD_ID, DatasetDetailState
from aisystem_app.state.catalog.datasets.forms import (
    COMMENT_CHOICES,
    ENCODING_CHOICES,
    HEADER_CHOICES,
    NO_STRATIFY,
    SEPARATOR_CHOICES,
    SHORT_ROW_CHOICES,
    STEP_OPS,
)

S = DatasetDetailState


def _actions(submit: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
        submit,
        justify="end", width="100%", spacing="3",
    )


# --- upload ---------------------------------------------------------------------------------------------


def _progress() -> rx.Component:
    return rx.cond(
        S.uploading | S.previewing,
        rx.vstack(
            rx.progress(value=S.upload_percent, max=100, width="100%", id="upload-progress"),
            rx.text(rx.cond(S.uploading, S.upload_phase, "Reading the file…"), " ", S.upload_percent, "%", size="1",
                    color_scheme="gray", id="upload-phase"),
            width="100%", spacing="1",
        ),
    )


def _option_select(label: str, name: str, choices: dict[str, str]) -> rx.Component:
    input_id = f"import-{name.replace('_', '-')}"
    return rx.vstack(
        field_label(label, input_id),
        rx.select.root(
            rx.select.trigger(width="100%", id=input_id),
            rx.select.content(*[rx.select.item(text, value=value) for value, text in choices.items()]),
            value=S.import_form[name], on_change=lambda value: S.choose_import_option(name, value),
            disabled=S.uploading | S.importing,
        ),
        rx.cond(S.import_errors[name] != "", rx.text(S.import_errors[name], size="1", color_scheme="red",
                                                      id=f"{input_id}-error")),
        spacing="1", width="100%",
    )


def _option_number(label: str, name: str, low: int) -> rx.Component:
    input_id = f"import-{name.replace('_', '-')}"
    return rx.vstack(
        field_label(label, input_id),
        rx.input(id=input_id, type="number", min=str(low), step="1", default_value=S.import_form[name],
                 key=S.import_form[name], on_blur=lambda value: S.choose_import_option(name, value), width="100%",
                 disabled=S.uploading | S.importing),
        rx.cond(S.import_errors[name] != "", rx.text(S.import_errors[name], size="1", color_scheme="red",
                                                      id=f"{input_id}-error")),
        spacing="1", width="100%",
    )


def _missing_tokens() -> rx.Component:
    return rx.vstack(
        rx.text("Missing values: cells equal to one of these are empty (null)", size="2", weight="medium"),
        rx.flex(
            rx.foreach(S.na_choices, lambda c: rx.checkbox(
                c.label, checked=c.chosen, on_change=lambda on: S.toggle_na_token(c.value, on),
                class_name="na-token", data_token=c.value, disabled=S.uploading | S.importing)),
            wrap="wrap", spacing="3", width="100%", id="import-na-tokens",
        ),
        rx.input(id="import-na-extra", placeholder="Other tokens, comma-separated (e.g. -999, missing)",
                 default_value=S.import_form["na_extra"], key=S.import_form["na_extra"],
                 on_blur=lambda value: S.choose_import_option("na_extra", value), width="100%", max_length=500),
        rx.cond(S.import_errors["na_extra"] != "", rx.text(S.import_errors["na_extra"], size="1", color_scheme="red")),
        spacing="2", width="100%",
    )


def import_options() -> rx.Component:
    """How a CSV/TSV is read; "Detect" leaves it to the import, which says what it found."""
    return rx.vstack(
        rx.text("Import options", size="3", weight="bold"),
        rx.grid(
            _option_select("Header row", "header", HEADER_CHOICES),
            _option_select("Separator", "separator", SEPARATOR_CHOICES),
            _option_select("Encoding", "encoding", ENCODING_CHOICES),
            _option_select("Comment lines start with", "comment", COMMENT_CHOICES),
            _option_number("Rows to skip at the top", "skip_rows", 0),
            _option_number("Names in row (after the skipped rows)", "header_row", 1),
            _option_number("Header spans rows", "header_rows", 1),
            _option_select("Rows with missing trailing fields", "short_rows", SHORT_ROW_CHOICES),
            columns=rx.breakpoints(initial="1", sm="2"), spacing="3", width="100%",
        ),
        _missing_tokens(),
        form_error(S.import_errors["form"]),
        spacing="3", width="100%", id="import-options",
    )


def _preview_table() -> rx.Component:
    header = rx.table.row(rx.foreach(S.preview_columns, lambda c: rx.table.column_header_cell(
        rx.vstack(rx.text(c.name, weight="bold"), rx.text(c.type, " · ", c.missing, size="1", color_scheme="gray",
                                                         weight="regular"), spacing="0"))))
    body = rx.foreach(S.preview_rows, lambda row: rx.table.row(
        rx.foreach(row, lambda cell: rx.table.cell(rx.text(cell, size="1", white_space="nowrap")))))
    return rx.box(
        rx.table.root(rx.table.header(header), rx.table.body(body), size="1", variant="surface", id="preview-table"),
        overflow="auto", max_height="20rem", width="100%",
    )


def upload_preview() -> rx.Component:
    """What the file will become: what was detected, the warnings, the columns' types and the first rows."""
    return rx.cond(
        S.has_pending,
        rx.vstack(
            rx.hstack(rx.icon("table", size=16), rx.text("Preview of ", rx.el.strong(S.preview_name), size="2"),
                      align="center"),
            fact_list(S.preview_facts, id="preview-facts", size="1"),
            rx.foreach(S.preview_warnings, lambda w: rx.callout(w, icon="triangle-alert", color_scheme="amber", size="1",
                                                                width="100%", class_name="preview-warning")),
            rx.cond(S.preview_problem != "", rx.callout(S.preview_problem, icon="circle-alert", color_scheme="red",
                                                        size="1", width="100%", id="preview-problem")),
            rx.cond(S.preview_rows.length() > 0, _preview_table()),
            rx.text(S.preview_note, size="1", color_scheme="gray", id="preview-note"),
            spacing="2", width="100%", id="upload-preview-panel",
        ),
        rx.cond(S.preview_problem != "", rx.callout(S.preview_problem, icon="circle-alert", color_scheme="red",
                                                    size="1", width="100%", id="preview-problem")),
    )


def upload_dialog() -> rx.Component:
    """Choose a file, preview it with the import options (or send it straight away), then import it."""
    chosen = rx.selected_files(UPLOAD_ID)
    busy = S.uploading | S.previewing | S.importing
    send = rx.button(
        rx.cond(S.uploading, rx.spinner(size="2"), rx.icon("upload", size=16)), "Upload",
        on_click=S.upload(rx.upload_files_chunk(upload_id=UPLOAD_ID, on_upload_progress=S.upload_progress)),
        disabled=busy, id="upload-submit",
    )
    import_pending = rx.button(
        rx.cond(S.importing, rx.spinner(size="2"), rx.icon("upload", size=16)), "Import ", S.preview_name,
        on_click=S.import_previewed, disabled=busy | ~S.has_pending, id="upload-submit",
    )
    preview = rx.button(
        rx.cond(S.previewing, rx.spinner(size="2"), rx.icon("eye", size=16)), "Preview",
        on_click=S.preview_upload(rx.upload_files_chunk(upload_id=UPLOAD_ID, on_upload_progress=S.upload_progress)),
        disabled=busy | (chosen.length() == 0), variant="soft", id="upload-preview",
    )
    body = rx.vstack(
        upload_box(UPLOAD_ID, max_files=1, disabled=busy,
                   hint="CSV, TSV, Parquet, JSON or JSON Lines, plain or gzip/bzip2/Zstandard/ZIP-compressed; a ZIP "
                        "of images or audio for media datasets. Preview it to check how it is read."),
        _progress(),
        upload_preview(),
        rx.cond(S.type == "tabular", import_options()),
        form_error(S.upload_error),
        rx.hstack(
            rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
            rx.cond(S.type == "tabular", preview),
            rx.cond(chosen.length() > 0, send, rx.cond(S.has_pending, import_pending, send)),
            justify="end", width="100%", spacing="3",
        ),
        spacing="3", width="100%",
    )
    trigger = rx.button(rx.icon("upload", size=16), "Upload data", id="open-upload")
    return dialog_frame("Upload data", body, trigger=trigger, open=S.upload_open, on_open_change=S.open_upload,
                        dialog_id="dataset-upload-dialog", max_width=rx.cond(S.has_pending, "60rem", "44rem"),
                        description="Each upload becomes a new, immutable version; the same bytes with the same "
                                    "options are recognised and not stored twice.")


# --- split ----------------------------------------------------------------------------------------------


def _ratio(label: str, name: str, default: str) -> rx.Component:
    return form_field(label, name, S.split_errors[name], type="number", default_value=default,
                      step="0.01", min="0", max="1")


def split_dialog() -> rx.Component:
    """Ratios that sum to 1, an optional column to stratify by, and a seed."""
    form = rx.form(
        rx.vstack(
            rx.grid(_ratio("Train", "train", "0.7"), _ratio("Validation", "validation", "0.15"),
                    _ratio("Test", "test", "0.15"), columns="3", spacing="3", width="100%"),
            rx.cond(S.split_errors["ratios"] != "",
                    rx.text(S.split_errors["ratios"], size="1", color_scheme="red", id="ratios-error")),
            rx.vstack(
                rx.text("Stratify by", as_="label", size="2", weight="medium"),
                rx.select.root(
                    rx.select.trigger(width="100%", id="stratify_by"),
                    rx.select.content(rx.select.item("(none)", value=NO_STRATIFY),
                                      rx.foreach(S.column_names, lambda c: rx.select.item(c, value=c))),
                    name="stratify_by", default_value=NO_STRATIFY,
                ),
                rx.text("Keeps each class's share the same in every part.", size="1", color_scheme="gray"),
                spacing="1", width="100%",
            ),
            form_field("Seed", "seed", S.split_errors["seed"], type="number", default_value="42", min="0"),
            form_error(S.split_errors["form"]),
            _actions(rx.button(rx.cond(S.working, rx.spinner(size="2"), rx.icon("split", size=16)), "Split",
                               type="submit", disabled=S.working, id="split-submit")),
            spacing="3", width="100%",
        ),
        on_submit=S.split,
        key=S.form_version,
        id="split-form",
    )
    trigger = rx.button(rx.icon("split", size=16), "Split", variant="soft", id="open-split")
    return dialog_frame("Split into train, validation and test", form, trigger=trigger, open=S.split_open,
                        on_open_change=S.open_split, dialog_id="split-dialog", max_width="34rem",
                        description="The same seed always gives the same split; training and benchmarks use it.")


# --- transform -----------------------------------------------------------------------------------------


def _step_item(text: rx.Var[str], index: rx.Var[int]) -> rx.Component:
    return rx.hstack(
        rx.badge(index + 1, variant="soft", radius="full"),
        rx.text(text, size="2", class_name="step-text"),
        rx.spacer(),
        rx.icon_button(rx.icon("x", size=14), on_click=S.remove_step(index), variant="ghost", color_scheme="gray",
                       size="1", type="button", aria_label="Remove step"),
        width="100%", align="center", class_name="transform-step",
    )


def _step_builder() -> rx.Component:
    hint = S.step_hint
    return rx.form(
        rx.vstack(
            rx.select.root(
                rx.select.trigger(width="100%", id="step-op"),
                rx.select.content(*[rx.select.item(label, value=op) for op, (label, _c, _a) in STEP_OPS.items()]),
                value=S.step_op, on_change=S.choose_step,
            ),
            rx.cond(hint["columns"] != "",
                    form_field(hint["columns"], "columns", S.step_errors["columns"],
                               placeholder="comma-separated column names", list="dataset-columns")),
            rx.cond(hint["argument"] != "",
                    form_field(hint["argument"], "argument", S.step_errors["argument"])),
            rx.el.datalist(rx.foreach(S.column_names, lambda c: rx.el.option(value=c)), id="dataset-columns"),
            rx.button(rx.icon("plus", size=16), "Add step", type="submit", variant="soft", id="add-step"),
            spacing="2", width="100%", align="start",
        ),
        on_submit=S.add_step,
        key=S.form_version,
        id="step-form",
        padding="0.75rem",
        border=f"1px solid {rx.color('gray', 5)}",
        border_radius="var(--radius-3)",
        width="100%",
    )


def transform_dialog() -> rx.Component:
    """Build a list of steps, then run them: the result is a new version with lineage to this one."""
    run = rx.form(
        rx.vstack(
            rx.input(name="message", placeholder="What this version is for (optional)", max_length=500,
                     width="100%", id="transform-message"),
            form_error(S.step_errors["form"]),
            _actions(rx.button(rx.cond(S.working, rx.spinner(size="2"), rx.icon("wand-sparkles", size=16)),
                               "Run transform", type="submit", disabled=S.working | (S.steps.length() == 0),
                               id="run-transform")),
            spacing="3", width="100%",
        ),
        on_submit=S.run_transform,
    )
    body = rx.vstack(
        rx.text("Steps", size="2", weight="medium"),
        rx.cond(S.steps.length() == 0,
                rx.text("No steps yet: pick one below and add it.", size="2", color_scheme="gray"),
                rx.vstack(rx.foreach(S.steps, _step_item), width="100%", spacing="1", id="transform-steps")),
        _step_builder(),
        run,
        spacing="3", width="100%",
    )
    trigger = rx.button(rx.icon("wand-sparkles", size=16), "Transform", variant="soft", id="open-transform")
    return dialog_frame("Transform", body, trigger=trigger, open=S.transform_open, on_open_change=S.open_transform,
                        dialog_id="transform-dialog", max_width="40rem",
                        description="Steps run in order on the newest version.")
