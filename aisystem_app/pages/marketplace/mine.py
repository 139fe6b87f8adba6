"""/marketplace/subscriptions and /marketplace/favourites: the signed-in user's own marketplace."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.feedback import empty_state, panel
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.components.listing_card import card_grid
from aisystem_app.state.marketplace.common import SubscriptionView
from aisystem_app.state.marketplace.mine import FavouritesState, SubscriptionsState

STATE_ICONS = {"active": "circle-check", "cancelling": "calendar-clock", "ended": "circle-x"}


def subscription_card(sub: rx.Var[SubscriptionView]) -> rx.Component:
    """A subscription: listing, tier and price, its state as what it is (active and renewing; cancelled and
    active until its period ends; ended), requests used of the quota."""
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.link(sub.listing, href=sub.href, size="3", weight="bold"),
                rx.spacer(),
                rx.badge(rx.match(sub.status, *[(k, rx.icon(v, size=12)) for k, v in STATE_ICONS.items()],
                                  rx.icon("info", size=12)),
                         sub.state, color_scheme=rx.match(sub.tone, ("green", "green"), ("amber", "amber"), "gray"),
                         variant="soft", class_name="subscription-state"),
                width="100%",
                align="center",
                wrap="wrap",
            ),
            rx.hstack(rx.text(sub.tier, " · ", sub.price, size="2"),
                      rx.cond(sub.demo, rx.badge("Demo data", color_scheme="gray", variant="outline")),
                      align="center", spacing="2"),
            rx.cond(sub.usage != "", rx.text(sub.usage, size="2", color_scheme="gray")),
            rx.cond(sub.metered, rx.progress(value=sub.percent, max=100, width="100%")),
            rx.text(sub.period, size="1", color_scheme="gray"),
            spacing="2",
            width="100%",
        ),
        width="100%",
        data_subscription=sub.listing_id,
        data_status=sub.status,
    )


@protected_page(routes.MARKETPLACE_SUBSCRIPTIONS, "My subscriptions", on_load=[SubscriptionsState.load])
def subscriptions() -> rx.Component:
    """The user's subscriptions: the live ones, then those that ended."""
    return rx.vstack(
        page_header("Your marketplace subscriptions, their quotas and renewals.",
                    rx.link("Browse models", href=routes.MARKETPLACE_SEARCH, size="2")),
        panel(SubscriptionsState.loading, SubscriptionsState.subscriptions,
              rx.grid(rx.foreach(SubscriptionsState.subscriptions, subscription_card),
                      columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%", id="subscriptions"),
              empty_state("No live subscriptions", "Subscribe to a tier on a model's Pricing tab.", icon="receipt")),
        rx.cond(SubscriptionsState.ended.length() > 0, rx.vstack(
            rx.heading("Ended", size="4"),
            rx.grid(rx.foreach(SubscriptionsState.ended, subscription_card),
                    columns=rx.breakpoints(initial="1", md="2"), spacing="4", width="100%", id="ended-subscriptions"),
            spacing="3", width="100%")),
        spacing="4",
        width="100%",
    )


@protected_page(routes.MARKETPLACE_FAVOURITES, "Favourites", on_load=[FavouritesState.load])
def favourites() -> rx.Component:
    """The user's favourite listings."""
    return rx.vstack(
        page_header("Models you marked as favourites.",
                    rx.link("Browse models", href=routes.MARKETPLACE_SEARCH, size="2")),
        panel(FavouritesState.loading, FavouritesState.cards, card_grid(FavouritesState.cards, grid_id="favourites"),
              empty_state("No favourites yet", "Use the heart on a model's page to keep it here.", icon="heart"),
              height="8rem"),
        spacing="4",
        width="100%",
    )
