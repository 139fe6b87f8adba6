"""The role-aware sidebar, drawn from `routes.NAV`: entries the role may not open are not rendered."""

from __future__ import annotations

from functools import reduce

import reflex as rx

from aisystem_app import routes, styles
from aisystem_app.state.session import SessionState

PRODUCT_NAME = "AI Platform"


def brand() -> rx.Component:
    """Logo and product name."""
    return rx.link(
        rx.hstack(
            rx.image(src="/logo.svg", width="1.75rem", height="1.75rem", alt=""),
            rx.text(PRODUCT_NAME, weight="bold", size="4"),
            align="center",
            spacing="2",
        ),
        href=routes.HOME,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
    )


def _visible(route: str) -> rx.Var[bool]:
    return SessionState.nav_routes.contains(route)


def nav_link(entry: routes.NavEntry) -> rx.Component:
    """One entry, highlighted on its own page; absent unless the role may open it."""
    path = rx.State.router.url.path
    active = (path == entry.route) | (path == entry.route.rstrip("/") + "/")  # the server adds a slash
    link = rx.link(
        rx.hstack(rx.icon(entry.icon, size=18), rx.text(entry.label, size="2", weight="medium"),
                  align="center", spacing="3"),
        href=entry.route,
        underline="none",
        style=styles.NAV_LINK_STYLE,
        color=rx.cond(active, styles.NAV_LINK_COLOR[1], styles.NAV_LINK_COLOR[0]),
        background_color=rx.cond(active, styles.NAV_LINK_BACKGROUND[1], styles.NAV_LINK_BACKGROUND[0]),
        aria_current=rx.cond(active, "page", "false"),
        data_nav=entry.route,
    )
    return rx.cond(_visible(entry.route), link)


def nav_section(title: str | None, entries: list[routes.NavEntry]) -> rx.Component:
    """A group of entries under a heading; the heading shows only with a visible entry."""
    links = rx.vstack(*[nav_link(e) for e in entries], spacing="1", width="100%")
    if title is None:
        return links
    any_visible = reduce(lambda a, b: a | b, [_visible(e.route) for e in entries])
    heading = rx.text(title, size="1", weight="bold", color_scheme="gray", text_transform="uppercase",
                      padding_x="0.75rem", padding_top="1rem", padding_bottom="0.25rem", letter_spacing="0.05em")
    return rx.cond(any_visible, rx.vstack(heading, links, spacing="0", width="100%"))


def nav_sections() -> rx.Component:
    """Every section of the navigation, in order."""
    return rx.el.nav(
        rx.vstack(*[nav_section(t, e) for t, e in routes.sections()], spacing="1", width="100%"),
        id="main-nav",
        aria_label="Main",
        width="100%",
    )


def sidebar() -> rx.Component:
    """The fixed sidebar on wide screens."""
    return rx.el.div(
        rx.vstack(
            rx.flex(brand(), padding_x="0.75rem", height=styles.TOPBAR_HEIGHT, align="center"),
            nav_sections(),
            spacing="4",
            width="100%",
        ),
        width=styles.SIDEBAR_WIDTH,
        min_width=styles.SIDEBAR_WIDTH,
        height="100vh",
        position="sticky",
        top="0",
        padding_x="0.75rem",
        padding_bottom="0.75rem",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background_color=rx.color("gray", 2),
        display=styles.WIDE_ONLY,
        overflow_y="auto",
        box_sizing="border-box",
    )


def mobile_nav() -> rx.Component:
    """The same navigation in a drawer, for narrow screens."""
    return rx.el.div(
        rx.drawer.root(
            rx.drawer.trigger(rx.icon_button(rx.icon("menu"), variant="ghost", color_scheme="gray",
                                             aria_label="Open navigation")),
            rx.drawer.overlay(z_index="40"),
            rx.drawer.portal(
                rx.drawer.content(
                    rx.vstack(rx.hstack(brand(), rx.spacer(), rx.drawer.close(rx.icon_button(
                        rx.icon("x"), variant="ghost", color_scheme="gray", aria_label="Close navigation")),
                        width="100%"), nav_sections(), spacing="4", width="100%"),
                    width="16rem", height="100%", padding="1rem", top="0", left="0",
                    background_color=rx.color("gray", 2), z_index="50",
                ),
            ),
            direction="left",
        ),
        display=styles.NARROW_ONLY,
    )
