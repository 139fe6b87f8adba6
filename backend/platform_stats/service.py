"""Figures about the platform as a whole: the home dashboard and the statistics job read them."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from backend import domains
from backend.audit.models import AuditRecord
from backend.auth.models import User
from backend.core.timeutil import isoformat_z, utcnow
from backend.jobs.models import Job, PlatformSnapshot


def catalog_counts(*, session: Session) -> dict[str, int]:
    """How many users, audit records and jobs exist, plus every domain's counters (backend/domains.py)."""
    figures = {
        "users": session.exec(select(func.count()).select_from(User)).one(),
        "auditRecords": session.exec(select(func.count()).select_from(AuditRecord)).one(),
        "jobs": session.exec(select(func.count()).select_from(Job)).one(),
    }
    for name, fn in domains.counters().items():
        figures[name] = fn(session)
    return figures


def activity_by_day(*, session: Session, days: int = 14) -> list[dict]:
    """Audit events per day and outcome over the last `days` days (oldest first, every day present)."""
    today = utcnow().date()
    start = today - timedelta(days=days - 1)
    day = func.date(AuditRecord.occurred_at)
    rows = session.exec(
        select(day, AuditRecord.outcome, func.count())
        .where(AuditRecord.occurred_at >= datetime.combine(start, time(), tzinfo=UTC))
        .group_by(day, AuditRecord.outcome)
    ).all()
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for when, outcome, n in rows:
        counts[str(when)][outcome] = n
    series = []
    for i in range(days):
        key = (start + timedelta(days=i)).isoformat()
        c = counts.get(key, {})
        series.append({"day": key, "success": c.get("success", 0), "failure": c.get("failure", 0),
                       "denied": c.get("denied", 0)})
    return series


def dashboard_figures(*, session: Session) -> dict:
    """The home dashboard's numbers, all computed from the database."""
    since = utcnow() - timedelta(hours=24)
    by_status = dict(session.exec(select(Job.status, func.count()).group_by(Job.status)).all())
    counts = catalog_counts(session=session)
    latest = session.exec(select(PlatformSnapshot).order_by(PlatformSnapshot.computed_at.desc()).limit(1)).first()
    return {
        "users": counts["users"],
        "auditEvents24h": session.exec(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.occurred_at >= since)
        ).one(),
        "jobsRunning": by_status.get("running", 0),
        "jobsQueued": by_status.get("queued", 0),
        "models": counts.get("models", 0),
        "datasets": counts.get("datasets", 0),
        "activity": activity_by_day(session=session),
        "lastSnapshotAt": isoformat_z(latest.computed_at) if latest else None,
    }
