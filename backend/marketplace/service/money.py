"""Money in cents and billing periods: month arithmetic, the period that holds a moment, proration."""

from __future__ import annotations

from calendar import monthrange
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from backend.core.timeutil import to_utc
from backend.marketplace.models import Subscription


def to_cents(amount: float) -> int:
    """An amount in whole cents, rounded half-up."""
    return int((Decimal(str(amount)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def from_cents(cents: int | None) -> float | None:
    """Cents as an amount (None stays None)."""
    return None if cents is None else cents / 100


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole months, the day clamped to the target month's length (Jan 31 + 1 → Feb 28/29)."""
    years, month0 = divmod(moment.month - 1 + months, 12)
    year = moment.year + years
    day = min(moment.day, monthrange(year, month0 + 1)[1])
    return moment.replace(year=year, month=month0 + 1, day=day)


def _months_per_period(sub: Subscription) -> int:
    return 12 if sub.billing == "yearly" else 1


def period_bounds(sub: Subscription, index: int) -> tuple[datetime, datetime]:
    """Start and end of billing period `index` (0 = the first) of a subscription."""
    step = _months_per_period(sub)
    anchor = to_utc(sub.period_anchor)
    return add_months(anchor, index * step), add_months(anchor, (index + 1) * step)


def period_index_at(sub: Subscription, moment: datetime) -> int:
    """The billing period that contains `moment` (0 before the anchor)."""
    anchor, moment = to_utc(sub.period_anchor), to_utc(moment)
    if moment <= anchor:
        return 0
    step = _months_per_period(sub)
    index = max(((moment.year - anchor.year) * 12 + moment.month - anchor.month) // step, 0)
    while index > 0 and period_bounds(sub, index)[0] > moment:
        index -= 1
    while period_bounds(sub, index + 1)[0] <= moment:
        index += 1
    return index


def prorated_cents(*, old_cents: int, new_cents: int, period_start: datetime, period_end: datetime,
                   at: datetime) -> int:
    """(new − old) × the unused fraction of the period, rounded half-up to the cent."""
    total = (period_end - period_start).total_seconds()
    remaining = max((period_end - at).total_seconds(), 0.0)
    fraction = Decimal(remaining) / Decimal(total) if total > 0 else Decimal(0)
    return int((Decimal(new_cents - old_cents) * fraction).quantize(Decimal("1"), rounding=ROUND_HALF_UP))

