"""The catalogue snapshot: every listing an actor may see, its rows, and the aggregates computed from them.

Aggregates are never stored. Every read computes them from rows:

- `ratings`: averages of the reviews' overall and aspect ratings (aspects only over reviews that rated
  them), `reviewCount` = number of reviews (quick star ratings included), `distribution` per star.
- `provider.rating`: average overall rating of every review of the provider's visible listings;
  `provider.totalModels`: the provider's visible listings.
- `usage`: sums of the usage counters (requests, downloads, latency), `activeUsers` = distinct users
  with requests in the last 30 days, `subscribers` = live subscriptions.
- trending score = Σ over the last 14 days (d = 0 today … 13) of activity(d) · 2^(−d/3), where
  activity(d) = distinct users with requests on day d + 5 · (subscriptions and purchases started)
  + 3 · reviews written + 2 · favourites added that day (a half-life of 3 days).
- popularity (all-time reach) = distinct users who ever made a request or downloaded the model;
  ties are broken by all-time requests.

A `Catalogue` reads a light projection of every visible listing (a few grouped queries); callers
filter, count and sort in Python and build documents for one page only. That is fast for a
marketplace of a few thousand listings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from backend.auth.principal import Principal
from backend.core.keywords import vocabulary
from backend.core.timeutil import to_utc, utcnow
from backend.marketplace import schemas as s
from backend.marketplace.models import (
    Category,
    Favorite,
    License,
    Listing,
    ListingTag,
    PricingTier,
    Provider,
    Purchase,
    Review,
    Subscription,
    UsageCounter,
)
from backend.marketplace.service.access import not_found, visible
from backend.marketplace.service.money import from_cents

TRENDING_WINDOW_DAYS = 14
TRENDING_HALF_LIFE_DAYS = 3.0
TRENDING_WEIGHTS = {"user_day": 1.0, "acquisition": 5.0, "review": 3.0, "favorite": 2.0}
ACTIVE_WINDOW_DAYS = 30
NEW_BADGE_DAYS = 60
BADGE_TOP_N = 10
TOP_RATED_MIN = 4.5
TOP_RATED_MIN_REVIEWS = 5

@dataclass
class RatingAgg:
    count: int = 0
    demo: int = 0  # generated demo reviews among `count`
    overall_sum: int = 0
    stars: list[int] = field(default_factory=lambda: [0, 0, 0, 0, 0])
    aspect_sum: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    aspect_count: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def overall(self) -> float | None:
        return round(self.overall_sum / self.count, 2) if self.count else None

    def aspect(self, name: str) -> float | None:
        n = self.aspect_count.get(name, 0)
        return round(self.aspect_sum[name] / n, 2) if n else None


@dataclass
class UsageAgg:
    requests: int = 0
    downloads: int = 0
    latency_total: float = 0.0
    latency_samples: int = 0
    reach: int = 0
    demo: bool = False  # some counters are generated demo usage

    @property
    def average_latency(self) -> float | None:
        return round(self.latency_total / self.latency_samples, 1) if self.latency_samples else None


ASPECTS = ("performance", "accuracy", "ease_of_use", "support", "value")


@dataclass
class Entry:
    """One visible listing with the rows it owns (tags, licences, tiers)."""

    listing: Listing
    category: Category
    provider: Provider
    tags: list[str] = field(default_factory=list)
    licenses: list[License] = field(default_factory=list)
    tiers: list[PricingTier] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.listing.id

    @cached_property
    def price_from_cents(self) -> int | None:
        prices = [t.price_cents for t in self.tiers if t.price_cents is not None]
        if self.listing.one_time_price_cents is not None:
            prices.append(self.listing.one_time_price_cents)
        return min(prices) if prices else None

    @cached_property
    def license_types(self) -> set[str]:
        return {lic.type.lower() for lic in self.licenses}

    @property
    def commercial_use(self) -> bool:
        return any(lic.commercial_use for lic in self.licenses)


class Catalogue:
    """Everything the actor may see, loaded once per call; aggregates are computed on first use."""

    def __init__(self, session: Session, actor: Principal, *, now: datetime | None = None):
        self.session, self.actor = session, actor
        self.now = now or utcnow()
        self.today = self.now.date()
        shown = visible(actor)
        self.entries: dict[str, Entry] = {}
        for listing, category, provider in session.exec(
            select(Listing, Category, Provider)
            .join(Category, Listing.category_id == Category.id)
            .join(Provider, Listing.provider_id == Provider.id)
            .where(shown)
        ).all():
            self.entries[listing.id] = Entry(listing, category, provider)
        for tag in session.exec(select(ListingTag).join(Listing).where(shown).order_by(ListingTag.tag)).all():
            self.entries[tag.listing_id].tags.append(tag.tag)
        for lic in session.exec(select(License).join(Listing).where(shown).order_by(License.position)).all():
            self.entries[lic.listing_id].licenses.append(lic)
        for tier in session.exec(
            select(PricingTier).join(Listing).where(shown).order_by(PricingTier.position)
        ).all():
            self.entries[tier.listing_id].tiers.append(tier)

    def entry(self, listing_id: str) -> Entry:
        """The visible listing by id; MARKET_001 otherwise."""
        found = self.entries.get(listing_id)
        if found is None:
            raise not_found(listingId=listing_id)
        return found

    # aggregates over rows ------------------------------------------------------------------------

    @cached_property
    def ratings(self) -> dict[str, RatingAgg]:
        aspect_cols = [getattr(Review, a) for a in ASPECTS]
        query = select(
            Review.listing_id, Review.overall, func.count(), func.sum(case((Review.is_demo, 1), else_=0)),
            *[func.coalesce(func.sum(c), 0) for c in aspect_cols], *[func.count(c) for c in aspect_cols],
        ).group_by(Review.listing_id, Review.overall)
        result: dict[str, RatingAgg] = defaultdict(RatingAgg)
        for row in self.session.exec(query).all():
            listing_id, overall, count = row[0], int(row[1]), int(row[2])
            sums, counts = row[4:4 + len(ASPECTS)], row[4 + len(ASPECTS):]
            agg = result[listing_id]
            agg.count += count
            agg.demo += int(row[3] or 0)
            agg.overall_sum += overall * count
            if 1 <= overall <= 5:
                agg.stars[overall - 1] += count
            for name, total, n in zip(ASPECTS, sums, counts, strict=True):
                agg.aspect_sum[name] += int(total)
                agg.aspect_count[name] += int(n)
        return result

    @cached_property
    def usage(self) -> dict[str, UsageAgg]:
        query = select(
            UsageCounter.listing_id, func.sum(UsageCounter.requests), func.sum(UsageCounter.downloads),
            func.sum(UsageCounter.latency_ms_total), func.sum(UsageCounter.latency_samples),
            func.count(func.distinct(UsageCounter.consumer)), func.max(case((UsageCounter.is_demo, 1), else_=0)),
        ).group_by(UsageCounter.listing_id)
        return {
            lid: UsageAgg(int(req or 0), int(dl or 0), float(lat or 0), int(samples or 0), int(reach or 0),
                          bool(demo))
            for lid, req, dl, lat, samples, reach, demo in self.session.exec(query).all()
        }

    @cached_property
    def demo_subscribers(self) -> dict[str, int]:
        """Live demo subscriptions per listing (among `subscribers`)."""
        query = (
            select(Subscription.listing_id, func.count())
            .where(Subscription.status == "active", Subscription.is_demo,
                   or_(col(Subscription.ends_at).is_(None), col(Subscription.ends_at) > self.now))
            .group_by(Subscription.listing_id)
        )
        return {lid: int(n) for lid, n in self.session.exec(query).all()}

    @cached_property
    def vocabulary(self) -> set[str]:
        """The words the visible listings use (names, descriptions, features, tags, providers, categories)."""
        return vocabulary(text for e in self.entries.values() for text in (
            e.listing.name, e.listing.description, *(e.listing.features or []), *e.tags, e.provider.name,
            e.category.name))

    @cached_property
    def active_users(self) -> dict[str, int]:
        since = self.today - timedelta(days=ACTIVE_WINDOW_DAYS - 1)
        query = (
            select(UsageCounter.listing_id, func.count(func.distinct(UsageCounter.consumer)))
            .where(UsageCounter.day >= since, UsageCounter.requests > 0)
            .group_by(UsageCounter.listing_id)
        )
        return {lid: int(n) for lid, n in self.session.exec(query).all()}

    @cached_property
    def subscribers(self) -> dict[str, int]:
        query = (
            select(Subscription.listing_id, func.count())
            .where(Subscription.status == "active",
                   or_(col(Subscription.ends_at).is_(None), col(Subscription.ends_at) > self.now))
            .group_by(Subscription.listing_id)
        )
        return {lid: int(n) for lid, n in self.session.exec(query).all()}

    @cached_property
    def trending_scores(self) -> dict[str, float]:
        """Σ_d activity(d)·2^(−d/3) over the last 14 days (see the module docstring)."""
        first_day = self.today - timedelta(days=TRENDING_WINDOW_DAYS - 1)
        since = datetime.combine(first_day, datetime.min.time(), tzinfo=self.now.tzinfo)
        activity: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
        users_per_day = (
            select(UsageCounter.listing_id, UsageCounter.day, func.count(func.distinct(UsageCounter.consumer)))
            .where(UsageCounter.day >= first_day, UsageCounter.requests > 0)
            .group_by(UsageCounter.listing_id, UsageCounter.day)
        )
        for lid, day, n in self.session.exec(users_per_day).all():
            activity[lid][(self.today - day).days] += TRENDING_WEIGHTS["user_day"] * n
        events = [
            (Subscription.listing_id, Subscription.created_at, "acquisition"),
            (Purchase.listing_id, Purchase.created_at, "acquisition"),
            (Review.listing_id, Review.created_at, "review"),
            (Favorite.listing_id, Favorite.created_at, "favorite"),
        ]
        for listing_col, at_col, kind in events:
            for lid, at in self.session.exec(select(listing_col, at_col).where(at_col >= since)).all():
                activity[lid][(self.today - to_utc(at).date()).days] += TRENDING_WEIGHTS[kind]
        return {
            lid: round(sum(v * 2 ** (-max(d, 0) / TRENDING_HALF_LIFE_DAYS) for d, v in days.items()), 3)
            for lid, days in activity.items()
        }

    @cached_property
    def provider_stats(self) -> dict[str, tuple[float | None, int, int]]:
        """provider id → (average overall rating over its visible listings' reviews, listings, reviews)."""
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # rating sum, reviews, listings
        for entry in self.entries.values():
            row = totals[entry.provider.id]
            agg = self.ratings.get(entry.id)
            if agg:
                row[0] += agg.overall_sum
                row[1] += agg.count
            row[2] += 1
        return {pid: (round(r / n, 2) if n else None, listings, n) for pid, (r, n, listings) in totals.items()}

    def popularity(self, listing_id: str) -> tuple[int, int]:
        agg = self.usage.get(listing_id)
        return (agg.reach, agg.requests) if agg else (0, 0)

    @cached_property
    def popular_ids(self) -> set[str]:
        ranked = sorted((e for e in self.entries if self.popularity(e)[0] > 0),
                        key=lambda i: (self.popularity(i), i), reverse=True)
        return set(ranked[:BADGE_TOP_N])

    @cached_property
    def trending_ids(self) -> set[str]:
        scores = {i: self.trending_scores.get(i, 0.0) for i in self.entries}
        ranked = sorted((i for i, v in scores.items() if v > 0), key=lambda i: (scores[i], i), reverse=True)
        return set(ranked[:BADGE_TOP_N])

    def rating_of(self, listing_id: str) -> tuple[float | None, int]:
        agg = self.ratings.get(listing_id)
        return (agg.overall, agg.count) if agg else (None, 0)

    # documents -----------------------------------------------------------------------------------

    def badges(self, entry: Entry) -> list[str]:
        listing = entry.listing
        rating, count = self.rating_of(entry.id)
        badges = []
        if entry.id in self.popular_ids:
            badges.append("popular")
        if entry.provider.verified:
            badges.append("verified")
        if entry.id in self.trending_ids:
            badges.append("trending")
        if (self.today - listing.release_date).days <= NEW_BADGE_DAYS:
            badges.append("new")
        if listing.featured_rank is not None:
            badges.append("featured")
        if rating is not None and rating >= TOP_RATED_MIN and count >= TOP_RATED_MIN_REVIEWS:
            badges.append("top-rated")
        if listing.source_model_id:
            badges.append("company")
        return badges

    def document(self, entry: Entry, *, source_model: s.SourceModel | None = None) -> s.MarketplaceModel:
        listing = entry.listing
        agg = self.ratings.get(entry.id) or RatingAgg()
        use = self.usage.get(entry.id) or UsageAgg()
        rating, total_models, _reviews = self.provider_stats.get(entry.provider.id, (None, 0, 0))
        licenses = [license_read(lic) for lic in entry.licenses] or [NO_LICENSE]
        specs = dict(listing.specifications or {})
        if source_model is not None and source_model.available:
            # A company model's accuracy is the catalog's, now (not the copy taken when it was published).
            live = source_model.metrics.get("accuracy")
            specs.pop("accuracy", None)
            if isinstance(live, int | float) and not isinstance(live, bool) and 0 <= live <= 1:
                specs["accuracy"] = live
        return s.MarketplaceModel(
            id=listing.id, slug=listing.slug, name=listing.name,
            category=entry.category.name, category_slug=entry.category.slug,
            provider=s.ProviderRef(id=entry.provider.id, slug=entry.provider.slug, name=entry.provider.name,
                                   verified=entry.provider.verified, rating=rating, total_models=total_models),
            version=listing.version, release_date=listing.release_date, last_updated=listing.last_updated,
            status=listing.status, visibility=listing.visibility, description=listing.description,
            features=list(listing.features or []),
            specifications=s.Specifications(**{k: v for k, v in specs.items() if k in _SPEC_KEYS},
                                            parameters=listing.parameter_count,
                                            context_length=listing.context_length),
            pricing=pricing_of(entry),
            ratings=s.Ratings(
                overall=agg.overall, **{a: agg.aspect(a) for a in ASPECTS}, review_count=agg.count,
                distribution=s.RatingDistribution(**{str(i + 1): n for i, n in enumerate(agg.stars)}),
                demo_review_count=agg.demo,
            ),
            usage=s.Usage(total_downloads=use.downloads, active_users=self.active_users.get(entry.id, 0),
                          total_requests=use.requests, average_latency=use.average_latency,
                          subscribers=self.subscribers.get(entry.id, 0),
                          includes_demo_data=use.demo or self.demo_subscribers.get(entry.id, 0) > 0),
            license=licenses[0], licenses=licenses,
            support=s.Support(**{k: v for k, v in (listing.support or {}).items() if k in _SUPPORT_KEYS}),
            tags=list(entry.tags), badges=self.badges(entry),
            source_model_id=listing.source_model_id, source_model=source_model,
            featured_rank=listing.featured_rank, created_at=listing.created_at, updated_at=listing.updated_at,
        )

    def documents(self, ids: Iterable[str]) -> list[s.MarketplaceModel]:
        """Documents of the visible listings among `ids`, in their order."""
        return [self.document(self.entries[i]) for i in ids if i in self.entries]


_SPEC_KEYS = {"accuracy", "speed", "model_size", "supported_formats", "min_input_size", "max_input_size"}
_SUPPORT_KEYS = {"documentation", "email", "response_time", "languages"}
NO_LICENSE = s.LicenseRead(type="Unspecified", restrictions=[], commercial_use=False, modification_allowed=False)


def license_read(lic: License) -> s.LicenseRead:
    """A licence row as the wire schema."""
    return s.LicenseRead(type=lic.type, restrictions=list(lic.restrictions or []), commercial_use=lic.commercial_use,
                         modification_allowed=lic.modification_allowed, url=lic.url)


def _tier_read(tier: PricingTier) -> s.PricingTierRead:
    return s.PricingTierRead(
        name=tier.name, price=s.CONTACT if tier.price_cents is None else from_cents(tier.price_cents),
        requests=s.UNLIMITED if tier.requests is None else tier.requests, features=list(tier.features or []),
    )


def pricing_of(entry: Entry) -> s.Pricing:
    """The pricing block of a listing document (tiers, one-time price, the lowest price)."""
    listing = entry.listing
    return s.Pricing(model=listing.pricing_model, tiers=[_tier_read(t) for t in entry.tiers],
                     currency=listing.currency, billing=listing.billing,
                     one_time_price=from_cents(listing.one_time_price_cents),
                     price_from=from_cents(entry.price_from_cents))

