"""SQLite writers of different processes queue on one lock file: a waiting writer gets the lock within
milliseconds of its release (not after SQLite's sleeps of up to 100 ms), and gives up after its timeout."""

from __future__ import annotations

import multiprocessing
import time

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


def test_threads_of_one_process_take_turns_and_memory_databases_need_no_file():
    lock = WriterLock(":memory:")
    assert lock.acquire(timeout=1)
    assert lock.acquire(timeout=0.05) is False  # held by this process's other writer
    lock.release()
    assert lock.acquire(timeout=0.05)
    lock.release()


def test_the_event_loop_waits_for_another_process_and_gives_up_after_its_timeout(tmp_path):
    import asyncio

    holder = _holder(tmp_path, 0.3)
    lock = WriterLock(str(tmp_path / "db.sqlite"))
    started = time.monotonic()
    assert asyncio.run(lock.acquire_async(timeout=5))
    assert 0.15 < time.monotonic() - started < 2.0
    holder.join(5)
    lock.release()
    holder = _holder(tmp_path, 1.5)
    assert asyncio.run(lock.acquire_async(timeout=0.2)) is False
    holder.join(5)
    assert lock.acquire(timeout=1)  # the failed wait kept nothing
    lock.release()


def _writer_of(session) -> WriterLock:  # noqa: ANN001
    from backend.core.db import _WRITERS

    return _WRITERS[str(session.get_bind().url)]


def test_a_turn_taken_on_the_event_loop_passes_to_the_transaction_and_ends_with_it(sqlite_db):
    import asyncio

    from sqlalchemy import text

    from backend.core.db import new_session, writer_turn

    async def write_in_turn() -> None:
        session = new_session()
        try:
            async with writer_turn(session):
                assert _writer_of(session).acquire(timeout=0.05) is False, "the turn holds the lock"
                session.execute(text("CREATE TABLE turn_test (x INTEGER)"))  # begins without waiting
                session.commit()
            writer = _writer_of(session)
            assert writer.acquire(timeout=0.05), "the commit let the lock go"
            writer.release()
            async with writer_turn(session):
                pass  # no transaction began inside: the way out lets it go
            assert writer.acquire(timeout=0.05)
            writer.release()
        finally:
            session.close()

    asyncio.run(write_in_turn())


def test_a_short_write_that_fails_rolls_back_and_lets_the_lock_go(sqlite_db):
    import asyncio

    import pytest
    from sqlalchemy import text

    from backend.core.db import new_session
    from backend.core.http import run_short_write

    def fails(session) -> None:  # noqa: ANN001
        session.execute(text("CREATE TABLE short_write_test (x INTEGER)"))
        raise ValueError("refused")

    session = new_session()
    try:
        with pytest.raises(ValueError):
            asyncio.run(run_short_write(session, fails, session))
        assert not session.in_transaction()
        writer = _writer_of(session)
        assert writer.acquire(timeout=0.05)
        writer.release()
    finally:
        session.close()
    other = new_session(write=False)
    try:
        assert other.execute(text("SELECT name FROM sqlite_master WHERE name = 'short_write_test'")).first() is None
    finally:
        other.close()


def test_a_turn_is_not_waited_for_when_the_session_already_holds_the_lock(sqlite_db):
    import asyncio

    from sqlalchemy import text

    from backend.core.db import new_session, writer_turn

    async def write_after_an_earlier_statement() -> None:
        session = new_session()
        try:
            session.execute(text("CREATE TABLE earlier_test (x INTEGER)"))  # began: holds the lock
            async with asyncio.timeout(2):  # waiting for its own lock would never end
                async with writer_turn(session):
                    session.execute(text("INSERT INTO earlier_test VALUES (1)"))
                    session.commit()
        finally:
            session.close()

    asyncio.run(write_after_an_earlier_statement())


def test_registering_with_an_api_key_does_not_wait_for_itself(api, auth):
    key = api.post("/api/v1/auth/api-keys", json={"name": "ci"}, headers=auth.headers("ml_engineer")).json()["key"]
    created = api.post("/api/v1/catalog/models", headers={"X-API-Key": key}, json={
        "name": "Keyed", "type": "NLP", "category": "classification", "framework": "PyTorch"})
    assert created.status_code == 201, created.text
    version = api.post(f"/api/v1/catalog/models/{created.json()['id']}/versions", headers={"X-API-Key": key},
                       json={"version": "1.0.0"})
    assert version.status_code == 201, version.text
