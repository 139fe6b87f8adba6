"""Headline figures."""

from __future__ import annotations

import reflex as rx


def stat_card(
    label: str, value: rx.Var, icon: str, loading: rx.Var[bool], *, hint: str = "", stat_id: str = ""
) -> rx.Component:
    """One figure with its label and icon; a skeleton while loading."""
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray", weight="medium"),
                rx.skeleton(rx.text(value, as_="div", size="7", weight="bold", class_name="stat-value"), loading=loading),
                rx.text(hint, size="1", color_scheme="gray") if hint else None,
                spacing="1",
                align="start",
            ),
            rx.spacer(),
            rx.center(rx.icon(icon, size=20), width="2.5rem", height="2.5rem",
                      border_radius="var(--radius-3)", background_color=rx.color("accent", 3),
                      color=rx.color("accent", 11)),
            align="start",
            width="100%",
        ),
        size="2",
        width="100%",
        data_stat=stat_id,
    )


def stat_grid(*cards: rx.Component) -> rx.Component:
    """Stat cards in a grid that reflows from one to three columns."""
    return rx.grid(*cards, columns=rx.breakpoints(initial="1", sm="2", lg="3"), spacing="4", width="100%")
