"""One listing: overview, pricing and subscribing, licence, reviews (and your own), your usage, favourite.

The page reads everything in one unit of work on load and again after each change, so every figure
it shows is the service's current one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    subscription_view,
)
from aisystem_app.state.session import invoke
from backend.auth.principal import Principal
from backend.core.pagination import PageParams
from backend.marketplace import schemas as s
from backend.marketplace import service as market

REVIEWS_SHOWN = 20
USAGE_DAYS = 30
STAR_LABELS = [f"{n} ★" for n in range(1, 6)]
BREAKDOWN_COLOR = {"reviews": "#ffc53d"}
USAGE_COLOR = {"requests": "#3e63dd"}
ASPECT_LABELS = {"performance": "Performance", "accuracy": "Accuracy", "ease_of_use": "Ease of use",
                 "support": "Support", "value": "Value for money"}
RATING_REQUIRED = "Choose from 1 to 5 stars"


@dataclass
class TierView:
    """A pricing tier and what its button does: subscribe, change to it, current, or contact sales."""

    name: str = ""
    price: str = ""
    quota: str = ""
    features: list[str] = field(default_factory=list)
    action: str = "subscribe"
    button: str = "Subscribe"


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
        usage = market.usage_report(**kw, days=USAGE_DAYS) if pricing.subscription else None
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
        ("Support", doc.support.response_time),
        ("Languages", ", ".join(doc.support.languages) or None),
    ]
    return [Fact(label, str(value)) for label, value in [*facts, *source_facts(doc)] if value]


def source_facts(doc: s.MarketplaceModel) -> list[tuple[str, str | None]]:
    """For a company listing: what the catalog says about its model now (versions, endpoints, metrics)."""
    source = doc.source_model
    if source is None or not source.available:
        return []
    metrics = [(fmt.label(name), fmt.number(value))
               for name, value in source.metrics.items() if isinstance(value, int | float | str)]
    return [("Catalog model", source.name), ("Versions", ", ".join(source.versions[:8]) or None),
            ("Endpoints", ", ".join(source.endpoints) or None), *metrics]


def tier_views(pricing: s.PricingInfo) -> list[TierView]:
    """The tiers, each with what its button does for this user."""
    current = pricing.subscription.tier.lower() if pricing.subscription else None
    cancelling = bool(pricing.subscription and pricing.subscription.cancel_at_period_end)
    views = []
    for tier in pricing.tiers:
        if tier.price == s.CONTACT:
            action, button = "contact", "Contact sales"
        elif tier.name.lower() == current:
            action, button = ("resume", "Resume") if cancelling else ("current", "Current plan")
        elif current is not None:
            action, button = "change", f"Switch to {tier.name}"
        else:
            action, button = "subscribe", "Subscribe"
        views.append(TierView(tier.name, price_label(tier.price, pricing.currency, pricing.billing),
                              quota_label(tier.requests), list(tier.features), action, button))
    return views


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
    """Your requests per day."""
    figure = stacked_bars([fmt.day(d.day, year=False) for d in report.daily],
                          {"requests": [d.requests for d in report.daily]}, USAGE_COLOR)
    figure.update_layout(height=260, showlegend=False)
    return figure


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


def subscribe_to(listing_id: str, tier: str):
    """A unit of work subscribing the user to a tier (or switching to it, or resuming it)."""

    def work(session: Session, principal: Principal) -> s.SubscribeResult:
        return market.subscribe(session=session, actor=principal, listing_id=listing_id, tier=tier)

    return work


def cancel(listing_id: str):
    """A unit of work cancelling the user's subscription at the end of the period."""

    def work(session: Session, principal: Principal) -> s.SubscriptionRead:
        return market.cancel_subscription(session=session, actor=principal, listing_id=listing_id)

    return work


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


class ListingState(rx.State):
    """The listing page. Every handler acts on the listing of the page's URL."""

    loading: bool = True
    found: bool = False
    listing_id: str = ""
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
    favourite: bool = False
    # pricing
    tiers: list[TierView] = []
    billing_note: str = ""
    subscription: list[SubscriptionView] = []  # zero or one: the user's live subscription
    may_acquire: bool = True
    refusal: str = ""
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
    # usage
    usage_text: str = ""
    usage_percent: int = 0
    usage_chart: go.Figure = go.Figure()
    busy: bool = False

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
        """Read the listing of the page's URL."""
        async with self:
            self.listing_id = routes.id_in_path(self.router.url.path)
            self.loading, self.found = True, False
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
        self.favourite = view.favourite
        self._show_pricing(view.pricing, view.licence)
        self.licences = licence_views(view.licence)
        self._show_reviews(doc.ratings, view.reviews, view.own_review)
        self._show_usage(view.usage)

    def _show_pricing(self, pricing: s.PricingInfo, licence: s.LicenseInfo) -> None:
        self.tiers = tier_views(pricing)
        self.billing_note = f"Prices in {pricing.currency}, billed {pricing.billing}."
        self.subscription = [subscription_view(pricing.subscription)] if pricing.subscription else []
        self.may_acquire = licence.your_use.allowed
        self.refusal = licence.your_use.reason or ""

    def _show_reviews(self, ratings: s.Ratings, reviews: list[s.ReviewRead], own: s.ReviewRead | None) -> None:
        counts = star_counts(ratings)
        self.rating, self.rating_text = ratings.overall or 0.0, rating_label(ratings)
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
        sub = report.subscription if report else None
        if sub is None:
            self.usage_text, self.usage_percent, self.usage_chart = "", 0, go.Figure()
            return
        view = subscription_view(sub)
        self.usage_text, self.usage_percent = view.usage, view.percent
        self.usage_chart = usage_figure(report)

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

    # --- subscribing ---------------------------------------------------------------------------------

    @rx.event(background=True)
    async def subscribe(self, tier: str):
        """Subscribe to `tier` (or switch to it, or resume it) after the user confirmed."""
        async with self:
            if self.busy:
                return None
            self.busy, listing_id = True, self.listing_id
        outcome = await invoke(self, subscribe_to(listing_id, str(tier)[:40]), write=True)
        async with self:
            self.busy = False
        if not outcome.ok:
            return outcome.events
        return [rx.toast.success(subscribed_message(outcome.value)), *(await self._refresh() or [])]

    @rx.event(background=True)
    async def cancel_subscription(self):
        """Cancel at the end of the current period."""
        async with self:
            listing_id = self.listing_id
        outcome = await invoke(self, cancel(listing_id), write=True)
        if not outcome.ok:
            return outcome.events
        ends = fmt.day(outcome.value.ends_at) if outcome.value.ends_at else "the end of the period"
        return [rx.toast.success(f"Cancelled; you can use it until {ends}"), *(await self._refresh() or [])]

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

