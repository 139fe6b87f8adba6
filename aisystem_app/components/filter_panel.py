"""A list page's filters that fold away behind a "Filters" button on a narrow screen (a phone), so the
first results are on the first screen; on a wide screen they always show beside the results."""

from __future__ import annotations

import reflex as rx

from aisystem_app import styles


class FilterPanelState(rx.State):
    """Whether the filters are unfolded on a narrow screen (a view detail of this tab, not of the URL)."""

    filters_open: bool = False

    @rx.event
    def toggle_filters(self):
        """Show or hide the filters (narrow screens)."""
        self.filters_open = not self.filters_open


def collapsible_filters(body: rx.Component, *, panel_id: str = "filters-panel") -> rx.Component:
    """`body` under a "Filters" toggle on narrow screens, always shown on wide ones.

    Only one copy of `body` is mounted at a time (the `cond` picks a wrapper), so ids inside it stay unique.
    """
    is_open = FilterPanelState.filters_open
    return rx.el.div(
        rx.el.div(
            rx.button(
                rx.icon("sliders-horizontal", size=16),
                rx.cond(is_open, "Hide filters", "Filters"),
                rx.spacer(),
                rx.cond(is_open, rx.icon("chevron-up", size=16), rx.icon("chevron-down", size=16)),
                variant="soft",
                color_scheme="gray",
                width="100%",
                on_click=FilterPanelState.toggle_filters,
                aria_expanded=rx.cond(is_open, "true", "false"),
                aria_controls=panel_id,
                id="filters-toggle",
            ),
            display=styles.NARROW_ONLY,
            margin_bottom=rx.cond(is_open, "0.75rem", "0"),
        ),
        rx.cond(
            is_open,
            rx.el.div(body, id=panel_id, width="100%"),
            rx.el.div(body, id=panel_id, width="100%", display=styles.WIDE_ONLY),
        ),
        width="100%",
        min_width="0",
    )
