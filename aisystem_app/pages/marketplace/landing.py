"""/marketplace: search box, category tiles, and the featured, trending and new rows."""

from __future__ import annotations

import reflex as rx

from aisystem_app import routes
from aisystem_app.components.feedback import empty_state, panel
from aisystem_app.components.layout import page_header, protected_page
from aisystem_app.components.listing_card import card_grid, link_card
from aisystem_app.state.marketplace.landing import CategoryTile, MarketplaceState

# Lucide icons the categories may name; others show a generic shape.
CATEGORY_ICONS = ("scan-eye", "languages", "audio-lines", "sparkles", "image", "chart-line", "thumbs-up", "layers",
                  "search", "box", "brain", "bot", "message-square", "database")


def search_box(on_submit, default: rx.Var[str] | str = "", *, autofocus: bool = False) -> rx.Component:  # noqa: ANN001
    """A search field with its button; submits `q`."""
    return rx.form(
        rx.hstack(
            rx.input(rx.input.slot(rx.icon("search", size=16)), name="q", default_value=default,
                     placeholder="Search models, providers, tags…", size="3", width="100%", id="market-search",
                     auto_focus=autofocus, max_length=200, aria_label="Search the marketplace"),
            rx.button("Search", size="3", type="submit", id="market-search-submit"),
            width="100%",
        ),
        on_submit=on_submit,
        width="100%",
        max_width="40rem",
    )


def category_tile(tile: rx.Var[CategoryTile]) -> rx.Component:
    """A category with its icon and how many listings it has."""
    icon = rx.match(tile.icon, *[(name, rx.icon(name, size=20)) for name in CATEGORY_ICONS], rx.icon("shapes", size=20))
    return link_card(
        rx.hstack(
            # No icon on a phone: the two columns leave the names too little room beside it.
            rx.el.div(rx.center(icon, width="2.5rem", height="2.5rem", min_width="2.5rem",
                                border_radius="var(--radius-3)", background_color=rx.color("accent", 3),
                                color=rx.color("accent", 11)), display=["none", "block"]),
            rx.vstack(rx.text(tile.name, size="2", weight="medium"),
                      rx.text(tile.count, size="1", color_scheme="gray"), spacing="0", align="start", min_width="0"),
            align="center",
            spacing="3",
        ),
        tile.href,
        card_props={"size": "1", "width": "100%"},
        title=tile.description,
        data_category=tile.slug,
    )


def row(title: str, description: str, cards: rx.Var, row_id: str) -> rx.Component:
    """A titled row of listing cards."""
    return rx.vstack(
        rx.vstack(rx.heading(title, size="4"), rx.text(description, size="2", color_scheme="gray"), spacing="1"),
        panel(MarketplaceState.loading, cards, card_grid(cards, grid_id=row_id), empty_state(f"No {title.lower()} models yet"),
              rows=2, height="8rem"),
        spacing="3",
        width="100%",
    )


@protected_page(routes.MARKETPLACE, "Marketplace", on_load=[MarketplaceState.load])
def landing() -> rx.Component:
    """The marketplace's front page."""
    return rx.vstack(
        page_header("Discover models from many providers and from your own company.",
                    rx.link("Browse all models", href=routes.MARKETPLACE_SEARCH, size="2", id="browse-all")),
        search_box(MarketplaceState.search, autofocus=True),
        # Two columns on a phone too, so the featured models start on the first screen.
        rx.grid(rx.foreach(MarketplaceState.categories, category_tile),
                columns=rx.breakpoints(initial="2", lg="3"), spacing="3", width="100%", id="category-tiles"),
        row("Featured", "Picked by the marketplace's curators.", MarketplaceState.featured, "featured-row"),
        row("Trending", "Most activity over the last two weeks.", MarketplaceState.trending, "trending-row"),
        row("New", "The latest releases.", MarketplaceState.new, "new-row"),
        spacing="6",
        width="100%",
    )
