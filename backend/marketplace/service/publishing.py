"""Publishing: listings of external providers (curators) and of company models from the catalog (their
publishers), their changes, and taking them off the marketplace."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry_service
from backend.core.actions import check_action
from backend.core.authorization import authorize
from backend.core.ids import new_id
from backend.core.timeutil import utcnow
from backend.marketplace import schemas as s
from backend.marketplace.models import License, Listing, ListingTag, PricingTier, Subscription
from backend.marketplace.service.access import (
    DELETE,
    MODEL_WRITE,
    READ,
    WRITE,
    authorize_change,
    conflict,
    find_listing_for_model,
    get_listing_row,
)
from backend.marketplace.service.catalog_models import catalog_defaults
from backend.marketplace.service.categories import company_provider, resolve_category, resolve_provider
from backend.marketplace.service.money import period_bounds, period_index_at, to_cents
from backend.marketplace.service.search import get_listing
from backend.marketplace.service.search_index import (
    embedding_text,
    index_listing,
    listing_fields,
    schedule_embeddings,
)
from backend.marketplace.service.subscriptions import advance
from backend.marketplace.service.text import slugify


def _unique_slug(session: Session, name: str, listing_id: str) -> str:
    base = slugify(name) or listing_id.replace("_", "-")
    slug = base
    if session.exec(select(Listing.id).where(Listing.slug == slug, Listing.id != listing_id)).first():
        slug = f"{base}-{listing_id[-8:]}"
    return slug


def _apply_fields(session: Session, listing: Listing, data: s.ListingFields, *, creating: bool) -> None:
    """Copy the fields `data` sets onto the listing and replace its tiers, licences and tags if given."""
    sent = data.model_fields_set
    for name in ("name", "version", "release_date", "last_updated", "status", "visibility", "description"):
        value = getattr(data, name)
        if name in sent and value is not None:
            setattr(listing, name, value)
    if "category" in sent and data.category is not None:
        listing.category_id = resolve_category(session, data.category).id
    if "features" in sent and data.features is not None:
        listing.features = list(data.features)
    if "specifications" in sent and data.specifications is not None:
        spec = data.specifications.model_dump(exclude={"parameters", "context_length"}, exclude_none=True)
        listing.specifications = spec
        listing.parameter_count = data.specifications.parameters
        listing.context_length = data.specifications.context_length
    if "support" in sent and data.support is not None:
        listing.support = data.support.model_dump(exclude_none=True)
    if "featured_rank" in sent:
        listing.featured_rank = data.featured_rank
    if "pricing" in sent and data.pricing is not None:
        p = data.pricing
        listing.pricing_model, listing.currency, listing.billing = p.model, p.currency, p.billing
        listing.one_time_price_cents = None if p.one_time_price is None else to_cents(p.one_time_price)
        if not creating:
            session.exec(delete(PricingTier).where(PricingTier.listing_id == listing.id))
        for i, t in enumerate(p.tiers):
            session.add(PricingTier(
                id=new_id("tier"), listing_id=listing.id, position=i, name=t.name,
                price_cents=None if t.price == s.CONTACT else to_cents(t.price),
                requests=None if t.requests == s.UNLIMITED else t.requests, features=list(t.features)))
    if "licenses" in sent and data.licenses:
        if not creating:
            session.exec(delete(License).where(License.listing_id == listing.id))
        for i, lic in enumerate(data.licenses):
            session.add(License(id=new_id("license"), listing_id=listing.id, position=i, type=lic.type, url=lic.url,
                                restrictions=list(lic.restrictions), commercial_use=lic.commercial_use,
                                modification_allowed=lic.modification_allowed))
    if "tags" in sent and data.tags is not None:
        if not creating:
            session.exec(delete(ListingTag).where(ListingTag.listing_id == listing.id))
        for tag in dict.fromkeys(data.tags):
            session.add(ListingTag(listing_id=listing.id, tag=tag))


def create_listing(*, session: Session, actor: Principal, data: s.ListingCreate) -> s.MarketplaceModel:
    """Publish a listing. An external provider's model needs `marketplace:write` (curators); a catalog
    model (`sourceModelId`) needs `model:write` and a model the actor can see in the catalog."""
    listing = publish_listing(session=session, actor=actor, data=data)
    return get_listing(session=session, actor=actor, listing_id=listing.id, with_source=False)


def publish_listing(*, session: Session, actor: Principal, data: s.ListingCreate, embed: bool = True) -> Listing:
    """`create_listing` without building the document (the seed publishes many at once, with `embed=False`,
    and queues one embedding job for all of them)."""
    now = utcnow()
    authorize(actor, READ)
    if data.source_model_id:
        model = registry_service.get_model(session=session, actor=actor, model_id=data.source_model_id)
        authorize(actor, MODEL_WRITE, model)
        taken = find_listing_for_model(session=session, model_id=data.source_model_id)
        if taken is not None:
            raise conflict("This catalog model is already listed", listingId=taken.id,
                           sourceModelId=data.source_model_id)
        data = catalog_defaults(session=session, model=model, data=data)
        provider = company_provider(session)
    else:
        authorize(actor, WRITE)
        provider = resolve_provider(session, actor, data.provider)
    if data.featured_rank is not None:
        authorize(actor, WRITE)
    # Governance: policies on publishing (GOV_003 refuses; see backend/core/actions.py).
    listing_doc = data.model_dump(by_alias=True, mode="json", exclude_none=True)
    if data.source_model_id:
        check_action(session=session, actor=actor, action="model.publish", entity=model,
                     details={"listing": listing_doc})
    else:
        check_action(session=session, actor=actor, action="marketplace.publish", entity=listing_doc)
    listing_id = new_id("market_model")
    category = resolve_category(session, data.category)
    listing = Listing(
        id=listing_id, slug=_unique_slug(session, data.name, listing_id), name=data.name, category_id=category.id,
        provider_id=provider.id, release_date=data.release_date or now.date(),
        last_updated=data.last_updated or data.release_date or now.date(), source_model_id=data.source_model_id,
        created_by=actor.user_id, created_at=now, updated_at=now,
    )
    session.add(listing)
    session.flush()
    _apply_fields(session, listing, data, creating=True)
    session.add(listing)
    try:
        # The savepoint holds the audit record too: the audit rule is checked when a savepoint is released.
        with session.begin_nested():
            session.flush()
            audit.record(session=session, actor=actor, action="marketplace.listing.create",
                         entity_type="marketplace_listing", entity_id=listing.id,
                         summary={"name": listing.name, "provider": provider.slug,
                                  "sourceModelId": listing.source_model_id})
    except IntegrityError as exc:  # two publishers of the same catalog model at once
        raise conflict("This catalog model is already listed", sourceModelId=data.source_model_id) from exc
    index_listing(session, listing)
    if embed:
        schedule_embeddings(session=session, actor=actor, listing_ids=[listing.id])
    return listing


def update_listing(*, session: Session, actor: Principal, listing_id: str, data: s.ListingUpdate) -> s.MarketplaceModel:
    """Change a listing (curators; or the publisher of a company listing). Only sent fields change."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    authorize_change(actor, listing, WRITE)
    if "featured_rank" in data.model_fields_set:
        authorize(actor, WRITE, listing)
    before = {"name": listing.name, "version": listing.version, "status": listing.status}
    text_before = embedding_text(listing_fields(session, listing))
    _apply_fields(session, listing, data, creating=False)  # the slug stays: shared links keep working
    if "last_updated" not in data.model_fields_set and data.model_fields_set - {"featured_rank"}:
        listing.last_updated = utcnow().date()  # curating /featured is not an update of the model
    listing.updated_at = utcnow()
    session.add(listing)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.listing.update", entity_type="marketplace_listing",
                 entity_id=listing.id, summary={"fields": sorted(data.model_fields_set), "before": before})
    index_listing(session, listing)
    if embedding_text(listing_fields(session, listing)) != text_before:
        schedule_embeddings(session=session, actor=actor, listing_ids=[listing.id])
    return get_listing(session=session, actor=actor, listing_id=listing.id, with_source=False)


def remove_listing(*, session: Session, actor: Principal, listing_id: str) -> None:
    """Take a listing off the marketplace. Rows stay (billing history, reviews); live subscriptions run
    to the end of their paid period and are not renewed."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    authorize_change(actor, listing, DELETE)
    now = utcnow()
    listing.removed_at, listing.status, listing.featured_rank, listing.updated_at = now, "removed", None, now
    session.add(listing)
    cancelled = 0
    for sub in session.exec(select(Subscription).where(Subscription.listing_id == listing.id,
                                                       Subscription.status == "active")).all():
        advance(session, sub, now)
        if sub.status == "active" and not sub.cancel_at_period_end:
            sub.cancel_at_period_end = True
            sub.ends_at = period_bounds(sub, period_index_at(sub, now))[1]
            sub.updated_at = now
            session.add(sub)
            cancelled += 1
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.listing.remove", entity_type="marketplace_listing",
                 entity_id=listing.id, summary={"name": listing.name, "subscriptionsEnding": cancelled})
    index_listing(session, listing)  # a removed listing leaves the index


