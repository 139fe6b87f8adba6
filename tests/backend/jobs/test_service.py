"""Job lifecycle at the service level, on SQLite and PostgreSQL: create → claim → lease → finish, reap, cancel."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from backend.audit.models import AuditRecord
from backend.core.config import get_settings
from backend.core.db import session_scope
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.core.timeutil import utcnow
from backend.jobs import service
from backend.jobs import tasks as job_tasks
from backend.jobs.models import Job, PlatformSnapshot
from tests.backend.jobs.conftest import audit_actions, read_job, wait_until

W1, W2 = "host-a:101", "host-b:202"


def create(actor, type="platform.selftest", payload=None) -> str:  # noqa: A002
    with session_scope() as session:
        return service.create_job(session=session, actor=actor, type=type, payload=payload).id


def claim(job_id: str, worker: str = W1) -> Job | None:
    with session_scope() as session:
        return service.claim_job(session=session, job_id=job_id, worker=worker)


def set_columns(job_id: str, **values) -> None:
    """Move the clock for one job (expire its lease, age its queue entry) without waiting."""
    with session_scope() as session:
        session.exec(update(Job).where(Job.id == job_id).values(**values))


def reap() -> dict[str, int]:
    with session_scope() as session:
        return service.reap(session=session)


def expire_lease(job_id: str) -> None:
    set_columns(job_id, lease_expires_at=utcnow() - timedelta(seconds=1))


def reap_records() -> list[dict]:
    """Summaries of the reaper's audit records (the reaper audits what it re-queues or fails)."""
    with session_scope(write=False) as session:
        return [r.summary for r in session.exec(
            select(AuditRecord).where(AuditRecord.action == "job.reap").order_by(col(AuditRecord.seq))
        ).all()]


def error_of(excinfo) -> tuple[str, dict]:
    return excinfo.value.code, excinfo.value.details


# --- create --------------------------------------------------------------------------------------


def test_create_queues_the_job_and_sends_it_only_after_commit(principals, sent):
    admin = principals["admin"]
    with session_scope() as session:
        job = service.create_job(session=session, actor=admin, type="platform.selftest",
                                 payload={"durationSeconds": 2})
        assert sent == [], "sent before the row was committed: a fast worker would not find it"
    assert sent == [job.id]
    stored = read_job(job.id)
    assert (stored.status, stored.attempts, stored.progress) == ("queued", 0, 0.0)
    assert stored.max_attempts == get_settings().job_max_attempts
    assert stored.payload == {"durationSeconds": 2.0}
    assert stored.created_by == admin.user_id
    assert stored.enqueued_at is not None
    assert audit_actions(job.id) == ["job.create"]


def test_create_rolled_back_sends_nothing(principals, sent):
    with pytest.raises(RuntimeError), session_scope() as session:
        service.create_job(session=session, actor=principals["admin"], type="platform.statistics")
        raise RuntimeError("the caller fails after creating the job")
    assert sent == []
    with session_scope(write=False) as session:
        assert session.exec(select(func.count()).select_from(Job)).one() == 0


def test_create_rejects_an_unknown_type(principals, sent):
    with pytest.raises(AISystemError) as excinfo, session_scope() as session:
        service.create_job(session=session, actor=principals["admin"], type="platform.format_disk")
    code, details = error_of(excinfo)
    assert code == "REQ_001"
    assert [f["field"] for f in details["fields"]] == ["type"]
    assert sent == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"durationSeconds": 10**9}, "payload.durationSeconds"),
        ({"durationSeconds": -1}, "payload.durationSeconds"),
        ({"durationSeconds": "soon"}, "payload.durationSeconds"),
        ({"command": "rm -rf /"}, "payload.command"),  # unknown fields are refused, not ignored
    ],
)
def test_create_validates_the_payload(principals, sent, payload, field):
    with pytest.raises(AISystemError) as excinfo, session_scope() as session:
        service.create_job(session=session, actor=principals["admin"], type="platform.selftest", payload=payload)
    code, details = error_of(excinfo)
    assert code == "REQ_001"
    assert [f["field"] for f in details["fields"]] == [field]
    assert sent == []


# --- claim, lease, progress, finish --------------------------------------------------------------


def test_a_job_is_claimed_once_and_a_duplicate_delivery_gets_none(principals, sent):
    job_id = create(principals["admin"])
    job = claim(job_id, W1)
    assert job is not None
    assert (job.status, job.attempts, job.lease_owner) == ("running", 1, W1)
    assert job.lease_expires_at > utcnow()
    assert job.started_at is not None
    assert claim(job_id, W2) is None
    assert claim(job_id, W1) is None
    stored = read_job(job_id)
    assert (stored.status, stored.attempts, stored.lease_owner) == ("running", 1, W1)


def test_claiming_an_unknown_or_cancelled_job_gets_none(principals, sent):
    assert claim("job_doesnotexist") is None
    job_id = create(principals["admin"])
    with session_scope() as session:
        service.cancel_job(session=session, actor=principals["admin"], job_id=job_id)
    assert claim(job_id) is None
    assert read_job(job_id).status == "cancelled"


def test_only_the_lease_owner_renews_and_reports_progress(principals, sent):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    set_columns(job_id, lease_expires_at=utcnow() + timedelta(seconds=1))
    before = read_job(job_id)
    with session_scope() as session:
        assert service.renew_lease(session=session, job_id=job_id, worker=W2) is False
        assert service.report_progress(session=session, job_id=job_id, worker=W2, fraction=0.9,
                                       message="not mine") is False
    after = read_job(job_id)
    assert (after.progress, after.message, after.lease_expires_at) == (0.0, None, before.lease_expires_at)

    with session_scope() as session:
        assert service.renew_lease(session=session, job_id=job_id, worker=W1) is True
    renewed = read_job(job_id)
    assert renewed.lease_expires_at > before.lease_expires_at
    with session_scope() as session:
        assert service.report_progress(session=session, job_id=job_id, worker=W1, fraction=1.7,
                                       message="step 3 of 4") is True
    progressed = read_job(job_id)
    assert (progressed.progress, progressed.message) == (1.0, "step 3 of 4")  # clamped to [0, 1]


def test_finish_by_a_non_owner_raises_lease_lost_and_changes_nothing(principals, sent):
    job_id = create(principals["admin"], type="platform.statistics")
    claim(job_id, W1)
    with pytest.raises(service.LeaseLost), session_scope() as session:
        # The handler's final write and the finish share one transaction: both roll back.
        session.add(PlatformSnapshot(id="snap_lost", job_id=job_id, figures={}))
        service.finish_job(session=session, job_id=job_id, worker=W2, status="succeeded", result={"x": 1})
    job = read_job(job_id)
    assert (job.status, job.lease_owner, job.result, job.finished_at) == ("running", W1, None, None)
    with session_scope(write=False) as session:
        assert session.get(PlatformSnapshot, "snap_lost") is None
    assert "job.completed" not in audit_actions(job_id)


def test_finish_by_the_owner_records_the_outcome_and_one_audit_record(principals, sent):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    with session_scope() as session:
        service.finish_job(session=session, job_id=job_id, worker=W1, status="succeeded", result={"ok": True})
    job = read_job(job_id)
    assert (job.status, job.progress, job.result) == ("succeeded", 1.0, {"ok": True})
    assert (job.lease_owner, job.lease_expires_at) == (None, None)
    assert job.finished_at is not None
    assert audit_actions(job_id) == ["job.create", "job.completed"]
    with pytest.raises(service.LeaseLost), session_scope() as session:  # finishing twice is refused
        service.finish_job(session=session, job_id=job_id, worker=W1, status="succeeded")
    assert audit_actions(job_id).count("job.completed") == 1


def test_finish_with_a_long_worker_name_still_fits_the_audit_record(principals, sent):
    """Worker names are `hostname:pid`; container hostnames are long, the audit credential column is not."""
    long_worker = f"{'k8s-gpu-node-' * 8}x.cluster.example.internal:123456"
    job_id = create(principals["admin"])
    claim(job_id, long_worker)
    with session_scope() as session:
        service.finish_job(session=session, job_id=job_id, worker=long_worker, status="succeeded")
    assert read_job(job_id).status == "succeeded"
    with session_scope(write=False) as session:
        record = session.exec(select(AuditRecord).where(AuditRecord.action == "job.completed")).one()
    assert len(record.credential_id) <= 64 and record.credential_id.endswith(":123456")
    assert record.summary["worker"] == long_worker


# --- reap ----------------------------------------------------------------------------------------


def test_reap_requeues_a_job_whose_lease_expired_and_keeps_its_attempts(principals, sent):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    sent.clear()
    expire_lease(job_id)
    assert reap() == {"requeued": 1, "failed": 0}
    job = read_job(job_id)
    assert (job.status, job.attempts, job.lease_owner, job.lease_expires_at) == ("queued", 1, None, None)
    assert "re-queued" in job.message
    assert sent == [job_id]
    assert reap_records() == [{"requeued": [job_id], "failed": 0}]
    # The lost worker comes back to life: it may no longer finish the job.
    with pytest.raises(service.LeaseLost), session_scope() as session:
        service.finish_job(session=session, job_id=job_id, worker=W1, status="succeeded")
    again = claim(job_id, W2)
    assert (again.status, again.attempts, again.lease_owner) == ("running", 2, W2)


def test_reap_fails_a_job_after_max_attempts_with_a_clear_error(principals, sent):
    job_id = create(principals["admin"])
    max_attempts = read_job(job_id).max_attempts
    for attempt in range(1, max_attempts + 1):
        assert claim(job_id, f"host:{attempt}").attempts == attempt
        expire_lease(job_id)
        reap()
    job = read_job(job_id)
    assert job.status == "failed"
    assert job.attempts == max_attempts
    assert job.error == f"worker lost: the lease expired and all {max_attempts} attempts are used"
    assert job.finished_at is not None
    assert claim(job_id) is None
    assert reap_records()[-1] == {"requeued": [], "failed": 1}
    assert reap() == {"requeued": 0, "failed": 0}  # a failed job stays failed


def test_reap_leaves_a_live_lease_alone(principals, sent):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    sent.clear()
    assert reap() == {"requeued": 0, "failed": 0}
    job = read_job(job_id)
    assert (job.status, job.lease_owner) == ("running", W1)
    assert sent == []


def test_reap_cancels_a_lost_job_whose_cancellation_was_asked(principals, sent):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    with session_scope() as session:
        service.cancel_job(session=session, actor=principals["admin"], job_id=job_id)
    expire_lease(job_id)
    sent.clear()
    reap()
    job = read_job(job_id)
    assert job.status == "cancelled"
    assert sent == []


def test_reap_resends_a_queued_job_the_broker_lost(principals, sent):
    stale_id = create(principals["admin"])
    fresh_id = create(principals["admin"])
    long_ago = utcnow() - timedelta(seconds=get_settings().job_requeue_after_seconds + 5)
    set_columns(stale_id, enqueued_at=long_ago)
    sent.clear()
    assert reap() == {"requeued": 1, "failed": 0}
    assert sent == [stale_id]
    stale = read_job(stale_id)
    assert stale.status == "queued"
    assert stale.enqueued_at > long_ago + timedelta(seconds=4)
    assert read_job(fresh_id).status == "queued"
    sent.clear()
    assert reap() == {"requeued": 0, "failed": 0}, "re-sent again at once: the queue would fill up"
    assert sent == []


# --- cancel, get, list ---------------------------------------------------------------------------


def test_cancel_a_queued_job_at_once(principals, sent):
    job_id = create(principals["admin"])
    with session_scope() as session:
        job = service.cancel_job(session=session, actor=principals["admin"], job_id=job_id)
    assert job.status == "cancelled"
    stored = read_job(job_id)
    assert (stored.status, stored.finished_at is not None) == ("cancelled", True)
    assert audit_actions(job_id) == ["job.create", "job.cancel"]


def test_cancel_a_running_job_asks_it_to_stop(principals, sent):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    with session_scope() as session:
        job = service.cancel_job(session=session, actor=principals["admin"], job_id=job_id)
    assert (job.status, job.cancel_requested) == ("running", True)
    with session_scope(write=False) as session:
        assert service.is_cancel_requested(session=session, job_id=job_id) is True


@pytest.mark.parametrize("outcome", ["succeeded", "failed", "cancelled"])
def test_cancel_a_finished_job_is_a_conflict(principals, sent, outcome):
    job_id = create(principals["admin"])
    claim(job_id, W1)
    with session_scope() as session:
        service.finish_job(session=session, job_id=job_id, worker=W1, status=outcome)
    with pytest.raises(AISystemError) as excinfo, session_scope() as session:
        service.cancel_job(session=session, actor=principals["admin"], job_id=job_id)
    assert error_of(excinfo) == ("JOB_002", {"status": outcome})
    assert read_job(job_id).status == outcome


def test_other_users_jobs_are_invisible_to_non_admins(principals, sent):
    mine = create(principals["business_user"])
    theirs = create(principals["ml_engineer"])
    with session_scope() as session:
        assert service.get_job(session=session, actor=principals["business_user"], job_id=mine).id == mine
        assert service.get_job(session=session, actor=principals["admin"], job_id=theirs).id == theirs
        for action in (service.get_job, service.cancel_job):
            with pytest.raises(AISystemError) as excinfo:
                action(session=session, actor=principals["business_user"], job_id=theirs)
            assert error_of(excinfo) == ("JOB_001", {"jobId": theirs})
    assert read_job(theirs).status == "queued"


def test_list_is_limited_to_own_jobs_for_non_admins(principals, sent):
    admin, user, other = principals["admin"], principals["business_user"], principals["ml_engineer"]
    own = [create(user) for _ in range(3)]
    create(other)
    create(admin, type="platform.statistics")
    with session_scope(write=False) as session:
        rows, cursor = service.list_jobs(session=session, actor=user, params=PageParams(limit=50))
        assert [r.id for r in rows] == sorted(own, reverse=True)  # newest first
        assert cursor is None
        everything, _ = service.list_jobs(session=session, actor=admin, params=PageParams(limit=50))
        assert len(everything) == 5
        stats, _ = service.list_jobs(session=session, actor=admin, params=PageParams(), type="platform.statistics")
        assert [r.created_by for r in stats] == [admin.user_id]
        first, cursor = service.list_jobs(session=session, actor=user, params=PageParams(limit=2))
        rest, end = service.list_jobs(session=session, actor=user, params=PageParams(limit=2, cursor=cursor))
        assert [r.id for r in first + rest] == sorted(own, reverse=True)
        assert end is None


# --- the Celery task, run in-process (no broker) -------------------------------------------------


def test_run_job_in_process_runs_once_and_writes_the_snapshot_in_the_finishing_transaction(principals, sent):
    job_id = create(principals["admin"], type="platform.statistics")
    job_tasks.run_job(job_id)
    job_tasks.run_job(job_id)  # duplicate delivery: nothing happens
    job = read_job(job_id)
    assert (job.status, job.attempts) == ("succeeded", 1)
    assert job.result["figures"]["jobs"] == 1
    with session_scope(write=False) as session:
        snapshots = session.exec(select(PlatformSnapshot).where(PlatformSnapshot.job_id == job_id)).all()
    assert len(snapshots) == 1
    assert audit_actions(job_id).count("job.completed") == 1


def test_run_job_records_a_failing_handler_as_failed(principals, sent, monkeypatch):
    from backend.core import tasks as registry

    def broken(ctx):
        raise ValueError("disk on fire")

    original = registry.job_type("platform.selftest")
    monkeypatch.setitem(registry._REGISTRY, "platform.selftest",
                        registry.JobType(name=original.name, handler=broken, payload_model=original.payload_model))
    job_id = create(principals["admin"])
    job_tasks.run_job(job_id)
    job = read_job(job_id)
    assert (job.status, job.error, job.lease_owner) == ("failed", "ValueError: disk on fire", None)
    assert audit_actions(job_id)[-1] == "job.failed"


def test_run_job_fails_a_type_this_worker_does_not_know(principals, sent):
    with session_scope() as session:
        session.add(Job(id="job_fromthefuture", type="training.run", created_by=principals["admin"].user_id,
                        enqueued_at=utcnow()))
    job_tasks.run_job("job_fromthefuture")
    job = read_job("job_fromthefuture")
    assert job.status == "failed"
    assert "does not know the job type 'training.run'" in job.error


def test_run_job_stops_a_running_selftest_when_cancelled(principals, sent):
    job_id = create(principals["admin"], payload={"durationSeconds": 3})
    runner = threading.Thread(target=job_tasks.run_job, args=(job_id,))
    runner.start()
    try:
        wait_until(lambda: read_job(job_id).progress > 0, timeout=10, describe="the self-test never progressed")
        with session_scope() as session:
            service.cancel_job(session=session, actor=principals["admin"], job_id=job_id)
    finally:
        runner.join(timeout=10)
    job = read_job(job_id)
    assert (job.status, job.lease_owner) == ("cancelled", None)
    assert audit_actions(job_id)[-2:] == ["job.cancel", "job.cancelled"]


def test_periodic_tasks_run_when_due_and_a_failure_waits_its_turn(monkeypatch):
    from backend.core import tasks as registry
    from backend.jobs.tasks import run_due_periodic_tasks

    calls: list[str] = []

    def works(session) -> None:
        calls.append("works")

    def breaks(session) -> None:
        calls.append("breaks")
        raise RuntimeError("boom")

    registry.periodic_tasks()  # the domains' tasks register now, not into the test's registry below
    monkeypatch.setattr(registry, "_PERIODIC", {})
    registry.periodic("test.works", every_seconds=3600)(works)
    registry.periodic("test.breaks", every_seconds=3600)(breaks)
    due: dict[str, float] = {}
    assert run_due_periodic_tasks(due) == ["test.works"]  # the failure is logged, the others run
    assert run_due_periodic_tasks(due) == [] and sorted(calls) == ["breaks", "works"]
    due["test.breaks"] = 0.0
    run_due_periodic_tasks(due)
    assert calls.count("breaks") == 2 and calls.count("works") == 1
