"""A page's tabs: one trigger and one panel per `(key, label, body)` entry."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx

Tab = tuple[str, str, Callable[[], rx.Component]]


def page_tabs(tabs: Sequence[Tab], **props) -> rx.Component:
    """The tabs; pass `value` and `on_change` to keep the open tab in a state (and the URL), or `default_value`.
    Triggers are `#tab-<key>` and panels `#panel-<key>` for tests and links."""
    return rx.tabs.root(
        # On a phone the smaller size fits more tabs, and the rest scroll sideways with a visible scrollbar
        # (Radix hides it, which made the last tabs look cut off).
        rx.tabs.list(*[rx.tabs.trigger(label, value=key, id=f"tab-{key}", flex_shrink="0") for key, label, _ in tabs],
                     size=rx.breakpoints(initial="1", sm="2"), scrollbar_width="thin", overflow_y="hidden",
                     max_width="100%", class_name="page-tabs"),
        *[rx.tabs.content(rx.box(body(), padding_top="1.25rem"), value=key, id=f"panel-{key}") for key, _, body in tabs],
        width="100%",
        min_width="0",
        **props,
    )
