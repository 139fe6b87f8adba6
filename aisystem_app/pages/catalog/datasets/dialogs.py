"""The dataset detail page's dialogs: upload (with the browser's real progress), split and transform."""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.dialogs import dialog_frame
from aisystem_app.components.forms import form_error, form_field
from aisystem_app.components.upload_box import upload_box
from aisystem_app.state.catalog.datasets.detail import UPLOAD_ID, DatasetDetailState
from aisystem_app.state.catalog.datasets.forms import NO_STRATIFY, STEP_OPS

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
        S.uploading,
        rx.vstack(
            rx.progress(value=S.upload_percent, max=100, width="100%", id="upload-progress"),
            rx.text(S.upload_phase, " ", S.upload_percent, "%", size="1", color_scheme="gray", id="upload-phase"),
            width="100%", spacing="1",
        ),
    )


def upload_dialog() -> rx.Component:
    """Choose a file, send it with a progress bar; the server stores it as a new version."""
    chosen = rx.selected_files(UPLOAD_ID)
    send = rx.button(
        rx.cond(S.uploading, rx.spinner(size="2"), rx.icon("upload", size=16)), "Upload",
        on_click=S.upload(rx.upload_files_chunk(upload_id=UPLOAD_ID, on_upload_progress=S.upload_progress)),
        disabled=S.uploading | (chosen.length() == 0), id="upload-submit",
    )
    body = rx.vstack(
        upload_box(UPLOAD_ID, max_files=1, disabled=S.uploading,
                   hint="CSV, TSV, Parquet, JSON or JSON Lines; a ZIP for image and audio datasets."),
        _progress(),
        form_error(S.upload_error),
        _actions(send),
        spacing="3", width="100%",
    )
    trigger = rx.button(rx.icon("upload", size=16), "Upload data", id="open-upload")
    return dialog_frame("Upload data", body, trigger=trigger, open=S.upload_open, on_open_change=S.open_upload,
                        dialog_id="dataset-upload-dialog", max_width="34rem",
                        description="Each upload becomes a new, immutable version; identical bytes are recognised and "
                                    "not stored twice.")


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
