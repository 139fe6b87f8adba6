"""The page frame: sidebar, top bar with the user menu, and the `protected_page` decorator."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import reflex as rx

from aisystem_app import styles
from aisystem_app.components.feedback import loading_screen
from aisystem_app.components.sidebar import PRODUCT_NAME, mobile_nav, sidebar
from aisystem_app.state.session import SessionState


def user_menu() -> rx.Component:
    """Avatar with the user's name and role, and the sign-out action."""
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.avatar(fallback=SessionState.initials, size="2", radius="full"),
                rx.el.div(
                    rx.text(SessionState.display_name, size="2", weight="medium", id="user-display-name"),
                    rx.text(SessionState.role_label, size="1", color_scheme="gray", id="user-role"),
                    display=styles.WIDE_ONLY, text_align="left",
                ),
                rx.icon("chevron-down", size=16),
                variant="ghost", color_scheme="gray", size="3", id="user-menu",
            ),
        ),
        rx.menu.content(
            rx.box(rx.text("Signed in as", size="1", color_scheme="gray"),
                   rx.text(SessionState.username, size="2", weight="medium"), padding_x="0.75rem", padding_y="0.25rem"),
            rx.menu.separator(),
            rx.menu.item(rx.icon("log-out", size=16), "Sign out", on_click=SessionState.logout, id="sign-out"),
            align="end",
        ),
    )


def topbar(title: str) -> rx.Component:
    """Page title, colour-mode toggle and user menu."""
    return rx.hstack(
        mobile_nav(),
        rx.heading(title, size="5", weight="bold", trim="both"),
        rx.spacer(),
        rx.color_mode.button(variant="ghost", color_scheme="gray", aria_label="Toggle dark mode"),
        user_menu(),
        height=styles.TOPBAR_HEIGHT,
        min_height=styles.TOPBAR_HEIGHT,
        padding_x=styles.PAGE_PADDING,
        align="center",
        spacing="3",
        width="100%",
        position="sticky",
        top="0",
        z_index="10",
        background_color=rx.color("gray", 1),
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def shell(title: str, content: rx.Component) -> rx.Component:
    """Sidebar on the left; top bar and the page's content on the right."""
    return rx.hstack(
        sidebar(),
        rx.vstack(
            topbar(title),
            rx.box(content, width="100%", max_width=styles.CONTENT_MAX_WIDTH, padding=styles.PAGE_PADDING,
                   margin_x="auto", as_="main"),
            spacing="0",
            width="100%",
            min_width="0",
        ),
        spacing="0",
        width="100%",
        min_height="100vh",
        align="start",
    )


def protected_page(
    route: str, title: str, *, on_load: Sequence[rx.event.EventType] = ()
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    """Register a page that needs a signed-in user: the session is checked on every load.

    The content renders only once the tab is signed in; a signed-out tab is sent to /login
    by `SessionState.guard`. Handlers in `on_load` must do their own permission checks.
    """

    def decorator(content: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        def render() -> rx.Component:
            return rx.cond(SessionState.signed_in, shell(title, content()), loading_screen())

        render.__name__ = content.__name__
        rx.page(route=route, title=f"{title} · {PRODUCT_NAME}", on_load=[SessionState.guard, *on_load])(render)
        return render

    return decorator


def page_header(description: str, *actions: rx.Component) -> rx.Component:
    """A line under the top bar describing the page, with its actions on the right."""
    return rx.hstack(
        rx.text(description, size="2", color_scheme="gray"),
        rx.spacer(),
        *actions,
        width="100%",
        align="center",
        wrap="wrap",
        spacing="3",
        padding_bottom="1rem",
    )

