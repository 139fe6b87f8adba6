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
    return fmt.price(None if price == s.CONTACT else float(price), currency, billing)


def price_from_label(pricing: s.Pricing) -> str:
    """The lowest price of a listing: `Free`, `From $10 / mo`, or `Contact sales` (the catalog's model
    page shows a listed model's price with this too)."""
    if pricing.price_from is None:
        return "Contact sales"
    if pricing.price_from == 0:
        return "Free"
    if pricing.model == "one_time" or not pricing.tiers:
        return f"From {fmt.money(pricing.price_from, pricing.currency)}"
    return f"From {price_label(pricing.price_from, pricing.currency, pricing.billing)}"


def pricing_facts(pricing: s.Pricing) -> list[tuple[str, str]]:
    """A listing's prices in words, tier by tier: what its listing page sells, and what a listed catalog
    model's page shows (the listing is the one source of a company model's price)."""
    facts = [("Pricing model", fmt.label(pricing.model)), ("Price", price_from_label(pricing))]
    facts += [(tier.name, f"{price_label(tier.price, pricing.currency, pricing.billing)} · {quota_label(tier.requests)}")
              for tier in pricing.tiers]
    if pricing.one_time_price is not None:
        facts.append(("One-time licence", fmt.price(pricing.one_time_price, pricing.currency)))
    return facts


def quota_label(requests: int | str) -> str:
    """`10,000 requests` or `Unlimited requests`."""
    return "Unlimited requests" if requests == s.UNLIMITED else fmt.plural(int(requests), "request")


def shown_rating(ratings: s.Ratings) -> float:
    """The rating the stars draw and a screen reader says: to one decimal, as the label writes it (0: none)."""
    return round(ratings.overall, 1) if ratings.overall is not None else 0.0


def rating_label(ratings: s.Ratings) -> str:
    """`4.2 (18)`, `4.2 (18 demo reviews)` when generated demo reviews make the rating, `4.2 (18, 15 demo)`
    when some do, or `No reviews yet`."""
    if ratings.overall is None:
        return "No reviews yet"
    count, demo = ratings.review_count, ratings.demo_review_count
    if demo and demo >= count:
        return f"{fmt.rating(ratings.overall)} ({fmt.plural(count, 'demo review')})"
    if demo:
        return f"{fmt.rating(ratings.overall)} ({fmt.count(count)}, {fmt.count(demo)} demo)"
    return f"{fmt.rating(ratings.overall)} ({fmt.count(count)})"


def usage_note(usage: s.Usage) -> str:
    """What to say beside a listing's usage figures: that demo data is among them, or nothing."""
    return "Includes generated demo usage" if usage.includes_demo_data else ""


def card_of(doc: s.MarketplaceModel) -> ListingCard:
    """A listing document as a card."""
    return ListingCard(
        id=doc.id, href=listing_href(doc.id), name=doc.name, category=doc.category, provider=doc.provider.name,
        verified=doc.provider.verified, description=doc.description, rating=shown_rating(doc.ratings),
        rating_label=rating_label(doc.ratings), price_from=price_from_label(doc.pricing), licence=doc.license.type,
        commercial_use=any(lic.commercial_use for lic in doc.licenses), badges=list(doc.badges),
    )


def search_href(**params: str) -> str:
    """The browse page with these query parameters."""
    return url_with(routes.MARKETPLACE_SEARCH, params, params)


@dataclass
class SubscriptionView:
    """One subscription as the subscriptions page shows it.

    `status` is the service's (active, cancelling, ended); `state` says it for people: "Active",
    "Cancelled · active until 5 Jan 2027", "Ended 5 Jan 2027"; `tone` is its colour (green, amber, gray).
    """

    listing_id: str = ""
    href: str = ""
    listing: str = ""
    tier: str = ""
    price: str = ""
    status: str = ""
    state: str = ""
    tone: str = "gray"
    usage: str = ""
    percent: int = 0
    metered: bool = False
    period: str = ""
    demo: bool = False  # seeded demo data, not a real purchase


STATE_TONES = {"active": "green", "cancelling": "amber", "ended": "gray"}


def subscription_state(sub: s.SubscriptionRead) -> tuple[str, str]:
    """(the state in words, what happens next): active and renewing, cancelled but active until its paid
    period ends, or ended."""
    ends = fmt.day(sub.ends_at) if sub.ends_at else ""
    if sub.status == "ended":
        return (f"Ended {ends}" if ends else "Ended"), "Nothing more is billed."
    if sub.status == "cancelling":
        return (f"Cancelled · active until {ends}" if ends else "Cancelled"), \
            f"Active until {ends}, then it ends; nothing more is billed." if ends else "Nothing more is billed."
    renews = fmt.day(sub.current_period_end) if sub.current_period_end else ""
    return "Active", f"Renews {renews}" if renews else ""


def subscription_view(sub: s.SubscriptionRead) -> SubscriptionView:
    """A subscription document in words: price, requests used of the quota, its state and what comes next."""
    metered = sub.requests_quota != s.UNLIMITED
    quota = int(sub.requests_quota) if metered else 0
    if sub.status == "ended":
        usage = ""
    elif metered:
        usage = f"{fmt.count(sub.requests_used)} of {fmt.plural(quota, 'request')} this period"
    else:
        usage = f"{fmt.plural(sub.requests_used, 'request')} this period (unlimited)"
    state, period = subscription_state(sub)
    return SubscriptionView(
        listing_id=sub.listing_id, href=listing_href(sub.listing_id), listing=sub.listing_name, tier=sub.tier,
        price=price_label(sub.price, sub.currency, sub.billing), status=sub.status, state=state,
        tone=STATE_TONES.get(sub.status, "gray"), usage=usage,
        percent=min(100, round(100 * sub.requests_used / quota)) if quota else 0, metered=metered and bool(usage),
        period=period, demo=sub.demo,
    )
