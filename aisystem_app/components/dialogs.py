"""Dialogs around forms: a titled dialog whose form submits to a handler, and a text area with its message."""

from __future__ import annotations

import reflex as rx

from aisystem_app.components.forms import field_label


def field_error(errors: rx.Var[dict[str, str]], name: str) -> rx.Var[str]:
    """The message for one field in a state's dict of form errors ("" when the field is fine; a missing
    key would otherwise read as `undefined` in the browser)."""
    return rx.cond(errors.contains(name), errors[name].to(str), "")


def text_area_field(label: str, name: str, error: rx.Var[str] | str = "", *, placeholder: str = "",
                    rows: str = "3", **props) -> rx.Component:
    """A labelled multi-line input; `error` (empty when fine) shows under it."""
    has_error = error != "" if isinstance(error, rx.Var) else bool(error)
    return rx.vstack(
        field_label(label, name),
        rx.text_area(id=name, name=name, placeholder=placeholder, rows=rows, width="100%",
                     color_scheme=rx.cond(has_error, "red", "gray"), aria_invalid=rx.cond(has_error, "true", "false"),
                     **props),
        rx.cond(has_error, rx.text(error, size="1", color_scheme="red", id=f"{name}-error")),
        spacing="1",
        width="100%",
        align="start",
    )


def dialog_frame(title: rx.Var[str] | str, *body: rx.Component, open: rx.Var[bool],  # noqa: A002
                 on_open_change: rx.EventHandler, dialog_id: str, description: str = "",
                 max_width: str = "32rem", trigger: rx.Component | None = None) -> rx.Component:
    """A controlled dialog: title, optional description and the body; `trigger` (a button) opens it."""
    return rx.dialog.root(
        rx.dialog.trigger(trigger) if trigger is not None else None,
        rx.dialog.content(
            rx.dialog.title(title),
            rx.dialog.description(description, size="2", color_scheme="gray", margin_bottom="0.75rem")
            if description else None,
            *body,
            max_width=max_width,
            id=dialog_id,
        ),
        open=open,
        on_open_change=on_open_change,
    )


def form_actions(submit_label: str, *, busy: rx.Var[bool], submit_id: str, on_cancel: rx.EventSpec) -> rx.Component:
    """Cancel and submit buttons at the foot of a dialog's form."""
    return rx.hstack(
        rx.spacer(),
        rx.button("Cancel", type="button", variant="soft", color_scheme="gray", on_click=on_cancel),
        rx.button(rx.cond(busy, rx.spinner(size="2")), submit_label, type="submit", disabled=busy, id=submit_id),
        width="100%",
        padding_top="0.5rem",
    )


def form_dialog(title: rx.Var[str] | str, *fields: rx.Component, open: rx.Var[bool],  # noqa: A002
                on_open_change: rx.EventHandler, on_submit: rx.EventHandler, submit_label: str,
                busy: rx.Var[bool], dialog_id: str, description: str = "", max_width: str = "32rem") -> rx.Component:
    """A dialog holding a form: its fields, then Cancel / submit. The form is rebuilt each time it opens."""
    form = rx.form(
        rx.vstack(*fields, form_actions(submit_label, busy=busy, submit_id=f"{dialog_id}-submit",
                                        on_cancel=on_open_change(False)), spacing="3", width="100%"),
        on_submit=on_submit,
        reset_on_submit=False,
        id=f"{dialog_id}-form",
    )
    return dialog_frame(title, form, open=open, on_open_change=on_open_change, dialog_id=dialog_id,
                        description=description, max_width=max_width)
