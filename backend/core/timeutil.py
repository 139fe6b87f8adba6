"""UTC time helpers: every timestamp is timezone-aware UTC; the wire speaks ISO-8601 with `Z`."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """An aware UTC datetime; naive input is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat_z(value: datetime) -> str:
    """`2026-11-26T16:01:28.123Z`."""
    return to_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
