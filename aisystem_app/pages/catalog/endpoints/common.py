"""Pieces shared by the endpoint pages: an endpoint's status in words."""

from __future__ import annotations

import reflex as rx

from aisystem_app.state.catalog.endpoints.view import STATUS_COLORS, STATUS_WORDS


def endpoint_status(value: rx.Var[str], **props) -> rx.Component:
    """`running` reads "Serving" (green); `data-value` keeps the raw value."""
    color = rx.match(value, *STATUS_COLORS.items(), "gray")
    text = rx.match(value, *STATUS_WORDS.items(), value)
    return rx.badge(text, color_scheme=color, variant="soft", radius="full", data_value=value, **props)


def var_choice(options: rx.Var[dict[str, str]], *, value: rx.Var[str], on_change: rx.EventHandler,
               trigger_id: str, **props) -> rx.Component:
    """A select over options held in state (`{value: words}`), showing the words and sending the value."""
    return rx.select.root(
        rx.select.trigger(id=trigger_id, width="100%"),
        rx.select.content(rx.foreach(options, lambda kv: rx.select.item(kv[1], value=kv[0]))),
        value=value, on_change=on_change, **props)
