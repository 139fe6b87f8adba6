"""Form fields with their label and an inline validation message."""

from __future__ import annotations

import reflex as rx


def form_field(
    label: str,
    name: str,
    error: rx.Var[str],
    *,
    type: str = "text",
    placeholder: str = "",
    icon: str | None = None,
    **props,
) -> rx.Component:
    """A labelled input; `error` (empty when fine) shows under it and marks it invalid."""
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
        rx.input(
            rx.input.slot(rx.icon(icon, size=16)) if icon else None,
            id=name,
            name=name,
            type=type,
            placeholder=placeholder,
            size="3",
            width="100%",
            color_scheme=rx.cond(error != "", "red", "gray"),
            aria_invalid=rx.cond(error != "", "true", "false"),
            **props,
        ),
        rx.cond(error != "", rx.text(error, size="1", color_scheme="red", id=f"{name}-error")),
        spacing="1",
        width="100%",
        align="start",
    )


def form_error(message: rx.Var[str]) -> rx.Component:
    """A form-level error (e.g. wrong credentials), shown above the submit button."""
    return rx.cond(
        message != "",
        rx.callout(message, icon="circle-alert", color_scheme="red", role="alert", width="100%", size="1",
                   id="form-error"),
    )
