"""Discovery: the trending, popular, new and featured rows, the featured order, and the landing page.

The scores are the catalogue's (see `catalogue`): new = release date, newest first; featured =
`featuredRank` set by curators, 1 first.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.pagination import PageParams
from backend.marketplace import schemas as s
from backend.marketplace.models import Listing
from backend.marketplace.service.access import READ, WRITE, get_listing_row
from backend.marketplace.service.catalogue import Catalogue, Entry
from backend.marketplace.service.categories import list_categories, resolve_category
from backend.marketplace.service.search import keyset_page


def _ranked(cat: Catalogue, score: Callable[[Entry], float], *, params: PageParams,
            key: Callable[[Entry], tuple] | None = None, keep: Callable[[Entry], bool] = lambda e: True,
            category: str | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """A page of `entries` ordered by `key` (default: score, highest first), each with its score."""
    entries = [e for e in cat.entries.values() if keep(e)]
    if category:
        wanted = resolve_category(cat.session, category)  # unknown: REQ_001, like the search facets
        entries = [e for e in entries if e.category.id == wanted.id]
    page, cursor = keyset_page(entries, key or (lambda e: (-float(score(e)), e.id)), params)
    return [s.ScoredModel(**cat.document(e).model_dump(), score=float(score(e))) for e in page], cursor


def trending(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
             catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings with recent activity, highest trending score first (only scores above zero)."""
    authorize(actor, READ)
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: cat.trending_scores.get(e.id, 0.0), params=params, category=category,
                   keep=lambda e: cat.trending_scores.get(e.id, 0.0) > 0)


def popular(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
            catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings by all-time reach (distinct users), ties by all-time requests."""
    authorize(actor, READ)
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: cat.popularity(e.id)[0], params=params, category=category,
                   key=lambda e: (-cat.popularity(e.id)[0], -cat.popularity(e.id)[1], e.id))


def newest(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
           catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings by release date, newest first; the score is the release date's ordinal day."""
    authorize(actor, READ)
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: e.listing.release_date.toordinal(), params=params, category=category)


def featured(*, session: Session, actor: Principal, params: PageParams, category: str | None = None,
             catalogue: Catalogue | None = None) -> tuple[list[s.ScoredModel], str | None]:
    """Listings curated by admins, in their `featuredRank` order (the score is the rank)."""
    authorize(actor, READ)
    cat = catalogue or Catalogue(session, actor)
    return _ranked(cat, lambda e: e.listing.featured_rank or 0, params=params, category=category,
                   keep=lambda e: e.listing.featured_rank is not None,
                   key=lambda e: (e.listing.featured_rank, e.id))


def set_featured(*, session: Session, actor: Principal, listing_ids: list[str]) -> None:
    """Make `listing_ids` the featured listings, in this order (curators)."""
    authorize(actor, WRITE)
    rows = [get_listing_row(session=session, actor=actor, listing_id=i, permission=WRITE) for i in listing_ids]
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


def landing(*, session: Session, actor: Principal, per_row: int = 8) -> s.Landing:
    """The marketplace landing page in one read of the catalogue: featured, trending and new rows, and the
    category tiles."""
    authorize(actor, READ)
    cat = Catalogue(session, actor)
    params = PageParams(limit=per_row)
    return s.Landing(
        featured=featured(session=session, actor=actor, params=params, catalogue=cat)[0],
        trending=trending(session=session, actor=actor, params=params, catalogue=cat)[0],
        new=newest(session=session, actor=actor, params=params, catalogue=cat)[0],
        categories=list_categories(session=session, actor=actor, catalogue=cat),
    )

