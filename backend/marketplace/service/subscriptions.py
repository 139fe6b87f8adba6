"""Subscriptions and billing: tiers, billing periods billed as they start, prorated tier changes,
cancellation at the period end, and the subscription as its owner sees it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.errors import InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import to_utc, utcnow
from backend.marketplace import schemas as s
from backend.marketplace.models import BillingRecord, Listing, PricingTier, Subscription
from backend.marketplace.service.access import (
    READ,
    check_acquirable,
    conflict,
    get_listing_row,
    not_allowed,
    not_found,
)
from backend.marketplace.service.counters import requests_used
from backend.marketplace.service.money import from_cents, period_bounds, period_index_at, prorated_cents


def live_subscription(session: Session, listing_id: str, user_id: str, *, lock: bool = False) -> Subscription | None:
    """The user's active subscription row to the listing (it may have run out: see `state_at`)."""
    query = select(Subscription).where(Subscription.listing_id == listing_id, Subscription.user_id == user_id,
                                       Subscription.status == "active")
    if lock:
        query = query.with_for_update()
    return session.exec(query).first()


def state_at(sub: Subscription, now: datetime) -> str:
    """active, cancelling (ends at the period end) or ended, as of `now`."""
    if sub.status == "ended" or (sub.cancel_at_period_end and sub.ends_at and now >= to_utc(sub.ends_at)):
        return "ended"
    return "cancelling" if sub.cancel_at_period_end else "active"


def bill(session: Session, sub: Subscription, *, kind: str, index: int, start: datetime, end: datetime,
             amount_cents: int, description: str) -> BillingRecord:
    """Add one billing record of the subscription (a period, or a proration)."""
    row = BillingRecord(
        id=new_id("billing"), subscription_id=sub.id, listing_id=sub.listing_id, user_id=sub.user_id, kind=kind,
        period_index=index, period_start=start, period_end=end, tier_name=sub.tier_name, amount_cents=amount_cents,
        currency=sub.currency, requests_quota=sub.requests_quota, description=description[:300],
    )
    session.add(row)
    return row


def advance(session: Session, sub: Subscription, now: datetime, actor: Principal | None = None) -> int:
    """Bring a subscription up to `now`: bill every period that has started, end it when a cancellation
    reaches its period end. Returns the number of billing records created (audited when > 0)."""
    if sub.status == "ended":
        return 0
    state = state_at(sub, now)
    horizon = to_utc(sub.ends_at) - timedelta(microseconds=1) if state == "ended" else now
    last = session.exec(select(func.max(BillingRecord.period_index)).where(
        BillingRecord.subscription_id == sub.id, BillingRecord.kind == "period")).one()
    created = 0
    for index in range((last if last is not None else -1) + 1, period_index_at(sub, horizon) + 1):
        start, end = period_bounds(sub, index)
        bill(session, sub, kind="period", index=index, start=start, end=end, amount_cents=sub.price_cents,
                 description=f"{sub.tier_name} — period {index + 1}")
        created += 1
    if state == "ended":
        sub.status, sub.ended_at, sub.updated_at = "ended", sub.ends_at, now
        session.add(sub)
    session.flush()
    if created or state == "ended":
        audit.record(session=session, actor=actor, actor_name=None if actor else "marketplace",
                     action="marketplace.subscription.renew" if state != "ended" else "marketplace.subscription.end",
                     entity_type="marketplace_subscription", entity_id=sub.id,
                     summary={"listingId": sub.listing_id, "periodsBilled": created})
    return created


def subscription_read(session: Session, sub: Subscription, *, listing_name: str | None = None,
                      now: datetime | None = None) -> s.SubscriptionRead:
    """The subscription as its owner sees it now (computed, nothing written)."""
    now = now or utcnow()
    state = state_at(sub, now)
    if listing_name is None:
        listing = session.get(Listing, sub.listing_id)
        listing_name = listing.name if listing else sub.listing_id
    start = end = None
    used = 0
    if state != "ended":
        index = period_index_at(sub, now)
        start, end = period_bounds(sub, index)
        used = requests_used(session, sub, index)
    quota = sub.requests_quota
    return s.SubscriptionRead(
        id=sub.id, listing_id=sub.listing_id, listing_name=listing_name, tier=sub.tier_name,
        price=from_cents(sub.price_cents), currency=sub.currency, billing=sub.billing,
        requests_quota=s.UNLIMITED if quota is None else quota, status=state, started_at=sub.created_at,
        current_period_start=start, current_period_end=end, requests_used=used,
        requests_remaining=s.UNLIMITED if quota is None else max(quota - used, 0),
        cancel_at_period_end=sub.cancel_at_period_end, ends_at=sub.ends_at if sub.cancel_at_period_end else sub.ended_at,
        demo=sub.is_demo,
    )


def billing_read(row: BillingRecord) -> s.BillingRecordRead:
    return s.BillingRecordRead(
        id=row.id, subscription_id=row.subscription_id, kind=row.kind, period_index=row.period_index,
        period_start=row.period_start, period_end=row.period_end, tier=row.tier_name,
        amount=from_cents(row.amount_cents), currency=row.currency,
        requests_quota=s.UNLIMITED if row.requests_quota is None else row.requests_quota,
        description=row.description, created_at=row.created_at,
    )


def subscribe(*, session: Session, actor: Principal, listing_id: str, tier: str,
              now: datetime | None = None) -> s.SubscribeResult:
    """Subscribe to a tier, change tier (prorated), or resume a subscription set to cancel.

    A tier change bills (new price − old price) × (time left in the period ÷ period length), rounded
    to the cent (negative: a credit); the new tier's quota applies to the whole current period and the
    requests already made in it still count. The period boundaries do not move.
    """
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    tiers = session.exec(select(PricingTier).where(PricingTier.listing_id == listing.id)
                         .order_by(PricingTier.position)).all()
    chosen = next((t for t in tiers if t.name.lower() == tier.strip().lower()), None)
    if chosen is None:
        known = ", ".join(t.name for t in tiers) or "none"
        raise InvalidRequest("Unknown tier", {"tier": f"no tier '{tier}' on this listing; tiers: {known}"})
    if chosen.price_cents is None:
        raise not_allowed("contact_sales", f"The {chosen.name} tier is sold through sales; contact "
                           f"{(listing.support or {}).get('email') or 'the provider'}", tier=chosen.name)
    check_acquirable(session, actor, listing)
    sub = live_subscription(session, listing.id, actor.user_id, lock=True)
    if sub is not None:
        advance(session, sub, now, actor)
        if sub.status == "ended":
            sub = None
    if sub is None:
        sub = Subscription(
            id=new_id("subscription"), listing_id=listing.id, user_id=actor.user_id, tier_name=chosen.name,
            price_cents=chosen.price_cents, requests_quota=chosen.requests, currency=listing.currency,
            billing=listing.billing, period_anchor=now, created_at=now, updated_at=now,
        )
        start, end = period_bounds(sub, 0)
        try:
            with session.begin_nested():
                session.add(sub)
                session.flush()
                charge = bill(session, sub, kind="period", index=0, start=start, end=end,
                                  amount_cents=sub.price_cents, description=f"{sub.tier_name} — period 1")
                session.flush()
                audit.record(session=session, actor=actor, action="marketplace.subscription.create",
                             entity_type="marketplace_subscription", entity_id=sub.id,
                             summary={"listingId": listing.id, "tier": sub.tier_name, "amountCents": sub.price_cents})
        except IntegrityError as exc:  # a concurrent subscribe of the same user won
            raise conflict("You are already subscribed to this listing", listingId=listing.id) from exc
        return s.SubscribeResult(action="created", subscription=subscription_read(session, sub, listing_name=listing.name,
                                                                                  now=now), charge=billing_read(charge))
    if sub.tier_name.lower() == chosen.name.lower():
        if not sub.cancel_at_period_end:
            raise conflict(f"You are already subscribed to the {sub.tier_name} tier", subscriptionId=sub.id,
                            tier=sub.tier_name)
        sub.cancel_at_period_end, sub.ends_at, sub.updated_at = False, None, now
        session.add(sub)
        session.flush()
        audit.record(session=session, actor=actor, action="marketplace.subscription.resume",
                     entity_type="marketplace_subscription", entity_id=sub.id, summary={"listingId": listing.id})
        return s.SubscribeResult(action="resumed", subscription=subscription_read(
            session, sub, listing_name=listing.name, now=now), charge=None)
    index = period_index_at(sub, now)
    start, end = period_bounds(sub, index)
    amount = prorated_cents(old_cents=sub.price_cents, new_cents=chosen.price_cents, period_start=start,
                            period_end=end, at=now)
    old_tier = sub.tier_name
    sub.tier_name, sub.price_cents, sub.requests_quota = chosen.name, chosen.price_cents, chosen.requests
    sub.cancel_at_period_end, sub.ends_at, sub.updated_at = False, None, now
    session.add(sub)
    charge = bill(session, sub, kind="proration", index=index, start=now, end=end, amount_cents=amount,
                      description=f"Change from {old_tier} to {chosen.name}, prorated")
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.subscription.change",
                 entity_type="marketplace_subscription", entity_id=sub.id,
                 summary={"listingId": listing.id, "from": old_tier, "to": chosen.name, "amountCents": amount})
    return s.SubscribeResult(action="changed", subscription=subscription_read(session, sub, listing_name=listing.name,
                                                                              now=now), charge=billing_read(charge))


def cancel_subscription(*, session: Session, actor: Principal, listing_id: str,
                        now: datetime | None = None) -> s.SubscriptionRead:
    """Cancel at the end of the current period (nothing more is billed; use continues until then)."""
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    sub = live_subscription(session, listing.id, actor.user_id, lock=True)
    if sub is not None:
        advance(session, sub, now, actor)
    if sub is None or sub.status == "ended":
        raise not_found("subscription", listingId=listing.id)
    if not sub.cancel_at_period_end:
        sub.cancel_at_period_end = True
        sub.ends_at = period_bounds(sub, period_index_at(sub, now))[1]
        sub.updated_at = now
        session.add(sub)
        session.flush()
        audit.record(session=session, actor=actor, action="marketplace.subscription.cancel",
                     entity_type="marketplace_subscription", entity_id=sub.id,
                     summary={"listingId": listing.id, "endsAt": sub.ends_at})
    return subscription_read(session, sub, listing_name=listing.name, now=now)


def list_subscriptions(*, session: Session, actor: Principal, params: PageParams,
                       include_ended: bool = False) -> tuple[list[s.SubscriptionRead], str | None]:
    """Your subscriptions, newest first."""
    authorize(actor, READ)
    query = select(Subscription).where(Subscription.user_id == actor.user_id)
    if not include_ended:
        query = query.where(Subscription.status == "active")
    rows, cursor = paginate(session, query, params=params, order=[Subscription.created_at, Subscription.id],
                            descending=True, parse=[datetime.fromisoformat, str])
    now = utcnow()
    items = [subscription_read(session, r, now=now) for r in rows]
    if not include_ended:
        items = [i for i in items if i.status != "ended"]
    return items, cursor


def renew_subscriptions(*, session: Session, now: datetime | None = None) -> int:
    """Bill every live subscription up to `now` and end those whose cancellation is due (for a
    scheduled job; the request paths do the same for the subscription they touch)."""
    now = now or utcnow()
    return sum(advance(session, sub, now) for sub in
               session.exec(select(Subscription).where(Subscription.status == "active")).all())



def find_live_subscription(*, session: Session, listing_id: str, user_id: str) -> s.SubscriptionRead | None:
    """The user's subscription to the listing if it is live now (read-only; for the serving side)."""
    sub = live_subscription(session, listing_id, user_id)
    if sub is None or state_at(sub, utcnow()) == "ended":
        return None
    return subscription_read(session, sub)
