"""The marketplace's periodic task: subscriptions are billed when a period starts, with no request."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import func, select

from backend.core.timeutil import utcnow
from backend.jobs.tasks import run_due_periodic_tasks
from backend.marketplace import service
from backend.marketplace.models import BillingRecord

NAME = "marketplace.renew_subscriptions"


def test_the_workers_bill_started_periods_of_untouched_subscriptions(session, actors, market):
    started = utcnow() - timedelta(days=75)  # three monthly periods have started since
    service.subscribe(session=session, actor=actors["business_user"], listing_id=market.alpha, tier="Basic",
                      now=started)
    session.commit()

    def periods() -> int:
        count = session.exec(select(func.count()).select_from(BillingRecord).where(BillingRecord.kind == "period")).one()
        session.rollback()  # let go of SQLite's write lock: the task writes from its own session
        return count

    assert periods() == 1
    due: dict[str, float] = {}
    assert NAME in run_due_periodic_tasks(due)
    assert periods() == 3
    assert NAME not in run_due_periodic_tasks(due)  # not due again for a while
    due[NAME] = 0.0
    assert NAME in run_due_periodic_tasks(due) and periods() == 3  # each period is billed once
