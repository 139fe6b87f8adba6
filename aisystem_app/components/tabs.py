"""A page's tabs: one trigger and one panel per `(key, label, body)` entry."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx

Tab = tuple[str, str, Callable[[], rx.Component]]


def page_tabs(tabs: Sequence[Tab], **props) -> rx.Component:
    """The tabs; pass `value` and `on_change` to keep the open tab in a state (and the URL), or `default_value`.
    Triggers are `#tab-<key>` and panels `#panel-<key>` for tests and links."""
    return rx.tabs.root(
        rx.tabs.list(*[rx.tabs.trigger(label, value=key, id=f"tab-{key}") for key, label, _ in tabs]),
        *[rx.tabs.content(rx.box(body(), padding_top="1.25rem"), value=key, id=f"panel-{key}") for key, _, body in tabs],
        width="100%",
        **props,
    )
