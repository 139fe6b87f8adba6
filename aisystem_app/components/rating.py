"""Star ratings: a read-only row of stars, and a 1–5 star picker for forms."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

STAR_COLOR = "var(--amber-9)"
EMPTY_STAR_COLOR = "var(--gray-7)"


def _star(filled: rx.Var[bool], size: int) -> rx.Component:
    return rx.icon("star", size=size, color=rx.cond(filled, STAR_COLOR, EMPTY_STAR_COLOR),
                   fill=rx.cond(filled, STAR_COLOR, "none"))


def rating_stars(rating: rx.Var[float], *, size: int = 14, label: rx.Var[str] | str = "") -> rx.Component:
    """Five stars, filled up to `rating` rounded to the nearest star, and an optional label after them."""
    return rx.hstack(
        rx.hstack(*[_star(rating >= i - 0.5, size) for i in range(1, 6)], spacing="0", aria_hidden="true"),
        rx.text(label, size="1", color_scheme="gray") if isinstance(label, rx.Var) or label else None,
        spacing="1",
        align="center",
        role="img",
        aria_label=rx.cond(rating > 0, rx.Var.create("Rated ") + rating.to(str) + " out of 5", "Not rated yet"),
        class_name="rating-stars",
    )


def rating_input(value: rx.Var[int], on_select: Callable[[int], rx.event.EventSpec], *,
                 name: str = "rating", size: int = 22) -> rx.Component:
    """Five star buttons; clicking the n-th calls `on_select(n)`. The chosen value is `aria-checked`."""
    return rx.hstack(
        *[
            rx.icon_button(
                _star(value >= i, size),
                on_click=on_select(i),
                variant="ghost",
                color_scheme="gray",
                type="button",
                role="radio",
                aria_checked=rx.cond(value == i, "true", "false"),
                aria_label=f"{i} star{'s' if i > 1 else ''}",
                data_star=str(i),
            )
            for i in range(1, 6)
        ],
        spacing="1",
        role="radiogroup",
        aria_label="Rating",
        id=f"{name}-input",
    )
