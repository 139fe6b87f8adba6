"""Results cached until the data they were computed from changes.

A *generation* is a counter in the database, bumped in the same transaction as every change to the
tables it tracks (`track_changes`), with a random epoch drawn when its row is created (a database
that is recreated or restored never hands out an old key again). A `GenerationCache` reads the counter (one primary-key lookup)
before computing, and keeps what it computed under that value: a write elsewhere, in any process
and any worker, moves the counter and so retires every entry at once. What Solr does for its
query-result cache, without a message between processes.

The counter is read *before* the data, so an entry can never be older than its generation: a
writer that commits in between makes the entry newer than its key, which the next bump retires.
A database restored from a backup under running servers repeats old counter values: restart them.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Column, bindparam, event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, Session, SQLModel, select

from backend.core.config import get_settings
from backend.core.db import upsert
from backend.core.unit_of_work import transaction_memo

T = TypeVar("T")


class Generation(SQLModel, table=True):
    """How many committed changes a set of tables has seen (see `track_changes`)."""

    __tablename__ = "core_generation"

    name: str = Field(primary_key=True, max_length=80)
    epoch: str = Field(max_length=32)
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


def current_generation(session: Session, name: str) -> tuple[str, int]:
    """(epoch, value) of generation `name`; ("", 0) before its first bump."""
    row = session.exec(select(Generation.epoch, Generation.value).where(Generation.name == name)).first()
    return (row[0], row[1]) if row else ("", 0)


def bump_generation(session: Session, name: str) -> None:
    """Move `name` on, in the caller's transaction (an upsert: the first bump creates the row)."""
    connection = session.connection()
    statement = _BUMPS.get(connection.dialect.name)
    if statement is None:
        # Built once per dialect: building and keying the upsert cost more than running it (every write bumps).
        table = Generation.__table__
        statement = upsert(session, table).values(name=bindparam("name"), epoch=bindparam("epoch"), value=1)
        statement = _BUMPS[connection.dialect.name] = statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": table.c.value + 1})
    connection.execute(statement, {"name": name, "epoch": secrets.token_hex(16)})


_BUMPS: dict[str, Any] = {}


_TRACKED: dict[type, set[str]] = {}


def track_changes(name: str, *classes: type) -> None:
    """Bump generation `name` in every flush that adds, changes or deletes a row of `classes`
    (ORM writes; a bulk Core statement on these tables must call `bump_generation` itself)."""
    for cls in classes:
        _TRACKED.setdefault(cls, set()).add(name)
        cls.__generation_tracked__ = True  # `unit_of_work.append` bypasses the flush that bumps: refused


@event.listens_for(OrmSession, "before_flush")
def _bump_tracked(session: OrmSession, _context, _instances) -> None:  # noqa: ANN001
    # Once per generation and transaction: readers see the bump and the data it announces commit
    # together, so a second bump in the same transaction would tell them nothing more.
    if not _TRACKED:
        return
    bumped = transaction_memo(session, "bumped_generations")
    changed = [*session.new, *session.deleted, *(o for o in session.dirty if session.is_modified(o))]
    names = {name for obj in changed for name in _TRACKED.get(type(obj), ())} - bumped.keys()
    for name in sorted(names):  # one order everywhere: PostgreSQL writers never wait on each other in a cycle
        bump_generation(session, name)
        bumped[name] = True


class GenerationCache:
    """A bounded, least-recently-used map of values computed from the data of one generation.

    Values are shared between requests: they must not be changed after `get_or_compute` returns
    them (use tuples and frozen dataclasses).
    """

    def __init__(self, generation: str, *, max_entries: int | None = None) -> None:
        self.generation = generation
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self._seen: dict[str, tuple[str, int]] = {}  # database URL → newest generation seen

    @property
    def max_entries(self) -> int:
        return get_settings().result_cache_entries if self._max_entries is None else self._max_entries

    def get_or_compute(self, session: Session, key: Hashable, compute: Callable[[], T]) -> T:
        if self.max_entries <= 0:
            return compute()
        database = str(session.get_bind().url)
        generation = current_generation(session, self.generation)
        if not generation[0]:  # nothing tracked was written yet (or the database was just recreated)
            return compute()
        entry_key = (database, generation, key)
        with self._lock:
            if entry_key in self._entries:
                self._entries.move_to_end(entry_key)
                return self._entries[entry_key]
        value = compute()
        with self._lock:
            seen = self._seen.get(database)
            if seen is None or generation[0] != seen[0] or generation[1] > seen[1]:
                self._forget(database)  # entries of older generations can never be hit again
                self._seen[database] = generation
            if generation == self._seen[database]:  # else computed from data that has moved on meanwhile
                self._entries[entry_key] = value
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return value

    def _forget(self, database: str) -> None:
        for key in [k for k in self._entries if k[0] == database]:
            del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._seen.clear()

    def __len__(self) -> int:
        return len(self._entries)
