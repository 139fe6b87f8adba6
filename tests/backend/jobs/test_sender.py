"""Jobs reach the broker from the sender thread, after the commit and off the request path; a send that
fails (the broker is down) loses nothing: the committed row is re-sent by the reaper."""

from __future__ import annotations

import threading
from datetime import timedelta

from backend.core.db import session_scope
from backend.core.timeutil import utcnow
from backend.jobs import sender, service
from tests.backend.jobs.conftest import read_job
from tests.backend.jobs.test_service import set_columns


class Broker:
    """Stands in for `send_job`: records what arrives, on which thread; raises while it is down."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.threads: set[str] = set()
        self.down = False

    def __call__(self, job_id: str, *, queue: str, gpu: bool) -> None:
        self.threads.add(threading.current_thread().name)
        if self.down:
            raise ConnectionError("broker unreachable")
        self.received.append(job_id)


def broker(monkeypatch) -> Broker:  # noqa: ANN001
    fake = Broker()
    monkeypatch.setattr(service, "send_job", fake)
    return fake


def create(actor) -> str:  # noqa: ANN001
    with session_scope() as session:
        return service.create_job(session=session, actor=actor, type="platform.statistics").id


def test_the_commit_does_not_wait_for_the_broker(principals, monkeypatch):
    fake = broker(monkeypatch)
    release = threading.Event()
    slow = fake.__call__

    def slow_send(job_id: str, **kwargs) -> None:
        release.wait(10)  # a broker that takes its time
        slow(job_id, **kwargs)

    monkeypatch.setattr(service, "send_job", slow_send)
    job_id = create(principals["admin"])  # returns while the send still waits
    assert fake.received == [] and read_job(job_id).status == "queued"
    release.set()
    assert sender.flush(timeout=10)
    assert fake.received == [job_id] and fake.threads == {"aisystem-job-sender"}


def test_nothing_is_sent_for_a_rolled_back_job(principals, monkeypatch):
    fake = broker(monkeypatch)
    try:
        with session_scope() as session:
            service.create_job(session=session, actor=principals["admin"], type="platform.statistics")
            raise RuntimeError("the request fails after queueing the job")
    except RuntimeError:
        pass
    assert sender.flush(timeout=10) and fake.received == []


def test_a_job_committed_while_the_broker_is_down_is_resent_by_the_reaper(principals, monkeypatch, caplog):
    fake = broker(monkeypatch)
    fake.down = True
    job_id = create(principals["admin"])  # the request succeeds: the row is the guarantee
    assert sender.flush(timeout=10)
    assert fake.received == [] and "could not send job" in caplog.text
    assert read_job(job_id).status == "queued"

    fake.down = False  # the broker is back; the reaper's next turn finds the job nobody took
    set_columns(job_id, enqueued_at=utcnow() - timedelta(hours=1))
    with session_scope() as session:
        assert service.reap(session=session)["requeued"] == 1
    assert sender.flush(timeout=10)
    assert fake.received == [job_id]
    assert read_job(job_id).resends == 1


def test_the_same_job_queued_twice_before_the_sender_runs_is_sent_once(monkeypatch):
    calls: list[str] = []
    gate = threading.Event()
    sender.submit("job_gate", lambda: gate.wait(10))  # keeps the thread busy while two more arrive
    sender.submit("job_1", lambda: calls.append("job_1"))
    sender.submit("job_1", lambda: calls.append("job_1"))
    gate.set()
    assert sender.flush(timeout=10) and calls == ["job_1"]
