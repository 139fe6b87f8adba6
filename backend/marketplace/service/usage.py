"""Usage: requests counted per prediction against a subscription's quota, and a user's usage report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.auth.principal import Principal
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.timeutil import to_utc, utcnow
from backend.marketplace import schemas as s
from backend.marketplace.models import BillingRecord, Listing, UsageCounter
from backend.marketplace.service.access import get_listing_row, not_found
from backend.marketplace.service.counters import count_usage, requests_used
from backend.marketplace.service.money import period_bounds, period_index_at
from backend.marketplace.service.purchases import find_purchase, purchase_read
from backend.marketplace.service.subscriptions import (
    advance,
    billing_read,
    live_subscription,
    state_at,
    subscription_read,
)

BILLING_HISTORY = 24


@dataclass(frozen=True)
class UsageResult:
    listing_id: str
    subscription_id: str | None
    requests_used: int
    requests_quota: int | None  # None: unlimited or no subscription

    @property
    def requests_remaining(self) -> int | None:
        return None if self.requests_quota is None else max(self.requests_quota - self.requests_used, 0)


def record_usage(*, session: Session, listing_id: str, user_id: str, requests: int = 1,
                 latency_ms: float | None = None, at: datetime | None = None, served: bool = False) -> UsageResult:
    """Count `requests` made by `user_id` of a listing.

    With a live subscription the requests count against its quota for the current period; before the
    requests are served (`served=False`) a call that would go over the quota counts nothing and raises
    INFER_004 (429); requests already served (`served=True`, the endpoints' prediction log) are counted
    whatever the quota, and the result says how much of it is left. Without a subscription the use is
    recorded unmetered: whether a subscription is required is the serving side's decision
    (`find_live_subscription`).
    """
    if requests < 0 or (latency_ms is not None and not (latency_ms >= 0 and math.isfinite(latency_ms))):
        raise InvalidRequest("Invalid usage", {"requests": "must be ≥ 0", "latencyMs": "must be ≥ 0"})
    now = to_utc(at) if at else utcnow()
    listing = session.get(Listing, listing_id)
    if listing is None:
        raise not_found(listingId=listing_id)
    sub = live_subscription(session, listing.id, user_id, lock=True)
    if sub is not None:
        advance(session, sub, now)
        if sub.status == "ended":
            sub = None
    if sub is None:
        count_usage(session, listing_id=listing.id, consumer=user_id, day=now.date(), requests=requests,
                    latency_ms=latency_ms)
        return UsageResult(listing.id, None, requests, None)
    index = period_index_at(sub, now)
    used = requests_used(session, sub, index)
    if not served and sub.requests_quota is not None and used + requests > sub.requests_quota:
        raise AISystemError("INFER_004", "The subscription's request quota for this period is used up", {
            "listingId": listing.id, "subscriptionId": sub.id, "quota": sub.requests_quota, "used": used,
            "periodEnd": period_bounds(sub, index)[1].isoformat()})
    count_usage(session, listing_id=listing.id, consumer=user_id, day=now.date(), subscription_id=sub.id,
                period_index=index, requests=requests, latency_ms=latency_ms)
    return UsageResult(listing.id, sub.id, used + requests, sub.requests_quota)


def company_listing_of(session: Session, model_id: str) -> str | None:
    """The id of the live company listing published from a catalog model, if any."""
    return session.exec(select(Listing.id).where(Listing.source_model_id == model_id,
                                                 col(Listing.removed_at).is_(None))).first()


def usage_report(*, session: Session, actor: Principal, listing_id: str, days: int = 30) -> s.UsageReport:
    """Your use of a listing: quota of your live subscription, requests per day, totals, billing."""
    listing = get_listing_row(session=session, actor=actor, listing_id=listing_id)
    now = utcnow()
    sub = live_subscription(session, listing.id, actor.user_id)
    if sub is not None and state_at(sub, now) == "ended":
        sub = None
    bought = find_purchase(session, listing.id, actor.user_id)
    mine = (UsageCounter.listing_id == listing.id, UsageCounter.consumer == actor.user_id)
    req, dl, lat, samples = session.exec(select(
        func.coalesce(func.sum(UsageCounter.requests), 0), func.coalesce(func.sum(UsageCounter.downloads), 0),
        func.coalesce(func.sum(UsageCounter.latency_ms_total), 0), func.coalesce(func.sum(UsageCounter.latency_samples), 0),
    ).where(*mine)).one()
    first = now.date() - timedelta(days=days - 1)
    per_day = {d: (int(r or 0), float(lt or 0), int(n or 0)) for d, r, lt, n in session.exec(
        select(UsageCounter.day, func.sum(UsageCounter.requests), func.sum(UsageCounter.latency_ms_total),
               func.sum(UsageCounter.latency_samples)).where(*mine, UsageCounter.day >= first)
        .group_by(UsageCounter.day)).all()}
    daily = []
    for i in range(days):
        day = first + timedelta(days=i)
        r, lt, n = per_day.get(day, (0, 0.0, 0))
        daily.append(s.UsageDay(day=day, requests=r, average_latency=round(lt / n, 1) if n else None))
    billing = session.exec(select(BillingRecord).where(BillingRecord.listing_id == listing.id,
                                                       BillingRecord.user_id == actor.user_id)
                           .order_by(col(BillingRecord.created_at).desc(), col(BillingRecord.id).desc())
                           .limit(BILLING_HISTORY)).all()
    return s.UsageReport(
        listing_id=listing.id,
        subscription=subscription_read(session, sub, listing_name=listing.name, now=now) if sub else None,
        purchase=purchase_read(bought) if bought else None,
        totals=s.UsageTotals(requests=int(req), downloads=int(dl),
                             average_latency=round(float(lat) / int(samples), 1) if samples else None),
        daily=daily, billing=[billing_read(b) for b in billing],
    )

