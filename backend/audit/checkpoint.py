"""The signed checkpoint of the audit chain, kept outside the database.

It catches what a chain alone cannot: a deleted tail, or a whole tail rewritten with recomputed
hashes. Writing it (read, write a temp file, rename) after every audited commit cost ~15 % of a
registration under load, so commits only note the chain head they reached, and one thread per process
writes the newest head at most every `audit_checkpoint_seconds` (the first head after a quiet spell at
once), and at exit. What this leaves unprotected is documented in docs/security.md ("Audit checkpoint").
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from backend.core.config import get_settings

try:
    import fcntl
except ImportError:  # not on Windows: processes then race on the file (never backwards within one)
    fcntl = None

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "audit-checkpoint.json"


def checkpoint_path() -> Path:
    return get_settings().resolved_data_dir / CHECKPOINT_FILE


def _mac(seq: int, digest: str) -> str:
    return hmac.new(get_settings().jwt_secret().encode(), f"{seq}:{digest}".encode(), hashlib.sha256).hexdigest()


def read_checkpoint() -> tuple[int, str] | None:
    try:
        data = json.loads(checkpoint_path().read_text())
    except (OSError, ValueError):
        return None
    if not hmac.compare_digest(str(data.get("mac", "")), _mac(int(data["seq"]), str(data["hash"]))):
        return None
    return int(data["seq"]), str(data["hash"])


@contextmanager
def _file_lock(path: Path):
    """Serialise the read-compare-replace across processes (two server workers write the same file)."""
    if fcntl is None:
        yield
        return
    with open(path.with_name(f"{path.name}.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_checkpoint(seq: int, digest: str) -> None:
    """Record the chain head now, never moving the checkpoint backwards."""
    try:
        path = checkpoint_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(path):
            current = read_checkpoint()
            if current and current[0] >= seq:
                return
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"seq": seq, "hash": digest, "mac": _mac(seq, digest)}))
            tmp.replace(path)
    except OSError:  # the checkpoint strengthens detection; failing to write it must not fail a request
        log.warning("could not write the audit checkpoint", exc_info=True)


class _Writer:
    """The newest head this process committed, written by a daemon thread at most once per interval."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.write_lock = threading.Lock()
        self.pending: tuple[int, str] | None = None
        self.last_write = float("-inf")  # monotonic time of the last write
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()

    def note(self, seq: int, digest: str) -> None:
        with self.cond:
            was_idle = self.pending is None
            if self.pending is None or seq > self.pending[0]:
                self.pending = (seq, digest)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, daemon=True, name="aisystem-audit-checkpoint")
                self.thread.start()
            if was_idle:  # a thread already waiting out the interval for an earlier head needs no wake-up
                self.cond.notify()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while True:  # the interval is read anew at each wake-up (a test may change it)
                    if self.pending is None:
                        self.cond.wait()
                        continue
                    wait = self.last_write + get_settings().audit_checkpoint_seconds - time.monotonic()
                    if wait <= 0:
                        break
                    self.cond.wait(wait)
            self.flush()

    def flush(self) -> None:
        with self.write_lock:
            with self.cond:
                head, self.pending = self.pending, None
            if head is not None:
                write_checkpoint(*head)
                self.last_write = time.monotonic()

    def discard(self) -> None:
        with self.write_lock, self.cond:  # after a write in progress, so that none lands later
            self.pending = None


_writer = _Writer()


def _current_writer() -> _Writer:
    global _writer
    if _writer.pid != os.getpid():  # a forked child (a Celery pool process) starts with its own
        _writer = _Writer()
    return _writer


def note_head(seq: int, digest: str) -> None:
    """A commit reached chain record `seq`: checkpoint it within `audit_checkpoint_seconds` (at once when 0)."""
    if get_settings().audit_checkpoint_seconds <= 0:
        write_checkpoint(seq, digest)
    else:
        _current_writer().note(seq, digest)


def flush_checkpoint() -> None:
    """Write the newest noted head now (shutdown: a clean exit leaves nothing unprotected)."""
    _current_writer().flush()


def discard_pending_checkpoint() -> None:
    """Forget a noted head not yet written (tests that replace the database under a running process)."""
    _current_writer().discard()


atexit.register(flush_checkpoint)
