"""Demo marketplace: categories, providers and listings from `seed_data.py`, plus generated demo reviews,
usage, one subscription and favourites, and a few company models from the demo catalog when its seed
has run. Idempotent: what exists (by slug) is left alone; demo activity is generated only for listings
created in this run.

Demo reviews and usage come from `random.Random` seeded with a fixed string per listing, so every
install gets the same figures (relative to the day it was seeded); they are stored with `is_demo`.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.models import User
from backend.auth.principal import SYSTEM, Principal
from backend.auth.service import principal_for
from backend.catalog.model_registry import service as registry_service
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.pagination import PageParams
from backend.core.timeutil import utcnow
from backend.marketplace import schemas as s
from backend.marketplace import service
from backend.marketplace.models import (
    Category,
    Favorite,
    Listing,
    Provider,
    Review,
    Subscription,
    UsageCounter,
)
from backend.marketplace.seed_data import (
    CATEGORIES,
    LICENSES,
    LISTINGS,
    PRICING,
    PROVIDERS,
    REVIEW_TEXTS,
    REVIEWER_NAMES,
)
from backend.marketplace.service import search_index
from backend.marketplace.service.categories import COMPANY_PROVIDER_SLUG
from backend.marketplace.service.counters import count_usage
from backend.marketplace.service.text import slugify

log = logging.getLogger(__name__)

DEMO_SEED = "aisystem-marketplace-demo-1"
DEMO_DAYS = 90
COMPANY_MODELS_MAX = 4
COMPANY_PRICING = {"model": "subscription", "tiers": [
    {"name": "Team", "price": 0, "requests": 100_000, "features": ["Served by the platform", "Internal chargeback"]},
    {"name": "Department", "price": 250, "requests": 2_000_000, "features": ["Priority capacity", "Usage reports"]},
    {"name": "Enterprise", "price": "Contact", "requests": "Unlimited", "features": ["Dedicated endpoint", "SLA"]},
]}
OPEN_PRICING = {"open", "open-supported", "research", "ultralytics"}


def seed_marketplace(session: Session) -> str:
    """The demo marketplace (the marketplace domain's seed step)."""
    now = utcnow()
    categories = _ensure_categories(session)
    providers = _ensure_providers(session)
    created = _ensure_listings(session, now)
    corrected = correct_stale_facts(session)
    reviews = usage = 0
    for listing, entry in created:
        used = demo_usage(entry, listing.id, now.date())
        usage += _insert(session, UsageCounter, used)
        reviews += _insert(session, Review, demo_reviews(entry, listing.id, now,
                                                         consumers=sorted({r["consumer"] for r in used})))
    extras = _demo_customer(session, {lst.slug: lst for lst, _ in created}, now)
    company = publish_company_models(session)
    if created or company or corrected:  # one embedding job: every listing without a vector, and changed ones
        search_index.schedule_embeddings(session=session, actor=SYSTEM, listing_ids=[
            *search_index.missing_embeddings(session=session, limit=1000),
            *session.exec(select(Listing.id).where(col(Listing.slug).in_(corrected))).all()])
    contacts = _demo_contacts(session)
    if categories or providers or created or company or extras or contacts:
        audit.record(session=session, actor=None, actor_name="seed", action="marketplace.seed",
                     entity_type="marketplace_listing",
                     summary={"categories": categories, "providers": providers, "listings": len(created),
                              "demoReviews": reviews, "demoUsageRows": usage, "companyModels": company,
                              "demoContacts": contacts})
    if not (created or company):
        return f"marketplace present; corrected {', '.join(corrected)}" if corrected else "marketplace present"
    return (f"{len(created)} listings, {categories} categories, {providers} providers, {reviews} demo reviews, "
            f"{usage} demo usage rows, {company} company models")


def _ensure_categories(session: Session) -> int:
    have = set(session.exec(select(Category.slug)).all())
    for position, (slug, name, icon, description) in enumerate(CATEGORIES):
        if slug not in have:
            session.add(Category(id=new_id("category"), slug=slug, name=name, icon=icon, description=description,
                                 position=position))
    session.flush()
    return len([c for c in CATEGORIES if c[0] not in have])


def demo_contact(slug: str) -> str:
    """A made-up sales address for a seeded provider (example.com is reserved: mail to it reaches no one)."""
    return f"sales@{slug}.example.com"


def _ensure_providers(session: Session) -> int:
    have = set(session.exec(select(Provider.slug)).all())
    for slug, name, verified, website in PROVIDERS:
        if slug not in have:
            session.add(Provider(id=new_id("provider"), slug=slug, name=name, verified=verified, website=website,
                                 description=f"{name} — models listed from public model cards.",
                                 contact_email=demo_contact(slug), contact_is_demo=True))
    session.flush()
    return len([p for p in PROVIDERS if p[0] not in have])


def listing_input(entry: dict[str, Any]) -> s.ListingCreate:
    """The publishing document of one seed entry."""
    specs = {**entry["specs"], "parameters": entry["params"], "contextLength": entry["context"]}
    provider_site = next(p[3] for p in PROVIDERS if p[0] == entry["provider"])
    support = entry["support"] or {"documentation": provider_site, "responseTime": "Community forum",
                                   "languages": ["English"]}
    return s.ListingCreate.model_validate({
        "name": entry["name"], "category": entry["category"], "provider": entry["provider"],
        "version": entry["version"], "releaseDate": entry["releaseDate"], "lastUpdated": entry["lastUpdated"],
        "description": entry["description"], "features": entry["features"], "specifications": specs,
        "pricing": PRICING[entry["pricing"]], "licenses": LICENSES[entry["license"]], "support": support,
        "tags": entry["tags"], "featuredRank": entry["featured"], "visibility": "public",
    })


def _ensure_listings(session: Session, now: datetime) -> list[tuple[Listing, dict[str, Any]]]:
    have = set(session.exec(select(Listing.slug)).all())
    created = []
    for entry in LISTINGS:
        if slugify(entry["name"]) in have:
            continue
        listing = service.publish_listing(session=session, actor=SYSTEM, data=listing_input(entry), embed=False)
        created.append((listing, entry))
    return created


# Facts earlier versions of this seed stated wrongly: slug -> {field: the wrong value}. A listing that still
# states one gets the value of `seed_data` (a value a curator has changed since is left alone).
STALE_FACTS: dict[str, dict[str, Any]] = {
    "gemini-1-5-pro": {"release_date": date(2024, 5, 14), "last_updated": date(2024, 5, 14),
                       "description": "Google's long-context multimodal model: up to 2 million input tokens."},
    "code-llama-34b": {"context_length": 16_384, "description": "Llama 2 specialised for code generation and "
                                                                "infilling; trained on 16K-token sequences."},
    "llava-next-mistral-7b": {"provider": "hugging-face"},
    "stable-diffusion-v1-5": {"provider": "stability-ai", "description": "The widely used latent diffusion "
                                                                         "text-to-image model, under CreativeML OpenRAIL-M."},
    "claude-3-5-sonnet": {"features": ["200K-token context", "Vision", "Tool use", "Computer use (beta)"]},
    "gpt-4o": {"last_updated": date(2024, 5, 13)},
}


def correct_stale_facts(session: Session) -> list[str]:
    """Give seeded listings that still state a fact STALE_FACTS names the value of `seed_data`; returns
    the slugs corrected."""
    entries = {slugify(e["name"]): e for e in LISTINGS}
    providers = {p.slug: p for p in session.exec(select(Provider)).all()}
    corrected = []
    for slug, stale in STALE_FACTS.items():
        listing = session.exec(select(Listing).where(Listing.slug == slug, col(Listing.removed_at).is_(None))).first()
        entry = entries.get(slug)
        if listing is None or entry is None:
            continue
        right = {"release_date": date.fromisoformat(entry["releaseDate"]),
                 "last_updated": date.fromisoformat(entry["lastUpdated"]), "context_length": entry["context"],
                 "description": entry["description"], "features": entry["features"], "provider": entry["provider"]}
        current_provider = next((k for k, v in providers.items() if v.id == listing.provider_id), None)
        changed = []
        for field, wrong in stale.items():
            if field == "provider":
                if current_provider == wrong and right["provider"] in providers:
                    listing.provider_id = providers[right["provider"]].id
                    changed.append(field)
            elif getattr(listing, field) == wrong:
                setattr(listing, field, right[field])
                changed.append(field)
        if changed:
            listing.updated_at = utcnow()
            session.add(listing)
            session.flush()
            search_index.index_listing(session, listing)
            audit.record(session=session, actor=None, actor_name="seed", action="marketplace.listing.update",
                         entity_type="marketplace_listing", entity_id=listing.id,
                         summary={"fields": changed, "reason": "corrected a fact of the public model card"})
            corrected.append(slug)
    return corrected


def _insert(session: Session, table: type, rows: list[dict[str, Any]]) -> int:
    if rows:
        session.execute(insert(table), rows)
    return len(rows)


def _clamp(value: float, low: int = 1, high: int = 5) -> int:
    return max(low, min(high, round(value)))


def demo_reviews(entry: dict[str, Any], listing_id: str, now: datetime,
                 consumers: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Deterministic demo reviews of one listing (rows for `marketplace_review`), each written as a demo
    consumer: about half by consumers of the listing's demo usage (`consumers`), marked verified use, the
    others by consumers without usage of it, never marked verified."""
    rng = random.Random(f"{DEMO_SEED}:reviews:{entry['name']}")
    users = list(consumers)
    rng.shuffle(users)
    used = set(users)
    popularity = entry["popularity"]
    quality = rng.uniform(3.5, 4.6) + (0.2 if popularity >= 4 else 0.0)
    released = datetime.fromisoformat(entry["releaseDate"]).replace(tzinfo=UTC)
    since = max(released, now - timedelta(days=720))
    rows = []
    for _ in range(rng.randint(2, 6) * popularity):
        overall = _clamp(rng.gauss(quality, 0.8))
        sentiment = "good" if overall >= 4 else "mixed" if overall == 3 else "bad"
        title, text = rng.choice(REVIEW_TEXTS[sentiment]) if rng.random() < 0.75 else (None, None)
        aspects = {a: (_clamp(overall + rng.choice((-1, 0, 0, 0, 1))) if rng.random() < 0.8 else None)
                   for a in service.ASPECTS}
        at = since + (now - since) * rng.random()
        verified = bool(users) and rng.random() < 0.5
        if verified:
            consumer = users.pop()
        else:  # someone who never used it (one review per consumer)
            consumer = f"demo:{rng.randrange(10_000):04d}"
            while consumer in used:
                consumer = f"demo:{rng.randrange(10_000):04d}"
        used.add(consumer)
        rows.append({"id": new_id("review"), "listing_id": listing_id, "user_id": None,
                     "author_name": rng.choice(REVIEWER_NAMES), "overall": overall, **aspects, "title": title,
                     "text": text, "verified_use": verified, "is_demo": True, "demo_consumer": consumer,
                     "created_at": at, "updated_at": at})
    return rows


def demo_usage(entry: dict[str, Any], listing_id: str, today: date) -> list[dict[str, Any]]:
    """Deterministic demo usage of one listing (rows for `marketplace_usage`): a population of demo
    users, each active on a few days of the last 90; busy ("hot") listings cluster in recent days."""
    rng = random.Random(f"{DEMO_SEED}:usage:{entry['name']}")
    popularity = entry["popularity"]
    base = {1: 20, 2: 60, 3: 150, 4: 400, 5: 1000}[popularity]
    mean_age = 5 if entry["hot"] else 35
    downloads_possible = entry["pricing"] in OPEN_PRICING
    counters: dict[tuple[str, date], dict[str, Any]] = {}
    for _ in range(popularity * rng.randint(3, 9)):
        consumer = f"demo:{rng.randrange(10_000):04d}"
        first = True
        for _ in range(rng.randint(1, 10)):
            day = today - timedelta(days=min(int(rng.expovariate(1 / mean_age)), DEMO_DAYS - 1))
            requests = max(1, int(base * rng.lognormvariate(0, 0.8)))
            row = counters.setdefault((consumer, day), {
                "listing_id": listing_id, "consumer": consumer, "day": day, "subscription_id": "",
                "period_index": -1, "requests": 0, "downloads": 0, "latency_ms_total": 0.0, "latency_samples": 0,
                "is_demo": True, "updated_at": utcnow()})
            row["requests"] += requests
            row["latency_ms_total"] += requests * entry["latency"] * rng.uniform(0.85, 1.2)
            row["latency_samples"] += requests
            if first and downloads_possible and rng.random() < 0.6:
                row["downloads"] += 1
            first = False
    return sorted(counters.values(), key=lambda r: (r["consumer"], r["day"]))


def _user(session: Session, username: str) -> Principal | None:
    user = session.exec(select(User).where(User.username == username)).first()
    return principal_for(user, credential_id=None, credential_type="system") if user else None


def _demo_customer(session: Session, created: dict[str, Listing], now: datetime) -> int:
    """business_user subscribes to SmartVision AI (Pro) 12 days ago and uses it; two favourites."""
    buyer = _user(session, "business_user")
    smartvision = created.get("smartvision-ai")
    if buyer is None or smartvision is None:
        return 0
    started = now - timedelta(days=12)
    result = service.subscribe(session=session, actor=buyer, listing_id=smartvision.id, tier="Pro", now=started)
    sub = session.get(Subscription, result.subscription.id)
    sub.is_demo = True
    session.add(sub)
    rng = random.Random(f"{DEMO_SEED}:customer")
    for days_ago in range(12, -1, -1):
        at = now - timedelta(days=days_ago)
        count_usage(session, listing_id=smartvision.id, consumer=buyer.user_id, day=at.date(),
                    subscription_id=sub.id, period_index=service.period_index_at(sub, at),
                    requests=rng.randint(300, 900), latency_ms=rng.uniform(40, 55), is_demo=True)
    for slug in ("gpt-4o", "whisper-large-v3"):
        if slug in created:
            session.add(Favorite(user_id=buyer.user_id, listing_id=created[slug].id, created_at=now))
    session.flush()
    return 1


def _demo_contacts(session: Session) -> int:
    """Demo sales addresses for the seeded providers without one (seeded before providers had a contact)
    and for the company provider (a real install sets its own, or its publishers are asked)."""
    seeded = {slug for slug, *_rest in PROVIDERS} | {COMPANY_PROVIDER_SLUG}
    rows = session.exec(select(Provider).where(col(Provider.slug).in_(seeded), col(Provider.contact_email).is_(None))).all()
    for row in rows:
        row.contact_email = demo_contact(row.slug) if row.slug != COMPANY_PROVIDER_SLUG else "ai-platform@company.example.com"
        row.contact_is_demo = True
        session.add(row)
    session.flush()
    return len(rows)


def publish_company_models(session: Session) -> int:
    """Publish up to four demo catalog models as company listings, if the catalog (and its seed) is there.
    Models in deployment or monitoring come first."""
    rows, _cursor = registry_service.list_models(session=session, actor=SYSTEM, params=PageParams(limit=200))
    rows = sorted(rows, key=lambda m: (m.status not in ("deployment", "monitoring"), m.name))
    publisher = _user(session, "ml_engineer") or SYSTEM
    listed = len(session.exec(select(Listing.id).where(col(Listing.source_model_id).is_not(None))).all())
    published = 0
    for model in rows:
        if listed + published >= COMPANY_MODELS_MAX:
            break
        category = service.category_for_model(session, model)
        if category is None or service.find_listing_for_model(session=session, model_id=model.id):
            continue
        try:
            with session.begin_nested():
                service.publish_listing(session=session, actor=publisher, data=s.ListingCreate.model_validate(
                    {"sourceModelId": model.id, "category": category.slug, "pricing": COMPANY_PRICING}), embed=False)
        except AISystemError as exc:
            log.warning("company model %s not published: %s", model.id, exc)
            continue
        published += 1
    return published
