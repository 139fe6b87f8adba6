"""How the marketplace pages word the service's figures: prices, quotas, ratings, links, listing cards.

Every figure comes from the marketplace service's documents; this module only formats them.
"""

from __future__ import annotations

from dataclasses import dataclass

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.listing_card import ListingCard
from aisystem_app.state.url import url_with
from backend.marketplace import schemas as s

LIST_LIMIT = 100
PERIOD = {"monthly": "mo", "yearly": "yr"}


# --- wording ----------------------------------------------------------------------------------------


def listing_href(listing_id: str) -> str:
    """The listing page of a listing."""
    return routes.MARKETPLACE_LISTING.replace("[listing_id]", listing_id)


def price_label(price: float | str, currency: str, billing: str) -> str:
    """A tier's price: `Free`, `$50 / mo`, or `Contact sales`."""
    if price == s.CONTACT:
        return "Contact sales"
    if float(price) == 0:
        return "Free"
    return f"{fmt.money(float(price), currency)} / {PERIOD.get(billing, billing)}"


def price_from_label(pricing: s.Pricing) -> str:
    """The lowest price of a listing: `Free`, `From $10 / mo`, or `Contact sales`."""
    if pricing.price_from is None:
        return "Contact sales"
    if pricing.price_from == 0:
        return "Free"
    if pricing.model == "one_time" or not pricing.tiers:
        return f"From {fmt.money(pricing.price_from, pricing.currency)}"
    return f"From {price_label(pricing.price_from, pricing.currency, pricing.billing)}"


def quota_label(requests: int | str) -> str:
    """`10,000 requests` or `Unlimited requests`."""
    return "Unlimited requests" if requests == s.UNLIMITED else fmt.plural(int(requests), "request")


def rating_label(ratings: s.Ratings) -> str:
    """`4.2 (18)` or `No reviews yet`."""
    if ratings.overall is None:
        return "No reviews yet"
    return f"{fmt.rating(ratings.overall)} ({fmt.count(ratings.review_count)})"


def card_of(doc: s.MarketplaceModel) -> ListingCard:
    """A listing document as a card."""
    return ListingCard(
        id=doc.id, href=listing_href(doc.id), name=doc.name, category=doc.category, provider=doc.provider.name,
        verified=doc.provider.verified, description=doc.description, rating=doc.ratings.overall or 0.0,
        rating_label=rating_label(doc.ratings), price_from=price_from_label(doc.pricing), licence=doc.license.type,
        commercial_use=any(lic.commercial_use for lic in doc.licenses), badges=list(doc.badges),
    )


def search_href(**params: str) -> str:
    """The browse page with these query parameters."""
    return url_with(routes.MARKETPLACE_SEARCH, params, params)


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
    usage = (f"{fmt.count(sub.requests_used)} of {fmt.plural(quota, 'request')} this period" if metered
             else f"{fmt.plural(sub.requests_used, 'request')} this period (unlimited)")
    if sub.status == "cancelling" and sub.ends_at:
        period = f"Ends {fmt.day(sub.ends_at)}"
    elif sub.current_period_end:
        period = f"Renews {fmt.day(sub.current_period_end)}"
    else:
        period = ""
    return SubscriptionView(
        listing_id=sub.listing_id, href=listing_href(sub.listing_id), listing=sub.listing_name, tier=sub.tier,
        price=price_label(sub.price, sub.currency, sub.billing), status=sub.status, usage=usage,
        percent=min(100, round(100 * sub.requests_used / quota)) if quota else 0, metered=metered, period=period,
    )
