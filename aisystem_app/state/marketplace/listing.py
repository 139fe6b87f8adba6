"""One listing: overview, pricing and subscribing, licence, reviews (and your own), how to call it and
your usage, favourite.

The page reads everything in one unit of work on load and again after each change, so every figure
it shows is the service's current one. Money is shown before it is charged: every paid action (a
subscription, a tier change, a cancellation, a one-time licence) first asks the service for a quote and
shows its amount in a confirmation; confirming sends the quote back, so what is billed is what was shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import quote as url_quote

import plotly.graph_objects as go
import reflex as rx
from pydantic import ValidationError
from sqlmodel import Session

from aisystem_app import format as fmt
from aisystem_app import routes
from aisystem_app.components.charts import stacked_bars
from aisystem_app.components.facts import Fact
from aisystem_app.state.marketplace.common import (
    SubscriptionView,
    price_label,
    quota_label,
    rating_label,
    search_href,
    shown_rating,
    subscription_view,
    usage_note,
)
from aisystem_app.state.session import invoke
from aisystem_app.state.url import TabsMixin
from backend.auth.principal import Principal
from backend.core.config import get_settings
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.core.timeutil import to_utc
from backend.marketplace import schemas as s
from backend.marketplace import service as market

REVIEWS_SHOWN = 20
USAGE_DAYS = 30
BILLING_SHOWN = 12
TABS = ("overview", "pricing", "licence", "reviews", "usage")
STAR_LABELS = [f"{n} ★" for n in range(1, 6)]
BREAKDOWN_COLOR = {"reviews": "#ffc53d"}
USAGE_COLOR = {"requests": "#3e63dd"}
ASPECT_LABELS = {"performance": "Performance", "accuracy": "Accuracy", "ease_of_use": "Ease of use",
                 "support": "Support", "value": "Value for money"}
RATING_REQUIRED = "Choose from 1 to 5 stars"
EVERY = {"monthly": "every month", "yearly": "every year"}
# The serving route of the design (`POST /catalog/endpoints/{endpointId}/predict`) and the header an API key goes in.
PREDICT_PATH = "/api/v1/catalog/endpoints/{endpoint}/predict"
API_KEY_PLACEHOLDER = "YOUR_API_KEY"
# A request body that shows the shape, by the kind of input the listing's category takes.
EXAMPLE_INPUTS = {
    "computer-vision": ["<base64-encoded image>"], "image-generation": ["A watercolour lighthouse at dawn"],
    "speech-audio": ["<base64-encoded audio>"], "multimodal": [{"image": "<base64-encoded image>", "text": "What is shown?"}],
    "tabular-forecasting": [{"feature_1": 3.2, "feature_2": "A"}], "recommendation": [{"user": "u_123", "k": 10}],
}
EXAMPLE_TEXT = ["The delivery arrived late but support sorted it out quickly."]
RETRY_REASONS = ("price_changed", "quote_expired")


@dataclass
class TierView:
    """A pricing tier and what its button does: subscribe, change to it, current, resume, or contact sales."""

    name: str = ""
    price: str = ""
    quota: str = ""
    features: list[str] = field(default_factory=list)
    action: str = "subscribe"
    button: str = "Subscribe"
    contact_href: str = ""  # contact tiers: a mail to the provider's sales address about this tier


@dataclass
class LicenceView:
    type: str = ""
    commercial_use: bool = False
    modification_allowed: bool = False
    restrictions: list[str] = field(default_factory=list)
    url: str = ""


@dataclass
class ReviewView:
    id: str = ""
    author: str = ""
    rating: int = 0
    title: str = ""
    text: str = ""
    verified_use: bool = False
    demo: bool = False
    date: str = ""


@dataclass
class BillingView:
    """One billing record in words."""

    date: str = ""
    description: str = ""
    amount: str = ""
    credit: bool = False


@dataclass
class ConfirmView:
    """What a confirmation dialog says about a quote: the amount first, then what follows."""

    title: str = ""
    headline: str = ""
    lines: list[str] = field(default_factory=list)
    button: str = ""
    danger: bool = False


@dataclass
class CallGuide:
    """How to call the model, as the Usage tab shows it.

    kind: `endpoint` (a company model served by the platform: examples), `not_deployed` (a company model
    without an endpoint yet), `unavailable` (a company model the catalog does not show you), `external`
    (calls are made with the provider's own API, outside the platform).
    """

    kind: str = "external"
    text: str = ""
    endpoints: list[str] = field(default_factory=list)
    curl: str = ""
    python: str = ""
    link_label: str = ""
    link_href: str = ""


@dataclass
class ListingView:
    """Everything the listing page shows, read in one unit of work."""

    doc: s.MarketplaceModel
    favourite: bool
    pricing: s.PricingInfo
    licence: s.LicenseInfo
    reviews: list[s.ReviewRead]
    own_review: s.ReviewRead | None
    usage: s.UsageReport | None


def read_listing(listing_id: str):
    """A unit of work reading a listing with the signed-in user's favourite, subscription, review and usage."""

    def work(session: Session, principal: Principal) -> ListingView:
        kw = {"session": session, "actor": principal, "listing_id": listing_id}
        doc = market.get_listing(**kw)
        kw["listing_id"] = doc.id
        pricing = market.pricing_info(**kw)
        reviews, _cursor = market.list_reviews(**kw, params=PageParams(limit=REVIEWS_SHOWN))
        usage = market.usage_report(**kw, days=USAGE_DAYS) if pricing.subscription or pricing.purchased else None
        return ListingView(doc, market.is_favorite(**kw), pricing, market.license_info(**kw), reviews,
                           market.own_review(**kw), usage)

    return work


# --- the documents in words ---------------------------------------------------------------------------


def specifications(doc: s.MarketplaceModel) -> list[Fact]:
    """The specifications the listing states, in words."""
    spec = doc.specifications
    facts = [
        ("Version", doc.version), ("Category", doc.category),
        ("Parameters", fmt.compact(spec.parameters) if spec.parameters else None),
        ("Context length", fmt.with_unit(spec.context_length, "tokens") if spec.context_length else None),
        ("Accuracy", fmt.percent(spec.accuracy) if spec.accuracy is not None else None),
        ("Speed", spec.speed), ("Model size", spec.model_size),
        ("Supported formats", ", ".join(spec.supported_formats) or None),
        ("Minimum input", spec.min_input_size), ("Maximum input", spec.max_input_size),
        ("Released", fmt.day(doc.release_date)), ("Last updated", fmt.day(doc.last_updated)),
        ("Average latency", fmt.with_unit(round(doc.usage.average_latency), "ms") if doc.usage.average_latency else None),
        ("Requests served", fmt.count(doc.usage.total_requests)),
        ("Active users (30 days)", fmt.count(doc.usage.active_users)),
        ("Usage figures", usage_note(doc.usage) or None),
        ("Support", doc.support.response_time),
        ("Languages", ", ".join(doc.support.languages) or None),
    ]
    return [Fact(label, str(value)) for label, value in [*facts, *source_facts(doc)] if value]


def source_facts(doc: s.MarketplaceModel) -> list[tuple[str, str | None]]:
    """For a company listing: what the catalog says about its model now (versions, endpoints, metrics)."""
    source = doc.source_model
    if source is None or not source.available:
        return []
    # The catalog's figures, worded as its model page words them (accuracy is in the specifications:
    # the service takes it from the catalog too).
    metrics = [(fmt.label(name), fmt.metric(name, value)) for name, value in source.metrics.items()
               if name != "accuracy" and (isinstance(value, int | float | str)
                                          or isinstance(value, dict) and name.lower().startswith("latency"))]
    return [("Catalog model", source.name), ("Versions", ", ".join(source.versions[:8]) or None),
            ("Endpoints", ", ".join(source.endpoints) or None), *metrics]


def catalog_href(doc: s.MarketplaceModel) -> str:
    """The catalog page of a company listing's model ("" for other listings, or a model you cannot read)."""
    source = doc.source_model
    if not doc.source_model_id or source is None or not source.available:
        return ""
    return routes.MODEL_DETAIL.replace("[model_id]", doc.source_model_id)


def contact_href(contact: s.SalesContact | None, listing: str, tier: str) -> str:
    """A mail to the sales address about one tier of the listing ("" when there is no address)."""
    if contact is None or not contact.email:
        return ""
    subject = url_quote(f"{listing}: the {tier} tier")
    return f"mailto:{contact.email}?subject={subject}"


def tier_views(pricing: s.PricingInfo, listing: str = "") -> list[TierView]:
    """The tiers, each with what its button does for this user."""
    current = pricing.subscription.tier.lower() if pricing.subscription else None
    cancelling = bool(pricing.subscription and pricing.subscription.cancel_at_period_end)
    views = []
    for tier in pricing.tiers:
        href = ""
        if tier.price == s.CONTACT:
            action, button = "contact", "Contact sales"
            href = contact_href(pricing.sales_contact, listing, tier.name)
        elif tier.name.lower() == current:
            action, button = ("resume", "Resume") if cancelling else ("current", "Current plan")
        elif current is not None:
            action, button = "change", f"Switch to {tier.name}"
        else:
            action, button = "subscribe", "Subscribe"
        views.append(TierView(tier.name, price_label(tier.price, pricing.currency, pricing.billing),
                              quota_label(tier.requests), list(tier.features), action, button, href))
    return views


def signed_amount(amount: float, currency: str) -> str:
    """`$26.67 charged now`, `$13.33 credited now` or `Nothing charged now`."""
    if amount > 0:
        return f"{fmt.money(amount, currency)} charged now"
    if amount < 0:
        return f"{fmt.money(-amount, currency)} credited now"
    return "Nothing charged now"


def confirm_view(quote: s.Quote) -> ConfirmView:
    """The confirmation of a quoted action: the exact amount, what recurs and when, what ends when."""
    money = lambda amount: fmt.money(amount, quote.currency)  # noqa: E731
    every = EVERY.get(quote.billing or "", "every period")
    quota = quota_label(quote.requests_quota) if quote.requests_quota is not None else ""
    due = [f"Also billed now: {money(line.amount)} for the period that started {fmt.day(line.period_start)} "
           f"({line.description})." for line in quote.lines if line.kind == "period" and quote.action != "subscribe"]
    if quote.action == "subscribe":
        return ConfirmView(
            f"Subscribe to {quote.tier}", signed_amount(quote.amount, quote.currency),
            [f"The first period, to {fmt.day(quote.next_billing_at)}: {quota}.",
             f"Then {money(quote.recurring_price)} {every}, next on {fmt.day(quote.next_billing_at)}, until you cancel.",
             "Cancelling stops the renewals; use continues to the end of the paid period."],
            f"Pay {money(quote.amount)} and subscribe" if quote.amount else "Subscribe")
    if quote.action == "change":
        change = next(line for line in quote.lines if line.kind == "proration")
        credited = ", credited to you" if change.amount < 0 else ""
        return ConfirmView(
            f"Switch from {quote.previous_tier} to {quote.tier}", signed_amount(quote.amount, quote.currency),
            [*due, f"That is the price difference between the tiers for the rest of the current period, to "
                   f"{fmt.day(change.period_end)}{credited}.",
             f"{quote.tier} ({quota}) applies at once; the requests already made this period still count.",
             f"Then {money(quote.recurring_price)} {every} from {fmt.day(quote.next_billing_at)}."],
            f"Switch to {quote.tier}")
    if quote.action == "resume":
        return ConfirmView(
            f"Resume {quote.tier}", signed_amount(quote.amount, quote.currency),
            [*due, f"{quote.tier} renews at {money(quote.recurring_price)} on {fmt.day(quote.next_billing_at)}, "
                   f"then {every}, until you cancel."], f"Resume {quote.tier}")
    if quote.action == "cancel":
        return ConfirmView(
            f"Cancel your {quote.tier} subscription?", "Nothing is refunded",
            [*due, f"You keep {quote.tier} until {fmt.day(quote.active_until)}; then the subscription ends.",
             "Nothing more is billed. Until then you can resume it from the Pricing tab."],
            "Cancel subscription", danger=True)
    licence = quote.lines[0].description if quote.lines else "One-time licence"
    return ConfirmView(
        "Buy the one-time licence", f"{money(quote.amount)} charged now, once",
        [f"{licence}.", "Nothing recurs: no subscription is started."], f"Pay {money(quote.amount)}")


def licence_views(info: s.LicenseInfo) -> list[LicenceView]:
    return [LicenceView(lic.type, lic.commercial_use, lic.modification_allowed, list(lic.restrictions),
                        lic.url or "") for lic in info.licenses]


def review_view(review: s.ReviewRead) -> ReviewView:
    return ReviewView(review.id, review.author_name, review.rating, review.title or "", review.text or "",
                      review.verified_use, review.demo, fmt.day(review.created_at))


def star_counts(ratings: s.Ratings) -> list[int]:
    """Reviews per overall star, 1 to 5."""
    d = ratings.distribution
    return [d.one, d.two, d.three, d.four, d.five]


def breakdown_figure(counts: list[int]) -> go.Figure:
    """Reviews per star rating, as bars."""
    figure = stacked_bars(STAR_LABELS, {"reviews": counts}, BREAKDOWN_COLOR)
    figure.update_traces(text=counts, textposition="outside")
    figure.update_layout(height=220, showlegend=False, hovermode="closest")
    return figure


def usage_figure(report: s.UsageReport) -> go.Figure:
    """Your requests per day, with labelled axes."""
    figure = stacked_bars([fmt.day(d.day, year=False) for d in report.daily],
                          {"requests": [d.requests for d in report.daily]}, USAGE_COLOR)
    figure.update_layout(height=260, showlegend=False, xaxis_title="Day (UTC)", yaxis_title="Requests",
                         margin={"l": 56, "r": 16, "t": 16, "b": 56})
    return figure


def billing_views(report: s.UsageReport | None) -> list[BillingView]:
    """What you were billed for the listing, newest first: subscription charges and credits, and the
    one-time licence if you bought it."""
    if report is None:
        return []
    rows = [(b.created_at, BillingView(fmt.day(b.created_at), b.description,
                                       fmt.money(abs(b.amount), b.currency) + (" credit" if b.amount < 0 else ""),
                                       b.amount < 0)) for b in report.billing]
    if report.purchase is not None:
        bought = report.purchase
        rows.append((bought.created_at, BillingView(fmt.day(bought.created_at), f"One-time licence ({bought.license_type})",
                                                    fmt.money(bought.amount, bought.currency))))
    rows.sort(key=lambda row: to_utc(row[0]), reverse=True)
    return [view for _at, view in rows[:BILLING_SHOWN]]


def example_body(doc: s.MarketplaceModel) -> dict:
    """A request body of the right shape for the listing's kind of input."""
    return {"inputs": EXAMPLE_INPUTS.get(doc.category_slug, EXAMPLE_TEXT)}


def call_examples(url: str, payload: dict) -> tuple[str, str]:
    """The same request in curl and in Python (requests), with a placeholder for the API key."""
    body = json.dumps(payload)
    curl = (f'curl -X POST "{url}" \\\n'
            f'  -H "X-API-Key: {API_KEY_PLACEHOLDER}" \\\n'
            f'  -H "Content-Type: application/json" \\\n'
            f"  -d '{body}'")
    python = (f"import requests\n\n"
              f"response = requests.post(\n"
              f'    "{url}",\n'
              f'    headers={{"X-API-Key": "{API_KEY_PLACEHOLDER}"}},\n'
              f"    json={payload!r},\n"
              f"    timeout=30,\n"
              f")\n"
              f"response.raise_for_status()\n"
              f"print(response.json())")
    return curl, python


def call_guide(doc: s.MarketplaceModel, origin: str) -> CallGuide:
    """How to call the listing's model: a company model's endpoint with examples (or why there is none),
    or the provider's own way for an external one."""
    if doc.source_model_id:
        href = routes.MODEL_DETAIL.replace("[model_id]", doc.source_model_id)
        source = doc.source_model
        if source is None or not source.available:
            return CallGuide("unavailable", "This company model's catalog entry is not available to you, so its "
                             "endpoint cannot be shown. Ask its publisher for access.")
        name = source.name or doc.name
        if not source.endpoints:
            return CallGuide("not_deployed", f"{name} is not deployed to an endpoint yet, so there is nothing to call. "
                             "Its catalog page shows its versions and where it is in its lifecycle.",
                             link_label=f"Open {name} in the catalog", link_href=href)
        endpoint = source.endpoints[0]
        url = origin.rstrip("/") + PREDICT_PATH.format(endpoint=url_quote(endpoint, safe=""))
        curl, python = call_examples(url, example_body(doc))
        return CallGuide("endpoint", f"{name} is served by the platform. Send a POST request to its endpoint with "
                         f"one of your API keys in the X-API-Key header (replace {API_KEY_PLACEHOLDER}); each request "
                         "counts against your subscription's quota.", list(source.endpoints), curl, python,
                         f"Open {name} in the catalog", href)
    provider = doc.provider.name
    text = (f"Calls to {doc.name} are made outside this platform, with {provider}'s own API or software, as "
            f"{provider} documents them. This platform keeps your plan, its quota and what you are billed.")
    if doc.support.documentation:
        return CallGuide("external", text, link_label=f"{provider}'s documentation", link_href=doc.support.documentation)
    return CallGuide("external", text + f" {provider} has published no documentation link here.")


def aspects(ratings: s.Ratings) -> list[Fact]:
    """The average aspect ratings that reviews gave."""
    return [Fact(label, fmt.rating(getattr(ratings, name))) for name, label in ASPECT_LABELS.items()
            if getattr(ratings, name) is not None]


def review_errors(rating: int, title: str, text: str) -> tuple[dict[str, str], s.ReviewCreate | None]:
    """Check a review form against the service's rules: per-field messages, or the validated review."""
    try:
        return {}, s.ReviewCreate.model_validate({"rating": rating or None, "title": title.strip() or None,
                                                  "text": text.strip() or None})
    except ValidationError as error:
        problems = {}
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "form"
            message = RATING_REQUIRED if name == "rating" else item["msg"].removeprefix("Value error, ")
            problems.setdefault(name, message)
        return problems, None


def save_review(listing_id: str, review_id: str, review: s.ReviewCreate):
    """A unit of work writing the user's review, or changing it when `review_id` is set."""

    def work(session: Session, principal: Principal) -> s.ReviewRead:
        kw = {"session": session, "actor": principal, "listing_id": listing_id}
        if review_id:
            changes = s.ReviewUpdate(rating=review.rating, title=review.title, text=review.text)
            return market.update_review(**kw, review_id=review_id, changes=changes)
        return market.create_review(**kw, rating=review.rating, title=review.title, text=review.text)

    return work


def change_favourite(listing_id: str, adding: bool):
    """A unit of work adding the listing to the user's favourites, or taking it off."""

    def work(session: Session, principal: Principal) -> None:
        change = market.add_favorite if adding else market.remove_favorite
        change(session=session, actor=principal, listing_id=listing_id)

    return work


def quote_for(listing_id: str, action: str, tier: str | None):
    """A unit of work pricing an action (nothing is written)."""

    def work(session: Session, principal: Principal) -> s.Quote:
        return market.quote(session=session, actor=principal, listing_id=listing_id, action=action, tier=tier)

    return work


@dataclass
class Done:
    """The confirmed action happened: its result."""

    result: s.SubscribeResult | s.SubscriptionRead | s.PurchaseRead


@dataclass
class Requoted:
    """The quote no longer held (a price changed, the period turned): nothing happened; here is the new one."""

    quote: s.Quote


def confirm_quote(listing_id: str, quote: s.Quote):
    """A unit of work taking the quoted action at the quoted amount, or pricing it again if that no longer holds."""

    def work(session: Session, principal: Principal) -> Done | Requoted:
        kw = {"session": session, "actor": principal, "listing_id": listing_id}
        try:
            if quote.action == "cancel":
                return Done(market.cancel_subscription(**kw, quoted_at=quote.quoted_at))
            if quote.action == "purchase":
                return Done(market.purchase(**kw, expected_amount=quote.amount))
            return Done(market.subscribe(**kw, tier=quote.tier or "", quoted_at=quote.quoted_at,
                                         expected_amount=quote.amount))
        except AISystemError as error:
            if error.code != "MARKET_002" or error.details.get("reason") not in RETRY_REASONS:
                raise
        action = "subscribe" if quote.action in ("change", "resume") else quote.action
        return Requoted(market.quote(**kw, action=action, tier=quote.tier if action == "subscribe" else None))

    return work


def done_message(result: s.SubscribeResult | s.SubscriptionRead | s.PurchaseRead) -> str:
    """What a confirmed action did, for the toast."""
    if isinstance(result, s.SubscribeResult):
        return subscribed_message(result)
    if isinstance(result, s.PurchaseRead):
        return f"Licence bought: {fmt.money(result.amount, result.currency)} charged"
    ends = fmt.day(result.ends_at) if result.ends_at else "the end of the period"
    return f"Cancelled: {result.tier} stays active until {ends}"


def subscribed_message(result: s.SubscribeResult) -> str:
    """What a subscription change did, for the confirmation toast."""
    sub = result.subscription
    verb = {"created": "Subscribed to", "changed": "Switched to", "resumed": "Resumed"}[result.action]
    charge = f"; {money_text(result.charge)}" if result.charge and result.charge.amount else ""
    return f"{verb} {sub.tier} ({quota_label(sub.requests_quota)} per period){charge}"


def money_text(charge: s.BillingRecordRead) -> str:
    """`$50 charged` or `$12.40 credited`."""
    amount = fmt.money(abs(charge.amount), charge.currency)
    return f"{amount} charged" if charge.amount > 0 else f"{amount} credited"


class ListingState(TabsMixin, rx.State):
    """The listing page. Every handler acts on the listing of the page's URL; the open tab is `?tab=`."""

    loading: bool = True
    found: bool = False
    listing_id: str = ""
    _path_key: str = ""  # the id or slug of the URL this page shows
    name: str = ""
    description: str = ""
    category: str = ""
    category_href: str = ""
    provider: str = ""
    provider_verified: bool = False
    provider_facts: str = ""
    badges: list[str] = []
    tags: list[str] = []
    features: list[str] = []
    specs: list[Fact] = []
    catalog_href: str = ""  # a company listing's model in the catalog
    favourite: bool = False
    # pricing
    tiers: list[TierView] = []
    billing_note: str = ""
    subscription: list[SubscriptionView] = []  # zero or one: the user's live subscription
    may_acquire: bool = True
    refusal: str = ""
    one_time_price: str = ""  # "" when the listing sells no one-time licence
    purchased: bool = False
    # "Contact sales": who sells the tiers priced "Contact"
    sales_name: str = ""
    sales_email: str = ""
    sales_website: str = ""
    sales_demo: bool = False
    # the confirmation of a paid action, with the quote's exact amount
    confirm_open: bool = False
    confirm: ConfirmView = ConfirmView()
    confirm_note: str = ""
    quoting: str = ""  # the action being priced ("subscribe:Pro", "cancel", "purchase"), for its button's spinner
    busy: bool = False
    _quote: s.Quote | None = None
    # licence
    licences: list[LicenceView] = []
    # reviews
    rating: float = 0.0
    rating_text: str = ""
    rating_value: str = ""
    review_count: str = ""
    star_counts: str = ""
    breakdown: go.Figure = go.Figure()
    aspect_ratings: list[Fact] = []
    reviews: list[ReviewView] = []
    own_review_id: str = ""
    form_rating: int = 0
    form_title: str = ""
    form_text: str = ""
    form_errors: dict[str, str] = {}
    form_version: int = 0
    saving: bool = False
    # usage: how to call it, and your own use
    guide: CallGuide = CallGuide()
    usage_text: str = ""
    usage_percent: int = 0
    usage_metered: bool = False
    usage_demo: bool = False  # the subscription and its use are seeded demo data
    has_calls: bool = False
    usage_chart: go.Figure = go.Figure()
    billing: list[BillingView] = []

    @rx.var
    def subscribed(self) -> bool:
        """Whether the user has a live subscription to the listing."""
        return bool(self.subscription)

    @rx.var
    def rating_error(self) -> str:
        return self.form_errors.get("rating", "")

    @rx.var
    def title_error(self) -> str:
        return self.form_errors.get("title", "")

    @rx.var
    def text_error(self) -> str:
        return self.form_errors.get("text", "")

    @rx.event(background=True)
    async def load(self):
        """Read the listing of the page's URL and open the tab it names."""
        async with self:
            key = routes.id_in_path(self.router.url.path)
            if self._read_tab(TABS) and self.found and key == self._path_key:
                return None  # a tab click: the listing is on screen already
            self._path_key, self.listing_id = key, key
            self.loading, self.found, self.confirm_open = True, False, False
        return await self._refresh()

    async def _refresh(self):
        async with self:
            listing_id = self.listing_id
        outcome = await invoke(self, read_listing(listing_id))
        async with self:
            self.loading = False
            self.found = outcome.ok
            if outcome.ok:
                self._show(outcome.value)
        return outcome.events or None

    def _show(self, view: ListingView) -> None:
        doc = view.doc
        self.listing_id, self.name, self.description = doc.id, doc.name, doc.description
        self.category, self.category_href = doc.category, search_href(category=doc.category_slug)
        self.provider, self.provider_verified = doc.provider.name, doc.provider.verified
        provider_rating = f"{fmt.rating(doc.provider.rating)} ★ · " if doc.provider.rating is not None else ""
        self.provider_facts = provider_rating + fmt.plural(doc.provider.total_models, "model")
        self.badges, self.tags, self.features = list(doc.badges), list(doc.tags), list(doc.features)
        self.specs = specifications(doc)
        self.catalog_href = catalog_href(doc)
        self.favourite = view.favourite
        self._show_pricing(doc.name, view.pricing, view.licence)
        self.licences = licence_views(view.licence)
        self._show_reviews(doc.ratings, view.reviews, view.own_review)
        self.guide = call_guide(doc, get_settings().origin)
        self._show_usage(view.usage)

    def _show_pricing(self, name: str, pricing: s.PricingInfo, licence: s.LicenseInfo) -> None:
        self.tiers = tier_views(pricing, name)
        self.billing_note = f"Prices in {pricing.currency}, billed {pricing.billing}."
        self.subscription = [subscription_view(pricing.subscription)] if pricing.subscription else []
        self.may_acquire = licence.your_use.allowed
        self.refusal = licence.your_use.reason or ""
        self.one_time_price = fmt.money(pricing.one_time_price, pricing.currency) if pricing.one_time_price else ""
        self.purchased = pricing.purchased
        contact = pricing.sales_contact
        self.sales_name = contact.name if contact else self.provider
        self.sales_email = (contact.email or "") if contact else ""
        self.sales_website = (contact.website or "") if contact else ""
        self.sales_demo = bool(contact and contact.demo)

    def _show_reviews(self, ratings: s.Ratings, reviews: list[s.ReviewRead], own: s.ReviewRead | None) -> None:
        counts = star_counts(ratings)
        self.rating, self.rating_text = shown_rating(ratings), rating_label(ratings)
        self.rating_value = fmt.rating(ratings.overall)
        self.review_count = fmt.plural(ratings.review_count, "review")
        self.star_counts = ",".join(str(n) for n in counts)
        self.breakdown = breakdown_figure(counts)
        self.aspect_ratings = aspects(ratings)
        self.reviews = [review_view(r) for r in reviews]
        self.own_review_id = own.id if own else ""
        self.form_rating = own.rating if own else 0
        self.form_title, self.form_text = (own.title or "", own.text or "") if own else ("", "")
        self.form_errors = {}
        self.form_version += 1  # re-mounts the form with these values

    def _show_usage(self, report: s.UsageReport | None) -> None:
        self.billing = billing_views(report)
        self.has_calls = bool(report and any(d.requests for d in report.daily))
        self.usage_chart = usage_figure(report) if self.has_calls else go.Figure()
        sub = report.subscription if report else None
        self.usage_demo = bool(sub and sub.demo)
        if sub is None:
            self.usage_text, self.usage_percent, self.usage_metered = "", 0, False
            return
        view = subscription_view(sub)
        self.usage_text, self.usage_percent, self.usage_metered = view.usage, view.percent, view.metered

    # --- favourite -----------------------------------------------------------------------------------

    @rx.event(background=True)
    async def toggle_favourite(self):
        """Add the listing to your favourites, or take it off."""
        async with self:
            listing_id, adding = self.listing_id, not self.favourite
        outcome = await invoke(self, change_favourite(listing_id, adding), write=True)
        async with self:
            if outcome.ok:
                self.favourite = adding
        if not outcome.ok:
            return outcome.events
        return rx.toast.success("Added to your favourites" if adding else "Removed from your favourites")

    # --- paid actions: quote, confirm ----------------------------------------------------------------

    @rx.event(background=True)
    async def ask(self, action: str, tier: str = ""):
        """Price an action (`subscribe` to `tier`, `cancel`, `purchase`) and show the confirmation with
        the amount; nothing is charged until the user confirms."""
        action, tier = str(action), str(tier)[:40]
        if action not in ("subscribe", "cancel", "purchase"):
            return None
        async with self:
            if self.busy or self.quoting:
                return None
            self.quoting, listing_id = f"{action}:{tier}" if tier else action, self.listing_id
        outcome = await invoke(self, quote_for(listing_id, action, tier if action == "subscribe" else None))
        async with self:
            self.quoting = ""
            if outcome.ok:
                self._open_confirm(outcome.value, "")
        return outcome.events or None

    def _open_confirm(self, quote: s.Quote, note: str) -> None:
        self._quote, self.confirm, self.confirm_note, self.confirm_open = quote, confirm_view(quote), note, True

    @rx.event
    def close_confirm(self, open_: bool = False):
        """Close the confirmation (Cancel, Escape, a click outside): nothing happens."""
        if not open_ and not self.busy:
            self.confirm_open, self._quote = False, None

    @rx.event(background=True)
    async def confirm_action(self):
        """Take the quoted action at the quoted amount. If the quote no longer holds (a price changed, a
        new period began), nothing is charged and the dialog shows the new amount to confirm instead."""
        async with self:
            quote = self._quote
            if quote is None or self.busy or not self.confirm_open:
                return None
            self.busy, listing_id = True, self.listing_id
        outcome = await invoke(self, confirm_quote(listing_id, quote), write=True)
        async with self:
            self.busy = False
            if outcome.ok and isinstance(outcome.value, Requoted):
                self._open_confirm(outcome.value.quote, "The amount changed since you opened this: nothing was "
                                   "charged. Here is the new amount.")
                return None
            self.confirm_open, self._quote = False, None
            started = outcome.ok and isinstance(outcome.value.result, s.SubscribeResult) and \
                outcome.value.result.action == "created"
        if not outcome.ok:
            return outcome.events
        events = [rx.toast.success(done_message(outcome.value.result)), *(await self._refresh() or [])]
        if started:  # the next step after subscribing: how to call it
            async with self:
                events.append(self._open_tab("usage"))
        return events

    # --- your review ---------------------------------------------------------------------------------

    @rx.event
    def choose_rating(self, stars: int):
        """Pick the overall rating in the review form."""
        self.form_rating = stars if stars in range(1, 6) else 0
        self.form_errors = {k: v for k, v in self.form_errors.items() if k != "rating"}

    @rx.event(background=True)
    async def submit_review(self, form: dict):
        """Check the review form and publish the review (or save your changes to it)."""
        async with self:
            if self.saving:
                return None
            errors, review = review_errors(self.form_rating, str(form.get("title", "")), str(form.get("text", "")))
            self.form_title, self.form_text = str(form.get("title", "")), str(form.get("text", ""))
            self.form_errors = errors
            if review is None:
                return None
            self.saving = True
            listing_id, review_id = self.listing_id, self.own_review_id
        outcome = await invoke(self, save_review(listing_id, review_id, review), write=True)
        async with self:
            self.saving = False
        if not outcome.ok:
            return outcome.events
        done = "Your review was updated" if review_id else "Thank you: your review is published"
        return [rx.toast.success(done), *(await self._refresh() or [])]
