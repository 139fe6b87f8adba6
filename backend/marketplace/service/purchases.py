"""Purchases and terms: buying a one-time licence, the licence and pricing terms a listing offers the
actor before they acquire it, and the quote of any paid action (`quote`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from backend.auth.principal import Principal
from backend.core.errors import InvalidRequest
from backend.core.ids import new_id
from backend.core.timeutil import utcnow
from backend.marketplace import schemas as s
from backend.marketplace.models import License, Listing, PricingTier, Purchase
from backend.marketplace.service.access import (
    check_acquirable,
    conflict,
    get_listing_row,
    insert_audited,
    license_check,
    listing_licenses,
    not_allowed,
)
from backend.marketplace.service.catalogue import NO_LICENSE, Entry, license_read, pricing_of
from backend.marketplace.service.contact import sales_contact
from backend.marketplace.service.counters import count_usage
from backend.marketplace.service.money import from_cents
from backend.marketplace.service.subscriptions import (
    QUOTE_VALID,
    check_expected,
    find_live_subscription,
    quote_cancel,
    quote_subscription,
)


def purchase_read(row: Purchase) -> s.PurchaseRead:
    """The purchase as its buyer sees it."""
    return s.PurchaseRead(id=row.id, listing_id=row.listing_id, amount=from_cents(row.amount_cents),
                          currency=row.currency, license_type=row.license_type, created_at=row.created_at)


def find_purchase(session: Session, listing_id: str, user_id: str) -> Purchase | None:
    """The user's purchase of the listing's one-time licence, if they bought it."""
    return session.exec(select(Purchase).where(Purchase.listing_id == listing_id, Purchase.user_id == user_id)).first()


def _purchasable(session: Session, actor: Principal, listing: Listing) -> License | None:
    """The licence a purchase of the listing would grant; MARKET_003 when it sells none or the actor may
    not acquire it, MARKET_002 when they hold it already."""
    if listing.one_time_price_cents is None:
        raise not_allowed("not_for_sale", "This listing does not sell a one-time licence; subscribe to a tier")
    licenses = check_acquirable(session, actor, listing)
    existing = find_purchase(session, listing.id, actor.user_id)
    if existing is not None:
        raise conflict("You already hold a licence for this listing", purchaseId=existing.id)
    return next((lic for lic in licenses if lic.commercial_use), licenses[0] if licenses else None)


def quote_purchase(*, session: Session, actor: Principal, listing_id: str, now: datetime | None = None) -> s.Quote:
    """What buying the one-time licence charges (once; nothing recurs), without buying it."""
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    licence = _purchasable(session, actor, listing)
    line = s.QuoteLine(kind="purchase", description=f"One-time licence ({licence.type if licence else 'Unspecified'})",
                       amount=from_cents(listing.one_time_price_cents))
    return s.Quote(listing_id=listing.id, listing_name=listing.name, action="purchase", tier=None, previous_tier=None,
                   currency=listing.currency, amount=line.amount, due=0.0, lines=[line], refund=0.0,
                   recurring_price=None, requests_quota=None, next_billing_at=None, active_until=None,
                   quoted_at=now, valid_until=now + QUOTE_VALID)


def purchase(*, session: Session, actor: Principal, listing_id: str,
             expected_amount: float | None = None) -> s.PurchaseRead:
    """Buy the one-time licence of a listing that sells one (once per user); with `expected_amount` (a
    quote's amount) only at that price."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    licence = _purchasable(session, actor, listing)
    check_expected(listing.one_time_price_cents, expected_amount, listing.currency)
    row = Purchase(id=new_id("purchase"), listing_id=listing.id, user_id=actor.user_id,
                   amount_cents=listing.one_time_price_cents, currency=listing.currency,
                   license_type=licence.type if licence else "Unspecified")
    insert_audited(session, row, conflict("You already hold a licence for this listing"), actor=actor,
                   action="marketplace.purchase.create", entity_type="marketplace_purchase",
                   summary={"listingId": listing.id, "amountCents": row.amount_cents, "licenseType": row.license_type})
    count_usage(session, listing_id=listing.id, consumer=actor.user_id, day=utcnow().date(), downloads=1)
    return purchase_read(row)



def quote(*, session: Session, actor: Principal, listing_id: str, action: str, tier: str | None = None,
          now: datetime | None = None) -> s.Quote:
    """Price an action before it is taken: `subscribe` (to `tier`), `cancel` or `purchase`."""
    if action == "subscribe":
        return quote_subscription(session=session, actor=actor, listing_id=listing_id, tier=tier or "", now=now)
    if action == "cancel":
        return quote_cancel(session=session, actor=actor, listing_id=listing_id, now=now)
    if action != "purchase":
        raise InvalidRequest("Unknown action", {"action": "one of subscribe, cancel, purchase"})
    return quote_purchase(session=session, actor=actor, listing_id=listing_id, now=now)


def license_info(*, session: Session, actor: Principal, listing_id: str) -> s.LicenseInfo:
    """The listing's licences and whether the actor's cost centre may use it."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    licenses = listing_licenses(session, listing)
    reads = [license_read(lic) for lic in licenses] or [NO_LICENSE]
    return s.LicenseInfo(listing_id=listing.id, license=reads[0], licenses=reads,
                         commercial_use=any(lic.commercial_use for lic in licenses),
                         your_use=license_check(session=session, actor=actor, licenses=licenses))


def pricing_info(*, session: Session, actor: Principal, listing_id: str) -> s.PricingInfo:
    """The listing's pricing, with the actor's live subscription and whether they bought it."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    tiers = list(session.exec(select(PricingTier).where(PricingTier.listing_id == listing.id)
                              .order_by(PricingTier.position)).all())
    entry = Entry(listing=listing, category=None, provider=None, tiers=tiers)  # type: ignore[arg-type]
    sub = find_live_subscription(session=session, listing_id=listing.id, user_id=actor.user_id)
    return s.PricingInfo(**pricing_of(entry).model_dump(), listing_id=listing.id, subscription=sub,
                         purchased=find_purchase(session, listing.id, actor.user_id) is not None,
                         sales_contact=sales_contact(session, listing))
