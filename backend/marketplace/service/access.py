"""Who may see and change what: the listing rows an actor may see, the authorization of each action,
the licence check before acquiring, and the marketplace's error constructors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.models import User
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.errors import AISystemError
from backend.marketplace import schemas as s
from backend.marketplace.models import License, Listing

# The permissions of backend/marketplace/api.py: every route requires READ; the service asks for more.
READ = "marketplace:read"
WRITE = "marketplace:write"
DELETE = "marketplace:delete"
MODEL_WRITE = "model:write"


def not_found(what: str = "listing", **details: Any) -> AISystemError:
    """MARKET_001: the listing (or `what`) does not exist or is hidden from the actor."""
    return AISystemError("MARKET_001", f"The {what} does not exist or you may not see it", details)


def not_allowed(reason: str, message: str, **details: Any) -> AISystemError:
    """MARKET_003: the licence or the marketplace terms refuse the action (`reason` is stable)."""
    return AISystemError("MARKET_003", message, {"reason": reason, **details})


def conflict(message: str, **details: Any) -> AISystemError:
    """MARKET_002: the action clashes with what exists (a second review, listing or subscription)."""
    return AISystemError("MARKET_002", message, details)


def insert_audited(session: Session, row: Any, on_conflict: AISystemError, *, actor: Principal, action: str,
                   entity_type: str, summary: dict[str, Any]) -> None:
    """Add `row` and its audit record in one savepoint; a unique-key clash (a concurrent twin won) raises
    `on_conflict` and leaves the caller's transaction usable."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
            audit.record(session=session, actor=actor, action=action, entity_type=entity_type, entity_id=row.id,
                         summary=summary)
    except IntegrityError as exc:
        raise on_conflict from exc


def can_curate(actor: Principal) -> bool:
    """Curators publish external listings, edit any listing and set the featured order."""
    return actor.can(WRITE)


def visible(actor: Principal):  # noqa: ANN201
    """SQL condition: listings the actor may see (never removed ones; private only to their publisher
    and curators)."""
    live = col(Listing.removed_at).is_(None)
    if can_curate(actor):
        return live
    return and_(live, or_(Listing.visibility != "private", Listing.created_by == actor.user_id))


def authorize_change(actor: Principal, listing: Listing, permission: str) -> None:
    """Authorize `permission` (WRITE or DELETE) on a listing; the publisher of a company listing acts on
    it with `model:write` instead."""
    publisher = bool(listing.source_model_id) and listing.created_by == actor.user_id
    authorize(actor, MODEL_WRITE if publisher and actor.can(MODEL_WRITE) else permission, listing)


def get_listing_row(*, session: Session, actor: Principal, listing_id: str, permission: str = READ,
                    for_update: bool = False) -> Listing:
    """The listing row by id (or slug) if the actor may see it (MARKET_001 otherwise), authorized for
    `permission` (AUTH_002)."""
    query = select(Listing).where(or_(Listing.id == listing_id, Listing.slug == listing_id), visible(actor))
    if for_update:
        query = query.with_for_update()
    row = session.exec(query).first()
    if row is None:
        authorize(actor, permission)  # a principal without the grant learns nothing about the id
        raise not_found(listingId=listing_id)
    authorize(actor, permission, row)
    return row


def find_listing_for_model(*, session: Session, model_id: str) -> Listing | None:
    """The live listing published from a catalog model (for the endpoints' request counter)."""
    return session.exec(
        select(Listing).where(Listing.source_model_id == model_id, col(Listing.removed_at).is_(None))
    ).first()


def _user_is_commercial(session: Session, actor: Principal) -> tuple[bool, str | None]:
    attrs = actor.attributes or {}
    if "costCenterCommercial" in attrs:
        return bool(attrs.get("costCenterCommercial")), attrs.get("costCenter")
    user = session.get(User, actor.user_id)
    if user is None:
        return False, None
    return bool(user.cost_center_commercial), user.cost_center


def license_check(*, session: Session, actor: Principal, licenses: list[License]) -> s.UseCheck:
    """May the actor acquire a listing under these licences? A commercial cost centre needs a licence
    that allows commercial use (any of them: a dual-licensed model can be taken under the commercial one)."""
    commercial, cost_center = _user_is_commercial(session, actor)
    if not commercial or any(lic.commercial_use for lic in licenses):
        return s.UseCheck(allowed=True)
    types = ", ".join(lic.type for lic in licenses) or "no licence"
    centre = f"your cost centre {cost_center}" if cost_center else "your cost centre"
    return s.UseCheck(
        allowed=False, reason=f"The licence ({types}) does not allow commercial use, and {centre} is marked commercial."
    )


def listing_licenses(session: Session, listing: Listing) -> list[License]:
    """A listing's licences in their listed order."""
    return list(session.exec(select(License).where(License.listing_id == listing.id).order_by(License.position)).all())


def check_acquirable(session: Session, actor: Principal, listing: Listing) -> list[License]:
    """The listing's licences if the actor may subscribe to it or buy it now; MARKET_003 otherwise."""
    if listing.status not in ("available", "preview"):
        raise not_allowed("not_available", f"The listing is {listing.status} and takes no new customers",
                          status=listing.status)
    licenses = listing_licenses(session, listing)
    check = license_check(session=session, actor=actor, licenses=licenses)
    if not check.allowed:
        raise not_allowed("commercial_use_forbidden", check.reason or "The licence forbids this use",
                          licenseTypes=[lic.type for lic in licenses])
    return licenses
