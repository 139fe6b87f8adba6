"""Marketplace listing cards: provider, badges, rating stars, price-from and licence chip, in a grid."""

from __future__ import annotations

from dataclasses import dataclass, field

import reflex as rx

from aisystem_app.components.rating import rating_stars

# Badge -> colour; badges the service adds later show in grey.
BADGE_COLORS = {"popular": "orange", "verified": "green", "trending": "crimson", "new": "blue",
                "featured": "violet", "top-rated": "amber", "company": "indigo"}


@dataclass
class ListingCard:
    """What a card shows of a listing, every figure already formatted from the service's document."""

    id: str = ""
    href: str = ""
    name: str = ""
    category: str = ""
    provider: str = ""
    verified: bool = False
    description: str = ""
    rating: float = 0.0
    rating_label: str = ""
    price_from: str = ""
    licence: str = ""
    commercial_use: bool = False
    badges: list[str] = field(default_factory=list)


def listing_badge(name: rx.Var[str]) -> rx.Component:
    """One listing badge (popular, verified, trending ...)."""
    color = rx.match(name, *BADGE_COLORS.items(), "gray")
    return rx.badge(name, color_scheme=color, variant="soft", radius="full", size="1", data_badge=name)


def verified_tick(verified: rx.Var[bool], size: int = 14) -> rx.Component:
    """A tick after a provider's name when the marketplace verified the provider."""
    return rx.cond(
        verified,
        rx.tooltip(rx.icon("badge-check", size=size, color=rx.color("green", 10), aria_label="Verified provider"),
                   content="Verified provider"),
    )


def licence_chip(licence: rx.Var[str], commercial_use: rx.Var[bool]) -> rx.Component:
    """The licence type, green when it allows commercial use, amber when it does not."""
    return rx.badge(rx.icon("scale", size=12), licence, variant="outline", size="1",
                    color_scheme=rx.cond(commercial_use, "green", "amber"), class_name="licence-chip",
                    title=rx.cond(commercial_use, "Commercial use allowed", "No commercial use"))


def link_card(body: rx.Component, href: rx.Var[str], *, card_props: dict | None = None, **props) -> rx.Component:
    """A card that is one link (lifts on hover); `props` go to the link, `card_props` to the card."""
    return rx.link(
        rx.card(body, _hover={"box_shadow": "var(--shadow-3)"}, **(card_props or {})),
        href=href,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
        **props,
    )


def listing_card(card: rx.Var[ListingCard]) -> rx.Component:
    """A clickable card that opens the listing."""
    return link_card(
        rx.vstack(
            rx.hstack(
                rx.text(card.category, size="1", color_scheme="gray", trim="both"),
                rx.spacer(),
                rx.text(card.price_from, size="2", weight="medium", class_name="price-from"),
                width="100%",
                align="center",
            ),
            rx.heading(card.name, size="3", trim="both", class_name="listing-name"),
            rx.hstack(rx.text(card.provider, size="2", color_scheme="gray"), verified_tick(card.verified),
                      spacing="1", align="center"),
            rating_stars(card.rating, label=card.rating_label),
            rx.text(card.description, size="1", color_scheme="gray",
                    style={"display": "-webkit-box", "-webkit-line-clamp": "2",
                           "-webkit-box-orient": "vertical", "overflow": "hidden"}),
            rx.spacer(),
            rx.flex(licence_chip(card.licence, card.commercial_use), rx.foreach(card.badges, listing_badge),
                    wrap="wrap", gap="1"),
            spacing="2",
            height="100%",
            align="start",
        ),
        card.href,
        card_props={"size": "2", "height": "100%", "class_name": "listing-card"},
        data_listing=card.id,
        height="100%",
    )


def card_grid(cards: rx.Var[list[ListingCard]], *, grid_id: str = "listing-grid") -> rx.Component:
    """Cards in a grid that reflows from one to four columns."""
    return rx.grid(
        rx.foreach(cards, listing_card),
        columns=rx.breakpoints(initial="1", sm="2", lg="3", xl="4"),
        spacing="3",
        width="100%",
        id=grid_id,
    )
