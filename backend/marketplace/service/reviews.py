"""Reviews: one per user and listing, quick star ratings, verified use, and moderation by admins."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.models import User
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import utcnow
from backend.marketplace import schemas as s
from backend.marketplace.models import Listing, Review
from backend.marketplace.service.access import (
    DELETE,
    conflict,
    get_listing_row,
    insert_audited,
    not_allowed,
    not_found,
)
from backend.marketplace.service.catalogue import ASPECTS
from backend.marketplace.service.purchases import find_purchase
from backend.marketplace.service.subscriptions import live_subscription, state_at


def _review_read(review: Review) -> s.ReviewRead:
    return s.ReviewRead(
        id=review.id, listing_id=review.listing_id, author_id=review.user_id, author_name=review.author_name,
        rating=review.overall, aspects=s.Aspects(**{a: getattr(review, a) for a in ASPECTS}),
        title=review.title, text=review.text, verified_use=review.verified_use, demo=review.is_demo,
        created_at=review.created_at, updated_at=review.updated_at,
    )


def _has_verified_use(session: Session, listing_id: str, user_id: str, now: datetime) -> bool:
    sub = live_subscription(session, listing_id, user_id)
    if sub is not None and state_at(sub, now) != "ended":
        return True
    return find_purchase(session, listing_id, user_id) is not None


def _author_name(session: Session, actor: Principal) -> str:
    user = session.get(User, actor.user_id)
    return (user.display_name if user else None) or actor.username


def _own_review(session: Session, listing_id: str, user_id: str) -> Review | None:
    return session.exec(select(Review).where(Review.listing_id == listing_id, Review.user_id == user_id)).first()


def create_review(*, session: Session, actor: Principal, listing_id: str, rating: int,
                  aspects: s.AspectsInput | None = None, title: str | None = None,
                  text: str | None = None) -> s.ReviewRead:
    """Write the actor's review of a listing (one per user and listing: a second is MARKET_002)."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    existing = _own_review(session, listing.id, actor.user_id)
    if existing is not None:
        raise conflict("You have already reviewed this listing; edit your review instead",
                        reviewId=existing.id, listingId=listing.id)
    now = utcnow()
    review = Review(
        id=new_id("review"), listing_id=listing.id, user_id=actor.user_id, author_name=_author_name(session, actor),
        overall=rating, **(aspects.model_dump() if aspects else {}), title=title, text=text,
        verified_use=_has_verified_use(session, listing.id, actor.user_id, now), created_at=now, updated_at=now,
    )
    insert_audited(session, review, conflict("You have already reviewed this listing", listingId=listing.id),
                   actor=actor, action="marketplace.review.create", entity_type="marketplace_review",
                   summary={"listingId": listing.id, "rating": rating})
    return _review_read(review)


def _review_of(session: Session, actor: Principal, listing_id: str, review_id: str) -> tuple[Listing, Review]:
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    review = session.get(Review, review_id)
    if review is None or review.listing_id != listing.id:
        raise not_found("review", reviewId=review_id, listingId=listing.id)
    return listing, review


def update_review(*, session: Session, actor: Principal, listing_id: str, review_id: str,
                  changes: s.ReviewUpdate) -> s.ReviewRead:
    """Edit your own review; sent fields change (`title`/`text`: null clears them)."""
    _listing, review = _review_of(session, actor, listing_id, review_id)
    if review.user_id != actor.user_id:
        raise not_allowed("not_author", "Only the author may edit a review", reviewId=review.id)
    sent = changes.model_fields_set
    if "rating" in sent and changes.rating is not None:
        review.overall = changes.rating
    if "aspects" in sent:
        for name, value in (changes.aspects.model_dump() if changes.aspects else dict.fromkeys(ASPECTS)).items():
            setattr(review, name, value)
    for name in ("title", "text"):
        if name in sent:
            setattr(review, name, getattr(changes, name))
    now = utcnow()
    review.verified_use = _has_verified_use(session, review.listing_id, actor.user_id, now)
    review.author_name = _author_name(session, actor)
    review.updated_at = now
    session.add(review)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.review.update", entity_type="marketplace_review",
                 entity_id=review.id, summary={"listingId": review.listing_id, "fields": sorted(sent)})
    return _review_read(review)


def delete_review(*, session: Session, actor: Principal, listing_id: str, review_id: str,
                  reason: str | None = None) -> None:
    """Delete your own review; holders of `marketplace:delete` (admins) may remove anyone's (audited)."""
    _listing, review = _review_of(session, actor, listing_id, review_id)
    if review.user_id == actor.user_id:
        action = "marketplace.review.delete"
    elif actor.can(DELETE):
        authorize(actor, DELETE, review)  # moderation: attribute rules see the review
        action = "marketplace.review.remove"
    else:
        raise not_allowed("not_author", "Only the author (or an admin) may delete a review", reviewId=review.id)
    summary = {"listingId": review.listing_id, "authorId": review.user_id, "authorName": review.author_name,
               "rating": review.overall, "title": review.title, "reason": reason}
    session.delete(review)
    session.flush()
    audit.record(session=session, actor=actor, action=action, entity_type="marketplace_review",
                 entity_id=review_id, summary=summary)


def rate(*, session: Session, actor: Principal, listing_id: str, rating: int) -> tuple[s.ReviewRead, bool]:
    """The quick star rating: sets the overall rating of your review, creating a text-less one if you
    have none. Returns the review and whether it was created."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    review = _own_review(session, listing.id, actor.user_id)
    if review is None:
        return create_review(session=session, actor=actor, listing_id=listing.id, rating=rating), True
    review.overall = rating
    now = utcnow()
    review.verified_use = _has_verified_use(session, listing.id, actor.user_id, now)
    review.updated_at = now
    session.add(review)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.review.rate", entity_type="marketplace_review",
                 entity_id=review.id, summary={"listingId": listing.id, "rating": rating})
    return _review_read(review), False


def list_reviews(*, session: Session, actor: Principal, listing_id: str, params: PageParams,
                 rating: int | None = None, verified_only: bool = False) -> tuple[list[s.ReviewRead], str | None]:
    """A listing's reviews, newest first."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    query = select(Review).where(Review.listing_id == listing.id)
    if rating is not None:
        query = query.where(Review.overall == rating)
    if verified_only:
        query = query.where(col(Review.verified_use).is_(True))
    rows, cursor = paginate(session, query, params=params, order=[Review.created_at, Review.id], descending=True,
                            parse=[datetime.fromisoformat, str])
    return [_review_read(r) for r in rows], cursor


def own_review(*, session: Session, actor: Principal, listing_id: str) -> s.ReviewRead | None:
    """The actor's review of a listing, if they wrote one (the UI pre-fills its edit form with it)."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    review = _own_review(session, listing.id, actor.user_id)
    return _review_read(review) if review else None

