"""Feedback: toasts for errors, and the empty, loading and not-permitted states of a panel."""

from __future__ import annotations

import reflex as rx


def toast_error(message: str) -> rx.event.EventSpec:
    """An error toast; handlers return it (the one way they report failures)."""
    return rx.toast.error(message, close_button=True)


def empty_state(title: str, description: str = "", icon: str = "inbox") -> rx.Component:
    """A quiet placeholder for a panel with nothing to show."""
    return rx.flex(
        rx.center(rx.icon(icon, size=22, color=rx.color("gray", 10)),
                  width="3rem", height="3rem", border_radius="9999px", background_color=rx.color("gray", 3)),
        rx.text(title, weight="medium", size="3"),
        rx.text(description, size="2", color_scheme="gray", align="center", max_width="28rem") if description else None,
        direction="column",
        align="center",
        justify="center",
        spacing="2",
        padding_y="3rem",
        width="100%",
        class_name="empty-state",
    )


def not_permitted(what: str) -> rx.Component:
    """Shown in place of a page the signed-in role may not open."""
    return rx.callout(
        f"You don't have permission to view {what}. Ask an administrator if you need access.",
        icon="shield-alert",
        color_scheme="amber",
        width="100%",
    )


def loading_rows(count: int = 5, height: str = "1.75rem") -> rx.Component:
    """Skeleton lines while a panel loads."""
    return rx.vstack(
        *[rx.skeleton(rx.box(height=height, width="100%"), loading=True) for _ in range(count)],
        width="100%",
        spacing="2",
    )


def loading_screen() -> rx.Component:
    """Full-page spinner while the session is checked."""
    return rx.center(rx.spinner(size="3"), height="100vh", width="100%")


def panel(loading: rx.Var[bool], items: rx.Var[list], content: rx.Component, empty: rx.Component, *,
          rows: int = 3, height: str = "6rem") -> rx.Component:
    """Skeleton lines while the first `items` load, then `empty` when there are none, else `content` (kept on
    screen while a reload runs, so it does not flicker)."""
    none = items.length() == 0
    return rx.cond(loading & none, loading_rows(rows, height), rx.cond(none, empty, content))
