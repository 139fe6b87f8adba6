"""Quick reads: the same rows as the session's read, every commit seen at once, a transaction's own
changes read through it, a database file replaced under the same path read afresh, nothing written."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from backend.auth.models import User
from backend.core import quick_read
from backend.core.db import get_engine, new_session, session_scope
from backend.core.ids import new_id
from backend.core.quick_read import QuickRead
from backend.core.unit_of_work import exempt_from_audit

ACCOUNT = QuickRead(select(User.id, User.username, User.is_active, User.password_changed_at)
                    .where(User.username == "quick"))


def add_user(**fields) -> None:  # noqa: ANN003
    with session_scope() as s:
        s.add(User(id=new_id("user"), username="quick", display_name="Quick", password_hash="x", role="viewer", **fields))
        exempt_from_audit(s, "test set-up")


def read_quickly():  # noqa: ANN201
    s = new_session(write=False)
    try:
        return ACCOUNT.first(s, {})
    finally:
        s.close()


def test_a_quick_read_gives_what_the_session_reads(db_backend):
    changed = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    add_user(is_active=False, password_changed_at=changed)
    with session_scope(write=False) as s:
        expected = s.connection().execute(ACCOUNT.statement).first()
    row = read_quickly()
    assert tuple(row) == tuple(expected)
    assert row.is_active is False and row.password_changed_at == changed.replace(tzinfo=row.password_changed_at.tzinfo)
    assert row.username == "quick"


def test_a_commit_is_seen_by_the_next_quick_read(db_backend):
    assert read_quickly() is None  # the connection is open now
    add_user()
    assert read_quickly().is_active is True
    with session_scope() as s:
        s.get(User, read_quickly().id).is_active = False
        exempt_from_audit(s, "test")
    assert read_quickly().is_active is False


def test_inside_a_transaction_the_read_goes_through_the_session(db_backend):
    s = new_session()
    try:
        s.add(User(id=new_id("user"), username="quick", display_name="Quick", password_hash="x", role="viewer"))
        s.flush()  # not committed: only this transaction sees it
        assert ACCOUNT.first(s, {}).username == "quick"
        assert read_quickly() is None
    finally:
        s.rollback()
        s.close()


def test_a_database_file_replaced_under_its_path_is_read_afresh(sqlite_db, tmp_path):
    add_user()
    assert read_quickly() is not None
    database = get_engine().url.database
    get_engine().dispose()
    replacement = tmp_path / "replacement.db"
    with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(replacement)) as copy:
        source.backup(copy)
        copy.execute("DELETE FROM auth_user WHERE username = 'quick'")
        copy.commit()
    (tmp_path / "old").mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(database + suffix).exists():
            shutil.move(database + suffix, tmp_path / "old")
    shutil.copyfile(replacement, database)
    assert read_quickly() is None


def connection_of(path: str) -> sqlite3.Connection:
    return quick_read._local.connections[path][1]


def test_a_quick_read_connection_cannot_write(sqlite_db):
    read_quickly()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        connection_of(get_engine().url.database).execute("DELETE FROM auth_user")


def test_a_thread_keeps_its_most_recently_used_connections_only(tmp_path):
    paths = []
    for i in range(quick_read.CONNECTIONS_PER_THREAD + 2):
        path = tmp_path / f"db{i}.sqlite"
        sqlite3.connect(path).close()
        paths.append(str(path))
        engine = create_engine(f"sqlite:///{path}")
        with Session(engine) as s:
            assert quick_read._direct_connection(s) is not None
        engine.dispose()
    kept = quick_read._local.connections
    assert len(kept) <= quick_read.CONNECTIONS_PER_THREAD
    assert paths[-1] in kept and paths[0] not in kept
