"""Marketplace service: aggregates from rows, search and facets, discovery, reviews, subscriptions,
billing and proration, quota counting, purchases, licence rule, favourites, publishing rights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import func, select

from backend.audit.models import AuditRecord
from backend.catalog.model_registry import service as registry_service
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core.authorization import add_attribute_rule, remove_attribute_rule
from backend.core.errors import AISystemError, PermissionDenied
from backend.core.pagination import PageParams
from backend.marketplace import schemas as s
from backend.marketplace import service
from backend.marketplace.models import BillingRecord, Listing, Review, Subscription, UsageCounter
from tests.backend.marketplace.conftest import listing_body

PAGE = PageParams(limit=50)


def code_of(excinfo) -> str:
    return excinfo.value.code


def doc(session, actor, listing_id):
    return service.get_listing(session=session, actor=actor, listing_id=listing_id)


def actions(session, prefix="marketplace."):
    return [r.action for r in session.exec(select(AuditRecord).order_by(AuditRecord.seq)).all()
            if r.action.startswith(prefix)]


# --- the document -----------------------------------------------------------------------------


def test_listing_document_has_the_design_shape(session, actors, market):
    d = doc(session, actors["business_user"], market.alpha)
    body = d.model_dump(mode="json", by_alias=True)
    assert set(body) >= {"id", "name", "category", "provider", "version", "releaseDate", "lastUpdated", "status",
                         "visibility", "description", "features", "specifications", "pricing", "ratings", "usage",
                         "license", "support", "tags", "badges"}
    assert body["provider"] == {"id": d.provider.id, "slug": "acme-ai", "name": "Acme AI", "verified": True,
                                "rating": None, "totalModels": 2}
    assert body["pricing"]["tiers"][2] == {"name": "Enterprise", "price": "Contact", "requests": "Unlimited",
                                           "features": ["SLA"]}
    assert body["pricing"]["priceFrom"] == 10.0
    assert body["specifications"]["parameters"] == 25_000_000 and body["specifications"]["accuracy"] == 0.93
    assert body["license"] == {"type": "Apache-2.0", "restrictions": [], "commercialUse": True,
                               "modificationAllowed": True, "url": None}
    assert body["ratings"]["reviewCount"] == 0 and body["ratings"]["distribution"] == {str(i): 0 for i in range(1, 6)}
    assert body["usage"] == {"totalDownloads": 0, "activeUsers": 0, "totalRequests": 0, "averageLatency": None,
                             "subscribers": 0, "includesDemoData": False}
    assert body["ratings"]["demoReviewCount"] == 0
    assert "verified" in body["badges"] and body["releaseDate"] == "2024-01-10"


def test_ratings_are_computed_from_review_rows(session, actors, market):
    service.create_review(session=session, actor=actors["business_user"], listing_id=market.alpha, rating=5,
                          aspects=s.AspectsInput(performance=4, accuracy=5), title="Great", text="Works well")
    service.create_review(session=session, actor=actors["ml_engineer"], listing_id=market.alpha, rating=2,
                          aspects=s.AspectsInput(performance=2))
    service.rate(session=session, actor=actors["data_scientist"], listing_id=market.alpha, rating=4)
    ratings = doc(session, actors["admin"], market.alpha).ratings
    assert ratings.review_count == 3
    assert ratings.overall == round(11 / 3, 2)
    assert ratings.performance == 3.0 and ratings.accuracy == 5.0 and ratings.value is None
    assert ratings.distribution.model_dump(by_alias=True) == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    # the provider's rating covers every review of its listings
    service.create_review(session=session, actor=actors["business_user"], listing_id=market.gamma, rating=1)
    provider = doc(session, actors["admin"], market.gamma).provider
    assert provider.rating == round((5 + 2 + 4 + 1) / 4, 2) and provider.total_models == 2
    # deleting a review changes the aggregate at once: nothing is stored by hand
    own = session.exec(select(Review).where(Review.listing_id == market.alpha, Review.overall == 2)).one()
    service.delete_review(session=session, actor=actors["ml_engineer"], listing_id=market.alpha, review_id=own.id)
    assert doc(session, actors["admin"], market.alpha).ratings.overall == 4.5


def test_usage_aggregates_are_computed_from_counters(session, actors, market, demo_users):
    now = datetime.now(UTC)
    service.record_usage(session=session, listing_id=market.beta, user_id=demo_users["ml_engineer"], requests=10,
                         latency_ms=40)
    service.record_usage(session=session, listing_id=market.beta, user_id=demo_users["ml_engineer"], requests=10,
                         latency_ms=60)
    service.record_usage(session=session, listing_id=market.beta, user_id=demo_users["ml_ops"], requests=5,
                         at=now - timedelta(days=45))
    usage = doc(session, actors["admin"], market.beta).usage
    assert usage.total_requests == 25
    assert usage.average_latency == 50.0
    assert usage.active_users == 1  # ml_ops was active 45 days ago only
    rows = session.exec(select(func.count()).select_from(UsageCounter)).one()
    assert rows == 2  # one counter per user and day, incremented in place


# --- search and facets ---------------------------------------------------------------------------


def run_search(session, actor, **filters):
    return service.search(session=session, actor=actor, filters=service.SearchFilters(**filters), params=PAGE)


def counts(values):
    return {v.value: v.count for v in values}


def test_facet_counts_match_the_hand_built_catalogue(session, actors, market):
    result = run_search(session, actors["business_user"])
    assert result.total == 4
    f = result.facets
    assert counts(f.category) == {"llm": 2, "vision": 1, "embeddings": 1}
    assert counts(f.provider) == {"acme-ai": 2, "openthing": 2}
    assert counts(f.license_type) == {"apache-2.0": 1, "cc-by-nc-4.0": 1, "commercial": 1, "mit": 1}
    assert {v.value: v.label for v in f.license_type}["cc-by-nc-4.0"] == "CC-BY-NC-4.0"
    assert counts(f.tags) == {"chat": 2, "detection": 1, "embeddings": 1, "enterprise": 1, "llm": 1, "vision": 1}
    assert counts(f.verified) == {"true": 2, "false": 2}
    assert counts(f.commercial_use) == {"true": 3, "false": 1}
    assert [(b.label, b.count) for b in f.price] == [("Free", 2), ("Up to 100", 2), ("100 to 500", 0),
                                                     ("Over 500", 0), ("Contact sales", 0)]
    assert [b.count for b in f.parameters] == [2, 1, 1, 0]
    assert [b.count for b in f.context_length] == [2, 2, 1, 0]
    assert [b.count for b in f.rating] == [0, 0, 0, 0]


def test_each_facet_counts_with_every_other_filter(session, actors, market):
    result = run_search(session, actors["business_user"], categories=("llm",), providers=("acme-ai",))
    assert [i.name for i in result.items] == ["Gamma Chat"] and result.total == 1
    # category counts ignore the category filter but apply the provider filter, and vice versa
    assert counts(result.facets.category) == {"vision": 1, "llm": 1}
    assert counts(result.facets.provider) == {"acme-ai": 1, "openthing": 1}
    assert counts(result.facets.commercial_use) == {"true": 1}


@pytest.mark.parametrize("filters,expected", [
    ({"q": "chat"}, {"Beta Chat", "Gamma Chat"}),
    ({"q": "acme"}, {"Alpha Vision", "Gamma Chat"}),
    ({"q": "detect"}, {"Alpha Vision"}),
    ({"q": "chat enterprise"}, {"Gamma Chat"}),
    ({"q": "nothing-like-this"}, set()),
    ({"verified": True}, {"Alpha Vision", "Gamma Chat"}),
    ({"commercial_use": False}, {"Beta Chat"}),
    ({"license_types": ("MIT", "apache-2.0")}, {"Alpha Vision", "Delta Embed"}),
    ({"tags": ("chat", "enterprise")}, {"Gamma Chat"}),
    ({"max_price": 0}, {"Beta Chat", "Delta Embed"}),
    ({"min_price": 5, "max_price": 100}, {"Alpha Vision", "Gamma Chat"}),
    ({"min_context_length": 100_000}, {"Gamma Chat"}),
    ({"min_parameters": 1_000_000_000, "max_parameters": 10_000_000_000}, {"Beta Chat"}),
])
def test_search_filters(session, actors, market, filters, expected):
    assert {i.name for i in run_search(session, actors["business_user"], **filters).items} == expected


@pytest.mark.parametrize("filters,field", [
    ({"categories": ("no-such-category",)}, "category"),
    ({"providers": ("nobody",)}, "provider"),
    ({"license_types": ("WTFPL",)}, "licenseType"),
    ({"tags": ("no-such-tag",)}, "tags"),
    ({"min_price": 10, "max_price": 5}, "maxPrice"),
])
def test_unknown_facet_values_are_errors_not_empty_results(session, actors, market, filters, field):
    with pytest.raises(AISystemError) as excinfo:
        run_search(session, actors["business_user"], **filters)
    assert code_of(excinfo) == "REQ_001"
    assert [f["field"] for f in excinfo.value.details["fields"]] == [field]


def test_sorts_and_keyset_pages(session, actors, market):
    by = lambda sort: [i.name for i in run_search(session, actors["admin"], sort=sort).items]  # noqa: E731
    assert by("newest") == ["Gamma Chat", "Beta Chat", "Alpha Vision", "Delta Embed"]
    assert by("price")[2:] == ["Alpha Vision", "Gamma Chat"]
    assert by("name") == ["Alpha Vision", "Beta Chat", "Delta Embed", "Gamma Chat"]
    seen, cursor = [], None
    while True:
        page = service.search(session=session, actor=actors["admin"], params=PageParams(limit=1, cursor=cursor),
                              filters=service.SearchFilters(sort="newest"))
        seen += [i.name for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == by("newest")
    with pytest.raises(AISystemError) as excinfo:
        service.search(session=session, actor=actors["admin"], params=PageParams(limit=1, cursor="bm90LWEtY3Vyc29y"),
                       filters=service.SearchFilters(sort="newest"))
    assert code_of(excinfo) == "REQ_001"


def test_rating_sort_and_minimum(session, actors, market):
    service.rate(session=session, actor=actors["business_user"], listing_id=market.delta, rating=5)
    service.rate(session=session, actor=actors["business_user"], listing_id=market.beta, rating=3)
    assert [i.name for i in run_search(session, actors["admin"], sort="rating").items][:2] == ["Delta Embed", "Beta Chat"]
    assert [i.name for i in run_search(session, actors["admin"], min_rating=4).items] == ["Delta Embed"]
    assert [b.count for b in run_search(session, actors["admin"]).facets.rating] == [1, 2, 2, 2]


# --- discovery -----------------------------------------------------------------------------------


def test_new_featured_trending_popular(session, actors, market, demo_users):
    admin = actors["admin"]
    names = lambda items: [i.name for i in items]  # noqa: E731
    assert names(service.newest(session=session, actor=admin, params=PAGE)[0]) == [
        "Gamma Chat", "Beta Chat", "Alpha Vision", "Delta Embed"]
    assert service.featured(session=session, actor=admin, params=PAGE)[0] == []
    service.update_listing(session=session, actor=admin, listing_id=market.gamma, data=s.ListingUpdate(featured_rank=2))
    service.update_listing(session=session, actor=admin, listing_id=market.delta, data=s.ListingUpdate(featured_rank=1))
    featured, _ = service.featured(session=session, actor=admin, params=PAGE)
    assert names(featured) == ["Delta Embed", "Gamma Chat"] and [i.score for i in featured] == [1, 2]
    assert "featured" in featured[0].badges

    today = datetime.now(UTC)
    for user in ("ml_engineer", "ml_ops"):
        service.record_usage(session=session, listing_id=market.beta, user_id=demo_users[user], requests=3)
    service.record_usage(session=session, listing_id=market.delta, user_id=demo_users["ml_engineer"], requests=500,
                         at=today - timedelta(days=3))
    service.record_usage(session=session, listing_id=market.delta, user_id=demo_users["ml_engineer"], requests=9,
                         at=today - timedelta(days=20))  # outside the 14-day window
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic")
    trending, _ = service.trending(session=session, actor=admin, params=PAGE)
    assert [(i.name, i.score) for i in trending] == [("Alpha Vision", 5.0), ("Beta Chat", 2.0), ("Delta Embed", 0.5)]
    popular, _ = service.popular(session=session, actor=admin, params=PAGE)
    assert names(popular)[:2] == ["Beta Chat", "Delta Embed"] and [i.score for i in popular][:2] == [2, 1]
    assert "trending" in doc(session, admin, market.alpha).badges
    assert "popular" in doc(session, admin, market.beta).badges
    by_category, _ = service.trending(session=session, actor=admin, params=PAGE, category="llm")
    assert names(by_category) == ["Beta Chat"]
    with pytest.raises(AISystemError) as excinfo:
        service.popular(session=session, actor=admin, params=PAGE, category="nope")
    assert code_of(excinfo) == "REQ_001"


def test_categories_and_providers_count_what_you_can_see(session, actors, market):
    cats = {c.slug: c.model_count for c in service.list_categories(session=session, actor=actors["admin"])}
    assert cats == {"vision": 1, "llm": 2, "embeddings": 1, "empty": 0}
    service.update_listing(session=session, actor=actors["admin"], listing_id=market.delta,
                           data=s.ListingUpdate(visibility="private"))
    cats = {c.slug: c.model_count for c in service.list_categories(session=session, actor=actors["business_user"])}
    assert cats["embeddings"] == 0
    providers, _ = service.list_providers(session=session, actor=actors["business_user"], params=PAGE)
    assert [(p.slug, p.total_models, p.verified) for p in providers] == [("acme-ai", 2, True), ("openthing", 1, False)]
    with pytest.raises(AISystemError) as excinfo:
        doc(session, actors["business_user"], market.delta)
    assert code_of(excinfo) == "MARKET_001"
    assert doc(session, actors["admin"], market.delta).visibility == "private"


# --- reviews -------------------------------------------------------------------------------------


def test_one_review_per_user_and_listing(session, actors, market):
    first = service.create_review(session=session, actor=actors["ml_engineer"], listing_id=market.alpha, rating=4)
    with pytest.raises(AISystemError) as excinfo:
        service.create_review(session=session, actor=actors["ml_engineer"], listing_id=market.alpha, rating=1)
    assert code_of(excinfo) == "MARKET_002" and excinfo.value.details["reviewId"] == first.id
    # a quick rating is the user's review too
    service.rate(session=session, actor=actors["ml_ops"], listing_id=market.alpha, rating=3)
    with pytest.raises(AISystemError):
        service.create_review(session=session, actor=actors["ml_ops"], listing_id=market.alpha, rating=5)


def test_only_the_author_edits_and_admins_remove_audited(session, actors, market):
    review = service.create_review(session=session, actor=actors["ml_engineer"], listing_id=market.alpha, rating=4,
                                   title="Solid", text="Fast and accurate")
    for who in ("business_user", "admin"):
        with pytest.raises(AISystemError) as excinfo:
            service.update_review(session=session, actor=actors[who], listing_id=market.alpha, review_id=review.id,
                                  changes=s.ReviewUpdate(rating=1))
        assert code_of(excinfo) == "MARKET_003" and excinfo.value.details["reason"] == "not_author"
    with pytest.raises(AISystemError) as excinfo:
        service.delete_review(session=session, actor=actors["business_user"], listing_id=market.alpha,
                              review_id=review.id)
    assert code_of(excinfo) == "MARKET_003"
    edited = service.update_review(session=session, actor=actors["ml_engineer"], listing_id=market.alpha,
                                   review_id=review.id,
                                   changes=s.ReviewUpdate.model_validate({"rating": 5, "title": None,
                                                                          "aspects": {"value": 5}}))
    assert (edited.rating, edited.title, edited.text, edited.aspects.value) == (5, None, "Fast and accurate", 5)
    with pytest.raises(AISystemError) as excinfo:  # the review belongs to another listing
        service.delete_review(session=session, actor=actors["ml_engineer"], listing_id=market.beta,
                              review_id=review.id)
    assert code_of(excinfo) == "MARKET_001"
    service.delete_review(session=session, actor=actors["admin"], listing_id=market.alpha, review_id=review.id,
                          reason="spam")
    removal = session.exec(select(AuditRecord).where(AuditRecord.action == "marketplace.review.remove")).one()
    assert removal.actor_name == "admin" and removal.summary["reason"] == "spam"
    assert removal.summary["authorName"] == "Mina Engineer" and removal.summary["rating"] == 5


def test_reviews_by_subscribers_are_verified_use(session, actors, market):
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic")
    verified = service.create_review(session=session, actor=actors["business_user"], listing_id=market.alpha, rating=5)
    other = service.create_review(session=session, actor=actors["ml_engineer"], listing_id=market.alpha, rating=2)
    assert verified.verified_use and not other.verified_use
    rows, _ = service.list_reviews(session=session, actor=actors["admin"], listing_id=market.alpha, params=PAGE,
                                   verified_only=True)
    assert [r.id for r in rows] == [verified.id]
    rows, _ = service.list_reviews(session=session, actor=actors["admin"], listing_id=market.alpha, params=PAGE,
                                   rating=2)
    assert [r.id for r in rows] == [other.id]


def test_rate_creates_then_updates(session, actors, market):
    first, created = service.rate(session=session, actor=actors["ml_ops"], listing_id=market.beta, rating=2)
    second, created_again = service.rate(session=session, actor=actors["ml_ops"], listing_id=market.beta, rating=5)
    assert created and not created_again and first.id == second.id and second.rating == 5
    assert first.title is None and first.text is None


# --- subscriptions, billing, quota ------------------------------------------------------------------

T0 = datetime(2026, 1, 1, tzinfo=UTC)  # January: a 31-day first period


def test_subscribe_creates_a_billing_record_and_a_quota(session, actors, market):
    result = service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="basic",
                               now=T0)
    assert result.action == "created"
    sub = result.subscription
    assert (sub.tier, sub.price, sub.requests_quota, sub.status) == ("Basic", 10.0, 1000, "active")
    assert (result.charge.kind, result.charge.amount, result.charge.period_index) == ("period", 10.0, 0)
    assert result.charge.period_start == T0 and result.charge.period_end == datetime(2026, 2, 1, tzinfo=UTC)
    with pytest.raises(AISystemError) as excinfo:
        service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic",
                          now=T0 + timedelta(days=1))
    assert code_of(excinfo) == "MARKET_002"


def test_tier_change_is_prorated(session, actors, market):
    buyer = actors["business_user"]
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic", now=T0)
    up = service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Pro",
                           now=T0 + timedelta(days=15, hours=12))  # half of the 31-day period left
    assert up.action == "changed"
    assert (up.charge.kind, up.charge.amount, up.charge.tier) == ("proration", 20.0, "Pro")  # (50 − 10) × 0.5
    assert up.subscription.requests_quota == 10000 and up.subscription.price == 50.0
    down = service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic",
                             now=T0 + timedelta(days=23, hours=6))  # a quarter left
    assert down.charge.amount == -10.0  # (10 − 50) × 0.25: a credit
    assert service.prorated_cents(old_cents=1000, new_cents=5000, period_start=T0,
                                  period_end=T0 + timedelta(days=3), at=T0 + timedelta(days=1)) == 2667


def test_contact_tiers_unknown_tiers_and_commercial_licence_rule(session, actors, market):
    with pytest.raises(AISystemError) as excinfo:
        service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Enterprise")
    assert code_of(excinfo) == "MARKET_003" and excinfo.value.details["reason"] == "contact_sales"
    with pytest.raises(AISystemError) as excinfo:
        service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Gold")
    assert code_of(excinfo) == "REQ_001"
    # business_user's cost centre CC-SALES is commercial; Beta Chat is CC-BY-NC-4.0
    with pytest.raises(AISystemError) as excinfo:
        service.subscribe(session=session, actor=actors["business_user"], listing_id=market.beta, tier="Community")
    error = excinfo.value
    assert error.code == "MARKET_003" and error.details["reason"] == "commercial_use_forbidden"
    assert "CC-BY-NC-4.0" in error.message and "CC-SALES" in error.message
    info = service.license_info(session=session, actor=actors["business_user"], listing_id=market.beta)
    assert not info.your_use.allowed and info.your_use.reason == error.message
    # a non-commercial cost centre may
    ok = service.subscribe(session=session, actor=actors["ml_engineer"], listing_id=market.beta, tier="Community")
    assert ok.action == "created" and ok.charge.amount == 0 and ok.subscription.requests_quota == "Unlimited"


def test_cancel_stops_at_period_end_and_resume(session, actors, market, demo_users):
    buyer = actors["business_user"]
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic", now=T0)
    cancelled = service.cancel_subscription(session=session, actor=buyer, listing_id=market.alpha,
                                            now=T0 + timedelta(days=3))
    assert cancelled.status == "cancelling" and cancelled.ends_at == datetime(2026, 2, 1, tzinfo=UTC)
    resumed = service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic",
                                now=T0 + timedelta(days=4))
    assert resumed.action == "resumed" and resumed.charge is None and not resumed.subscription.cancel_at_period_end
    service.cancel_subscription(session=session, actor=buyer, listing_id=market.alpha, now=T0 + timedelta(days=5))
    # still usable until the period ends, then ended without a new charge
    service.record_usage(session=session, listing_id=market.alpha, user_id=demo_users["business_user"], requests=10,
                         at=T0 + timedelta(days=30))
    after = service.record_usage(session=session, listing_id=market.alpha, user_id=demo_users["business_user"],
                                 requests=10, at=T0 + timedelta(days=40))
    assert after.subscription_id is None  # unmetered: the subscription has ended
    sub = session.exec(select(Subscription)).one()
    assert sub.status == "ended" and sub.ended_at == datetime(2026, 2, 1, tzinfo=UTC)
    charges = session.exec(select(BillingRecord).where(BillingRecord.kind == "period")).all()
    assert [c.period_index for c in charges] == [0]
    with pytest.raises(AISystemError) as excinfo:
        service.cancel_subscription(session=session, actor=buyer, listing_id=market.alpha,
                                    now=T0 + timedelta(days=41))
    assert code_of(excinfo) == "MARKET_001"
    again = service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Pro",
                              now=T0 + timedelta(days=42))
    assert again.action == "created" and again.subscription.id != sub.id


def test_each_period_is_billed_once(session, actors, market, demo_users):
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic", now=T0)
    service.record_usage(session=session, listing_id=market.alpha, user_id=demo_users["business_user"],
                         at=T0 + timedelta(days=70))  # 12 March: the third period
    service.record_usage(session=session, listing_id=market.alpha, user_id=demo_users["business_user"],
                         at=T0 + timedelta(days=71))
    rows = session.exec(select(BillingRecord).order_by(BillingRecord.period_index)).all()
    assert [(r.period_index, r.amount_cents, r.period_start.month) for r in rows] == [(0, 1000, 1), (1, 1000, 2),
                                                                                       (2, 1000, 3)]
    assert service.renew_subscriptions(session=session, now=T0 + timedelta(days=71)) == 0
    assert service.renew_subscriptions(session=session, now=T0 + timedelta(days=100)) == 1
    assert "marketplace.subscription.renew" in actions(session)


def test_quota_counts_requests_per_period(session, actors, market, demo_users):
    user = demo_users["business_user"]
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic", now=T0)
    assert service.record_usage(session=session, listing_id=market.alpha, user_id=user, requests=600,
                                at=T0 + timedelta(days=1)).requests_remaining == 400
    assert service.record_usage(session=session, listing_id=market.alpha, user_id=user, requests=400,
                                at=T0 + timedelta(days=2)).requests_remaining == 0
    with pytest.raises(AISystemError) as excinfo:
        service.record_usage(session=session, listing_id=market.alpha, user_id=user, at=T0 + timedelta(days=3))
    assert code_of(excinfo) == "INFER_004" and excinfo.value.status == 429
    assert excinfo.value.details["quota"] == 1000 and excinfo.value.details["used"] == 1000
    # an upgrade raises the quota for the same period; the 1000 already used still count
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Pro",
                      now=T0 + timedelta(days=3))
    assert service.record_usage(session=session, listing_id=market.alpha, user_id=user, requests=1,
                                at=T0 + timedelta(days=3)).requests_used == 1001
    # the next period starts from zero
    assert service.record_usage(session=session, listing_id=market.alpha, user_id=user, requests=5,
                                at=T0 + timedelta(days=32)).requests_used == 5
    sub = session.exec(select(Subscription)).one()
    assert service.requests_used(session, sub, 0) == 1001 and service.requests_used(session, sub, 1) == 5


def test_usage_report_is_your_own(session, actors, market, demo_users):
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic")
    service.record_usage(session=session, listing_id=market.alpha, user_id=demo_users["business_user"], requests=7,
                         latency_ms=30)
    service.record_usage(session=session, listing_id=market.alpha, user_id=demo_users["ml_ops"], requests=100)
    report = service.usage_report(session=session, actor=actors["business_user"], listing_id=market.alpha, days=7)
    assert report.subscription.requests_used == 7 and report.subscription.requests_remaining == 993
    assert report.totals.requests == 7 and report.totals.average_latency == 30.0
    assert len(report.daily) == 7 and report.daily[-1].requests == 7
    assert [b.amount for b in report.billing] == [10.0]
    other = service.usage_report(session=session, actor=actors["ml_ops"], listing_id=market.alpha)
    assert other.subscription is None and other.totals.requests == 100 and other.billing == []


# --- purchases -----------------------------------------------------------------------------------


def test_purchase_once_where_sold(session, actors, market):
    bought = service.purchase(session=session, actor=actors["business_user"], listing_id=market.gamma)
    assert (bought.amount, bought.license_type) == (5000.0, "Commercial")
    with pytest.raises(AISystemError) as excinfo:
        service.purchase(session=session, actor=actors["business_user"], listing_id=market.gamma)
    assert code_of(excinfo) == "MARKET_002"
    with pytest.raises(AISystemError) as excinfo:
        service.purchase(session=session, actor=actors["business_user"], listing_id=market.alpha)
    assert code_of(excinfo) == "MARKET_003" and excinfo.value.details["reason"] == "not_for_sale"
    assert doc(session, actors["admin"], market.gamma).usage.total_downloads == 1
    pricing = service.pricing_info(session=session, actor=actors["business_user"], listing_id=market.gamma)
    assert pricing.purchased and pricing.one_time_price == 5000.0
    # a licence holder's review is verified use
    assert service.create_review(session=session, actor=actors["business_user"], listing_id=market.gamma,
                                 rating=4).verified_use


# --- favourites ----------------------------------------------------------------------------------


def test_favourites_are_per_user(session, actors, market):
    me = actors["data_engineer"]
    assert service.add_favorite(session=session, actor=me, listing_id=market.beta)[1] is True
    assert service.add_favorite(session=session, actor=me, listing_id=market.beta)[1] is False
    service.add_favorite(session=session, actor=me, listing_id=market.delta)
    mine, _ = service.list_favorites(session=session, actor=me, params=PAGE)
    assert {d.name for d in mine} == {"Beta Chat", "Delta Embed"}
    assert service.list_favorites(session=session, actor=actors["ml_ops"], params=PAGE)[0] == []
    assert service.remove_favorite(session=session, actor=me, listing_id=market.beta) is True
    assert service.remove_favorite(session=session, actor=me, listing_id=market.beta) is False
    assert actions(session, "marketplace.favorite") == ["marketplace.favorite.add"] * 2 + ["marketplace.favorite.remove"]


# --- publishing --------------------------------------------------------------------------------------


EXTERNAL = {"category": "vision", "provider": "acme-ai", "licenses": [{"type": "MIT", "commercialUse": True}]}


@pytest.mark.parametrize("role", ["ml_engineer", "data_scientist", "business_user"])
def test_only_curators_publish_edit_and_remove_external_listings(session, actors, market, role):
    with pytest.raises(PermissionDenied) as excinfo:
        service.create_listing(session=session, actor=actors[role], data=listing_body("Nope", **EXTERNAL))
    assert excinfo.value.details["permission"] == "marketplace:write"
    with pytest.raises(PermissionDenied):
        service.update_listing(session=session, actor=actors[role], listing_id=market.alpha,
                               data=s.ListingUpdate(name="Hijacked"))
    with pytest.raises(PermissionDenied) as excinfo:
        service.remove_listing(session=session, actor=actors[role], listing_id=market.alpha)
    assert excinfo.value.details["permission"] == "marketplace:delete"


def test_update_replaces_lists_and_keeps_the_rest(session, actors, market):
    updated = service.update_listing(session=session, actor=actors["admin"], listing_id=market.alpha,
                                     data=s.ListingUpdate.model_validate({
                                         "version": "2.0.0", "tags": ["vision"],
                                         "pricing": {"model": "subscription",
                                                     "tiers": [{"name": "Solo", "price": 5, "requests": 100}]}}))
    assert updated.version == "2.0.0" and updated.tags == ["vision"] and updated.name == "Alpha Vision"
    assert [t.name for t in updated.pricing.tiers] == ["Solo"] and updated.pricing.price_from == 5.0
    assert updated.slug == "alpha-vision"


def test_removal_hides_the_listing_and_ends_subscriptions_at_period_end(session, actors, market):
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic")
    service.remove_listing(session=session, actor=actors["admin"], listing_id=market.alpha)
    with pytest.raises(AISystemError) as excinfo:
        doc(session, actors["admin"], market.alpha)
    assert code_of(excinfo) == "MARKET_001"
    assert "Alpha Vision" not in {i.name for i in run_search(session, actors["admin"]).items}
    sub = session.exec(select(Subscription)).one()
    assert sub.cancel_at_period_end and sub.ends_at is not None


@pytest.fixture
def fraud_model(session, actors) -> str:
    """A real catalog model with two versions, metrics and an endpoint: the source of a company listing."""
    engineer = actors["ml_engineer"]
    model = registry_service.create_model(session=session, actor=engineer, embed=False, data=ModelCreate.model_validate({
        "name": "Fraud Detector", "type": "Tabular", "category": "Computer Vision", "framework": "PyTorch",
        "version": "1.1.0", "parameters": 12_000_000,
        "metadata": {"description": "Card fraud scoring", "tags": ["fraud", "tabular", "card_payments"],
                     "license": "Proprietary"},
        "performance": {"accuracy": 0.97, "f1Score": 0.91}, "deployment": {"endpoints": ["endpoint_1"]}}))
    registry_service.create_version(session=session, actor=engineer, model_id=model.id,
                                    data=VersionCreate(version="1.2.0"))
    session.flush()
    return model.id


def test_company_model_published_from_the_catalog(session, actors, market, fraud_model):
    engineer = actors["ml_engineer"]
    listing = service.create_listing(session=session, actor=engineer, data=s.ListingCreate(source_model_id=fraud_model))
    assert (listing.name, listing.version, listing.category, listing.visibility) == (
        "Fraud Detector", "1.2.0", "Computer Vision", "internal")
    assert listing.provider.slug == "company" and listing.provider.verified and "company" in listing.badges
    assert listing.tags == ["fraud", "tabular"] and listing.license.type == "Proprietary"
    assert listing.specifications.parameters == 12_000_000 and listing.specifications.accuracy == 0.97
    detail = doc(session, actors["business_user"], listing.id)
    assert detail.source_model.available and detail.source_model.versions == ["1.2.0", "1.1.0"]
    assert detail.source_model.metrics["f1Score"] == 0.91 and detail.source_model.endpoints == ["endpoint_1"]
    with pytest.raises(AISystemError) as excinfo:
        service.create_listing(session=session, actor=actors["admin"], data=s.ListingCreate(source_model_id=fraud_model))
    assert code_of(excinfo) == "MARKET_002" and excinfo.value.details["listingId"] == listing.id
    # the publisher edits their listing, but does not curate /featured
    service.update_listing(session=session, actor=engineer, listing_id=listing.id,
                           data=s.ListingUpdate(description="Scores card payments"))
    with pytest.raises(PermissionDenied):
        service.update_listing(session=session, actor=engineer, listing_id=listing.id,
                               data=s.ListingUpdate(featured_rank=1))
    with pytest.raises(PermissionDenied):  # someone else's company listing
        service.update_listing(session=session, actor=actors["data_scientist"], listing_id=listing.id,
                               data=s.ListingUpdate(description="x"))
    service.remove_listing(session=session, actor=engineer, listing_id=listing.id)
    again = service.create_listing(session=session, actor=engineer, data=s.ListingCreate(source_model_id=fraud_model))
    assert again.id != listing.id
    assert service.find_listing_for_model(session=session, model_id=fraud_model).id == again.id


def test_company_publishing_needs_model_write_and_a_visible_model(session, actors, market, fraud_model):
    with pytest.raises(PermissionDenied) as excinfo:
        service.create_listing(session=session, actor=actors["data_scientist"],
                               data=s.ListingCreate(source_model_id=fraud_model))
    assert excinfo.value.details["permission"] == "model:write"
    with pytest.raises(AISystemError) as excinfo:
        service.create_listing(session=session, actor=actors["ml_engineer"],
                               data=s.ListingCreate(source_model_id="model_missing"))
    assert code_of(excinfo) == "MODEL_001"


def test_source_model_unavailable_when_deleted_or_unreadable(session, actors, market, fraud_model):
    listing = service.create_listing(session=session, actor=actors["ml_engineer"],
                                     data=s.ListingCreate(source_model_id=fraud_model))
    assert doc(session, actors["admin"], listing.id).source_model.available
    # ml_ops holds no model:read: the registry refuses, the listing still reads
    assert doc(session, actors["ml_ops"], listing.id).source_model.available is False
    registry_service.delete_model(session=session, actor=actors["admin"], model_id=fraud_model, force=True)
    assert service.lookup_source_model(session=session, actor=actors["admin"], model_id=fraud_model).available is False


# --- authorization inside the service ---------------------------------------------------------------


def test_curator_actions_refuse_a_principal_without_the_grant(session, actors, market):
    buyer = actors["business_user"]
    with pytest.raises(PermissionDenied) as excinfo:
        service.set_featured(session=session, actor=buyer, listing_ids=[market.alpha])
    assert (code_of(excinfo), excinfo.value.details["permission"]) == ("AUTH_002", "marketplace:write")
    with pytest.raises(PermissionDenied) as excinfo:
        service.update_listing(session=session, actor=buyer, listing_id=market.alpha,
                               data=s.ListingUpdate(featured_rank=1))
    assert (code_of(excinfo), excinfo.value.details["permission"]) == ("AUTH_002", "marketplace:write")


@dataclass
class NoGrants:
    """A principal whose role grants nothing (not even what every signed-in user holds)."""

    user_id: str
    username: str = "nobody"
    role: str = "nobody"
    attributes: dict = field(default_factory=dict)

    def can(self, permission: str) -> bool:
        return False


ENTRY_POINTS = {
    "search": lambda ss, a, m: service.search(session=ss, actor=a, filters=service.SearchFilters(), params=PAGE),
    "list_listings": lambda ss, a, m: service.list_listings(session=ss, actor=a, params=PAGE),
    "get_listing": lambda ss, a, m: service.get_listing(session=ss, actor=a, listing_id=m.alpha),
    "landing": lambda ss, a, m: service.landing(session=ss, actor=a),
    "trending": lambda ss, a, m: service.trending(session=ss, actor=a, params=PAGE),
    "list_categories": lambda ss, a, m: service.list_categories(session=ss, actor=a),
    "list_providers": lambda ss, a, m: service.list_providers(session=ss, actor=a, params=PAGE),
    "get_category": lambda ss, a, m: service.get_category(session=ss, actor=a, category="vision"),
    "create_review": lambda ss, a, m: service.create_review(session=ss, actor=a, listing_id=m.alpha, rating=5),
    "list_reviews": lambda ss, a, m: service.list_reviews(session=ss, actor=a, listing_id=m.alpha, params=PAGE),
    "subscribe": lambda ss, a, m: service.subscribe(session=ss, actor=a, listing_id=m.alpha, tier="Basic"),
    "list_subscriptions": lambda ss, a, m: service.list_subscriptions(session=ss, actor=a, params=PAGE),
    "purchase": lambda ss, a, m: service.purchase(session=ss, actor=a, listing_id=m.gamma),
    "usage_report": lambda ss, a, m: service.usage_report(session=ss, actor=a, listing_id=m.alpha),
    "pricing_info": lambda ss, a, m: service.pricing_info(session=ss, actor=a, listing_id=m.alpha),
    "add_favorite": lambda ss, a, m: service.add_favorite(session=ss, actor=a, listing_id=m.alpha),
    "list_favorites": lambda ss, a, m: service.list_favorites(session=ss, actor=a, params=PAGE),
    "missing listing": lambda ss, a, m: service.get_listing(session=ss, actor=a, listing_id="market_model_nope"),
}


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_points_refuse_a_principal_without_marketplace_read(session, actors, market, demo_users, name):
    nobody = NoGrants(user_id=demo_users["business_user"])
    before = actions(session)
    with pytest.raises(PermissionDenied) as excinfo:
        ENTRY_POINTS[name](session, nobody, market)
    assert (code_of(excinfo), excinfo.value.details["permission"]) == ("AUTH_002", "marketplace:read")
    assert actions(session) == before


def test_attribute_rules_see_the_listing(session, actors, market):
    """The resource reaches authorize: a rule can refuse one listing to one department."""
    seen = []

    def no_alpha_for_sales(principal, permission, resource):
        if isinstance(resource, Listing):
            seen.append((permission, resource.id))
            if resource.id == market.alpha and principal.attributes.get("department") == "sales":
                return "the sales department may not use this listing"
        return None

    add_attribute_rule(no_alpha_for_sales)
    try:
        sales = dataclasses.replace(actors["business_user"], attributes={"department": "sales"})
        with pytest.raises(PermissionDenied) as excinfo:
            service.subscribe(session=session, actor=sales, listing_id=market.alpha, tier="Basic")
        assert code_of(excinfo) == "AUTH_002" and "sales department" in excinfo.value.details["reason"]
        assert service.get_listing(session=session, actor=sales, listing_id=market.beta).name == "Beta Chat"
        assert service.get_listing(session=session, actor=actors["business_user"], listing_id=market.alpha)
    finally:
        remove_attribute_rule(no_alpha_for_sales)
    assert ("marketplace:read", market.alpha) in seen and ("marketplace:read", market.beta) in seen


def test_every_mutation_is_audited(session, actors, market, demo_users):
    buyer = actors["business_user"]
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Basic")
    service.subscribe(session=session, actor=buyer, listing_id=market.alpha, tier="Pro")
    service.cancel_subscription(session=session, actor=buyer, listing_id=market.alpha)
    service.purchase(session=session, actor=buyer, listing_id=market.gamma)
    r = service.create_review(session=session, actor=buyer, listing_id=market.alpha, rating=4)
    service.update_review(session=session, actor=buyer, listing_id=market.alpha, review_id=r.id,
                          changes=s.ReviewUpdate(rating=3))
    service.rate(session=session, actor=buyer, listing_id=market.alpha, rating=2)
    service.delete_review(session=session, actor=buyer, listing_id=market.alpha, review_id=r.id)
    service.remove_listing(session=session, actor=actors["admin"], listing_id=market.delta)
    session.commit()  # the unit of work refuses a commit that changed audited rows without a record
    assert actions(session)[-9:] == [
        "marketplace.subscription.create", "marketplace.subscription.change", "marketplace.subscription.cancel",
        "marketplace.purchase.create", "marketplace.review.create", "marketplace.review.update",
        "marketplace.review.rate", "marketplace.review.delete", "marketplace.listing.remove"]
