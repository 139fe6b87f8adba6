"""Subscriptions and billing: tiers, billing periods billed as they start, prorated tier changes,
cancellation at the period end, and the subscription as its owner sees it.

Money is shown before it is charged: `quote_subscription` and `quote_cancel` price an action with the
same functions that bill it (`due_periods` for periods already started, `plan_tier` for the action's
own charge), and `subscribe` bills exactly a quote it is given back (`quoted_at`, `expected_amount`).
"""

from __future__ import annotations

from dataclasses import dataclass
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
from backend.marketplace.service.contact import sales_contact
from backend.marketplace.service.counters import requests_used
from backend.marketplace.service.money import (
    add_months,
    from_cents,
    period_bounds,
    period_index_at,
    prorated_cents,
    to_cents,
)

# How long a quote holds: `subscribe` bills a tier change at the quote's moment if it is this recent.
QUOTE_VALID = timedelta(minutes=15)


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


def due_periods(session: Session, sub: Subscription, now: datetime) -> list[int]:
    """The billing periods of a subscription that have started by `now` and are not billed yet (read-only;
    `advance` bills exactly these, and a quote shows them)."""
    if sub.status == "ended":
        return []
    horizon = to_utc(sub.ends_at) - timedelta(microseconds=1) if state_at(sub, now) == "ended" else now
    last = session.exec(select(func.max(BillingRecord.period_index)).where(
        BillingRecord.subscription_id == sub.id, BillingRecord.kind == "period")).one()
    return list(range((last if last is not None else -1) + 1, period_index_at(sub, horizon) + 1))


def period_description(sub: Subscription, index: int) -> str:
    return f"{sub.tier_name} — period {index + 1}"


def advance(session: Session, sub: Subscription, now: datetime, actor: Principal | None = None) -> int:
    """Bring a subscription up to `now`: bill every period that has started, end it when a cancellation
    reaches its period end. Returns the number of billing records created (audited when > 0)."""
    if sub.status == "ended":
        return 0
    state = state_at(sub, now)
    created = 0
    for index in due_periods(session, sub, now):
        start, end = period_bounds(sub, index)
        bill(session, sub, kind="period", index=index, start=start, end=end, amount_cents=sub.price_cents,
             description=period_description(sub, index))
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


@dataclass(frozen=True)
class TierPlan:
    """What subscribing to a tier does at a moment, and what it bills: the one computation behind both the
    quote and the charge."""

    action: str  # created | changed | resumed
    tier: PricingTier
    amount_cents: int  # billed by the action (first period, proration; 0 for a resume)
    index: int  # the billing period the charge belongs to
    start: datetime  # the span the charge covers
    end: datetime
    description: str


def choose_tier(session: Session, listing: Listing, tier: str) -> PricingTier:
    """The listing's tier by name (case-blind): REQ_001 naming the tiers when there is none, MARKET_003
    `contact_sales` for a tier sold through sales."""
    tiers = session.exec(select(PricingTier).where(PricingTier.listing_id == listing.id)
                         .order_by(PricingTier.position)).all()
    chosen = next((t for t in tiers if t.name.lower() == tier.strip().lower()), None)
    if chosen is None:
        known = ", ".join(t.name for t in tiers) or "none"
        raise InvalidRequest("Unknown tier", {"tier": f"no tier '{tier}' on this listing; tiers: {known}"})
    if chosen.price_cents is None:
        raise not_allowed("contact_sales", f"The {chosen.name} tier is sold through sales; contact "
                           f"{sales_contact(session, listing).email or 'the provider'}", tier=chosen.name)
    return chosen


def plan_tier(listing: Listing, chosen: PricingTier, sub: Subscription | None, at: datetime) -> TierPlan:
    """What subscribing to `chosen` at `at` bills, given the live subscription `sub` (None: a new one).

    A new subscription pays its first period; a change of tier pays (new price − old price) × the unused
    fraction of the current period (negative: a credit); the same tier of a subscription set to cancel
    resumes it for nothing; the same tier otherwise is MARKET_002."""
    if sub is None:
        end = add_months(at, 12 if listing.billing == "yearly" else 1)
        return TierPlan("created", chosen, chosen.price_cents, 0, at, end, f"{chosen.name} — period 1")
    index = period_index_at(sub, at)
    start, end = period_bounds(sub, index)
    if sub.tier_name.lower() == chosen.name.lower():
        if not sub.cancel_at_period_end:
            raise conflict(f"You are already subscribed to the {sub.tier_name} tier", subscriptionId=sub.id,
                           tier=sub.tier_name)
        return TierPlan("resumed", chosen, 0, index, start, end, f"{chosen.name} resumed")
    amount = prorated_cents(old_cents=sub.price_cents, new_cents=chosen.price_cents, period_start=start,
                            period_end=end, at=at)
    return TierPlan("changed", chosen, amount, index, at, end, f"Change from {sub.tier_name} to {chosen.name}, prorated")


def quote_moment(sub: Subscription | None, quoted_at: datetime | None, now: datetime) -> datetime:
    """The moment a confirmed quote bills at: `quoted_at` if it is recent and in the current period."""
    if quoted_at is None:
        return now
    quoted_at = to_utc(quoted_at)
    if quoted_at > now:
        raise InvalidRequest("The quote is from the future", {"quotedAt": "must be the quotedAt of a quote"})
    if now - quoted_at > QUOTE_VALID or (sub is not None and period_index_at(sub, quoted_at) != period_index_at(sub, now)):
        raise conflict("The quote has expired; ask for a new one", reason="quote_expired",
                       quotedAt=quoted_at.isoformat())
    return quoted_at


def check_expected(amount_cents: int, expected: float | None, currency: str) -> None:
    """MARKET_002 `price_changed` when the action would bill another amount than the quote the caller saw."""
    if expected is not None and to_cents(expected) != amount_cents:
        raise conflict("The price changed since the quote; look at the new quote before confirming",
                       reason="price_changed", expectedAmount=expected, amount=from_cents(amount_cents),
                       currency=currency)


def _live_now(session: Session, listing_id: str, user_id: str, now: datetime, *, lock: bool = False) -> Subscription | None:
    sub = live_subscription(session, listing_id, user_id, lock=lock)
    return None if sub is None or state_at(sub, now) == "ended" else sub


def _due_lines(session: Session, sub: Subscription | None, now: datetime) -> list[s.QuoteLine]:
    if sub is None:
        return []
    lines = []
    for index in due_periods(session, sub, now):
        start, end = period_bounds(sub, index)
        lines.append(s.QuoteLine(kind="period", description=period_description(sub, index),
                                 amount=from_cents(sub.price_cents), period_start=start, period_end=end))
    return lines


def _quote(listing: Listing, *, action: str, tier: str | None, previous: str | None, currency: str,
           lines: list[s.QuoteLine], due: list[s.QuoteLine], now: datetime, recurring_cents: int | None = None,
           quota: int | None | str = None, next_billing_at: datetime | None = None,
           active_until: datetime | None = None) -> s.Quote:
    requests = s.UNLIMITED if quota is None and recurring_cents is not None else quota
    return s.Quote(
        listing_id=listing.id, listing_name=listing.name, action=action, tier=tier, previous_tier=previous,
        currency=currency, amount=from_cents(sum(to_cents(line.amount) for line in lines)),
        due=from_cents(sum(to_cents(line.amount) for line in due)), lines=[*due, *lines], refund=0.0,
        recurring_price=from_cents(recurring_cents), billing=listing.billing if recurring_cents is not None else None,
        requests_quota=requests, next_billing_at=next_billing_at, active_until=active_until,
        quoted_at=now, valid_until=now + QUOTE_VALID,
    )


def quote_subscription(*, session: Session, actor: Principal, listing_id: str, tier: str,
                       now: datetime | None = None) -> s.Quote:
    """What subscribing to `tier` bills now and later (a new subscription, a tier change or a resume),
    without doing it; refused with the errors `subscribe` would raise."""
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    chosen = choose_tier(session, listing, tier)
    check_acquirable(session, actor, listing)
    sub = _live_now(session, listing.id, actor.user_id, now)
    plan = plan_tier(listing, chosen, sub, now)
    lines = [] if plan.action == "resumed" else [s.QuoteLine(
        kind="period" if plan.action == "created" else "proration", description=plan.description,
        amount=from_cents(plan.amount_cents), period_start=plan.start, period_end=plan.end)]
    action = {"created": "subscribe", "changed": "change", "resumed": "resume"}[plan.action]
    return _quote(listing, action=action, tier=chosen.name, previous=sub.tier_name if sub else None,
                  currency=sub.currency if sub else listing.currency, lines=lines, due=_due_lines(session, sub, now),
                  now=now, recurring_cents=chosen.price_cents, quota=chosen.requests, next_billing_at=plan.end)


def quote_cancel(*, session: Session, actor: Principal, listing_id: str, now: datetime | None = None) -> s.Quote:
    """What cancelling bills and refunds (nothing: use continues to the end of the paid period) and
    when access ends; MARKET_001 without a live subscription."""
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    sub = _live_now(session, listing.id, actor.user_id, now)
    if sub is None:
        raise not_found("subscription", listingId=listing.id)
    ends = to_utc(sub.ends_at) if sub.cancel_at_period_end and sub.ends_at else \
        period_bounds(sub, period_index_at(sub, now))[1]
    return _quote(listing, action="cancel", tier=sub.tier_name, previous=sub.tier_name, currency=sub.currency,
                  lines=[], due=_due_lines(session, sub, now), now=now, quota=sub.requests_quota
                  if sub.requests_quota is not None else s.UNLIMITED, active_until=ends)


def subscribe(*, session: Session, actor: Principal, listing_id: str, tier: str, now: datetime | None = None,
              quoted_at: datetime | None = None, expected_amount: float | None = None) -> s.SubscribeResult:
    """Subscribe to a tier, change tier (prorated), or resume a subscription set to cancel.

    A tier change bills (new price − old price) × (time left in the period ÷ period length), rounded
    to the cent (negative: a credit); the new tier's quota applies to the whole current period and the
    requests already made in it still count. The period boundaries do not move.

    Given a quote back (`quoted_at`, `expected_amount` from `quote_subscription`), the change is prorated
    at the quote's moment and nothing happens unless the action bills exactly the quoted amount.
    """
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id, for_update=True)
    chosen = choose_tier(session, listing, tier)
    check_acquirable(session, actor, listing)
    sub = _live_now(session, listing.id, actor.user_id, now, lock=True)
    at = quote_moment(sub, quoted_at, now) if sub is not None else now
    plan = plan_tier(listing, chosen, sub, at)
    check_expected(plan.amount_cents, expected_amount, sub.currency if sub else listing.currency)
    if sub is not None:
        advance(session, sub, now, actor)
    else:
        stale = live_subscription(session, listing.id, actor.user_id, lock=True)
        if stale is not None:  # run out but not yet marked: end it (and bill what was due) first
            advance(session, stale, now, actor)
    if plan.action == "created":
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
                              amount_cents=plan.amount_cents, description=plan.description)
                session.flush()
                audit.record(session=session, actor=actor, action="marketplace.subscription.create",
                             entity_type="marketplace_subscription", entity_id=sub.id,
                             summary={"listingId": listing.id, "tier": sub.tier_name, "amountCents": sub.price_cents})
        except IntegrityError as exc:  # a concurrent subscribe of the same user won
            raise conflict("You are already subscribed to this listing", listingId=listing.id) from exc
        return s.SubscribeResult(action="created", subscription=subscription_read(session, sub, listing_name=listing.name,
                                                                                  now=now), charge=billing_read(charge))
    if plan.action == "resumed":
        sub.cancel_at_period_end, sub.ends_at, sub.updated_at = False, None, now
        session.add(sub)
        session.flush()
        audit.record(session=session, actor=actor, action="marketplace.subscription.resume",
                     entity_type="marketplace_subscription", entity_id=sub.id, summary={"listingId": listing.id})
        return s.SubscribeResult(action="resumed", subscription=subscription_read(
            session, sub, listing_name=listing.name, now=now), charge=None)
    old_tier = sub.tier_name
    sub.tier_name, sub.price_cents, sub.requests_quota = chosen.name, chosen.price_cents, chosen.requests
    sub.cancel_at_period_end, sub.ends_at, sub.updated_at = False, None, now
    session.add(sub)
    charge = bill(session, sub, kind="proration", index=plan.index, start=plan.start, end=plan.end,
                  amount_cents=plan.amount_cents, description=plan.description)
    session.flush()
    audit.record(session=session, actor=actor, action="marketplace.subscription.change",
                 entity_type="marketplace_subscription", entity_id=sub.id,
                 summary={"listingId": listing.id, "from": old_tier, "to": chosen.name, "amountCents": plan.amount_cents})
    return s.SubscribeResult(action="changed", subscription=subscription_read(session, sub, listing_name=listing.name,
                                                                              now=now), charge=billing_read(charge))


def cancel_subscription(*, session: Session, actor: Principal, listing_id: str, now: datetime | None = None,
                        quoted_at: datetime | None = None) -> s.SubscriptionRead:
    """Cancel at the end of the current period (nothing more is billed; use continues until then). With
    `quoted_at` (from `quote_cancel`), only while that quote's period is still the current one."""
    now = now or utcnow()
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    sub = live_subscription(session, listing.id, actor.user_id, lock=True)
    if sub is not None:
        if state_at(sub, now) != "ended":
            quote_moment(sub, quoted_at, now)
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
