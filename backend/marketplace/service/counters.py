"""Usage counters: one row per listing, consumer, day, subscription and period, added to atomically."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func
from sqlmodel import Session, select

from backend.core.db import upsert
from backend.core.timeutil import utcnow
from backend.marketplace.models import Subscription, UsageCounter

# Counter keys of use outside a subscription (the key columns are not nullable: upserts need equal keys).
NO_SUBSCRIPTION = ""
NO_PERIOD = -1


def count_usage(session: Session, *, listing_id: str, consumer: str, day: date,
                subscription_id: str = NO_SUBSCRIPTION, period_index: int = NO_PERIOD, requests: int = 0,
                downloads: int = 0, latency_ms: float | None = None, is_demo: bool = False) -> None:
    """Add to one usage counter row, creating it if needed, in one atomic upsert."""
    samples = requests if latency_ms is not None else 0
    values = dict(listing_id=listing_id, consumer=consumer, day=day, subscription_id=subscription_id,
                  period_index=period_index, requests=requests, downloads=downloads,
                  latency_ms_total=(latency_ms or 0.0) * samples, latency_samples=samples, is_demo=is_demo,
                  updated_at=utcnow())
    stmt = upsert(session, UsageCounter).values(**values)
    table = UsageCounter.__table__.c
    stmt = stmt.on_conflict_do_update(
        index_elements=["listing_id", "consumer", "day", "subscription_id", "period_index"],
        set_={"requests": table.requests + stmt.excluded.requests,
              "downloads": table.downloads + stmt.excluded.downloads,
              "latency_ms_total": table.latency_ms_total + stmt.excluded.latency_ms_total,
              "latency_samples": table.latency_samples + stmt.excluded.latency_samples,
              "updated_at": stmt.excluded.updated_at},
    )
    session.execute(stmt)


def requests_used(session: Session, sub: Subscription, index: int) -> int:
    """Requests counted against a subscription in billing period `index`."""
    total = session.exec(select(func.coalesce(func.sum(UsageCounter.requests), 0)).where(
        UsageCounter.subscription_id == sub.id, UsageCounter.period_index == index)).one()
    return int(total or 0)
