"""Marketplace tables: providers, categories, listings with their licences, tiers and tags, reviews,
subscriptions with their billing records, one-time licence purchases, usage counters and favourites.

Nothing here stores an aggregate: ratings, provider rating and model count, usage totals, popularity
and trending scores are computed from these rows when they are read (see service.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

LISTING_STATUSES = ("available", "preview", "deprecated", "removed")
VISIBILITIES = ("public", "internal", "private")
PRICING_MODELS = ("free", "subscription", "one_time", "per_request")
BILLING_PERIODS = ("monthly", "yearly")


class Category(SQLModel, table=True):
    __tablename__ = "marketplace_category"

    id: str = Field(primary_key=True, max_length=40)
    slug: str = Field(unique=True, max_length=80)
    name: str = Field(max_length=80)
    description: str = Field(default="", max_length=500)
    icon: str | None = Field(default=None, max_length=40)
    position: int = 0
    created_at: datetime = Field(default_factory=utcnow)


class Provider(SQLModel, table=True):
    __tablename__ = "marketplace_provider"

    id: str = Field(primary_key=True, max_length=40)
    slug: str = Field(unique=True, max_length=80)
    name: str = Field(max_length=120)
    verified: bool = False
    kind: str = Field(default="external", max_length=16)  # external | company
    website: str | None = Field(default=None, max_length=500)
    description: str = Field(default="", max_length=1000)
    # Where "Contact sales" writes to; the seed's addresses are made up (example.com) and marked demo.
    contact_email: str | None = Field(default=None, max_length=254)
    contact_is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Listing(SQLModel, table=True):
    """A marketplace model: one provider, one category, one or more licences, many reviews."""

    __tablename__ = "marketplace_listing"
    __table_args__ = (
        # One live listing per catalog model (a removed listing does not block publishing it again).
        Index("uq_marketplace_listing_source_model_live", "source_model_id", unique=True,
              sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),
    )

    id: str = Field(primary_key=True, max_length=40)
    slug: str = Field(unique=True, max_length=140)
    name: str = Field(max_length=120)
    category_id: str = Field(foreign_key="marketplace_category.id", index=True, max_length=40)
    provider_id: str = Field(foreign_key="marketplace_provider.id", index=True, max_length=40)
    version: str = Field(default="1.0.0", max_length=40)
    release_date: date
    last_updated: date
    status: str = Field(default="available", max_length=16)
    visibility: str = Field(default="public", max_length=16)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # accuracy, speed, modelSize, supportedFormats, minInputSize, maxInputSize (the design's keys)
    specifications: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    parameter_count: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    context_length: int | None = Field(default=None)
    pricing_model: str = Field(default="free", max_length=16)
    currency: str = Field(default="USD", max_length=3)
    billing: str = Field(default="monthly", max_length=16)
    one_time_price_cents: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    support: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # A catalog model published as a listing: a plain string, no foreign key (the catalog owns its tables).
    source_model_id: str | None = Field(default=None, index=True, max_length=80)
    featured_rank: int | None = Field(default=None, index=True)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    removed_at: datetime | None = None


class ListingTag(SQLModel, table=True):
    __tablename__ = "marketplace_listing_tag"

    listing_id: str = Field(foreign_key="marketplace_listing.id", primary_key=True, max_length=40)
    tag: str = Field(primary_key=True, index=True, max_length=50)


class License(SQLModel, table=True):
    """One of a listing's licences; position 0 is the one the listing document shows as `license`."""

    __tablename__ = "marketplace_license"

    id: str = Field(primary_key=True, max_length=40)
    listing_id: str = Field(foreign_key="marketplace_listing.id", index=True, max_length=40)
    position: int = 0
    type: str = Field(max_length=80)
    url: str | None = Field(default=None, max_length=500)
    restrictions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    commercial_use: bool = True
    modification_allowed: bool = False


class PricingTier(SQLModel, table=True):
    """A tier: price None = "Contact" (sold through sales), requests None = "Unlimited"."""

    __tablename__ = "marketplace_pricing_tier"
    __table_args__ = (UniqueConstraint("listing_id", "name", name="uq_marketplace_pricing_tier_listing_name"),)

    id: str = Field(primary_key=True, max_length=40)
    listing_id: str = Field(foreign_key="marketplace_listing.id", index=True, max_length=40)
    position: int = 0
    name: str = Field(max_length=40)
    price_cents: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    requests: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Review(SQLModel, table=True):
    """A user's review (or quick star rating: no title, no text) of a listing; one per user and listing.

    Demo reviews (`is_demo`) come from the seed, have no account behind them (`user_id` None) and only
    an author name.
    """

    __tablename__ = "marketplace_review"
    __table_args__ = (
        UniqueConstraint("listing_id", "user_id", name="uq_marketplace_review_listing_user"),
        Index("ix_marketplace_review_listing_created", "listing_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    listing_id: str = Field(foreign_key="marketplace_listing.id", max_length=40)
    user_id: str | None = Field(default=None, foreign_key="auth_user.id", index=True, max_length=40)
    author_name: str = Field(max_length=120)
    overall: int
    performance: int | None = None
    accuracy: int | None = None
    ease_of_use: int | None = None
    support: int | None = None
    value: int | None = None
    title: str | None = Field(default=None, max_length=120)
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    verified_use: bool = False
    is_demo: bool = False
    # The demo consumer (`demo:NNNN`, as in `marketplace_usage.consumer`) a demo review is written as: a
    # demo review is marked verified use only when that consumer has seeded usage of the listing.
    demo_consumer: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Subscription(SQLModel, table=True):
    """A user's subscription to a tier. The tier's terms are copied in, so later edits of the listing's
    tiers do not change what a subscriber pays until they change tier themselves.

    Periods are computed from `period_anchor`: period k runs from anchor + k·(1 or 12 months) to the next.
    """

    __tablename__ = "marketplace_subscription"
    __table_args__ = (
        # At most one live subscription per user and listing.
        Index("uq_marketplace_subscription_live", "listing_id", "user_id", unique=True,
              sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'")),
    )

    id: str = Field(primary_key=True, max_length=40)
    listing_id: str = Field(foreign_key="marketplace_listing.id", index=True, max_length=40)
    user_id: str = Field(foreign_key="auth_user.id", index=True, max_length=40)
    tier_name: str = Field(max_length=40)
    price_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    requests_quota: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    currency: str = Field(default="USD", max_length=3)
    billing: str = Field(default="monthly", max_length=16)
    status: str = Field(default="active", max_length=16)  # active | ended
    period_anchor: datetime
    cancel_at_period_end: bool = False
    ends_at: datetime | None = None
    ended_at: datetime | None = None
    is_demo: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class BillingRecord(SQLModel, table=True):
    """One charge: a period's fee (`kind` period) or the prorated difference of a tier change (proration)."""

    __tablename__ = "marketplace_billing_record"
    __table_args__ = (
        Index("uq_marketplace_billing_record_period", "subscription_id", "period_index", unique=True,
              sqlite_where=text("kind = 'period'"), postgresql_where=text("kind = 'period'")),
    )

    id: str = Field(primary_key=True, max_length=40)
    subscription_id: str = Field(foreign_key="marketplace_subscription.id", index=True, max_length=40)
    listing_id: str = Field(max_length=40)
    user_id: str = Field(foreign_key="auth_user.id", index=True, max_length=40)
    kind: str = Field(max_length=16)  # period | proration
    period_index: int
    period_start: datetime
    period_end: datetime
    tier_name: str = Field(max_length=40)
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(default="USD", max_length=3)
    requests_quota: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    description: str = Field(default="", max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class Purchase(SQLModel, table=True):
    """A one-time licence bought for a listing that sells one."""

    __tablename__ = "marketplace_purchase"
    __table_args__ = (UniqueConstraint("listing_id", "user_id", name="uq_marketplace_purchase_listing_user"),)

    id: str = Field(primary_key=True, max_length=40)
    listing_id: str = Field(foreign_key="marketplace_listing.id", index=True, max_length=40)
    user_id: str = Field(foreign_key="auth_user.id", index=True, max_length=40)
    amount_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(default="USD", max_length=3)
    license_type: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utcnow)


class UsageCounter(SQLModel, table=True):
    """Requests and downloads of one consumer on one day (and billing period, when subscribed).

    `consumer` is the user id for platform users; demo data uses `demo:NNNN` consumers.
    `subscription_id` is "" and `period_index` -1 for unmetered use, so the key has no NULLs.
    """

    __tablename__ = "marketplace_usage"
    __audited__ = False  # metering, written on every served request; billing changes are audited
    __table_args__ = (
        UniqueConstraint("listing_id", "consumer", "day", "subscription_id", "period_index",
                         name="uq_marketplace_usage_key"),
        Index("ix_marketplace_usage_listing_day", "listing_id", "day"),
        Index("ix_marketplace_usage_subscription_period", "subscription_id", "period_index"),
    )

    id: int | None = Field(default=None, primary_key=True)
    listing_id: str = Field(foreign_key="marketplace_listing.id", max_length=40)
    consumer: str = Field(max_length=64)
    day: date
    subscription_id: str = Field(default="", max_length=40)
    period_index: int = -1
    requests: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    downloads: int = 0
    latency_ms_total: float = 0.0
    latency_samples: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    is_demo: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


class Favorite(SQLModel, table=True):
    __tablename__ = "marketplace_favorite"

    user_id: str = Field(foreign_key="auth_user.id", primary_key=True, max_length=40)
    listing_id: str = Field(foreign_key="marketplace_listing.id", primary_key=True, index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class ListingEmbedding(SQLModel, table=True):
    """The sentence embedding of a listing's text (float32, L2-normalised) for semantic search,
    computed in the background (see `service.search_index`)."""

    __tablename__ = "marketplace_listing_embedding"
    __audited__ = False  # derived data, recomputed from the audited listing row

    listing_id: str = Field(foreign_key="marketplace_listing.id", primary_key=True, max_length=40)
    encoder: str = Field(max_length=80)
    dimensions: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    text_sha256: str = Field(max_length=64)
    embedded_at: datetime = Field(default_factory=utcnow, index=True)
