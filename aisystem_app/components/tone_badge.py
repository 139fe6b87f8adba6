"""A badge whose colour follows its value (lifecycle status, stage, integrity ...)."""

from __future__ import annotations

import reflex as rx


def tone_badge(value: rx.Var[str], colors: dict[str, str], *, default: str = "gray", **props) -> rx.Component:
    """`value` as a soft badge coloured by `colors[value]`; `data-value` carries the value for tests and CSS."""
    color = rx.match(value, *colors.items(), default)
    return rx.badge(value, color_scheme=color, variant="soft", radius="full", data_value=value, **props)
