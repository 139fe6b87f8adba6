"""Marketplace background work: subscription renewals on a schedule."""

from __future__ import annotations

from sqlmodel import Session

from backend.core.tasks import periodic
from backend.marketplace import service

# Billing periods are months; a period that starts is billed within this many seconds even when no
# request touches the subscription (requests bill the subscription they touch at once).
RENEWAL_INTERVAL_SECONDS = 900


@periodic("marketplace.renew_subscriptions", every_seconds=RENEWAL_INTERVAL_SECONDS)
def renew_subscriptions(session: Session) -> dict[str, int] | None:
    """Bill the periods that have started and end the subscriptions whose cancellation is due. Safe on
    several workers at once: a period's bill is unique per subscription."""
    billed = service.renew_subscriptions(session=session)
    return {"periodsBilled": billed} if billed else None
