"""The marketplace landing page, favourites and subscriptions, and how the pages word the service's figures.

Every figure comes from the marketplace service's documents; this module only formats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

import reflex as rx
from sqlmodel import Session

from aisystem_app import routes
from aisystem_app.components.listing_card import ListingCard
from aisystem_app.state.session import invoke
from backend.auth.principal import Principal
from backend.core.pagination import PageParams
from backend.core.timeutil import to_utc
from backend.marketplace import schemas as s
from backend.marketplace import service as market

PERMISSION = "marketplace:read"
LIST_LIMIT = 100
LANDING_ROW = 4
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
PERIOD = {"monthly": "mo", "yearly": "yr"}


# --- wording ----------------------------------------------------------------------------------------


def listing_href(listing_id: str) -> str:
    """The listing page of a listing."""
    return routes.MARKETPLACE_LISTING.replace("[listing_id]", listing_id)


def money(amount: float, currency: str) -> str:
    """`$1,200`, `€9.50`, `CHF 20`."""
    text = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency} {text}"


def price_label(price: float | str, currency: str, billing: str) -> str:
    """A tier's price: `Free`, `$50 / mo`, or `Contact sales`."""
    if price == s.CONTACT:
        return "Contact sales"
    if float(price) == 0:
        return "Free"
    return f"{money(float(price), currency)} / {PERIOD.get(billing, billing)}"


def price_from_label(pricing: s.Pricing) -> str:
    """The lowest price of a listing: `Free`, `From $10 / mo`, or `Contact sales`."""
    if pricing.price_from is None:
        return "Contact sales"
    if pricing.price_from == 0:
        return "Free"
    if pricing.model == "one_time" or not pricing.tiers:
        return f"From {money(pricing.price_from, pricing.currency)}"
    return f"From {price_label(pricing.price_from, pricing.currency, pricing.billing)}"


def quota_label(requests: int | str) -> str:
    """`10,000 requests` or `Unlimited requests`."""
    return "Unlimited requests" if requests == s.UNLIMITED else f"{int(requests):,} requests"


def count_label(count: int, noun: str) -> str:
    """`1 review`, `12 reviews`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def rating_label(ratings: s.Ratings) -> str:
    """`4.2 (18)` or `No reviews yet`."""
    if ratings.overall is None:
        return "No reviews yet"
    return f"{ratings.overall:.1f} ({ratings.review_count:,})"


def day_label(moment) -> str:  # noqa: ANN001  (date or datetime)
    """`26 Nov 2026`."""
    return (to_utc(moment) if hasattr(moment, "hour") else moment).strftime("%-d %b %Y")


def card_of(doc: s.MarketplaceModel) -> ListingCard:
    """A listing document as a card."""
    return ListingCard(
        id=doc.id, href=listing_href(doc.id), name=doc.name, category=doc.category, provider=doc.provider.name,
        verified=doc.provider.verified, description=doc.description, rating=doc.ratings.overall or 0.0,
        rating_label=rating_label(doc.ratings), price_from=price_from_label(doc.pricing), licence=doc.license.type,
        commercial_use=any(lic.commercial_use for lic in doc.licenses), badges=list(doc.badges),
    )


# --- the landing page -------------------------------------------------------------------------------


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


def search_href(**params: str) -> str:
    """The browse page with these query parameters."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{routes.MARKETPLACE_SEARCH}?{query}" if query else routes.MARKETPLACE_SEARCH


def read_landing(session: Session, principal: Principal) -> Landing:
    """The landing page's rows and category tiles, from one read of the catalogue."""
    data = market.landing(session=session, actor=principal, per_row=LANDING_ROW)
    tiles = [CategoryTile(c.slug, c.name, c.description, c.icon or "", count_label(c.model_count, "model"),
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
        outcome = await invoke(self, read_landing, permission=PERMISSION)
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


# --- favourites -------------------------------------------------------------------------------------


def read_favourites(session: Session, principal: Principal) -> list[ListingCard]:
    """The user's favourite listings, most recently added first."""
    docs, _cursor = market.list_favorites(session=session, actor=principal, params=PageParams(limit=LIST_LIMIT))
    return [card_of(d) for d in docs]


class FavouritesState(rx.State):
    """The signed-in user's favourite listings."""

    loading: bool = True
    cards: list[ListingCard] = []

    @rx.event(background=True)
    async def load(self):
        """Read the favourites."""
        outcome = await invoke(self, read_favourites, permission=PERMISSION)
        async with self:
            self.loading = False
            self.cards = outcome.value if outcome.ok else []
        return outcome.events or None


# --- subscriptions ----------------------------------------------------------------------------------


@dataclass
class SubscriptionView:
    """One subscription as the subscriptions page shows it."""

    listing_id: str = ""
    href: str = ""
    listing: str = ""
    tier: str = ""
    price: str = ""
    status: str = ""
    usage: str = ""
    percent: int = 0
    metered: bool = False
    period: str = ""


def subscription_view(sub: s.SubscriptionRead) -> SubscriptionView:
    """A subscription document in words: price, requests used of the quota, the period or end date."""
    metered = sub.requests_quota != s.UNLIMITED
    quota = int(sub.requests_quota) if metered else 0
    usage = (f"{sub.requests_used:,} of {quota:,} requests this period" if metered
             else f"{sub.requests_used:,} requests this period (unlimited)")
    if sub.status == "cancelling" and sub.ends_at:
        period = f"Ends {day_label(sub.ends_at)}"
    elif sub.current_period_end:
        period = f"Renews {day_label(sub.current_period_end)}"
    else:
        period = ""
    return SubscriptionView(
        listing_id=sub.listing_id, href=listing_href(sub.listing_id), listing=sub.listing_name, tier=sub.tier,
        price=price_label(sub.price, sub.currency, sub.billing), status=sub.status, usage=usage,
        percent=min(100, round(100 * sub.requests_used / quota)) if quota else 0, metered=metered, period=period,
    )


def read_subscriptions(session: Session, principal: Principal) -> list[SubscriptionView]:
    """The user's live subscriptions, newest first."""
    subs, _cursor = market.list_subscriptions(session=session, actor=principal, params=PageParams(limit=LIST_LIMIT))
    return [subscription_view(sub) for sub in subs]


class SubscriptionsState(rx.State):
    """The signed-in user's subscriptions."""

    loading: bool = True
    subscriptions: list[SubscriptionView] = []

    @rx.event(background=True)
    async def load(self):
        """Read the subscriptions."""
        outcome = await invoke(self, read_subscriptions, permission=PERMISSION)
        async with self:
            self.loading = False
            self.subscriptions = outcome.value if outcome.ok else []
        return outcome.events or None
