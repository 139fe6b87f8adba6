"""A small hand-built marketplace: four listings whose facet counts are easy to work out by hand.

| listing      | category   | provider (verified) | licence (commercial)   | from   | rating | tags                 | params | context |
|--------------|------------|---------------------|------------------------|--------|--------|----------------------|--------|---------|
| Alpha Vision | vision     | Acme AI (yes)       | Apache-2.0 (yes)       | 10     | –      | vision, detection    | 25M    | –       |
| Beta Chat    | llm        | OpenThing (no)      | CC-BY-NC-4.0 (no)      | 0      | –      | chat, llm            | 7B     | 32768   |
| Gamma Chat   | llm        | Acme AI (yes)       | Commercial (yes)       | 100    | –      | chat, enterprise     | 70B    | 131072  |
| Delta Embed  | embeddings | OpenThing (no)      | MIT (yes)              | 0      | –      | embeddings           | 335M   | 512     |
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import numpy as np
import pytest
from sqlmodel import select

from backend.audit import service as audit
from backend.auth.models import User
from backend.auth.principal import Principal
from backend.auth.service import principal_for
from backend.core import keywords, semantic
from backend.core.ids import new_id
from backend.marketplace import schemas as s
from backend.marketplace import service
from backend.marketplace.models import Category


def fake_encoder(texts: list[str]) -> np.ndarray:
    """A deterministic bag-of-stems encoder (hashing trick): tests that need no real model."""
    out = np.zeros((len(texts), semantic.DIMENSIONS), dtype=np.float32)
    for i, body in enumerate(texts):
        for word in keywords.words(body):
            out[i, int(hashlib.md5(keywords.stem(word).encode()).hexdigest(), 16) % semantic.DIMENSIONS] += 1
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


@pytest.fixture(autouse=True)
def no_broker(sent):
    """Jobs (the listings' embeddings) are recorded, not sent: these tests run no worker."""
    return sent


@pytest.fixture(autouse=True)
def encoder():
    """Search by meaning with the fake encoder (the real model has its own, slow, tests)."""
    semantic.set_encoder(fake_encoder)
    yield fake_encoder
    semantic.set_encoder(None)


def principal(session, username: str) -> Principal:
    user = session.exec(select(User).where(User.username == username)).one()
    return principal_for(user, credential_id=None, credential_type="session")


@pytest.fixture
def actors(session, demo_users) -> dict[str, Principal]:
    return {name: principal(session, name) for name in demo_users}


def make_category(session, slug: str, name: str, position: int = 0) -> Category:
    row = Category(id=new_id("category"), slug=slug, name=name, position=position)
    session.add(row)
    session.flush()
    audit.record(session=session, actor=None, actor_name="test", action="marketplace.category.create",
                 entity_type="marketplace_category", entity_id=row.id)
    return row


def listing_body(name: str, **fields) -> s.ListingCreate:
    return s.ListingCreate.model_validate({"name": name, **fields})


TIERS = [
    {"name": "Basic", "price": 10, "requests": 1000, "features": ["Standard"]},
    {"name": "Pro", "price": 50, "requests": 10000, "features": ["Priority"]},
    {"name": "Enterprise", "price": "Contact", "requests": "Unlimited", "features": ["SLA"]},
]


@dataclass
class Market:
    alpha: str
    beta: str
    gamma: str
    delta: str


@pytest.fixture
def market(session, actors) -> Market:
    make_category(session, "vision", "Computer Vision", 1)
    make_category(session, "llm", "Generative AI & LLMs", 2)
    make_category(session, "embeddings", "Embeddings & Search", 3)
    make_category(session, "empty", "Nothing Here Yet", 4)
    admin = actors["admin"]
    acme = {"name": "Acme AI", "verified": True, "website": "https://acme.example"}
    open_thing = {"name": "OpenThing"}
    alpha = service.create_listing(session=session, actor=admin, data=listing_body(
        "Alpha Vision", category="vision", provider=acme, release_date=date(2024, 1, 10),
        description="Object detection for retail shelves", tags=["vision", "detection"],
        specifications={"parameters": 25_000_000, "accuracy": 0.93, "supportedFormats": ["JPEG", "PNG"]},
        pricing={"model": "subscription", "tiers": TIERS, "billing": "monthly"},
        licenses=[{"type": "Apache-2.0", "commercialUse": True, "modificationAllowed": True}],
        support={"email": "help@acme.example", "documentation": "https://acme.example/docs"}))
    beta = service.create_listing(session=session, actor=admin, data=listing_body(
        "Beta Chat", category="llm", provider=open_thing, release_date=date(2024, 6, 1),
        description="A small chat model for research", tags=["chat", "llm"],
        specifications={"parameters": 7_000_000_000, "contextLength": 32768},
        pricing={"model": "free", "tiers": [{"name": "Community", "price": 0, "requests": "Unlimited"}]},
        licenses=[{"type": "CC-BY-NC-4.0", "commercialUse": False, "restrictions": ["Non-commercial use only"]}]))
    gamma = service.create_listing(session=session, actor=admin, data=listing_body(
        "Gamma Chat", category="llm", provider="acme-ai", release_date=date(2025, 1, 1),
        description="Enterprise chat assistant", tags=["chat", "enterprise"],
        specifications={"parameters": 70_000_000_000, "contextLength": 131072},
        pricing={"model": "subscription", "oneTimePrice": 5000,
                 "tiers": [{"name": "Starter", "price": 100, "requests": 100000},
                           {"name": "Scale", "price": 600, "requests": 1000000}]},
        licenses=[{"type": "Commercial", "commercialUse": True, "restrictions": ["No redistribution"]}]))
    delta = service.create_listing(session=session, actor=admin, data=listing_body(
        "Delta Embed", category="embeddings", provider="openthing", release_date=date(2023, 9, 1),
        description="Sentence embeddings", tags=["embeddings"],
        specifications={"parameters": 335_000_000, "contextLength": 512},
        pricing={"model": "free", "tiers": [{"name": "Community", "price": 0, "requests": "Unlimited"}]},
        licenses=[{"type": "MIT", "commercialUse": True}]))
    session.commit()
    return Market(alpha.id, beta.id, gamma.id, delta.id)
