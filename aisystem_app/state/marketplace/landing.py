"""The marketplace landing page: featured, trending and new rows, category tiles."""

from __future__ import annotations

from dataclasses import dataclass, field

import reflex as rx
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app.components.listing_card import ListingCard
from aisystem_app.state.marketplace.common import card_of, search_href
from aisystem_app.state.session import invoke
from backend.auth.principal import Principal
from backend.marketplace import service as market

LANDING_ROW = 4


@dataclass
class CategoryTile:
    """A category with the number of listings the user can see in it."""

    slug: str = ""
    name: str = ""
    description: str = ""
    icon: str = ""
    count: str = ""
    href: str = ""


@dataclass
class Landing:
    featured: list[ListingCard] = field(default_factory=list)
    trending: list[ListingCard] = field(default_factory=list)
    new: list[ListingCard] = field(default_factory=list)
    categories: list[CategoryTile] = field(default_factory=list)


def read_landing(session: Session, principal: Principal) -> Landing:
    """The landing page's rows and category tiles, from one read of the catalogue."""
    data = market.landing(session=session, actor=principal, per_row=LANDING_ROW)
    tiles = [CategoryTile(c.slug, c.name, c.description, c.icon or "", fmt.plural(c.model_count, "model"),
                          search_href(category=c.slug)) for c in data.categories]
    return Landing([card_of(d) for d in data.featured], [card_of(d) for d in data.trending],
                   [card_of(d) for d in data.new], tiles)


class MarketplaceState(rx.State):
    """The landing page: featured, trending and new rows, category tiles."""

    loading: bool = True
    featured: list[ListingCard] = []
    trending: list[ListingCard] = []
    new: list[ListingCard] = []
    categories: list[CategoryTile] = []

    @rx.event(background=True)
    async def load(self):
        """Read the landing page for the signed-in user."""
        outcome = await invoke(self, read_landing)
        async with self:
            self.loading = False
            if outcome.ok:
                landing: Landing = outcome.value
                self.featured, self.trending, self.new = landing.featured, landing.trending, landing.new
                self.categories = landing.categories
        return outcome.events or None

    @rx.event
    def search(self, form: dict):
        """Open the browse page for the search box's text."""
        return rx.redirect(search_href(q=str(form.get("q", ""))[:200].strip()))
