"""The SQLite database and its WAL are private to the platform's user (issue 12, item 7), like the
secret key: created 0600, and tightened when an older version left them 0644."""

from __future__ import annotations

import os
import stat

from sqlalchemy import text

from backend.core.db import engine_for


def mode(path) -> int:  # noqa: ANN001
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_new_database_and_its_wal_are_created_0600(tmp_path):
    old_umask = os.umask(0o022)  # what most systems use: SQLite alone would make the files 0644
    try:
        engine = engine_for(f"sqlite:///{tmp_path / 'fresh.db'}")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
            conn.execute(text("INSERT INTO t VALUES (1)"))
        with engine.connect() as conn:  # the WAL exists while a connection is open
            conn.execute(text("SELECT x FROM t")).all()
            files = [p for p in tmp_path.iterdir() if p.name.startswith("fresh.db")]
            assert {p.name for p in files} >= {"fresh.db", "fresh.db-wal"}
            assert all(mode(p) == 0o600 for p in files), {p.name: oct(mode(p)) for p in files}
        engine.dispose()
    finally:
        os.umask(old_umask)


def test_an_existing_world_readable_database_is_tightened(tmp_path):
    db = tmp_path / "old.db"
    db.touch()
    wal = tmp_path / "old.db-wal"
    wal.touch()
    db.chmod(0o644)
    wal.chmod(0o644)
    engine_for(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600 and mode(wal) == 0o600
