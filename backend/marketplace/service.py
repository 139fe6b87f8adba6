"""The model marketplace: listings, discovery, reviews, subscriptions and billing, purchases, usage, favourites.

Keyword-only functions, session first, actor explicit; the REST routes, the Reflex pages and the
endpoints' request counter call the same functions. Functions that return documents return the wire
schemas (`MarketplaceModel`, `SearchResult` ...) so a page can render them as they are.

Aggregates are never stored. Every read computes them from rows:

- `ratings`: averages of the reviews' overall and aspect ratings (aspects only over reviews that rated
  them), `reviewCount` = number of reviews (quick star ratings included), `distribution` per star.
- `provider.rating`: average overall rating of every review of the provider's visible listings;
  `provider.totalModels`: the provider's visible listings.
- `usage`: sums of the usage counters (requests, downloads, latency), `activeUsers` = distinct users
  with requests in the last 30 days, `subscribers` = live subscriptions.

Discovery (the formulas are repeated in the routes' OpenAPI descriptions):

- trending score = Σ over the last 14 days (d = 0 today … 13) of activity(d) · 2^(−d/3), where
  activity(d) = distinct users with requests on day d + 5 · (subscriptions and purchases started)
  + 3 · reviews written + 2 · favourites added that day (a half-life of 3 days).
- popularity (all-time reach) = distinct users who ever made a request or downloaded the model;
  ties are broken by all-time requests.
- new = release date, newest first. featured = `featuredRank` set by admins, 1 first.

To answer a browse or search request the service reads a light projection of every listing the
actor may see (a few grouped queries), filters, counts facets and sorts in Python, then builds
documents for one page only. That is fast for a marketplace of a few thousand listings.

Catalog contract (company models, `sourceModelId`). The catalog is reached only through
`from backend.catalog.model_registry import service as models_service`, imported when needed; when
the package (or the function) is missing, publishing a catalog model answers MODEL_001 and listings
show `sourceModel.available = false`. What is used:

- `models_service.get_model(*, session, actor, model_id)` → an object (ORM row or document) with
  `id`, `name`, and where it has them `version`, `description`, `category` (a category name),
  `parameters`, `context_length`/`contextLength`, `tags`, `license`, `performance` (dict of metrics),
  `deployment` (dict with `endpoints`) or `metadata` (dict with `description`, `tags`, `license`);
  raises `AISystemError("MODEL_001")` when the model does not exist or the actor may not see it.
- optional `models_service.list_versions(*, session, actor, model_id, params)` → rows (or
  `(rows, cursor)`) with a `version` attribute, for the versions shown on the listing.
- optional `models_service.list_models(*, session, actor, params)` → `(rows, cursor)`, used by the
  demo seed to publish a few catalog models.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import math
import re
from calendar import monthrange
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from types import ModuleType
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, delete, func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.models import User
from backend.auth.principal import Principal
from backend.core.db import upsert
from backend.core.errors import AISystemError, InvalidRequest, PermissionDenied
from backend.core.ids import new_id
from backend.core.pagination import PageParams, decode_cursor, encode_cursor, paginate
from backend.core.timeutil import to_utc, utcnow
from backend.marketplace import schemas as s
from backend.marketplace.models import (
    BillingRecord,
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

log = logging.getLogger(__name__)

TRENDING_WINDOW_DAYS = 14
TRENDING_HALF_LIFE_DAYS = 3.0
TRENDING_WEIGHTS = {"user_day": 1.0, "acquisition": 5.0, "review": 3.0, "favorite": 2.0}
ACTIVE_WINDOW_DAYS = 30
NEW_BADGE_DAYS = 60
BADGE_TOP_N = 10
TOP_RATED_MIN = 4.5
TOP_RATED_MIN_REVIEWS = 5
COMPANY_PROVIDER_SLUG = "company"
COMPANY_PROVIDER_NAME = "Company Models"
NO_SUBSCRIPTION = ""
NO_PERIOD = -1
MAX_QUERY_TOKENS = 10
BILLING_HISTORY = 24


def _not_found(what: str = "listing", **details: Any) -> AISystemError:
    return AISystemError("MARKET_001", f"The {what} does not exist or you may not see it", details)


def _not_allowed(reason: str, message: str, **details: Any) -> AISystemError:
    return AISystemError("MARKET_003", message, {"reason": reason, **details})


def _conflict(message: str, **details: Any) -> AISystemError:
    return AISystemError("MARKET_002", message, details)


# --- money and periods ----------------------------------------------------------------------------


def to_cents(amount: float) -> int:
    return int((Decimal(str(amount)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_cents(cents: int | None) -> float | None:
    return None if cents is None else cents / 100


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole months, the day clamped to the target month's length (Jan 31 + 1 → Feb 28/29)."""
    years, month0 = divmod(moment.month - 1 + months, 12)
    year = moment.year + years
    day = min(moment.day, monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def _months_per_period(sub: Subscription) -> int:
    return 12 if sub.billing == "yearly" else 1


def period_bounds(sub: Subscription, index: int) -> tuple[datetime, datetime]:
    """Start and end of billing period `index` (0 = the first) of a subscription."""
    step = _months_per_period(sub)
    anchor = to_utc(sub.period_anchor)
    return add_months(anchor, index * step), add_months(anchor, (index + 1) * step)


def period_index_at(sub: Subscription, moment: datetime) -> int:
    """The billing period that contains `moment` (0 before the anchor)."""
    anchor, moment = to_utc(sub.period_anchor), to_utc(moment)
    if moment <= anchor:
        return 0
    step = _months_per_period(sub)
    index = max(((moment.year - anchor.year) * 12 + moment.month - anchor.month) // step, 0)
    while index > 0 and period_bounds(sub, index)[0] > moment:
        index -= 1
    while period_bounds(sub, index + 1)[0] <= moment:
        index += 1
    return index


def prorated_cents(*, old_cents: int, new_cents: int, period_start: datetime, period_end: datetime,
                   at: datetime) -> int:
    """(new − old) × the unused fraction of the period, rounded half-up to the cent."""
    total = (period_end - period_start).total_seconds()
    remaining = max((period_end - at).total_seconds(), 0.0)
    fraction = Decimal(remaining) / Decimal(total) if total > 0 else Decimal(0)
    return int((Decimal(new_cents - old_cents) * fraction).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


# --- who may see and change what --------------------------------------------------------------------


def can_curate(actor: Principal) -> bool:
    """Curators publish external listings, edit any listing and set the featured order."""
    return actor.can("marketplace:write")


def _visible(actor: Principal):
    """SQL condition: listings the actor may see (never removed ones; private only to their publisher
    and curators)."""
    live = col(Listing.removed_at).is_(None)
    if can_curate(actor):
        return live
    return and_(live, or_(Listing.visibility != "private", Listing.created_by == actor.user_id))


def _may_edit(actor: Principal, listing: Listing) -> bool:
    """Curators, or the publisher of a company listing who still holds `model:write`."""
    if can_curate(actor):
        return True
    return bool(listing.source_model_id) and listing.created_by == actor.user_id and actor.can("model:write")


def _may_remove(actor: Principal, listing: Listing) -> bool:
    if actor.can("marketplace:delete"):
        return True
    return bool(listing.source_model_id) and listing.created_by == actor.user_id and actor.can("model:write")


def get_listing_row(*, session: Session, actor: Principal, listing_id: str, for_update: bool = False) -> Listing:
    """The listing row by id (or slug) if the actor may see it; MARKET_001 otherwise."""
    query = select(Listing).where(or_(Listing.id == listing_id, Listing.slug == listing_id), _visible(actor))
    if for_update:
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None:
        raise _not_found(listingId=listing_id)
    return row


def find_listing_for_model(*, session: Session, model_id: str) -> Listing | None:
    """The live listing published from a catalog model (for the endpoints' request counter)."""
    return session.exec(
        select(Listing).where(Listing.source_model_id == model_id, col(Listing.removed_at).is_(None))
    ).first()


def _user_is_commercial(session: Session, actor: Principal) -> tuple[bool, str | None]:
    attrs = actor.attributes or {}
    if "costCenterCommercial" in attrs:
        return bool(attrs.get("costCenterCommercial")), attrs.get("costCenter")
    user = session.get(User, actor.user_id)
    if user is None:
        return False, None
    return bool(user.cost_center_commercial), user.cost_center


def license_check(*, session: Session, actor: Principal, licenses: list[License]) -> s.UseCheck:
    """May the actor acquire a listing under these licences? A commercial cost centre needs a licence
    that allows commercial use (any of them: a dual-licensed model can be taken under the commercial one)."""
    commercial, cost_center = _user_is_commercial(session, actor)
    if not commercial or any(lic.commercial_use for lic in licenses):
        return s.UseCheck(allowed=True)
    types = ", ".join(lic.type for lic in licenses) or "no licence"
    centre = f"your cost centre {cost_center}" if cost_center else "your cost centre"
    return s.UseCheck(
        allowed=False, reason=f"The licence ({types}) does not allow commercial use, and {centre} is marked commercial."
    )


# --- the catalog, reached only through a guarded import ---------------------------------------------


def _catalog_service() -> ModuleType | None:
    """The catalog's model service, or None while that package is not installed."""
    try:
        return importlib.import_module("backend.catalog.model_registry.service")
    except ImportError:
        return None


def _attr(obj: Any, *names: str) -> Any:
    """First present value among attributes/keys `names` of `obj` (or of its `metadata` dict)."""
    for source in (obj, _plain(getattr(obj, "metadata", None) if not isinstance(obj, dict) else obj.get("metadata"))):
        if source is None:
            continue
        for name in names:
            value = source.get(name) if isinstance(source, dict) else getattr(source, name, None)
            if value not in (None, "", [], {}):
                return value
    return None


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else None


def catalog_call(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a catalog function with the keyword arguments it accepts (`actor` is optional there)."""
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(**kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in parameters})


def _catalog_model(session: Session, actor: Principal, model_id: str) -> Any:
    svc = _catalog_service()
    if svc is None or not hasattr(svc, "get_model"):
        raise AISystemError("MODEL_001", "The model catalog is not available", {"modelId": model_id})
    return catalog_call(svc.get_model, session=session, actor=actor, model_id=model_id)


def category_for_model(session: Session, model: Any) -> Category | None:
    """The marketplace category of a catalog model: its category or type, by name, slug or synonym."""
    from backend.marketplace.seed_data import CATEGORY_SYNONYMS

    for value in (_attr(model, "category"), _attr(model, "type")):
        if not value:
            continue
        key = str(value).strip().lower()
        row = session.exec(select(Category).where(or_(
            Category.slug == CATEGORY_SYNONYMS.get(key, key), func.lower(Category.name) == key))).first()
        if row is not None:
            return row
    return None


def lookup_source_model(*, session: Session, actor: Principal, model_id: str) -> s.SourceModel:
    """What the catalog says about a listing's source model now; `available=False` if it cannot tell."""
    svc = _catalog_service()
    if svc is None or not hasattr(svc, "get_model"):
        return s.SourceModel(id=model_id, available=False)
    try:
        with session.begin_nested():  # a failing catalog query must not poison the caller's transaction
            model = catalog_call(svc.get_model, session=session, actor=actor, model_id=model_id)
            versions: list[str] = []
            if hasattr(svc, "list_versions"):
                found = catalog_call(svc.list_versions, session=session, actor=actor, model_id=model_id,
                                     params=PageParams(limit=20), descending=True)
                rows = found[0] if isinstance(found, tuple) else found
                versions = [str(v) for v in (_attr(r, "version") for r in rows or []) if v]
    except AISystemError:
        return s.SourceModel(id=model_id, available=False)
    except Exception:  # the catalog is another team's code: a failure there must not break the listing
        log.exception("could not read catalog model %s", model_id)
        return s.SourceModel(id=model_id, available=False)
    metrics = _plain(_attr(model, "performance")) or {}
    deployment = _plain(_attr(model, "deployment")) or {}
    endpoints = deployment.get("endpoints") if isinstance(deployment, dict) else None
    return s.SourceModel(
        id=model_id, available=True, name=_attr(model, "name"), version=_attr(model, "version"),
        versions=versions, metrics={k: v for k, v in metrics.items() if isinstance(v, int | float | str | dict)},
        endpoints=[str(e) for e in endpoints or []],
    )


# --- the catalogue snapshot: visible listings and their aggregates ----------------------------------


@dataclass
class RatingAgg:
    count: int = 0
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
        visible = _visible(actor)
        self.entries: dict[str, Entry] = {}
        for listing, category, provider in session.exec(
            select(Listing, Category, Provider)
            .join(Category, Listing.category_id == Category.id)
            .join(Provider, Listing.provider_id == Provider.id)
            .where(visible)
        ).all():
            self.entries[listing.id] = Entry(listing, category, provider)
        for tag in session.exec(select(ListingTag).join(Listing).where(visible).order_by(ListingTag.tag)).all():
            self.entries[tag.listing_id].tags.append(tag.tag)
        for lic in session.exec(select(License).join(Listing).where(visible).order_by(License.position)).all():
            self.entries[lic.listing_id].licenses.append(lic)
        for tier in session.exec(
            select(PricingTier).join(Listing).where(visible).order_by(PricingTier.position)
        ).all():
            self.entries[tier.listing_id].tiers.append(tier)

    def entry(self, listing_id: str) -> Entry:
        found = self.entries.get(listing_id)
        if found is None:
            raise _not_found(listingId=listing_id)
        return found

    # aggregates over rows ------------------------------------------------------------------------

    @cached_property
    def ratings(self) -> dict[str, RatingAgg]:
        aspect_cols = [getattr(Review, a) for a in ASPECTS]
        query = select(
            Review.listing_id, Review.overall, func.count(),
            *[func.coalesce(func.sum(c), 0) for c in aspect_cols], *[func.count(c) for c in aspect_cols],
        ).group_by(Review.listing_id, Review.overall)
        result: dict[str, RatingAgg] = defaultdict(RatingAgg)
        for row in self.session.exec(query).all():
            listing_id, overall, count = row[0], int(row[1]), int(row[2])
            sums, counts = row[3:3 + len(ASPECTS)], row[3 + len(ASPECTS):]
            agg = result[listing_id]
            agg.count += count
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
            func.count(func.distinct(UsageCounter.consumer)),
        ).group_by(UsageCounter.listing_id)
        return {
            lid: UsageAgg(int(req or 0), int(dl or 0), float(lat or 0), int(samples or 0), int(reach or 0))
            for lid, req, dl, lat, samples, reach in self.session.exec(query).all()
        }

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
        licenses = [_license_read(lic) for lic in entry.licenses] or [_NO_LICENSE]
        specs = dict(listing.specifications or {})
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
            pricing=_pricing(entry),
            ratings=s.Ratings(
                overall=agg.overall, **{a: agg.aspect(a) for a in ASPECTS}, review_count=agg.count,
                distribution=s.RatingDistribution(**{str(i + 1): n for i, n in enumerate(agg.stars)}),
            ),
            usage=s.Usage(total_downloads=use.downloads, active_users=self.active_users.get(entry.id, 0),
                          total_requests=use.requests, average_latency=use.average_latency,
                          subscribers=self.subscribers.get(entry.id, 0)),
            license=licenses[0], licenses=licenses,
            support=s.Support(**{k: v for k, v in (listing.support or {}).items() if k in _SUPPORT_KEYS}),
            tags=list(entry.tags), badges=self.badges(entry),
            source_model_id=listing.source_model_id, source_model=source_model,
            featured_rank=listing.featured_rank, created_at=listing.created_at, updated_at=listing.updated_at,
        )

    def documents(self, ids: Iterable[str]) -> list[s.MarketplaceModel]:
        return [self.document(self.entries[i]) for i in ids if i in self.entries]


_SPEC_KEYS = {"accuracy", "speed", "model_size", "supported_formats", "min_input_size", "max_input_size"}
_SUPPORT_KEYS = {"documentation", "email", "response_time", "languages"}
_NO_LICENSE = s.LicenseRead(type="Unspecified", restrictions=[], commercial_use=False, modification_allowed=False)


def _license_read(lic: License) -> s.LicenseRead:
    return s.LicenseRead(type=lic.type, restrictions=list(lic.restrictions or []), commercial_use=lic.commercial_use,
                         modification_allowed=lic.modification_allowed, url=lic.url)


def _tier_read(tier: PricingTier) -> s.PricingTierRead:
    return s.PricingTierRead(
        name=tier.name, price=s.CONTACT if tier.price_cents is None else from_cents(tier.price_cents),
        requests=s.UNLIMITED if tier.requests is None else tier.requests, features=list(tier.features or []),
    )


def _pricing(entry: Entry) -> s.Pricing:
    listing = entry.listing
    return s.Pricing(model=listing.pricing_model, tiers=[_tier_read(t) for t in entry.tiers],
                     currency=listing.currency, billing=listing.billing,
                     one_time_price=from_cents(listing.one_time_price_cents),
                     price_from=from_cents(entry.price_from_cents))


# --- browsing and searching -------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchFilters:
    """Facets of a search; lists are OR within a facet (tags: AND), facets are AND across."""

    q: str | None = None
    categories: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    verified: bool | None = None
    license_types: tuple[str, ...] = ()
    commercial_use: bool | None = None
    min_price: float | None = None
    max_price: float | None = None
    min_rating: float | None = None
    tags: tuple[str, ...] = ()
    min_context_length: int | None = None
    max_context_length: int | None = None
    min_parameters: int | None = None
    max_parameters: int | None = None
    sort: str = "relevance"


PRICE_BUCKETS = [("Free", 0.0, 0.0), ("Up to 100", 0.01, 100.0), ("100 to 500", 100.01, 500.0),
                 ("Over 500", 500.01, None)]
RATING_BUCKETS = [("4 stars & up", 4.0), ("3 stars & up", 3.0), ("2 stars & up", 2.0), ("1 star & up", 1.0)]
CONTEXT_BUCKETS = [("8K+", 8_192), ("32K+", 32_768), ("128K+", 131_072), ("1M+", 1_000_000)]
PARAMETER_BUCKETS = [("Under 1B", None, 999_999_999), ("1B–10B", 1_000_000_000, 9_999_999_999),
                     ("10B–100B", 10_000_000_000, 99_999_999_999), ("100B+", 100_000_000_000, None)]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _in_range(value: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


class _Query:
    """One search over a catalogue: validated filters, the predicates, relevance scores."""

    def __init__(self, cat: Catalogue, filters: SearchFilters):
        self.cat, self.f = cat, filters
        self._validate()
        self.tokens = _words(filters.q or "")[:MAX_QUERY_TOKENS]
        self.predicates: dict[str, Callable[[Entry], bool]] = {}
        self._build()

    def _validate(self) -> None:
        f, cat, problems = self.f, self.cat, {}
        categories = self.cat.session.exec(select(Category)).all()
        by_key = {c.slug: c.id for c in categories} | {c.id: c.id for c in categories}
        self.category_ids = set()
        for key in f.categories:
            if key.lower() not in by_key and key not in by_key:
                problems["category"] = f"unknown category '{key}'"
            else:
                self.category_ids.add(by_key.get(key.lower(), by_key.get(key)))
        providers = self.cat.session.exec(select(Provider)).all()
        pkeys = {p.slug: p.id for p in providers} | {p.id: p.id for p in providers}
        self.provider_ids = set()
        for key in f.providers:
            if key.lower() not in pkeys and key not in pkeys:
                problems["provider"] = f"unknown provider '{key}'"
            else:
                self.provider_ids.add(pkeys.get(key.lower(), pkeys.get(key)))
        known_licenses = {t for e in cat.entries.values() for t in e.license_types}
        for t in f.license_types:
            if t.lower() not in known_licenses:
                problems["licenseType"] = f"unknown licence type '{t}'"
        known_tags = {t for e in cat.entries.values() for t in e.tags}
        for t in f.tags:
            if t.lower() not in known_tags:
                problems["tags"] = f"unknown tag '{t}'"
        for low, high, name in ((f.min_price, f.max_price, "maxPrice"), (f.min_rating, None, "minRating"),
                                (f.min_context_length, f.max_context_length, "maxContextLength"),
                                (f.min_parameters, f.max_parameters, "maxParameters")):
            if low is not None and high is not None and low > high:
                problems[name] = "must not be below the minimum"
        if f.sort not in ("relevance", "rating", "popularity", "newest", "price", "name"):
            problems["sort"] = f"unknown sort '{f.sort}'"
        if problems:
            raise InvalidRequest("Unknown or inconsistent search filters", problems)

    def _build(self) -> None:
        f, cat, p = self.f, self.cat, self.predicates
        if self.tokens:
            p["q"] = lambda e: self.relevance(e) > 0
        if self.category_ids:
            p["category"] = lambda e: e.category.id in self.category_ids
        if self.provider_ids:
            p["provider"] = lambda e: e.provider.id in self.provider_ids
        if f.verified is not None:
            p["verified"] = lambda e: e.provider.verified == f.verified
        if f.license_types:
            wanted = {t.lower() for t in f.license_types}
            p["licenseType"] = lambda e: bool(e.license_types & wanted)
        if f.commercial_use is not None:
            p["commercialUse"] = lambda e: e.commercial_use == f.commercial_use
        if f.min_price is not None or f.max_price is not None:
            p["price"] = lambda e: _in_range(from_cents(e.price_from_cents), f.min_price, f.max_price)
        if f.min_rating is not None:
            p["rating"] = lambda e: (cat.rating_of(e.id)[0] or 0) >= f.min_rating
        if f.tags:
            wanted_tags = {t.lower() for t in f.tags}
            p["tags"] = lambda e: wanted_tags <= set(e.tags)
        if f.min_context_length is not None or f.max_context_length is not None:
            p["contextLength"] = lambda e: _in_range(e.listing.context_length, f.min_context_length,
                                                     f.max_context_length)
        if f.min_parameters is not None or f.max_parameters is not None:
            p["parameters"] = lambda e: _in_range(e.listing.parameter_count, f.min_parameters, f.max_parameters)

    @cached_property
    def _relevance(self) -> dict[str, float]:
        scores = {}
        for entry in self.cat.entries.values():
            listing = entry.listing
            fields = [
                (set(_words(listing.name)), 10.0),
                (set(entry.tags) | {w for t in entry.tags for w in _words(t)}, 6.0),
                (set(_words(f"{entry.provider.name} {entry.category.name}")), 4.0),
                (set(_words(" ".join([listing.description, *(listing.features or []),
                                      *[lic.type for lic in entry.licenses]]))), 1.0),
            ]
            total = 0.0
            for token in self.tokens:
                best = 0.0
                for words, weight in fields:
                    if token in words:
                        best = max(best, weight * 1.5)
                    elif any(w.startswith(token) for w in words):
                        best = max(best, weight)
                if best == 0:
                    total = 0.0
                    break
                total += best
            scores[entry.id] = total
        return scores

    def relevance(self, entry: Entry) -> float:
        return self._relevance.get(entry.id, 0.0) if self.tokens else 0.0

    def matches(self, entry: Entry, *, ignore: str | None = None) -> bool:
        return all(fn(entry) for name, fn in self.predicates.items() if name != ignore)

    def results(self) -> list[Entry]:
        return [e for e in self.cat.entries.values() if self.matches(e)]

    def sort_key(self, entry: Entry) -> tuple:
        """An ascending key; the listing id last makes it unique (keyset cursors rely on it)."""
        cat, sort = self.cat, self.f.sort
        reach, requests = cat.popularity(entry.id)
        if sort == "relevance":
            return (-self.relevance(entry), -reach, -requests, entry.id)
        if sort == "rating":
            rating, count = cat.rating_of(entry.id)
            return (-(rating or 0.0), -count, entry.id)
        if sort == "popularity":
            return (-reach, -requests, entry.id)
        if sort == "newest":
            return (-entry.listing.release_date.toordinal(), entry.id)
        if sort == "price":
            price = entry.price_from_cents
            return (price is None, price or 0, entry.id)
        return (entry.listing.name.lower(), entry.id)

    def facets(self) -> s.Facets:
        cat = self.cat
        others = {name: [e for e in cat.entries.values() if self.matches(e, ignore=name)]
                  for name in ("category", "provider", "licenseType", "tags", "verified", "commercialUse",
                               "price", "rating", "contextLength", "parameters")}

        def counted(entries: list[Entry], values: Callable[[Entry], Iterable[tuple[str, str]]]):
            counts: dict[tuple[str, str], int] = defaultdict(int)
            for e in entries:
                for item in set(values(e)):
                    counts[item] += 1
            return [s.FacetValue(value=v, label=label, count=n)
                    for (v, label), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1].lower()))]

        def buckets(entries, specs, value_of):
            out = []
            for label, low, high in specs:
                n = sum(1 for e in entries if _in_range(value_of(e), low, high))
                out.append(s.RangeBucket(label=label, min=low, max=high, count=n))
            return out

        licence_labels = {lic.type.lower(): lic.type for e in cat.entries.values() for lic in e.licenses}
        price_buckets = buckets(others["price"], PRICE_BUCKETS, lambda e: from_cents(e.price_from_cents))
        price_buckets.append(s.RangeBucket(label="Contact sales", count=sum(
            1 for e in others["price"] if e.price_from_cents is None)))
        return s.Facets(
            category=counted(others["category"], lambda e: [(e.category.slug, e.category.name)]),
            provider=counted(others["provider"], lambda e: [(e.provider.slug, e.provider.name)]),
            license_type=counted(others["licenseType"],
                                 lambda e: [(t, licence_labels.get(t, t)) for t in e.license_types]),
            tags=counted(others["tags"], lambda e: [(t, t) for t in e.tags])[:50],
            verified=counted(others["verified"], lambda e: [(str(e.provider.verified).lower(),
                                                             "Verified" if e.provider.verified else "Not verified")]),
            commercial_use=counted(others["commercialUse"], lambda e: [
                (str(e.commercial_use).lower(), "Commercial use" if e.commercial_use else "Non-commercial")]),
            price=price_buckets,
            rating=buckets(others["rating"], [(label, low, None) for label, low in RATING_BUCKETS],
                           lambda e: cat.rating_of(e.id)[0]),
            context_length=buckets(others["contextLength"], [(label, low, None) for label, low in CONTEXT_BUCKETS],
                                   lambda e: e.listing.context_length),
            parameters=buckets(others["parameters"], PARAMETER_BUCKETS, lambda e: e.listing.parameter_count),
        )


def _keyset_page(items: list, key: Callable[[Any], tuple], params: PageParams) -> tuple[list, str | None]:
    """Sort `items` by `key` and cut the page after `params.cursor` (the key of the previous page's last item)."""
    ranked = sorted(items, key=key)
    if params.cursor:
        sample = key(ranked[0]) if ranked else None
        after = decode_cursor(params.cursor, len(sample) if sample else 0) if sample else []
        try:
            after_key = tuple(after)
            ranked = [item for item in ranked if key(item) > after_key]
        except TypeError as exc:
            raise InvalidRequest("The cursor is not valid", {"cursor": "not a cursor this API issued"}) from exc
    page = ranked[: params.limit]
    cursor = encode_cursor(list(key(page[-1]))) if len(ranked) > params.limit else None
    return page, cursor


def search(*, session: Session, actor: Principal, filters: SearchFilters, params: PageParams,
           with_facets: bool = True) -> s.SearchResult:
    """One page of listings matching `filters`, the total, and facet counts."""
    cat = Catalogue(session, actor)
    query = _Query(cat, filters)
    results = query.results()
    page, cursor = _keyset_page(results, query.sort_key, params)
    facets = query.facets() if with_facets else s.Facets(**{k: [] for k in s.Facets.model_fields})
    return s.SearchResult(items=[cat.document(e) for e in page], next_cursor=cursor, total=len(results),
                          facets=facets)


def list_listings(*, session: Session, actor: Principal, filters: SearchFilters | None = None,
                  params: PageParams) -> tuple[list[s.MarketplaceModel], str | None]:
    """A page of listings (the same filters as search, without facets)."""
    cat = Catalogue(session, actor)
    query = _Query(cat, filters or SearchFilters())
    page, cursor = _keyset_page(query.results(), query.sort_key, params)
    return [cat.document(e) for e in page], cursor


def get_listing(*, session: Session, actor: Principal, listing_id: str,
                with_source: bool = True) -> s.MarketplaceModel:
    """The full listing document; for a company listing, what the catalog says about its model."""
    row = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    cat = Catalogue(session, actor)
    source = None
    if with_source and row.source_model_id:
        source = lookup_source_model(session=session, actor=actor, model_id=row.source_model_id)
    return cat.document(cat.entry(row.id), source_model=source)


# --- discovery --------------------------------------------------------------------------------------


def _ranked(cat: Catalogue, score: Callable[[Entry], float], *, params: PageParams,
            key: Callable[[Entry], tuple] | None = None, keep: Callable[[Entry], bool] = lambda e: True,
            category: str | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """A page of `entries` ordered by `key` (default: score, highest first), each with its score."""
    entries = [e for e in cat.entries.values() if keep(e)]
    if category:
        wanted = _resolve_category(cat.session, category)  # unknown: REQ_001, like the search facets
        entries = [e for e in entries if e.category.id == wanted.id]
    page, cursor = _keyset_page(entries, key or (lambda e: (-float(score(e)), e.id)), params)
    return [s.ScoredModel(**cat.document(e).model_dump(), score=float(score(e))) for e in page], cursor


def trending(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
             catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings with recent activity, highest trending score first (only scores above zero)."""
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: cat.trending_scores.get(e.id, 0.0), params=params, category=category,
                   keep=lambda e: cat.trending_scores.get(e.id, 0.0) > 0)


def popular(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
            catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings by all-time reach (distinct users), ties by all-time requests."""
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: cat.popularity(e.id)[0], params=params, category=category,
                   key=lambda e: (-cat.popularity(e.id)[0], -cat.popularity(e.id)[1], e.id))


def newest(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
           catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings by release date, newest first; the score is the release date's ordinal day."""
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: e.listing.release_date.toordinal(), params=params, category=category)


def featured(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
             catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings curated by admins, in their `featuredRank` order (the score is the rank)."""
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: e.listing.featured_rank or 0, params=params, category=category,
                   keep=lambda e: e.listing.featured_rank is not None,
                   key=lambda e: (e.listing.featured_rank, e.id))


def set_featured(*, session: Session, actor: Principal, listing_ids: list[str]) -> None:
    """Make `listing_ids` the featured listings, in this order (curators)."""
    if not can_curate(actor):
        raise PermissionDenied("marketplace:write")
    rows = [get_listing_row(session=session, actor=actor, listing_id=i) for i in listing_ids]
    for row in session.exec(select(Listing).where(col(Listing.featured_rank).is_not(None))).all():
        row.featured_rank = None
        session.add(row)
    session.flush()
    for rank, row in enumerate(rows, start=1):
        row.featured_rank = rank
        session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.featured.set", entity_type="marketplace_listing",
                 summary={"listingIds": [r.id for r in rows]})


# --- categories and providers -----------------------------------------------------------------------


def get_category(*, session: Session, category: str) -> Category:
    row = session.exec(select(Category).where(or_(Category.slug == category.lower(), Category.id == category))).first()
    if row is None:
        raise _not_found("category", category=category)
    return row


def get_provider(*, session: Session, provider: str) -> Provider:
    row = session.exec(select(Provider).where(or_(Provider.slug == provider.lower(), Provider.id == provider))).first()
    if row is None:
        raise _not_found("provider", provider=provider)
    return row


def landing(*, session: Session, actor: Principal, per_row: int = 8) -> s.Landing:
    """The marketplace landing page in one read of the catalogue: featured, trending and new rows, and the
    category tiles."""
    cat = Catalogue(session, actor)
    params = PageParams(limit=per_row)
    return s.Landing(
        featured=featured(session=session, actor=actor, params=params, catalogue=cat)[0],
        trending=trending(session=session, actor=actor, params=params, catalogue=cat)[0],
        new=newest(session=session, actor=actor, params=params, catalogue=cat)[0],
        categories=list_categories(session=session, actor=actor, catalogue=cat),
    )


def list_categories(*, session: Session, actor: Principal, catalogue: Catalogue | None = None) -> list[s.CategoryRead]:
    """Every category with the number of listings the actor can see in it."""
    cat = catalogue or Catalogue(session, actor)
    counts: dict[str, int] = defaultdict(int)
    for entry in cat.entries.values():
        counts[entry.category.id] += 1
    rows = session.exec(select(Category).order_by(Category.position, Category.name)).all()
    return [s.CategoryRead(id=c.id, slug=c.slug, name=c.name, description=c.description, icon=c.icon,
                           model_count=counts.get(c.id, 0)) for c in rows]


def list_providers(*, session: Session, actor: Principal, params: PageParams) -> tuple[list[s.ProviderRead], str | None]:
    """Providers by name, each with its rating and visible listing count."""
    cat = Catalogue(session, actor)
    providers = session.exec(select(Provider)).all()

    def read(p: Provider) -> s.ProviderRead:
        rating, total, reviews = cat.provider_stats.get(p.id, (None, 0, 0))
        return s.ProviderRead(id=p.id, slug=p.slug, name=p.name, verified=p.verified, kind=p.kind,
                              website=p.website, description=p.description, rating=rating, total_models=total,
                              review_count=reviews)

    page, cursor = _keyset_page(list(providers), lambda p: (p.name.lower(), p.id), params)
    return [read(p) for p in page], cursor


# --- publishing -------------------------------------------------------------------------------------


def _slugify(name: str) -> str:
    return "-".join(_words(name))[:100].strip("-")


def _unique_slug(session: Session, name: str, listing_id: str) -> str:
    base = _slugify(name) or listing_id.replace("_", "-")
    slug = base
    if session.exec(select(Listing.id).where(Listing.slug == slug, Listing.id != listing_id)).first():
        slug = f"{base}-{listing_id[-8:]}"
    return slug


def _company_provider(session: Session) -> Provider:
    row = session.exec(select(Provider).where(Provider.slug == COMPANY_PROVIDER_SLUG)).first()
    if row is None:
        row = Provider(id=new_id("provider"), slug=COMPANY_PROVIDER_SLUG, name=COMPANY_PROVIDER_NAME, verified=True,
                       kind="company", description="Models built and served inside the company, from the AI catalog.")
        session.add(row)
        session.flush()
    return row


def _resolve_provider(session: Session, actor: Principal, value: str | s.ProviderInput) -> Provider:
    if isinstance(value, str):
        row = session.exec(select(Provider).where(or_(Provider.slug == value.lower(), Provider.id == value))).first()
        if row is None:
            raise InvalidRequest("Unknown provider", {"provider": f"no provider '{value}'; send an object to create one"})
        return row
    slug = _slugify(value.name) or new_id("provider")
    row = session.exec(select(Provider).where(Provider.slug == slug)).first()
    if row is None:
        row = Provider(id=new_id("provider"), slug=slug, name=value.name, verified=value.verified,
                       website=value.website, description=value.description)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="marketplace.provider.create",
                     entity_type="marketplace_provider", entity_id=row.id, summary={"name": row.name})
    return row


def _resolve_category(session: Session, value: str) -> Category:
    row = session.exec(select(Category).where(or_(
        Category.slug == value.lower(), Category.id == value, func.lower(Category.name) == value.lower()))).first()
    if row is None:
        known = ", ".join(session.exec(select(Category.slug).order_by(Category.position)).all())
        raise InvalidRequest("Unknown category", {"category": f"no category '{value}'; known: {known}"})
    return row


def _apply_fields(session: Session, listing: Listing, data: s.ListingFields, *, creating: bool) -> None:
    """Copy the fields `data` sets onto the listing and replace its tiers, licences and tags if given."""
    sent = data.model_fields_set
    for name in ("name", "version", "release_date", "last_updated", "status", "visibility", "description"):
        value = getattr(data, name)
        if name in sent and value is not None:
            setattr(listing, name, value)
    if "category" in sent and data.category is not None:
        listing.category_id = _resolve_category(session, data.category).id
    if "features" in sent and data.features is not None:
        listing.features = list(data.features)
    if "specifications" in sent and data.specifications is not None:
        spec = data.specifications.model_dump(exclude={"parameters", "context_length"}, exclude_none=True)
        listing.specifications = spec
        listing.parameter_count = data.specifications.parameters
        listing.context_length = data.specifications.context_length
    if "support" in sent and data.support is not None:
        listing.support = data.support.model_dump(exclude_none=True)
    if "featured_rank" in sent:
        listing.featured_rank = data.featured_rank
    if "pricing" in sent and data.pricing is not None:
        p = data.pricing
        listing.pricing_model, listing.currency, listing.billing = p.model, p.currency, p.billing
        listing.one_time_price_cents = None if p.one_time_price is None else to_cents(p.one_time_price)
        if not creating:
            session.exec(delete(PricingTier).where(PricingTier.listing_id == listing.id))
        for i, t in enumerate(p.tiers):
            session.add(PricingTier(
                id=new_id("tier"), listing_id=listing.id, position=i, name=t.name,
                price_cents=None if t.price == s.CONTACT else to_cents(t.price),
                requests=None if t.requests == s.UNLIMITED else t.requests, features=list(t.features)))
    if "licenses" in sent and data.licenses:
        if not creating:
            session.exec(delete(License).where(License.listing_id == listing.id))
        for i, lic in enumerate(data.licenses):
            session.add(License(id=new_id("license"), listing_id=listing.id, position=i, type=lic.type, url=lic.url,
                                restrictions=list(lic.restrictions), commercial_use=lic.commercial_use,
                                modification_allowed=lic.modification_allowed))
    if "tags" in sent and data.tags is not None:
        if not creating:
            session.exec(delete(ListingTag).where(ListingTag.listing_id == listing.id))
        for tag in dict.fromkeys(data.tags):
            session.add(ListingTag(listing_id=listing.id, tag=tag))


def _catalog_defaults(session: Session, actor: Principal, data: s.ListingCreate) -> tuple[Any, s.ListingCreate]:
    """Fill what the publisher left out from the catalog model (name, version, description, category ...)."""
    model = _catalog_model(session, actor, data.source_model_id)
    updates: dict[str, Any] = {}
    if data.name is None:
        updates["name"] = str(_attr(model, "name") or data.source_model_id)[:120]
    if data.version is None and _attr(model, "version"):
        updates["version"] = str(_attr(model, "version"))[:40]
    if data.description is None and _attr(model, "description"):
        updates["description"] = str(_attr(model, "description"))[:5000]
    if data.category is None:
        category = category_for_model(session, model)
        if category is None:
            raise InvalidRequest("The catalog model's category is not a marketplace category",
                                 {"category": "required for this model (a marketplace category slug)"})
        updates["category"] = category.slug
    if data.tags is None:
        tags = [t.lower() for t in (_attr(model, "tags") or []) if isinstance(t, str)]
        updates["tags"] = [t for t in tags if re.fullmatch(r"[a-z0-9][a-z0-9+.\-]{0,48}", t)][:20]
    if data.specifications is None:
        performance = _plain(_attr(model, "performance")) or {}
        accuracy = performance.get("accuracy") if isinstance(performance, dict) else None
        try:
            updates["specifications"] = s.SpecificationsInput(
                parameters=_attr(model, "parameters"), context_length=_attr(model, "context_length", "contextLength"),
                accuracy=accuracy if isinstance(accuracy, int | float) and 0 <= accuracy <= 1 else None)
        except ValidationError:  # the catalog's figures are out of the marketplace's ranges: leave them out
            updates["specifications"] = s.SpecificationsInput()
    if data.licenses is None:
        updates["licenses"] = [s.LicenseInput(
            type=str(_attr(model, "license") or "Company internal")[:80], commercial_use=True,
            modification_allowed=True, restrictions=["For use inside the company"])]
    if data.pricing is None:
        updates["pricing"] = s.PricingInput(model="free", tiers=[s.PricingTierInput(
            name="Internal", price=0, requests=s.UNLIMITED, features=["Served by the platform"])])
    if data.visibility is None:
        updates["visibility"] = "internal"
    merged = data.model_copy(update=updates)
    object.__setattr__(merged, "__pydantic_fields_set__", data.model_fields_set | set(updates))
    return model, merged


def create_listing(*, session: Session, actor: Principal, data: s.ListingCreate) -> s.MarketplaceModel:
    """Publish a listing. An external provider's model needs `marketplace:write` (curators); a catalog
    model (`sourceModelId`) needs `model:write` and a model the actor can see in the catalog."""
    listing = publish_listing(session=session, actor=actor, data=data)
    return get_listing(session=session, actor=actor, listing_id=listing.id, with_source=False)


def publish_listing(*, session: Session, actor: Principal, data: s.ListingCreate) -> Listing:
    """`create_listing` without building the document (the seed publishes many at once)."""
    now = utcnow()
    if data.source_model_id:
        if not (actor.can("model:write") or can_curate(actor)):
            raise PermissionDenied("model:write")
        taken = find_listing_for_model(session=session, model_id=data.source_model_id)
        if taken is not None:
            raise _conflict("This catalog model is already listed", listingId=taken.id,
                            sourceModelId=data.source_model_id)
        _model, data = _catalog_defaults(session, actor, data)
        provider = _company_provider(session)
    else:
        if not can_curate(actor):
            raise PermissionDenied("marketplace:write")
        provider = _resolve_provider(session, actor, data.provider)
    if data.featured_rank is not None and not can_curate(actor):
        raise PermissionDenied("marketplace:write")
    listing_id = new_id("market_model")
    category = _resolve_category(session, data.category)
    listing = Listing(
        id=listing_id, slug=_unique_slug(session, data.name, listing_id), name=data.name, category_id=category.id,
        provider_id=provider.id, release_date=data.release_date or now.date(),
        last_updated=data.last_updated or data.release_date or now.date(), source_model_id=data.source_model_id,
        created_by=actor.user_id, created_at=now, updated_at=now,
    )
    session.add(listing)
    session.flush()
    _apply_fields(session, listing, data, creating=True)
    session.add(listing)
    try:
        # The savepoint holds the audit record too: the audit rule is checked when a savepoint is released.
        with session.begin_nested():
            session.flush()
            audit.record(session=session, actor=actor, action="marketplace.listing.create",
                         entity_type="marketplace_listing", entity_id=listing.id,
                         summary={"name": listing.name, "provider": provider.slug,
                                  "sourceModelId": listing.source_model_id})
    except IntegrityError as exc:  # two publishers of the same catalog model at once
        raise _conflict("This catalog model is already listed", sourceModelId=data.source_model_id) from exc
    return listing


def update_listing(*, session: Session, actor: Principal, listing_id: str, data: s.ListingUpdate) -> s.MarketplaceModel:
    """Change a listing (curators; or the publisher of a company listing). Only sent fields change."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    if not _may_edit(actor, listing):
        raise PermissionDenied("marketplace:write")
    if "featured_rank" in data.model_fields_set and not can_curate(actor):
        raise PermissionDenied("marketplace:write")
    before = {"name": listing.name, "version": listing.version, "status": listing.status}
    _apply_fields(session, listing, data, creating=False)  # the slug stays: shared links keep working
    if "last_updated" not in data.model_fields_set and data.model_fields_set - {"featured_rank"}:
        listing.last_updated = utcnow().date()  # curating /featured is not an update of the model
    listing.updated_at = utcnow()
    session.add(listing)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.listing.update", entity_type="marketplace_listing",
                 entity_id=listing.id, summary={"fields": sorted(data.model_fields_set), "before": before})
    return get_listing(session=session, actor=actor, listing_id=listing.id, with_source=False)


def remove_listing(*, session: Session, actor: Principal, listing_id: str) -> None:
    """Take a listing off the marketplace. Rows stay (billing history, reviews); live subscriptions run
    to the end of their paid period and are not renewed."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    if not _may_remove(actor, listing):
        raise PermissionDenied("marketplace:delete")
    now = utcnow()
    listing.removed_at, listing.status, listing.featured_rank, listing.updated_at = now, "removed", None, now
    session.add(listing)
    cancelled = 0
    for sub in session.exec(select(Subscription).where(Subscription.listing_id == listing.id,
                                                       Subscription.status == "active")).all():
        _advance(session, sub, now)
        if sub.status == "active" and not sub.cancel_at_period_end:
            sub.cancel_at_period_end = True
            sub.ends_at = period_bounds(sub, period_index_at(sub, now))[1]
            sub.updated_at = now
            session.add(sub)
            cancelled += 1
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.listing.remove", entity_type="marketplace_listing",
                 entity_id=listing.id, summary={"name": listing.name, "subscriptionsEnding": cancelled})


# --- reviews ----------------------------------------------------------------------------------------


def _review_read(review: Review) -> s.ReviewRead:
    return s.ReviewRead(
        id=review.id, listing_id=review.listing_id, author_id=review.user_id, author_name=review.author_name,
        rating=review.overall, aspects=s.Aspects(**{a: getattr(review, a) for a in ASPECTS}),
        title=review.title, text=review.text, verified_use=review.verified_use, demo=review.is_demo,
        created_at=review.created_at, updated_at=review.updated_at,
    )


def _has_verified_use(session: Session, listing_id: str, user_id: str, now: datetime) -> bool:
    sub = _live_subscription(session, listing_id, user_id)
    if sub is not None and _state(sub, now) != "ended":
        return True
    return session.exec(select(Purchase.id).where(Purchase.listing_id == listing_id,
                                                  Purchase.user_id == user_id)).first() is not None


def _author_name(session: Session, actor: Principal) -> str:
    user = session.get(User, actor.user_id)
    return (user.display_name if user else None) or actor.username


def _own_review(session: Session, listing_id: str, user_id: str) -> Review | None:
    return session.exec(select(Review).where(Review.listing_id == listing_id, Review.user_id == user_id)).first()


def create_review(*, session: Session, actor: Principal, listing_id: str, rating: int,
                  aspects: s.AspectsInput | None = None, title: str | None = None,
                  text: str | None = None) -> s.ReviewRead:
    """Write the actor's review of a listing (one per user and listing: a second is MARKET_002)."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    existing = _own_review(session, listing.id, actor.user_id)
    if existing is not None:
        raise _conflict("You have already reviewed this listing; edit your review instead",
                        reviewId=existing.id, listingId=listing.id)
    now = utcnow()
    review = Review(
        id=new_id("review"), listing_id=listing.id, user_id=actor.user_id, author_name=_author_name(session, actor),
        overall=rating, **(aspects.model_dump() if aspects else {}), title=title, text=text,
        verified_use=_has_verified_use(session, listing.id, actor.user_id, now), created_at=now, updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(review)
            session.flush()
            audit.record(session=session, actor=actor, action="marketplace.review.create",
                         entity_type="marketplace_review", entity_id=review.id,
                         summary={"listingId": listing.id, "rating": rating})
    except IntegrityError as exc:  # the same user's concurrent review won
        raise _conflict("You have already reviewed this listing", listingId=listing.id) from exc
    return _review_read(review)


def _review_of(session: Session, actor: Principal, listing_id: str, review_id: str) -> tuple[Listing, Review]:
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    review = session.get(Review, review_id)
    if review is None or review.listing_id != listing.id:
        raise _not_found("review", reviewId=review_id, listingId=listing.id)
    return listing, review


def update_review(*, session: Session, actor: Principal, listing_id: str, review_id: str,
                  changes: s.ReviewUpdate) -> s.ReviewRead:
    """Edit your own review; sent fields change (`title`/`text`: null clears them)."""
    _listing, review = _review_of(session, actor, listing_id, review_id)
    if review.user_id != actor.user_id:
        raise _not_allowed("not_author", "Only the author may edit a review", reviewId=review.id)
    sent = changes.model_fields_set
    if "rating" in sent and changes.rating is not None:
        review.overall = changes.rating
    if "aspects" in sent:
        for name, value in (changes.aspects.model_dump() if changes.aspects else dict.fromkeys(ASPECTS)).items():
            setattr(review, name, value)
    for name in ("title", "text"):
        if name in sent:
            setattr(review, name, getattr(changes, name))
    now = utcnow()
    review.verified_use = _has_verified_use(session, review.listing_id, actor.user_id, now)
    review.author_name = _author_name(session, actor)
    review.updated_at = now
    session.add(review)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.review.update", entity_type="marketplace_review",
                 entity_id=review.id, summary={"listingId": review.listing_id, "fields": sorted(sent)})
    return _review_read(review)


def delete_review(*, session: Session, actor: Principal, listing_id: str, review_id: str,
                  reason: str | None = None) -> None:
    """Delete your own review; holders of `marketplace:delete` (admins) may remove anyone's (audited)."""
    _listing, review = _review_of(session, actor, listing_id, review_id)
    if review.user_id == actor.user_id:
        action = "marketplace.review.delete"
    elif actor.can("marketplace:delete"):
        action = "marketplace.review.remove"
    else:
        raise _not_allowed("not_author", "Only the author (or an admin) may delete a review", reviewId=review.id)
    summary = {"listingId": review.listing_id, "authorId": review.user_id, "authorName": review.author_name,
               "rating": review.overall, "title": review.title, "reason": reason}
    session.delete(review)
    session.flush()
    audit.record(session=session, actor=actor, action=action, entity_type="marketplace_review",
                 entity_id=review_id, summary=summary)


def rate(*, session: Session, actor: Principal, listing_id: str, rating: int) -> tuple[s.ReviewRead, bool]:
    """The quick star rating: sets the overall rating of your review, creating a text-less one if you
    have none. Returns the review and whether it was created."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    review = _own_review(session, listing.id, actor.user_id)
    if review is None:
        return create_review(session=session, actor=actor, listing_id=listing.id, rating=rating), True
    review.overall = rating
    now = utcnow()
    review.verified_use = _has_verified_use(session, listing.id, actor.user_id, now)
    review.updated_at = now
    session.add(review)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.review.rate", entity_type="marketplace_review",
                 entity_id=review.id, summary={"listingId": listing.id, "rating": rating})
    return _review_read(review), False


def list_reviews(*, session: Session, actor: Principal, listing_id: str, params: PageParams,
                 rating: int | None = None, verified_only: bool = False) -> tuple[list[s.ReviewRead], str | None]:
    """A listing's reviews, newest first."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    query = select(Review).where(Review.listing_id == listing.id)
    if rating is not None:
        query = query.where(Review.overall == rating)
    if verified_only:
        query = query.where(col(Review.verified_use).is_(True))
    rows, cursor = paginate(session, query, params=params, order=[Review.created_at, Review.id], descending=True,
                            parse=[datetime.fromisoformat, str])
    return [_review_read(r) for r in rows], cursor


def own_review(*, session: Session, actor: Principal, listing_id: str) -> s.ReviewRead | None:
    """The actor's review of a listing, if they wrote one (the UI pre-fills its edit form with it)."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    review = _own_review(session, listing.id, actor.user_id)
    return _review_read(review) if review else None


# --- subscriptions and billing ----------------------------------------------------------------------


def _live_subscription(session: Session, listing_id: str, user_id: str, *, lock: bool = False) -> Subscription | None:
    query = select(Subscription).where(Subscription.listing_id == listing_id, Subscription.user_id == user_id,
                                       Subscription.status == "active")
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def _state(sub: Subscription, now: datetime) -> str:
    if sub.status == "ended" or (sub.cancel_at_period_end and sub.ends_at and now >= to_utc(sub.ends_at)):
        return "ended"
    return "cancelling" if sub.cancel_at_period_end else "active"


def _billing(session: Session, sub: Subscription, *, kind: str, index: int, start: datetime, end: datetime,
             amount_cents: int, description: str) -> BillingRecord:
    row = BillingRecord(
        id=new_id("billing"), subscription_id=sub.id, listing_id=sub.listing_id, user_id=sub.user_id, kind=kind,
        period_index=index, period_start=start, period_end=end, tier_name=sub.tier_name, amount_cents=amount_cents,
        currency=sub.currency, requests_quota=sub.requests_quota, description=description[:300],
    )
    session.add(row)
    return row


def _advance(session: Session, sub: Subscription, now: datetime, actor: Principal | None = None) -> int:
    """Bring a subscription up to `now`: bill every period that has started, end it when a cancellation
    reaches its period end. Returns the number of billing records created (audited when > 0)."""
    if sub.status == "ended":
        return 0
    state = _state(sub, now)
    horizon = to_utc(sub.ends_at) - timedelta(microseconds=1) if state == "ended" else now
    last = session.exec(select(func.max(BillingRecord.period_index)).where(
        BillingRecord.subscription_id == sub.id, BillingRecord.kind == "period")).one()
    created = 0
    for index in range((last if last is not None else -1) + 1, period_index_at(sub, horizon) + 1):
        start, end = period_bounds(sub, index)
        _billing(session, sub, kind="period", index=index, start=start, end=end, amount_cents=sub.price_cents,
                 description=f"{sub.tier_name} — period {index + 1}")
        created += 1
    if state == "ended":
        sub.status, sub.ended_at, sub.updated_at = "ended", sub.ends_at, now
        session.add(sub)
    session.flush()
    if created or state == "ended":
        audit.record(session=session, actor=actor, actor_name=None if actor else "marketplace",
                     action="marketplace.subscription.renew" if state != "ended" else "marketplace.subscription.end",
                     entity_type="marketplace_subscription", entity_id=sub.id,
                     summary={"listingId": sub.listing_id, "periodsBilled": created})
    return created


def requests_used(session: Session, sub: Subscription, index: int) -> int:
    """Requests counted against a subscription in billing period `index`."""
    total = session.exec(select(func.coalesce(func.sum(UsageCounter.requests), 0)).where(
        UsageCounter.subscription_id == sub.id, UsageCounter.period_index == index)).one()
    return int(total or 0)


def subscription_read(session: Session, sub: Subscription, *, listing_name: str | None = None,
                      now: datetime | None = None) -> s.SubscriptionRead:
    """The subscription as its owner sees it now (computed, nothing written)."""
    now = now or utcnow()
    state = _state(sub, now)
    if listing_name is None:
        listing = session.get(Listing, sub.listing_id)
        listing_name = listing.name if listing else sub.listing_id
    start = end = None
    used = 0
    if state != "ended":
        index = period_index_at(sub, now)
        start, end = period_bounds(sub, index)
        used = requests_used(session, sub, index)
    quota = sub.requests_quota
    return s.SubscriptionRead(
        id=sub.id, listing_id=sub.listing_id, listing_name=listing_name, tier=sub.tier_name,
        price=from_cents(sub.price_cents), currency=sub.currency, billing=sub.billing,
        requests_quota=s.UNLIMITED if quota is None else quota, status=state, started_at=sub.created_at,
        current_period_start=start, current_period_end=end, requests_used=used,
        requests_remaining=s.UNLIMITED if quota is None else max(quota - used, 0),
        cancel_at_period_end=sub.cancel_at_period_end, ends_at=sub.ends_at if sub.cancel_at_period_end else sub.ended_at,
        demo=sub.is_demo,
    )


def _billing_read(row: BillingRecord) -> s.BillingRecordRead:
    return s.BillingRecordRead(
        id=row.id, subscription_id=row.subscription_id, kind=row.kind, period_index=row.period_index,
        period_start=row.period_start, period_end=row.period_end, tier=row.tier_name,
        amount=from_cents(row.amount_cents), currency=row.currency,
        requests_quota=s.UNLIMITED if row.requests_quota is None else row.requests_quota,
        description=row.description, created_at=row.created_at,
    )


def _acquirable(session: Session, actor: Principal, listing: Listing) -> list[License]:
    if listing.status not in ("available", "preview"):
        raise _not_allowed("not_available", f"The listing is {listing.status} and takes no new customers",
                           status=listing.status)
    licenses = list(session.exec(select(License).where(License.listing_id == listing.id)
                                 .order_by(License.position)).all())
    check = license_check(session=session, actor=actor, licenses=licenses)
    if not check.allowed:
        raise _not_allowed("commercial_use_forbidden", check.reason or "The licence forbids this use",
                           licenseTypes=[lic.type for lic in licenses])
    return licenses


def subscribe(*, session: Session, actor: Principal, listing_id: str, tier: str,
              now: datetime | None = None) -> s.SubscribeResult:
    """Subscribe to a tier, change tier (prorated), or resume a subscription set to cancel.

    A tier change bills (new price − old price) × (time left in the period ÷ period length), rounded
    to the cent (negative: a credit); the new tier's quota applies to the whole current period and the
    requests already made in it still count. The period boundaries do not move.
    """
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    tiers = session.exec(select(PricingTier).where(PricingTier.listing_id == listing.id)
                         .order_by(PricingTier.position)).all()
    chosen = next((t for t in tiers if t.name.lower() == tier.strip().lower()), None)
    if chosen is None:
        known = ", ".join(t.name for t in tiers) or "none"
        raise InvalidRequest("Unknown tier", {"tier": f"no tier '{tier}' on this listing; tiers: {known}"})
    if chosen.price_cents is None:
        raise _not_allowed("contact_sales", f"The {chosen.name} tier is sold through sales; contact "
                           f"{(listing.support or {}).get('email') or 'the provider'}", tier=chosen.name)
    _acquirable(session, actor, listing)
    sub = _live_subscription(session, listing.id, actor.user_id, lock=True)
    if sub is not None:
        _advance(session, sub, now, actor)
        if sub.status == "ended":
            sub = None
    if sub is None:
        sub = Subscription(
            id=new_id("subscription"), listing_id=listing.id, user_id=actor.user_id, tier_name=chosen.name,
            price_cents=chosen.price_cents, requests_quota=chosen.requests, currency=listing.currency,
            billing=listing.billing, period_anchor=now, created_at=now, updated_at=now,
        )
        start, end = period_bounds(sub, 0)
        try:
            with session.begin_nested():
                session.add(sub)
                session.flush()
                charge = _billing(session, sub, kind="period", index=0, start=start, end=end,
                                  amount_cents=sub.price_cents, description=f"{sub.tier_name} — period 1")
                session.flush()
                audit.record(session=session, actor=actor, action="marketplace.subscription.create",
                             entity_type="marketplace_subscription", entity_id=sub.id,
                             summary={"listingId": listing.id, "tier": sub.tier_name, "amountCents": sub.price_cents})
        except IntegrityError as exc:  # a concurrent subscribe of the same user won
            raise _conflict("You are already subscribed to this listing", listingId=listing.id) from exc
        return s.SubscribeResult(action="created", subscription=subscription_read(session, sub, listing_name=listing.name,
                                                                                  now=now), charge=_billing_read(charge))
    if sub.tier_name.lower() == chosen.name.lower():
        if not sub.cancel_at_period_end:
            raise _conflict(f"You are already subscribed to the {sub.tier_name} tier", subscriptionId=sub.id,
                            tier=sub.tier_name)
        sub.cancel_at_period_end, sub.ends_at, sub.updated_at = False, None, now
        session.add(sub)
        session.flush()
        audit.record(session=session, actor=actor, action="marketplace.subscription.resume",
                     entity_type="marketplace_subscription", entity_id=sub.id, summary={"listingId": listing.id})
        return s.SubscribeResult(action="resumed", subscription=subscription_read(
            session, sub, listing_name=listing.name, now=now), charge=None)
    index = period_index_at(sub, now)
    start, end = period_bounds(sub, index)
    amount = prorated_cents(old_cents=sub.price_cents, new_cents=chosen.price_cents, period_start=start,
                            period_end=end, at=now)
    old_tier = sub.tier_name
    sub.tier_name, sub.price_cents, sub.requests_quota = chosen.name, chosen.price_cents, chosen.requests
    sub.cancel_at_period_end, sub.ends_at, sub.updated_at = False, None, now
    session.add(sub)
    charge = _billing(session, sub, kind="proration", index=index, start=now, end=end, amount_cents=amount,
                      description=f"Change from {old_tier} to {chosen.name}, prorated")
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.subscription.change",
                 entity_type="marketplace_subscription", entity_id=sub.id,
                 summary={"listingId": listing.id, "from": old_tier, "to": chosen.name, "amountCents": amount})
    return s.SubscribeResult(action="changed", subscription=subscription_read(session, sub, listing_name=listing.name,
                                                                              now=now), charge=_billing_read(charge))


def cancel_subscription(*, session: Session, actor: Principal, listing_id: str,
                        now: datetime | None = None) -> s.SubscriptionRead:
    """Cancel at the end of the current period (nothing more is billed; use continues until then)."""
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    sub = _live_subscription(session, listing.id, actor.user_id, lock=True)
    if sub is not None:
        _advance(session, sub, now, actor)
    if sub is None or sub.status == "ended":
        raise _not_found("subscription", listingId=listing.id)
    if not sub.cancel_at_period_end:
        sub.cancel_at_period_end = True
        sub.ends_at = period_bounds(sub, period_index_at(sub, now))[1]
        sub.updated_at = now
        session.add(sub)
        session.flush()
        audit.record(session=session, actor=actor, action="marketplace.subscription.cancel",
                     entity_type="marketplace_subscription", entity_id=sub.id,
                     summary={"listingId": listing.id, "endsAt": sub.ends_at})
    return subscription_read(session, sub, listing_name=listing.name, now=now)


def list_subscriptions(*, session: Session, actor: Principal, params: PageParams,
                       include_ended: bool = False) -> tuple[list[s.SubscriptionRead], str | None]:
    """Your subscriptions, newest first."""
    query = select(Subscription).where(Subscription.user_id == actor.user_id)
    if not include_ended:
        query = query.where(Subscription.status == "active")
    rows, cursor = paginate(session, query, params=params, order=[Subscription.created_at, Subscription.id],
                            descending=True, parse=[datetime.fromisoformat, str])
    now = utcnow()
    items = [subscription_read(session, r, now=now) for r in rows]
    if not include_ended:
        items = [i for i in items if i.status != "ended"]
    return items, cursor


def renew_subscriptions(*, session: Session, now: datetime | None = None) -> int:
    """Bill every live subscription up to `now` and end those whose cancellation is due (for a
    scheduled job; the request paths do the same for the subscription they touch)."""
    now = now or utcnow()
    return sum(_advance(session, sub, now) for sub in
               session.exec(select(Subscription).where(Subscription.status == "active")).all())


# --- purchases --------------------------------------------------------------------------------------


def _purchase_read(row: Purchase) -> s.PurchaseRead:
    return s.PurchaseRead(id=row.id, listing_id=row.listing_id, amount=from_cents(row.amount_cents),
                          currency=row.currency, license_type=row.license_type, created_at=row.created_at)


def purchase(*, session: Session, actor: Principal, listing_id: str) -> s.PurchaseRead:
    """Buy the one-time licence of a listing that sells one (once per user)."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    if listing.one_time_price_cents is None:
        raise _not_allowed("not_for_sale", "This listing does not sell a one-time licence; subscribe to a tier")
    licenses = _acquirable(session, actor, listing)
    existing = session.exec(select(Purchase).where(Purchase.listing_id == listing.id,
                                                   Purchase.user_id == actor.user_id)).first()
    if existing is not None:
        raise _conflict("You already hold a licence for this listing", purchaseId=existing.id)
    licence = next((lic for lic in licenses if lic.commercial_use), licenses[0] if licenses else None)
    row = Purchase(id=new_id("purchase"), listing_id=listing.id, user_id=actor.user_id,
                   amount_cents=listing.one_time_price_cents, currency=listing.currency,
                   license_type=licence.type if licence else "Unspecified")
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            audit.record(session=session, actor=actor, action="marketplace.purchase.create",
                         entity_type="marketplace_purchase", entity_id=row.id,
                         summary={"listingId": listing.id, "amountCents": row.amount_cents,
                                  "licenseType": row.license_type})
    except IntegrityError as exc:
        raise _conflict("You already hold a licence for this listing") from exc
    _count(session, listing_id=listing.id, consumer=actor.user_id, day=utcnow().date(), downloads=1)
    return _purchase_read(row)


# --- usage ------------------------------------------------------------------------------------------


def _count(session: Session, *, listing_id: str, consumer: str, day: date, subscription_id: str = NO_SUBSCRIPTION,
           period_index: int = NO_PERIOD, requests: int = 0, downloads: int = 0, latency_ms: float | None = None,
           is_demo: bool = False) -> None:
    """Add to one usage counter row, creating it if needed, in one atomic upsert."""
    samples = requests if latency_ms is not None else 0
    values = dict(listing_id=listing_id, consumer=consumer, day=day, subscription_id=subscription_id,
                  period_index=period_index, requests=requests, downloads=downloads,
                  latency_ms_total=(latency_ms or 0.0) * samples, latency_samples=samples, is_demo=is_demo,
                  updated_at=utcnow())
    stmt = upsert(session, UsageCounter).values(**values)
    table = UsageCounter.__table__.c
    stmt = stmt.on_conflict_do_update(
        index_elements=["listing_id", "consumer", "day", "subscription_id", "period_index"],
        set_={"requests": table.requests + stmt.excluded.requests,
              "downloads": table.downloads + stmt.excluded.downloads,
              "latency_ms_total": table.latency_ms_total + stmt.excluded.latency_ms_total,
              "latency_samples": table.latency_samples + stmt.excluded.latency_samples,
              "updated_at": stmt.excluded.updated_at},
    )
    session.execute(stmt)


@dataclass(frozen=True)
class UsageResult:
    listing_id: str
    subscription_id: str | None
    requests_used: int
    requests_quota: int | None  # None: unlimited or no subscription

    @property
    def requests_remaining(self) -> int | None:
        return None if self.requests_quota is None else max(self.requests_quota - self.requests_used, 0)


def record_usage(*, session: Session, listing_id: str, user_id: str, requests: int = 1,
                 latency_ms: float | None = None, at: datetime | None = None) -> UsageResult:
    """Count `requests` served to `user_id` on a listing (the endpoints call this per prediction).

    With a live subscription the requests count against its quota for the current period; a call that
    would go over the quota counts nothing and raises INFER_004 (429). Without a subscription the use is
    recorded unmetered: whether a subscription is required is the serving side's decision
    (`find_live_subscription`).
    """
    if requests < 0 or (latency_ms is not None and not (latency_ms >= 0 and math.isfinite(latency_ms))):
        raise InvalidRequest("Invalid usage", {"requests": "must be ≥ 0", "latencyMs": "must be ≥ 0"})
    now = to_utc(at) if at else utcnow()
    listing = session.get(Listing, listing_id)
    if listing is None:
        raise _not_found(listingId=listing_id)
    sub = _live_subscription(session, listing.id, user_id, lock=True)
    if sub is not None:
        _advance(session, sub, now)
        if sub.status == "ended":
            sub = None
    if sub is None:
        _count(session, listing_id=listing.id, consumer=user_id, day=now.date(), requests=requests,
               latency_ms=latency_ms)
        return UsageResult(listing.id, None, requests, None)
    index = period_index_at(sub, now)
    used = requests_used(session, sub, index)
    if sub.requests_quota is not None and used + requests > sub.requests_quota:
        raise AISystemError("INFER_004", "The subscription's request quota for this period is used up", {
            "listingId": listing.id, "subscriptionId": sub.id, "quota": sub.requests_quota, "used": used,
            "periodEnd": period_bounds(sub, index)[1].isoformat()})
    _count(session, listing_id=listing.id, consumer=user_id, day=now.date(), subscription_id=sub.id,
           period_index=index, requests=requests, latency_ms=latency_ms)
    return UsageResult(listing.id, sub.id, used + requests, sub.requests_quota)


def find_live_subscription(*, session: Session, listing_id: str, user_id: str) -> s.SubscriptionRead | None:
    """The user's subscription to the listing if it is live now (read-only)."""
    sub = _live_subscription(session, listing_id, user_id)
    if sub is None or _state(sub, utcnow()) == "ended":
        return None
    return subscription_read(session, sub)


def usage_report(*, session: Session, actor: Principal, listing_id: str, days: int = 30) -> s.UsageReport:
    """Your use of a listing: quota of your live subscription, requests per day, totals, billing."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    now = utcnow()
    sub = _live_subscription(session, listing.id, actor.user_id)
    if sub is not None and _state(sub, now) == "ended":
        sub = None
    bought = session.exec(select(Purchase).where(Purchase.listing_id == listing.id,
                                                 Purchase.user_id == actor.user_id)).first()
    mine = (UsageCounter.listing_id == listing.id, UsageCounter.consumer == actor.user_id)
    req, dl, lat, samples = session.exec(select(
        func.coalesce(func.sum(UsageCounter.requests), 0), func.coalesce(func.sum(UsageCounter.downloads), 0),
        func.coalesce(func.sum(UsageCounter.latency_ms_total), 0), func.coalesce(func.sum(UsageCounter.latency_samples), 0),
    ).where(*mine)).one()
    first = now.date() - timedelta(days=days - 1)
    per_day = {d: (int(r or 0), float(lt or 0), int(n or 0)) for d, r, lt, n in session.exec(
        select(UsageCounter.day, func.sum(UsageCounter.requests), func.sum(UsageCounter.latency_ms_total),
               func.sum(UsageCounter.latency_samples)).where(*mine, UsageCounter.day >= first)
        .group_by(UsageCounter.day)).all()}
    daily = []
    for i in range(days):
        day = first + timedelta(days=i)
        r, lt, n = per_day.get(day, (0, 0.0, 0))
        daily.append(s.UsageDay(day=day, requests=r, average_latency=round(lt / n, 1) if n else None))
    billing = session.exec(select(BillingRecord).where(BillingRecord.listing_id == listing.id,
                                                       BillingRecord.user_id == actor.user_id)
                           .order_by(col(BillingRecord.created_at).desc(), col(BillingRecord.id).desc())
                           .limit(BILLING_HISTORY)).all()
    return s.UsageReport(
        listing_id=listing.id,
        subscription=subscription_read(session, sub, listing_name=listing.name, now=now) if sub else None,
        purchase=_purchase_read(bought) if bought else None,
        totals=s.UsageTotals(requests=int(req), downloads=int(dl),
                             average_latency=round(float(lat) / int(samples), 1) if samples else None),
        daily=daily, billing=[_billing_read(b) for b in billing],
    )


def license_info(*, session: Session, actor: Principal, listing_id: str) -> s.LicenseInfo:
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    licenses = list(session.exec(select(License).where(License.listing_id == listing.id)
                                 .order_by(License.position)).all())
    reads = [_license_read(lic) for lic in licenses] or [_NO_LICENSE]
    return s.LicenseInfo(listing_id=listing.id, license=reads[0], licenses=reads,
                         commercial_use=any(lic.commercial_use for lic in licenses),
                         your_use=license_check(session=session, actor=actor, licenses=licenses))


def pricing_info(*, session: Session, actor: Principal, listing_id: str) -> s.PricingInfo:
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    tiers = list(session.exec(select(PricingTier).where(PricingTier.listing_id == listing.id)
                              .order_by(PricingTier.position)).all())
    entry = Entry(listing=listing, category=None, provider=None, tiers=tiers)  # type: ignore[arg-type]
    sub = find_live_subscription(session=session, listing_id=listing.id, user_id=actor.user_id)
    bought = session.exec(select(Purchase.id).where(Purchase.listing_id == listing.id,
                                                    Purchase.user_id == actor.user_id)).first()
    return s.PricingInfo(**_pricing(entry).model_dump(), listing_id=listing.id, subscription=sub,
                         purchased=bought is not None)


# --- favourites -------------------------------------------------------------------------------------


def add_favorite(*, session: Session, actor: Principal, listing_id: str) -> tuple[s.FavoriteRead, bool]:
    """Mark a listing as a favourite; returns whether it was new (adding twice changes nothing)."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    row = session.get(Favorite, (actor.user_id, listing.id))
    if row is not None:
        return s.FavoriteRead(listing_id=listing.id, created_at=row.created_at), False
    row = Favorite(user_id=actor.user_id, listing_id=listing.id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            audit.record(session=session, actor=actor, action="marketplace.favorite.add",
                         entity_type="marketplace_listing", entity_id=listing.id)
    except IntegrityError:  # added concurrently: the favourite is there, as asked
        row = session.get(Favorite, (actor.user_id, listing.id))
        return s.FavoriteRead(listing_id=listing.id, created_at=row.created_at), False
    return s.FavoriteRead(listing_id=listing.id, created_at=row.created_at), True


def remove_favorite(*, session: Session, actor: Principal, listing_id: str) -> bool:
    """Unmark a favourite; returns whether there was one."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    row = session.get(Favorite, (actor.user_id, listing.id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.favorite.remove", entity_type="marketplace_listing",
                 entity_id=listing.id)
    return True


def list_favorites(*, session: Session, actor: Principal, params: PageParams) -> tuple[list[s.MarketplaceModel], str | None]:
    """Your favourite listings, most recently added first."""
    query = select(Favorite).join(Listing, Listing.id == Favorite.listing_id).where(
        Favorite.user_id == actor.user_id, _visible(actor))
    rows, cursor = paginate(session, query, params=params, order=[Favorite.created_at, Favorite.listing_id],
                            descending=True, parse=[datetime.fromisoformat, str])
    cat = Catalogue(session, actor)
    return cat.documents(r.listing_id for r in rows), cursor


def is_favorite(*, session: Session, actor: Principal, listing_id: str) -> bool:
    return session.get(Favorite, (actor.user_id, listing_id)) is not None
