"""Favourites: listings a user marked, newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.pagination import PageParams, paginate
from backend.marketplace import schemas as s
from backend.marketplace.models import Favorite, Listing
from backend.marketplace.service.access import READ, get_listing_row, visible
from backend.marketplace.service.catalogue import Catalogue


def add_favorite(*, session: Session, actor: Principal, listing_id: str) -> tuple[s.FavoriteRead, bool]:
    """Mark a listing as a favourite; returns whether it was new (adding twice changes nothing)."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    row = session.get(Favorite, (actor.user_id, listing.id))
    if row is not None:
        return s.FavoriteRead(listing_id=listing.id, created_at=row.created_at), False
    row = Favorite(user_id=actor.user_id, listing_id=listing.id)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            audit.record(session=session, actor=actor, action="marketplace.favorite.add",
                         entity_type="marketplace_listing", entity_id=listing.id)
    except IntegrityError:  # added concurrently: the favourite is there, as asked
        row = session.get(Favorite, (actor.user_id, listing.id))
        return s.FavoriteRead(listing_id=listing.id, created_at=row.created_at), False
    return s.FavoriteRead(listing_id=listing.id, created_at=row.created_at), True


def remove_favorite(*, session: Session, actor: Principal, listing_id: str) -> bool:
    """Unmark a favourite; returns whether there was one."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    row = session.get(Favorite, (actor.user_id, listing.id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.favorite.remove", entity_type="marketplace_listing",
                 entity_id=listing.id)
    return True


def list_favorites(*, session: Session, actor: Principal, params: PageParams) -> tuple[list[s.MarketplaceModel], str | None]:
    """Your favourite listings, most recently added first."""
    authorize(actor, READ)
    query = select(Favorite).join(Listing, Listing.id == Favorite.listing_id).where(
        Favorite.user_id == actor.user_id, visible(actor))
    rows, cursor = paginate(session, query, params=params, order=[Favorite.created_at, Favorite.listing_id],
                            descending=True, parse=[datetime.fromisoformat, str])
    cat = Catalogue(session, actor)
    return cat.documents(r.listing_id for r in rows), cursor


def is_favorite(*, session: Session, actor: Principal, listing_id: str) -> bool:
    """Whether the actor marked the listing (by id) as a favourite."""
    authorize(actor, READ)
    return session.get(Favorite, (actor.user_id, listing_id)) is not None

