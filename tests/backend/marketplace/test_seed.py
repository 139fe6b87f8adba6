"""The demo marketplace: size, the design's example listing, idempotence, deterministic demo data, and
the browse page's first results on the seeded catalogue."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import func, select

from backend.catalog.model_registry import seed as catalog_seed
from backend.core.pagination import PageParams
from backend.marketplace import seed, service
from backend.marketplace.models import Category, Listing, Review, UsageCounter
from backend.marketplace.seed_data import LISTINGS
from tests.backend.marketplace.conftest import principal


@pytest.fixture
def seeded(session, demo_users):
    summary = seed.seed_marketplace(session)
    session.commit()
    return summary


def test_seed_builds_a_realistic_marketplace(session, seeded):
    count = lambda model: session.exec(select(func.count()).select_from(model)).one()  # noqa: E731
    assert count(Listing) >= 60 and count(Category) >= 8
    assert len(set(session.exec(select(Listing.provider_id)).all())) >= 12
    assert count(Review) > 300 and count(UsageCounter) > 3000
    assert session.exec(select(func.count()).select_from(Review).where(Review.is_demo.is_(False))).one() == 0
    admin = principal(session, "admin")
    smart = service.get_listing(session=session, actor=admin, listing_id="smartvision-ai")
    assert (smart.name, smart.version, smart.category, smart.provider.name) == (
        "SmartVision AI", "3.2.1", "Computer Vision", "AI Solutions Inc.")
    assert str(smart.release_date) == "2024-01-15" and str(smart.last_updated) == "2024-01-20"
    assert [(t.name, t.price, t.requests) for t in smart.pricing.tiers] == [
        ("Basic", 299.0, 10000), ("Pro", 499.0, 50000), ("Enterprise", "Contact", "Unlimited")]
    assert smart.license.restrictions == ["No redistribution", "Attribution required"]
    assert smart.specifications.speed == "50 FPS" and smart.support.email == "support@aisolutions.example.com"
    assert smart.usage.subscribers == 1 and smart.ratings.review_count > 0
    llama = service.get_listing(session=session, actor=admin, listing_id="llama-3-1-8b-instruct")
    assert (llama.specifications.parameters, llama.specifications.context_length) == (8_000_000_000, 131_072)
    assert llama.license.type == "Llama 3.1 Community License" and llama.license.commercial_use
    types = {lic.type for d in service.list_listings(session=session, actor=admin, params=PageParams(limit=500))[0]
             for lic in d.licenses}
    assert {"Apache-2.0", "MIT", "Llama 3.1 Community License", "CreativeML OpenRAIL-M", "AGPL-3.0",
            "Commercial", "CC-BY-NC-4.0"} <= types


def test_seed_is_idempotent(session, seeded):
    before = session.exec(select(func.count()).select_from(Listing)).one()
    reviews = session.exec(select(func.count()).select_from(Review)).one()
    assert seed.seed_marketplace(session) == "marketplace present"
    assert session.exec(select(func.count()).select_from(Listing)).one() == before
    assert session.exec(select(func.count()).select_from(Review)).one() == reviews
    assert before == len(LISTINGS)


def test_demo_data_is_deterministic():
    now = datetime(2026, 6, 1, tzinfo=UTC)
    entry = LISTINGS[0]
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("id", "updated_at")} for r in rows]  # noqa: E731
    assert strip(seed.demo_reviews(entry, "x", now)) == strip(seed.demo_reviews(entry, "x", now))
    assert strip(seed.demo_usage(entry, "x", now.date())) == strip(seed.demo_usage(entry, "x", now.date()))
    assert strip(seed.demo_usage(entry, "x", now.date())) != strip(seed.demo_usage(LISTINGS[1], "x", now.date()))


def test_discovery_on_the_seeded_catalogue(session, seeded):
    user = principal(session, "business_user")
    featured, _ = service.featured(session=session, actor=user, params=PageParams(limit=5))
    assert [d.name for d in featured] == ["GPT-4o", "Llama 3.1 8B Instruct", "Claude 3.5 Sonnet", "SmartVision AI",
                                         "Whisper large-v3"]
    trending, _ = service.trending(session=session, actor=user, params=PageParams(limit=10))
    assert len(trending) == 10 and trending[0].score >= trending[-1].score > 0


def test_browse_first_page_with_a_query_and_a_category(session, seeded):
    # How fast it answers is bench/catalog.py's business, not a timed test's (the time moves with the load).
    user = principal(session, "business_user")
    result = service.search(session=session, actor=user, params=PageParams(limit=24),
                            filters=service.SearchFilters(q="chat", categories=("generative-ai",), sort="rating"))
    assert result.items and result.facets.category


def test_company_models_from_the_catalog_seed(session, demo_users):
    """With the catalog's demo models in place, the seed publishes a few of them as company listings."""
    catalog_seed.seed_models(session)
    session.commit()
    seed.seed_marketplace(session)
    session.commit()
    company = session.exec(select(Listing).where(Listing.source_model_id.is_not(None))).all()
    assert 1 <= len(company) <= seed.COMPANY_MODELS_MAX
    engineer = principal(session, "ml_engineer")
    detail = service.get_listing(session=session, actor=engineer, listing_id=company[0].id)
    assert detail.provider.slug == "company" and detail.visibility == "internal" and "company" in detail.badges
    assert detail.source_model.available and detail.source_model.name == detail.name
    assert detail.source_model.versions  # the catalog's versions, newest first
    assert [t.name for t in detail.pricing.tiers] == ["Team", "Department", "Enterprise"]
    assert seed.seed_marketplace(session) == "marketplace present"


def test_landing_page_in_one_read(session, seeded):
    page = service.landing(session=session, actor=principal(session, "business_user"), per_row=6)
    assert [d.name for d in page.featured][:2] == ["GPT-4o", "Llama 3.1 8B Instruct"]
    assert len(page.trending) == 6 and len(page.new) == 6 and len(page.categories) >= 8
    assert page.new[0].release_date >= page.new[-1].release_date
