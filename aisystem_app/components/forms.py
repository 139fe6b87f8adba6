"""Form fields with their label and an inline validation message."""

from __future__ import annotations

import reflex as rx
from reflex_components_radix.themes.components.checkbox import Checkbox

from aisystem_app import format as fmt


def bare_checkbox(**props) -> rx.Component:
    """A checkbox alone (`rx.checkbox` wraps it in a label holding a div, which HTML does not allow)."""
    return Checkbox.create(**props)


def field_label(text: str, name: str) -> rx.Component:
    """A form label tied to the input with id `name` (`htmlFor`: Radix Text takes no `html_for` prop, so
    that keyword would end up as CSS and the label would name nothing)."""
    return rx.text(text, as_="label", size="2", weight="medium", custom_attrs={"htmlFor": name})


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
        field_label(label, name),
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


def choice(options: dict[str, str] | list[str] | tuple[str, ...], **props) -> rx.Component:
    """A select whose options show words (`{value: label}`, or values worded by `format.label`) and send values."""
    labelled = options if isinstance(options, dict) else {value: fmt.label(value) for value in options}
    trigger = {k: props.pop(k) for k in ("id", "aria_label", "placeholder", "width") if k in props}
    return rx.select.root(
        rx.select.trigger(**trigger),
        rx.select.content(*[rx.select.item(label, value=value) for value, label in labelled.items()]),
        **props,
    )
