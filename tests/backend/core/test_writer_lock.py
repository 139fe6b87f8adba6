"""SQLite writers of different processes queue on one lock file: a waiting writer gets the lock within
milliseconds of its release (not after SQLite's sleeps of up to 100 ms), and gives up after its timeout."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from contextlib import closing

import pytest
from sqlalchemy import text

from backend.core import db
from backend.core.db import WriterLock


def _hold(database: str, held: multiprocessing.Event, seconds: float) -> None:
    lock = WriterLock(database)
    assert lock.acquire(timeout=5)
    held.set()
    time.sleep(seconds)
    lock.release()


def _holder(tmp_path, seconds: float) -> multiprocessing.Process:
    held = multiprocessing.get_context("fork").Event()
    process = multiprocessing.get_context("fork").Process(target=_hold, args=(str(tmp_path / "db.sqlite"), held, seconds))
    process.start()
    assert held.wait(10)
    return process


def test_a_writer_of_another_process_waits_and_then_gets_the_lock_at_once(tmp_path):
    holder = _holder(tmp_path, 0.3)
    lock = WriterLock(str(tmp_path / "db.sqlite"))
    started = time.monotonic()
    assert lock.acquire(timeout=5)
    waited = time.monotonic() - started
    holder.join(5)
    lock.release()
    assert 0.15 < waited < 2.0  # it waited for the holder, and no longer than a busy machine adds


def test_a_writer_gives_up_after_its_timeout(tmp_path):
    holder = _holder(tmp_path, 1.5)
    lock = WriterLock(str(tmp_path / "db.sqlite"))
    assert lock.acquire(timeout=0.2) is False
    holder.join(5)
    assert lock.acquire(timeout=1)  # had the failed try kept this process's thread lock, this would fail
    lock.release()


def test_a_wait_given_up_leaves_the_lock_to_the_others(tmp_path):
    """The blocking wait a writer gave up is granted later, to this process's waiting thread, which must
    let go at once: another process then takes the lock."""
    holder = _holder(tmp_path, 0.5)
    lock = WriterLock(str(tmp_path / "db.sqlite"))
    assert lock.acquire(timeout=0.1) is False
    holder.join(5)
    time.sleep(0.2)  # the waiting thread has been granted the wait given up, and let it go
    other = _holder(tmp_path, 0)  # asserts that it got the lock within 10 s
    other.join(5)
    assert other.exitcode == 0


def test_threads_of_one_process_take_turns_and_memory_databases_need_no_file():
    lock = WriterLock(":memory:")
    assert lock.acquire(timeout=1)
    assert lock.acquire(timeout=0.05) is False  # held by this process's other writer
    lock.release()
    assert lock.acquire(timeout=0.05)
    lock.release()


def test_a_model_and_a_version_register_with_an_api_key(api, auth):
    key = api.post("/api/v1/auth/api-keys", json={"name": "ci"}, headers=auth.headers("ml_engineer")).json()["key"]
    created = api.post("/api/v1/catalog/models", headers={"X-API-Key": key}, json={
        "name": "Keyed", "type": "NLP", "category": "classification", "framework": "PyTorch"})
    assert created.status_code == 201, created.text
    version = api.post(f"/api/v1/catalog/models/{created.json()['id']}/versions", headers={"X-API-Key": key},
                       json={"version": "1.0.0"})
    assert version.status_code == 201, version.text


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_sqlite_is_free_for_the_next_writer_the_moment_the_lock_is_handed_on(tmp_path, monkeypatch, end):
    """The next writer's BEGIN IMMEDIATE must not meet SQLite's own lock (whose busy handler sleeps
    a millisecond or more): the transaction has ended before the writer lock is let go."""
    path = tmp_path / "handoff.sqlite"
    engine = db.engine_for(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    seen: list[str] = []
    release = WriterLock.release

    def release_and_probe(lock: WriterLock) -> None:
        release(lock)
        probe = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            seen.append("free")
        except sqlite3.OperationalError as error:
            seen.append(str(error))
        finally:
            probe.close()

    monkeypatch.setattr(WriterLock, "release", release_and_probe)
    with engine.connect().execution_options(**{db._WRITE_OPTION: True}) as conn:
        transaction = conn.begin()
        conn.execute(text("INSERT INTO t VALUES (1)"))
        getattr(transaction, end)()
    engine.dispose()
    assert seen == ["free"]
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone()[0] == (1 if end == "commit" else 0)


def _in_database_file(path) -> int:  # noqa: ANN001
    """Rows of t in the database file itself: `immutable` reads past the WAL, so only what a
    checkpoint copied back shows."""
    with closing(sqlite3.connect(f"file:{path}?immutable=1", uri=True)) as reader:
        try:
            return reader.execute("SELECT count(*) FROM t").fetchone()[0]
        except sqlite3.OperationalError:  # the table itself is still only in the WAL
            return 0


def _write_rows(path, rows: int) -> None:  # noqa: ANN001
    engine = db.engine_for(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    for i in range(rows):
        with engine.connect().execution_options(**{db._WRITE_OPTION: True}) as conn, conn.begin():
            conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": i})


def test_commits_leave_copying_the_wal_back_to_the_checkpointer(tmp_path, monkeypatch):
    """A commit never copies the WAL back into the database (which cost every 30-40th write 1-5 ms
    inside the write lock); the checkpointer does, beside the writers."""
    checkpointer = db.WalCheckpointer(interval=3600)  # this test says when it runs
    monkeypatch.setattr(db, "wal_checkpointer", checkpointer)
    path = tmp_path / "wal.sqlite"
    _write_rows(path, 1500)  # a page each: past the 1,000 pages at which SQLite's commit would copy them back
    assert _in_database_file(path) == 0, "a commit checkpointed"
    checkpointer.checkpoint_now()
    assert _in_database_file(path) == 1500


def test_the_checkpointer_runs_on_its_own_within_its_interval(tmp_path, monkeypatch):
    monkeypatch.setattr(db, "wal_checkpointer", db.WalCheckpointer(interval=0.1))
    path = tmp_path / "wal.sqlite"
    _write_rows(path, 5)
    deadline = time.monotonic() + 10
    while _in_database_file(path) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _in_database_file(path) == 5


def test_a_write_request_starts_once_no_thread_of_its_process_is_writing():
    """`no_local_write_turn` (awaited by write requests) returns at once when no writer of this process
    holds the lock, and otherwise when the last one lets go."""
    import asyncio
    import threading

    lock = WriterLock(":memory:")

    async def scenario() -> list[str]:
        seen: list[str] = []
        await asyncio.wait_for(db.no_local_write_turn(), 1)
        seen.append("free at once")
        assert lock.acquire(timeout=1)
        waiting = asyncio.ensure_future(db.no_local_write_turn())
        await asyncio.sleep(0.1)
        seen.append("still waiting" if not waiting.done() else "did not wait")
        threading.Timer(0.05, lock.release).start()  # a writer thread lets go
        await asyncio.wait_for(waiting, 2)
        seen.append("started after the release")
        return seen

    assert asyncio.run(scenario()) == ["free at once", "still waiting", "started after the release"]
