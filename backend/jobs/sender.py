"""Hands committed jobs to the broker off the request path.

A job is durable once its row commits; the broker message only wakes a worker. Sending it inside the
request (a kombu publish: on the embedded broker an insert into its own SQLite file) cost ~28 % of a
model registration under load, so the after-commit step only puts the send on this process's outbox,
and one daemon thread drains it. A send that fails, or one still in the outbox when the process dies,
is not lost work: the reaper re-sends every queued job nobody took after `job_requeue_after_seconds`
(`backend.jobs.service.reap`). The outbox is flushed at exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

# False sends in the committing thread (tests that record the sends and read them right away).
BACKGROUND = True

Send = Callable[[], None]


class _Outbox:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.pending: dict[str, Send] = {}  # by job id: the same job queued twice is sent once
        self.sending = 0
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def put(self, job_id: str, send: Send) -> None:
        with self.cond:
            self.pending[job_id] = send
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, daemon=True, name="aisystem-job-sender")
                self.thread.start()
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.pending:
                    self.cond.wait()
                batch, self.pending = self.pending, {}
                self.sending = len(batch)
            try:
                for job_id, send in batch.items():
                    _send(job_id, send)
            finally:
                with self.cond:
                    self.sending = 0
                    self.cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until everything put so far was handed over (sent or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.pending or self.sending:
                if self.thread is None or not self.thread.is_alive():  # nothing would drain it: send here
                    batch, self.pending = self.pending, {}
                    for job_id, send in batch.items():
                        _send(job_id, send)
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
        return True


def _send(job_id: str, send: Send) -> None:
    try:
        send()
    except Exception:  # the row is committed: the reaper re-sends the job; the request has ended anyway
        log.warning("could not send job %s to the broker; the reaper re-sends it", job_id, exc_info=True)


_outbox = _Outbox()


def _current() -> _Outbox:
    global _outbox
    if _outbox.pid != os.getpid():  # a forked child (a Celery pool process) starts with its own
        _outbox = _Outbox()
    return _outbox


def submit(job_id: str, send: Send) -> None:
    """Send job `job_id` with `send()` soon, from the sender thread (at once when BACKGROUND is off)."""
    if BACKGROUND:
        _current().put(job_id, send)
    else:
        _send(job_id, send)


def flush(timeout: float = 10.0) -> bool:
    """Wait until every job submitted so far was handed to the broker (or given up to the reaper)."""
    return _current().flush(timeout)


atexit.register(flush)
