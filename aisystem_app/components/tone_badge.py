"""A badge whose colour follows its value (lifecycle status, stage, integrity, audit outcome ...)."""

from __future__ import annotations

import reflex as rx

from aisystem_app import format as fmt


def tone_badge(value: rx.Var[str], colors: dict[str, str], *, default: str = "gray", **props) -> rx.Component:
    """`value` in words as a soft badge coloured by `colors[value]`; `data-value` keeps the raw value for
    tests and CSS."""
    color = rx.match(value, *colors.items(), default)
    text = rx.match(value, *((key, fmt.label(key)) for key in colors), value)
    return rx.badge(text, color_scheme=color, variant="soft", radius="full", data_value=value, **props)
