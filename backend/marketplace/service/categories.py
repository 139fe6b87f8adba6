"""Categories and providers: lookups, the lists with their counts, and the rows a publisher names."""

from __future__ import annotations

from collections import defaultdict
from typing import TypeVar

from sqlalchemy import func, or_
from sqlmodel import Session, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.errors import InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams
from backend.marketplace import schemas as s
from backend.marketplace.models import Category, Provider
from backend.marketplace.service.access import READ, not_found
from backend.marketplace.service.catalogue import Catalogue
from backend.marketplace.service.search import keyset_page
from backend.marketplace.service.text import slugify

Row = TypeVar("Row", Category, Provider)

COMPANY_PROVIDER_SLUG = "company"
COMPANY_PROVIDER_NAME = "Company Models"


def _find_category(session: Session, value: str) -> Category | None:
    """The category by slug, id or (case-blind) name."""
    return session.exec(select(Category).where(or_(
        Category.slug == value.lower(), Category.id == value, func.lower(Category.name) == value.lower()))).first()


def _find_provider(session: Session, value: str) -> Provider | None:
    return session.exec(select(Provider).where(or_(Provider.slug == value.lower(), Provider.id == value))).first()


def _found(row: Row | None, what: str, **details: str) -> Row:
    if row is None:
        raise not_found(what, **details)
    return row


def get_category(*, session: Session, actor: Principal, category: str) -> Category:
    """The category by slug, id or name; MARKET_001 when there is none."""
    authorize(actor, READ)
    return _found(_find_category(session, category), "category", category=category)


def get_provider(*, session: Session, actor: Principal, provider: str) -> Provider:
    """The provider by slug or id; MARKET_001 when there is none."""
    authorize(actor, READ)
    return _found(_find_provider(session, provider), "provider", provider=provider)


def resolve_category(session: Session, value: str) -> Category:
    """The category a request names; REQ_001 listing the known slugs when it names none."""
    row = _find_category(session, value)
    if row is None:
        known = ", ".join(session.exec(select(Category.slug).order_by(Category.position)).all())
        raise InvalidRequest("Unknown category", {"category": f"no category '{value}'; known: {known}"})
    return row


def resolve_provider(session: Session, actor: Principal, value: str | s.ProviderInput) -> Provider:
    """The provider a publisher names: a known slug or id, or an object that creates one (audited)."""
    if isinstance(value, str):
        row = _find_provider(session, value)
        if row is None:
            raise InvalidRequest("Unknown provider", {"provider": f"no provider '{value}'; send an object to create one"})
        return row
    slug = slugify(value.name) or new_id("provider")
    row = session.exec(select(Provider).where(Provider.slug == slug)).first()
    if row is None:
        row = Provider(id=new_id("provider"), slug=slug, name=value.name, verified=value.verified,
                       website=value.website, description=value.description, contact_email=value.contact_email)
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="marketplace.provider.create",
                     entity_type="marketplace_provider", entity_id=row.id, summary={"name": row.name})
    return row


def company_provider(session: Session) -> Provider:
    """The provider of company listings (models from the catalog), created on first use."""
    row = session.exec(select(Provider).where(Provider.slug == COMPANY_PROVIDER_SLUG)).first()
    if row is None:
        row = Provider(id=new_id("provider"), slug=COMPANY_PROVIDER_SLUG, name=COMPANY_PROVIDER_NAME, verified=True,
                       kind="company", description="Models built and served inside the company, from the AI catalog.")
        session.add(row)
        session.flush()
    return row


def list_categories(*, session: Session, actor: Principal, catalogue: Catalogue | None = None) -> list[s.CategoryRead]:
    """Every category with the number of listings the actor can see in it."""
    authorize(actor, READ)
    cat = catalogue or Catalogue(session, actor)
    counts: dict[str, int] = defaultdict(int)
    for entry in cat.entries.values():
        counts[entry.category.id] += 1
    rows = session.exec(select(Category).order_by(Category.position, Category.name)).all()
    return [s.CategoryRead(id=c.id, slug=c.slug, name=c.name, description=c.description, icon=c.icon,
                           model_count=counts.get(c.id, 0)) for c in rows]


def list_providers(*, session: Session, actor: Principal, params: PageParams) -> tuple[list[s.ProviderRead], str | None]:
    """Providers by name, each with its rating and visible listing count."""
    authorize(actor, READ)
    cat = Catalogue(session, actor)
    providers = session.exec(select(Provider)).all()

    def read(p: Provider) -> s.ProviderRead:
        rating, total, reviews = cat.provider_stats.get(p.id, (None, 0, 0))
        return s.ProviderRead(id=p.id, slug=p.slug, name=p.name, verified=p.verified, kind=p.kind,
                              website=p.website, description=p.description, rating=rating, total_models=total,
                              review_count=reviews, contact_email=p.contact_email, contact_demo=p.contact_is_demo)

    page, cursor = keyset_page(list(providers), lambda p: (p.name.lower(), p.id), params)
    return [read(p) for p in page], cursor
