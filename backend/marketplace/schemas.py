"""Wire documents of the marketplace: the design's "Marketplace Model" and everything around it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from backend.core.schemas import InputModel, ReadModel, UtcDateTime


def _printable(value: str) -> str:
    # NUL and other C0 controls (except tab/newline) break PostgreSQL text and hide content in the UI.
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in value):
        raise ValueError("control characters are not allowed")
    return value


def _http_url(value: str) -> str:
    # Links end up in the browser as hrefs: only http(s), never javascript: or data:.
    if not value.lower().startswith(("https://", "http://")):
        raise ValueError("must be an http(s) URL")
    return value


def _text(max_length: int, min_length: int = 1):
    return Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length),
        AfterValidator(_printable),
    ]


Name = _text(120)
Short = _text(200)
Url = Annotated[_text(500), AfterValidator(_http_url)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[a-z0-9][a-z0-9+.\-]{0,48}$")]
Money = Annotated[float, Field(ge=0, le=1_000_000_000, allow_inf_nan=False)]
Quota = Annotated[int, Field(ge=1, le=10**12)]
Stars = Annotated[int, Field(ge=1, le=5)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
# A charge (positive) or a credit (negative) the caller saw on a quote.
SignedMoney = Annotated[float, Field(ge=-1_000_000_000, le=1_000_000_000, allow_inf_nan=False)]

CONTACT = "Contact"
UNLIMITED = "Unlimited"

ListingStatus = Literal["available", "preview", "deprecated"]
Visibility = Literal["public", "internal", "private"]
PricingModel = Literal["free", "subscription", "one_time", "per_request"]
Billing = Literal["monthly", "yearly"]
SortKey = Literal["relevance", "rating", "popularity", "newest", "price", "name"]


# --- the Marketplace Model document ----------------------------------------------------------


class ProviderRef(ReadModel):
    id: str
    slug: str
    name: str
    verified: bool
    rating: float | None = Field(description="Average overall rating of every review of the provider's listings")
    total_models: int = Field(description="Listings of this provider you can see")


class Specifications(ReadModel):
    accuracy: float | None = None
    speed: str | None = None
    model_size: str | None = None
    supported_formats: list[str] = Field(default_factory=list)
    min_input_size: str | None = None
    max_input_size: str | None = None
    parameters: int | None = Field(default=None, description="Parameter count")
    context_length: int | None = Field(default=None, description="Context window in tokens")
    # Read by model comparison (backend.comparison): list prices per token, capabilities, published scores.
    price_per_thousand_input_tokens: float | None = Field(default=None, description="List price, USD per 1,000 input tokens")
    price_per_thousand_output_tokens: float | None = Field(default=None, description="List price, USD per 1,000 output tokens")
    capabilities: list[str] | None = None
    benchmarks: dict[str, float] | None = Field(default=None, description="Published scores as fractions, e.g. mmlu")


class PricingTierRead(ReadModel):
    name: str
    price: float | Literal["Contact"] = Field(description='Price per billing period, or "Contact" (sold by sales)')
    requests: int | Literal["Unlimited"] = Field(description='Requests per period, or "Unlimited"')
    features: list[str]


class Pricing(ReadModel):
    model: PricingModel
    tiers: list[PricingTierRead]
    currency: str
    billing: Billing
    one_time_price: float | None = Field(default=None, description="Price of a one-time licence, if sold")
    price_from: float | None = Field(
        default=None, description="Lowest numeric price (tier or one-time licence); null when only 'Contact'"
    )


class RatingDistribution(ReadModel):
    one: int = Field(alias="1")
    two: int = Field(alias="2")
    three: int = Field(alias="3")
    four: int = Field(alias="4")
    five: int = Field(alias="5")


class Ratings(ReadModel):
    overall: float | None
    performance: float | None
    accuracy: float | None
    ease_of_use: float | None
    support: float | None
    value: float | None
    review_count: int
    distribution: RatingDistribution = Field(description="Reviews per overall star rating")
    demo_review_count: int = Field(
        default=0, description="How many of the counted reviews are generated demo data, not real users' reviews")


class Usage(ReadModel):
    total_downloads: int
    active_users: int = Field(description="Distinct users with requests in the last 30 days")
    total_requests: int
    average_latency: float | None = Field(description="Milliseconds, over every request that reported one")
    subscribers: int = Field(description="Active subscriptions")
    includes_demo_data: bool = Field(
        default=False, description="Some of these figures come from generated demo usage or demo subscriptions")


class LicenseRead(ReadModel):
    type: str
    restrictions: list[str]
    commercial_use: bool
    modification_allowed: bool
    url: str | None = None


class Support(ReadModel):
    documentation: str | None = None
    email: str | None = None
    response_time: str | None = None
    languages: list[str] = Field(default_factory=list)


class SourceModel(ReadModel):
    """The catalog model a company listing was published from, as the catalog reports it now."""

    id: str
    available: bool = Field(description="False when the catalog (or the model) cannot be read")
    name: str | None = None
    version: str | None = None
    versions: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    endpoints: list[str] = Field(default_factory=list)


class MarketplaceModel(ReadModel):
    """The design's "Marketplace Model". Aggregates (`ratings`, `provider.rating`,
    `provider.totalModels`, `usage`) and `badges` are computed from rows on every read."""

    id: str
    slug: str
    name: str
    category: str
    category_slug: str
    provider: ProviderRef
    version: str
    release_date: date
    last_updated: date
    status: str
    visibility: Visibility
    description: str
    features: list[str]
    specifications: Specifications
    pricing: Pricing
    ratings: Ratings
    usage: Usage
    license: LicenseRead = Field(description="The primary licence (the first of `licenses`)")
    licenses: list[LicenseRead]
    support: Support
    tags: list[str]
    badges: list[str] = Field(
        description="popular (top 10 by all-time reach), trending (top 10 by trending score), verified "
        "(verified provider), new (released in the last 60 days), featured, top-rated (≥4.5 over ≥5 "
        "reviews), company (published from the catalog)"
    )
    source_model_id: str | None = None
    source_model: SourceModel | None = Field(default=None, description="Only on GET /models/{modelId}")
    featured_rank: int | None = None
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ScoredModel(MarketplaceModel):
    score: float = Field(description="The ranking score of the route (see its description)")


# --- search ---------------------------------------------------------------------------------


class FacetValue(ReadModel):
    value: str
    label: str
    count: int


class RangeBucket(ReadModel):
    label: str
    min: float | None = None
    max: float | None = None
    count: int


class Facets(ReadModel):
    """Each facet counts the listings that match every *other* active filter, so the count next to
    a value is the number of results you would get by selecting it (for list facets: adding it). When
    nothing matches, every value of the catalogue is listed, with its count (0 included)."""

    category: list[FacetValue]
    provider: list[FacetValue]
    license_type: list[FacetValue]
    tags: list[FacetValue]
    verified: list[FacetValue]
    commercial_use: list[FacetValue]
    price: list[RangeBucket]
    rating: list[RangeBucket]
    context_length: list[RangeBucket]
    parameters: list[RangeBucket]


class SearchSuggestion(ReadModel):
    """A change to an empty search that would find something."""

    kind: Literal["remove_filter", "change_query", "remove_query"]
    label: str = Field(description="The filter to drop (e.g. 'Category: Computer Vision') when `filter` is set, "
                       "else the new words")
    filter: str | None = Field(
        default=None, description="The facet to drop (category, provider, verified, licenseType, commercialUse, "
        "price, rating, tags, contextLength, parameters); with change_query, dropped as well as changing the words")
    q: str | None = Field(default=None, description="change_query: the search words to use instead")
    total: int = Field(description="Listings the changed search finds")


class SearchResult(ReadModel):
    items: list[MarketplaceModel]
    next_cursor: str | None = None
    total: int = Field(description="Listings matching the query and every filter")
    facets: Facets
    suggestions: list[SearchSuggestion] = Field(
        default_factory=list, description="Only when nothing matches: changes that would find something, the "
        "most results first (drop a filter, similar words, fewer words)")


# --- categories and providers --------------------------------------------------------------


class CategoryRead(ReadModel):
    id: str
    slug: str
    name: str
    description: str
    icon: str | None = None
    model_count: int = Field(description="Listings in this category you can see")


class ProviderRead(ReadModel):
    id: str
    slug: str
    name: str
    verified: bool
    kind: Literal["external", "company"]
    website: str | None = None
    description: str
    rating: float | None
    total_models: int
    review_count: int
    contact_email: str | None = Field(default=None, description='Where "Contact sales" writes to')
    contact_demo: bool = Field(default=False, description="The contact address is made-up demo data")


class Landing(ReadModel):
    """The landing page's rows (service only: the UI reads it in-process)."""

    featured: list[ScoredModel]
    trending: list[ScoredModel]
    new: list[ScoredModel]
    categories: list[CategoryRead]


# --- input: publishing and updating listings ------------------------------------------------


class SpecificationsInput(InputModel):
    accuracy: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    speed: _text(60) | None = None
    model_size: _text(40) | None = None
    supported_formats: list[_text(20)] = Field(default_factory=list, max_length=20)
    min_input_size: _text(40) | None = None
    max_input_size: _text(40) | None = None
    parameters: int | None = Field(default=None, ge=0, le=10**13)
    context_length: int | None = Field(default=None, ge=0, le=10**9)
    price_per_thousand_input_tokens: float | None = Field(default=None, ge=0, le=1000, allow_inf_nan=False)
    price_per_thousand_output_tokens: float | None = Field(default=None, ge=0, le=1000, allow_inf_nan=False)
    capabilities: list[_text(40)] | None = Field(default=None, max_length=30)
    benchmarks: dict[_text(40), Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] | None = Field(
        default=None, max_length=20)


class PricingTierInput(InputModel):
    name: _text(40)
    price: Money | Literal["Contact"]
    requests: Quota | Literal["Unlimited"]
    features: list[Short] = Field(default_factory=list, max_length=20)


class PricingInput(InputModel):
    model: PricingModel = "free"
    tiers: list[PricingTierInput] = Field(default_factory=list, max_length=10)
    currency: Currency = "USD"
    billing: Billing = "monthly"
    one_time_price: Money | None = None

    @model_validator(mode="after")
    def _consistent(self) -> PricingInput:
        names = [t.name.lower() for t in self.tiers]
        if len(names) != len(set(names)):
            raise ValueError("tier names must be unique")
        if self.model == "subscription" and not self.tiers:
            raise ValueError("a subscription listing needs at least one tier")
        if self.model == "one_time" and self.one_time_price is None:
            raise ValueError("a one-time listing needs oneTimePrice")
        return self


class LicenseInput(InputModel):
    type: _text(80)
    restrictions: list[Short] = Field(default_factory=list, max_length=20)
    commercial_use: bool
    modification_allowed: bool = False
    url: Url | None = None


class SupportInput(InputModel):
    documentation: Url | None = None
    email: Email | None = None
    response_time: _text(40) | None = None
    languages: list[_text(40)] = Field(default_factory=list, max_length=20)


class ProviderInput(InputModel):
    name: Name
    website: Url | None = None
    verified: bool = False
    description: _text(1000, 0) = ""
    contact_email: Email | None = Field(default=None, description='Where "Contact sales" writes to')


class ListingFields(InputModel):
    """Fields common to publishing and updating."""

    name: Name | None = None
    category: _text(80) | None = Field(default=None, description="Category slug or id")
    version: _text(40) | None = None
    release_date: date | None = None
    last_updated: date | None = None
    status: ListingStatus | None = None
    visibility: Visibility | None = None
    description: _text(5000, 0) | None = None
    features: list[Short] | None = Field(default=None, max_length=30)
    specifications: SpecificationsInput | None = None
    pricing: PricingInput | None = None
    licenses: list[LicenseInput] | None = Field(default=None, min_length=1, max_length=5)
    support: SupportInput | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    featured_rank: int | None = Field(
        default=None, ge=1, le=1000, description="Position on /featured (admins; 1 comes first)"
    )


class ListingCreate(ListingFields):
    """Publish a listing: an external provider's model (`provider`, `name`, `category`, `licenses`
    required), or a catalog model (`sourceModelId`; the rest defaults from the catalog)."""

    source_model_id: _text(80) | None = None
    provider: _text(80) | ProviderInput | None = Field(
        default=None, description="Slug or id of a known provider, or a new provider to create"
    )

    @model_validator(mode="after")
    def _what_is_published(self) -> ListingCreate:
        if self.source_model_id:
            if self.provider is not None:
                raise ValueError("a catalog model is published under the company provider; omit provider")
            return self
        missing = [f for f in ("name", "category", "provider", "licenses") if getattr(self, f) in (None, [])]
        if missing:
            raise ValueError(f"an external listing needs {', '.join(missing)} (or give sourceModelId)")
        return self


class ListingUpdate(ListingFields):
    """Fields to change; absent fields stay as they are. `pricing`, `licenses`, `tags`, `features`,
    `specifications` and `support` are replaced whole. `featuredRank: null` takes a listing off /featured only when sent explicitly."""


# --- reviews ----------------------------------------------------------------------------------


class Aspects(ReadModel):
    performance: int | None = None
    accuracy: int | None = None
    ease_of_use: int | None = None
    support: int | None = None
    value: int | None = None


class AspectsInput(InputModel):
    performance: Stars | None = None
    accuracy: Stars | None = None
    ease_of_use: Stars | None = None
    support: Stars | None = None
    value: Stars | None = None


REVIEW_TITLE_MAX = 120
REVIEW_TEXT_MAX = 5000


class ReviewCreate(InputModel):
    rating: Stars = Field(description="Overall rating, 1–5")
    aspects: AspectsInput | None = None
    title: _text(REVIEW_TITLE_MAX) | None = None
    text: _text(REVIEW_TEXT_MAX) | None = None


class ReviewUpdate(InputModel):
    rating: Stars | None = None
    aspects: AspectsInput | None = None
    title: _text(REVIEW_TITLE_MAX) | None = None
    text: _text(REVIEW_TEXT_MAX) | None = None


class RateRequest(InputModel):
    rating: Stars


class ReviewRead(ReadModel):
    id: str
    listing_id: str
    author_id: str | None
    author_name: str
    rating: int
    aspects: Aspects
    title: str | None
    text: str | None
    verified_use: bool = Field(description="The author had an active subscription or a licence when writing it")
    demo: bool = Field(description="Generated demo data, not a real user's review")
    created_at: UtcDateTime
    updated_at: UtcDateTime


# --- licence, pricing, subscriptions, purchases, usage ----------------------------------------


class UseCheck(ReadModel):
    allowed: bool
    reason: str | None = None


class LicenseInfo(ReadModel):
    listing_id: str
    license: LicenseRead
    licenses: list[LicenseRead]
    commercial_use: bool = Field(description="Whether any of the licences allows commercial use")
    your_use: UseCheck = Field(description="Whether you may subscribe or buy, given your cost centre")


class SubscribeRequest(InputModel):
    tier: _text(40)
    quoted_at: datetime | None = Field(
        default=None, description="`quotedAt` of the quote you confirm: a tier change is prorated at that moment "
        "(within 15 minutes, in the same billing period), so you are billed exactly the quoted amount")
    expected_amount: SignedMoney | None = Field(
        default=None, description="`amount` of the quote you confirm; if the action would bill anything else "
        "(prices changed, a period ended) nothing happens and the answer is MARKET_002 `price_changed`")


class PurchaseRequest(InputModel):
    expected_amount: SignedMoney | None = Field(
        default=None, description="`amount` of the quote you confirm (MARKET_002 `price_changed` if it differs)")


QuoteAction = Literal["subscribe", "cancel", "purchase"]


class QuoteRequest(InputModel):
    """What to price: subscribing to `tier` (a new subscription, a tier change or a resume), cancelling
    your subscription, or buying the one-time licence."""

    action: QuoteAction
    tier: _text(40) | None = Field(default=None, description="The tier (action subscribe only)")

    @model_validator(mode="after")
    def _tier_for_subscribe(self) -> QuoteRequest:
        if self.action == "subscribe" and not self.tier:
            raise ValueError("action subscribe needs tier")
        if self.action != "subscribe" and self.tier:
            raise ValueError(f"action {self.action} takes no tier")
        return self


class QuoteLine(ReadModel):
    kind: Literal["period", "proration", "purchase"]
    description: str
    amount: float = Field(description="Positive: charged; negative: credited")
    period_start: UtcDateTime | None = None
    period_end: UtcDateTime | None = None


class Quote(ReadModel):
    """What an action bills, before it is taken, computed by the function that bills it.

    `amount` is what the action itself bills now (a first period, a prorated tier change, a one-time
    licence; 0 for a cancel or resume). `due` is what is billed now anyway: periods that have started
    and are not billed yet (the renewal job bills them within minutes; the action bills them first).
    """

    listing_id: str
    listing_name: str
    action: Literal["subscribe", "change", "resume", "cancel", "purchase"]
    tier: str | None = Field(description="The tier you are on after the action (cancel: until `activeUntil`)")
    previous_tier: str | None = Field(description="The tier you are on now, if subscribed")
    currency: str
    amount: float = Field(description="Billed by the action now: positive charged, negative credited")
    due: float = Field(description="Periods already started and not yet billed, billed now as well")
    lines: list[QuoteLine]
    refund: float = Field(description="Refunded now (cancelling refunds nothing: use continues to the period end)")
    recurring_price: float | None = Field(description="Price of each following period; null when nothing more is billed")
    billing: Billing | None = None
    requests_quota: int | Literal["Unlimited"] | None = Field(description="Requests per period on the new terms")
    next_billing_at: UtcDateTime | None = Field(description="When the next period is billed (null: never)")
    active_until: UtcDateTime | None = Field(description="Cancel: the moment access ends")
    quoted_at: UtcDateTime = Field(description="The moment the amount is computed for; send it as `quotedAt`")
    valid_until: UtcDateTime = Field(description="Confirm before this, in the same billing period")


class SalesContact(ReadModel):
    """Who sells the tiers priced "Contact"."""

    name: str
    email: str | None = Field(description="null when the provider publishes no address")
    website: str | None = None
    demo: bool = Field(description="A made-up demo address: mail to it reaches no one")


class SubscriptionRead(ReadModel):
    id: str
    listing_id: str
    listing_name: str
    tier: str
    price: float
    currency: str
    billing: Billing
    requests_quota: int | Literal["Unlimited"]
    status: Literal["active", "cancelling", "ended"]
    started_at: UtcDateTime
    current_period_start: UtcDateTime | None
    current_period_end: UtcDateTime | None
    requests_used: int = Field(description="Requests counted in the current period")
    requests_remaining: int | Literal["Unlimited"]
    cancel_at_period_end: bool
    ends_at: UtcDateTime | None
    demo: bool


class BillingRecordRead(ReadModel):
    id: str
    subscription_id: str
    kind: Literal["period", "proration"]
    period_index: int
    period_start: UtcDateTime
    period_end: UtcDateTime
    tier: str
    amount: float = Field(description="Positive: charged; negative: credited")
    currency: str
    requests_quota: int | Literal["Unlimited"]
    description: str
    created_at: UtcDateTime


class SubscribeResult(ReadModel):
    action: Literal["created", "changed", "resumed"]
    subscription: SubscriptionRead
    charge: BillingRecordRead | None = Field(description="The billing record this change created, if any")


class PricingInfo(Pricing):
    listing_id: str
    subscription: SubscriptionRead | None = Field(description="Your live subscription to this listing")
    purchased: bool = Field(description="Whether you hold a one-time licence")
    sales_contact: SalesContact | None = Field(default=None, description='Who to ask for "Contact" tiers')


class PurchaseRead(ReadModel):
    id: str
    listing_id: str
    amount: float
    currency: str
    license_type: str
    created_at: UtcDateTime


class UsageDay(ReadModel):
    day: date
    requests: int
    average_latency: float | None


class UsageTotals(ReadModel):
    requests: int
    downloads: int
    average_latency: float | None


class UsageReport(ReadModel):
    """Your own use of a listing: the quota of your live subscription, daily requests, your billing."""

    listing_id: str
    subscription: SubscriptionRead | None
    purchase: PurchaseRead | None
    totals: UsageTotals
    daily: list[UsageDay]
    billing: list[BillingRecordRead] = Field(description="Your billing records, newest first (24 at most)")


class FavoriteRead(ReadModel):
    listing_id: str
    created_at: UtcDateTime
