"""Marketplace metering of served predictions.

A catalog model published to the marketplace as a company listing is consumed through the endpoints
that serve it. Its usage counters are fed from the prediction log, not from the requests: when the log
writer inserts a batch of rows (`backend.endpoints.predlog`), `count` adds the batch's answered
predictions per model, user and day to the listing's counters, in the same transaction, against the
user's live subscription when there is one. So a prediction costs no metering write of its own.

A subscription whose quota the counted use reaches is remembered here as exhausted until its period
ends, and that user's next predictions on the model answer INFER_004 (`check`). The quota therefore
holds to within what one flush interval serves (about half a second), in every web process that writes
its own log: each learns the total from the database when it counts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from sqlmodel import Session

from backend.core.errors import AISystemError

log = logging.getLogger(__name__)
# Serving answers that count as use: answered predictions, not shadow copies or errors.
_COUNTED_ROLES = ("primary", "canary")
_EXHAUSTED_SECONDS = 60.0

_exhausted: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def _groups(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, Any], list[Any]]:
    """(model id, user id, day) -> [predictions, latency total, time of the last] of the answered rows."""
    groups: dict[tuple[str, str, Any], list[Any]] = defaultdict(lambda: [0, 0.0, None])
    for row in rows:
        if row.get("status") != "ok" or row.get("role") not in _COUNTED_ROLES:
            continue
        if not row.get("model_id") or not row.get("user_id"):
            continue
        group = groups[(row["model_id"], row["user_id"], row["created_at"].date())]
        group[0] += int(row.get("instances") or 1)
        group[1] += float(row.get("latency_ms") or 0.0) * int(row.get("instances") or 1)
        group[2] = max(group[2] or row["created_at"], row["created_at"])
    return groups


def count(session: Session, rows: Iterable[Mapping[str, Any]]) -> int:
    """Add a batch of logged predictions to the usage counters of their models' company listings;
    returns how many predictions were counted."""
    from backend.marketplace import service as marketplace

    counted, listings = 0, {}
    for (model_id, user_id, _day), (predictions, latency_total, at) in _groups(rows).items():
        if model_id not in listings:
            listings[model_id] = marketplace.company_listing_of(session, model_id)
        listing_id = listings[model_id]
        if listing_id is None:
            continue
        result = marketplace.record_usage(session=session, listing_id=listing_id, user_id=user_id,
                                          requests=predictions, latency_ms=latency_total / predictions,
                                          at=at, served=True)
        counted += predictions
        if result.requests_quota is not None:
            _note(model_id, user_id, result)
    return counted


def _note(model_id: str, user_id: str, result: Any) -> None:
    with _lock:
        if result.requests_remaining == 0:
            _exhausted[(model_id, user_id)] = (time.monotonic() + _EXHAUSTED_SECONDS, {
                "listingId": result.listing_id, "subscriptionId": result.subscription_id,
                "quota": result.requests_quota, "used": result.requests_used})
        else:
            _exhausted.pop((model_id, user_id), None)


def check(model_id: str, user_id: str | None) -> None:
    """INFER_004 when the user's subscription to the model's listing has used up its quota (as last
    counted; rechecked at the latest a minute later, when a new period may have begun)."""
    if not _exhausted or user_id is None:
        return
    with _lock:
        found = _exhausted.get((model_id, user_id))
        if found is not None and found[0] <= time.monotonic():
            del _exhausted[(model_id, user_id)]
            found = None
    if found is not None:
        raise AISystemError("INFER_004", "The subscription's request quota for this period is used up", found[1])


def clear() -> None:
    with _lock:
        _exhausted.clear()
