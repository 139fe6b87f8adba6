"""One-statement reads of a SQLite file without a session's transaction: the credential checks that run
before every request.

Through a session such a read costs a session, a pool checkout, `BEGIN`, the query through SQLAlchemy's
execution layers, `ROLLBACK` and the checkin: about 360 µs of CPU on the 2-core development machine, a
thirtieth of a small write request. The same `SELECT` on a connection its thread keeps open, in autocommit,
costs about 10 µs. One statement is its own snapshot of what is committed (SQLite in WAL mode), so it
sees exactly what the session's first read would have seen: a token revoked or a key deleted by a commit
anywhere is refused from the next request on.

Used only where that holds: a SQLite file database, and a session with no transaction in progress (a
transaction's own uncommitted changes are visible only through it). Anything else goes through the
session as before. Each thread keeps at most `CONNECTIONS_PER_THREAD` connections, read-only
(`PRAGMA query_only`); a file replaced under the same path (a restored backup, a test's fresh database)
gets a new one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect
from sqlmodel import Session

CONNECTIONS_PER_THREAD = 4

_local = threading.local()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    constants: dict[str, Any]  # the statement's own values (`where(x == 1)`), for names `params` leaves out
    binds: tuple[Callable[[Any], Any] | None, ...]
    results: tuple[Callable[[Any], Any] | None, ...]
    row: type


class QuickRead:
    """A `SELECT` built once, whose `first(session, params)` reads its first row (or None)."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: _Compiled | None = None

    def first(self, session: Session, params: dict[str, Any]) -> Any:
        connection = _direct_connection(session)
        if connection is None:
            return session.connection().execute(self.statement, params).first()
        compiled = self._compiled or self._compile(session.get_bind().dialect)
        given = compiled.constants | params
        values = [given[name] if convert is None else convert(given[name])
                  for name, convert in zip(compiled.names, compiled.binds, strict=True)]
        raw = connection.execute(compiled.sql, values).fetchone()
        if raw is None:
            return None
        return compiled.row(*(value if convert is None else convert(value)
                              for value, convert in zip(raw, compiled.results, strict=True)))

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        columns = list(self.statement.selected_columns)
        self._compiled = _Compiled(
            sql=compiled.string,
            names=names,
            constants={name: bind.value for name, bind in compiled.binds.items() if not bind.required},
            binds=tuple(compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names),
            results=tuple(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns),
            row=namedtuple("QuickRow", [column.key for column in columns], rename=True),  # type: ignore[misc]
        )
        return self._compiled


def _direct_connection(session: Session) -> sqlite3.Connection | None:
    """This thread's connection to the session's SQLite file, when a direct read may stand in for the
    session's; None otherwise."""
    bind = session.get_bind()
    if bind.dialect.name != "sqlite" or session.in_transaction():
        return None
    path = bind.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    try:
        file = os.stat(path)
    except OSError:
        return None
    # The connection holds its file open, so the file's inode number cannot go to another file meanwhile:
    # the same number at the path is the same file. (Not its change time: every checkpoint moves that.)
    identity = (file.st_dev, file.st_ino)
    connections: dict[str, tuple[tuple[int, int], sqlite3.Connection]] = _local.__dict__.setdefault("connections", {})
    known = connections.pop(path, None)
    if known is not None and known[0] == identity:
        connections[path] = known  # now the most recently used
        return known[1]
    if known is not None:
        known[1].close()
    connection = sqlite3.connect(path, timeout=15, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA query_only=ON")
    connection.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # opens the file now: see the identity above
    connections[path] = (identity, connection)
    while len(connections) > CONNECTIONS_PER_THREAD:
        connections.pop(next(iter(connections)))[1].close()
    return connection
