"""/login: the sign-in form."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.forms import form_error, form_field
from aisystem_app.components.sidebar import PRODUCT_NAME
from aisystem_app.state.login import LoginState
from backend.auth.service import DEMO_USERS


def demo_hint() -> rx.Component:
    """The demo accounts (one per role); their password is the one the operator configured."""
    # The parts (block elements) sit in the callout's root, not in `rx.callout`'s text paragraph: a <div>
    # inside a <p> is invalid HTML, the browser re-nests the prerendered page, and React's hydration fails (#418).
    return rx.callout.root(
        rx.callout.icon(rx.icon("info", size=16)),
        rx.vstack(
            rx.text("Demo accounts, one per role:", size="2", weight="medium"),
            rx.flex(*[rx.code(name, variant="soft") for name in DEMO_USERS], wrap="wrap", spacing="2"),
            rx.text("The password is the demo password set for this installation.", size="1"),
            spacing="2",
        ),
        color_scheme="gray",
        variant="surface",
        size="1",
        width="100%",
        id="demo-hint",
    )


def login_form() -> rx.Component:
    """Username, password, inline errors, and a button that waits while the server checks."""
    return rx.form(
        rx.vstack(
            form_field("Username", "username", LoginState.username_error, icon="user",
                       auto_complete="username", auto_focus=True, max_length=256),
            form_field("Password", "password", LoginState.password_error, type="password", icon="lock",
                       auto_complete="current-password", max_length=256),
            form_error(LoginState.error),
            rx.button(
                rx.cond(LoginState.submitting, rx.spinner(size="2"), rx.icon("log-in", size=16)),
                rx.cond(LoginState.submitting, "Signing in…", "Sign in"),
                type="submit",
                size="3",
                width="100%",
                # Disabled until the page is live: a click before that would submit the bare HTML
                # form (a reload that loses what was typed) instead of sending the event.
                disabled=LoginState.submitting | ~rx.State.is_hydrated,
                id="sign-in",
            ),
            spacing="4",
            width="100%",
        ),
        on_submit=LoginState.submit,
        reset_on_submit=False,
        width="100%",
        id="login-form",
    )


@rx.page(route=routes.LOGIN, title=f"Sign in · {PRODUCT_NAME}", on_load=LoginState.open_page)
def login() -> rx.Component:
    """The sign-in page."""
    return rx.center(
        rx.vstack(
            rx.hstack(rx.image(src="/logo.svg", width="2.5rem", height="2.5rem", alt=""),
                      rx.heading(PRODUCT_NAME, size="7"), align="center", spacing="3"),
            rx.card(
                rx.vstack(
                    rx.heading("Sign in", size="5"),
                    rx.text("Use your platform account.", size="2", color_scheme="gray"),
                    login_form(),
                    spacing="4",
                    width="100%",
                ),
                size="4",
                width="100%",
            ),
            demo_hint(),
            rx.color_mode.button(variant="ghost", color_scheme="gray", aria_label="Toggle dark mode"),
            align="center",
            spacing="5",
            width="100%",
            max_width="26rem",
        ),
        min_height="100vh",
        padding="1.5rem",
        background=rx.color("gray", 2),
    )
