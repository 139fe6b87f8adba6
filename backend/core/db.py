"""Database engine and sessions: SQLite (default) or PostgreSQL, one engine per URL per process."""

from __future__ import annotations

import asyncio
import collections
import fcntl
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from functools import lru_cache
from pathlib import Path

import orjson
from sqlalchemy import Engine, MetaData, Table, create_engine, event, make_url
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlmodel import Session, SQLModel

from backend.core import unit_of_work  # noqa: F401  (registers the transaction rules)
from backend.core.config import get_settings

# One naming convention for every constraint keeps Alembic's batch migrations on SQLite stable.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata
log = logging.getLogger(__name__)


def _remember_default_factory_signatures() -> None:
    """pydantic (2.14) asks `inspect.signature` of a field's default factory every time SQLModel builds a
    row object that leaves the field unset: a twentieth of the CPU of registering a model. A function's
    signature does not change, so the answer is remembered (by the function; others are asked as before)."""
    from pydantic._internal import _fields

    asked = getattr(_fields, "takes_validated_data_argument", None)
    if asked is None or hasattr(asked, "cache_info"):
        return
    remembered = lru_cache(maxsize=2048)(asked)

    def takes_validated_data_argument(factory):  # noqa: ANN001, ANN202
        try:
            return remembered(factory)
        except TypeError:  # an unhashable callable
            return asked(factory)

    takes_validated_data_argument.cache_info = remembered.cache_info
    _fields.takes_validated_data_argument = takes_validated_data_argument


_remember_default_factory_signatures()

SQLITE_BUSY_TIMEOUT_MS = 15000
# As many pooled SQLite connections as a server worker runs requests at once (its thread pool), so
# busy moments reuse connections instead of opening and closing overflow ones (each open runs the
# PRAGMAs below).
SQLITE_POOL_SIZE = 40
_WRITE_OPTION = "aisystem_write"
_HOLDS_WRITER = "aisystem_holds_writer"


def writer_lock_path(database: str | None) -> str | None:
    """The file beside a SQLite database whose `flock` its writers queue on (None: in memory, or not POSIX)."""
    in_memory = not database or database == ":memory:" or database.startswith("file::memory:")
    return None if in_memory or os.name != "posix" else f"{database}-writer.lock"


class _FlockWait:
    """One wait of a process's writer for the lock file, handed to its lock's waiting thread."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.guard = threading.Lock()  # taken to decide between "got it" and "gave up"
        self.gave_up = False
        self.error: BaseException | None = None


class WriterLock:
    """Where the writers of every process on this machine queue before they ask SQLite for its write lock.

    SQLite's own busy handler polls with sleeps growing to 100 ms, so a writer that finds the lock taken
    sleeps on long after it was freed: under concurrent writes the waiting cost more than the writes
    (4 clients registering models on 2 server processes: p99 0.5-2.5 s). Writers therefore take this lock
    first — a thread lock for this process's own writers, then an exclusive `flock` on a file beside the
    database for the others (web workers, job workers) — and only then BEGIN IMMEDIATE, which then rarely
    waits. A writer that finds the file locked waits in a blocking `flock`, which the kernel ends the moment
    the holder lets go; that call has no timeout, so a thread of the lock's own makes it (on a second open
    file, whose lock is then the one held) while the writer waits on an event for as long as SQLite's busy
    timeout would, and a wait given up is let go by that thread once it is granted. (Polling the file every
    0.2-0.5 ms instead cost the waiting process a fifth of the machine's CPU under 4 writing clients.)
    Writers that do not come through here (a migration, the sqlite3 shell) still meet SQLite's own lock
    and busy handler.
    """

    def __init__(self, database: str | None):
        self._thread = threading.Lock()
        self._owner: int | None = None
        self._path = writer_lock_path(database)
        self._pid = 0
        self._fd: int | None = None  # tried without waiting
        self._waiting_fd: int | None = None  # waited on by the waiting thread
        self._held_fd: int | None = None
        self._waits: queue.SimpleQueue[_FlockWait] | None = None

    def _files(self) -> None:
        # A child process must not share its parent's open files (flock is held per open file) or threads.
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._waiting_fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._waits = queue.SimpleQueue()
            threading.Thread(target=self._serve_waits, args=(self._waits, self._waiting_fd),
                             name="sqlite-writer-lock", daemon=True).start()

    def acquire(self, timeout: float) -> bool:
        ident = threading.get_ident()
        _writing_threads[ident] += 1  # before waiting: see `thread_is_writing`
        try:
            taken = self._acquire(timeout)
        except BaseException:
            _left_writing(ident)
            raise
        if taken:
            self._owner = ident
            _local_turns.begin()
        else:
            _left_writing(ident)
        return taken

    def _acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self._thread.acquire(timeout=timeout):
            return False
        if self._path is None:
            return True
        try:
            self._files()
            if self._try_flock():
                self._held_fd = self._fd
                return True
            if self._wait_flock(max(0.0, deadline - time.monotonic())):
                self._held_fd = self._waiting_fd
                return True
            self._thread.release()
            return False
        except BaseException:
            self._thread.release()
            raise

    def _try_flock(self) -> bool:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _wait_flock(self, timeout: float) -> bool:
        wait = _FlockWait()
        self._waits.put(wait)
        try:
            granted = wait.done.wait(timeout)
        except BaseException:  # interrupted while waiting: the lock, granted or not, must not stay taken
            self._give_up(wait, granted_anyway=True)
            raise
        if not granted:
            granted = self._give_up(wait)
        if wait.error is not None:
            raise wait.error
        return granted

    def _give_up(self, wait: _FlockWait, *, granted_anyway: bool = False) -> bool:
        """Give up `wait`; True when it was granted meanwhile (and so is held now, unless `granted_anyway`
        says to let it go too)."""
        with wait.guard:
            granted = wait.done.is_set() and wait.error is None
            wait.gave_up = True
        if granted and granted_anyway:
            fcntl.flock(self._waiting_fd, fcntl.LOCK_UN)
            return False
        return granted

    @staticmethod
    def _serve_waits(waits: queue.SimpleQueue, fd: int) -> None:
        while True:
            wait = waits.get()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # blocks, without the GIL, until the holder lets go
            except BaseException as error:  # noqa: BLE001  (handed to the waiting writer)
                wait.error = error
                wait.done.set()
                continue
            with wait.guard:
                if wait.gave_up:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                else:
                    wait.done.set()

    def release(self) -> None:
        owner, self._owner = self._owner, None
        if owner is not None:
            _local_turns.end()
        try:
            held, self._held_fd = self._held_fd, None
            if held is not None and self._pid == os.getpid():
                fcntl.flock(held, fcntl.LOCK_UN)
            self._thread.release()
        finally:
            if owner is not None:
                _left_writing(owner)


class _LocalTurns:
    """How many of this process's threads hold a SQLite writer lock, and the event loops waiting for none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = 0
        self._waiting: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []

    def begin(self) -> None:
        with self._lock:
            self._held += 1

    def end(self) -> None:
        with self._lock:
            self._held -= 1
            waiting, self._waiting = (self._waiting, []) if self._held == 0 else ([], self._waiting)
        for loop, future in waiting:
            loop.call_soon_threadsafe(_settle, future)

    async def none_held(self, timeout: float) -> None:
        with self._lock:
            if self._held == 0:
                return
            loop = asyncio.get_running_loop()
            future = loop.create_future()
            self._waiting.append((loop, future))
        with suppress(TimeoutError):  # then the caller queues for the lock itself, with its own timeout
            await asyncio.wait_for(future, timeout)


def _settle(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)


_local_turns = _LocalTurns()


async def no_local_write_turn() -> None:
    """Until no thread of this process holds a SQLite writer lock (at most SQLite's busy timeout)."""
    await _local_turns.none_held(SQLITE_BUSY_TIMEOUT_MS / 1000)


# Threads waiting for or holding a writer lock, and how many. An exception raised into a thread from
# outside (a job's time limit) must not land there: a lock taken but not yet recorded as held, or let
# go in SQLite but not here, would stay held and stop every writer on the machine.
_writing_threads: collections.Counter[int] = collections.Counter()


def _left_writing(ident: int) -> None:
    _writing_threads[ident] -= 1
    if _writing_threads[ident] <= 0:
        del _writing_threads[ident]


def thread_is_writing(ident: int) -> bool:
    """Whether thread `ident` is waiting for or holding a SQLite writer lock (or in a transaction that
    holds one)."""
    return _writing_threads.get(ident, 0) > 0


# Pages the WAL may hold before the committing writer copies them back into the database itself: the
# background checkpointer (below) normally does it long before; this only bounds the WAL if it cannot.
WAL_AUTOCHECKPOINT_PAGES = 10000


class WalCheckpointer:
    """Copies the WAL of each SQLite database this process writes back into the database, from a thread
    of its own, every `interval` seconds when the WAL changed.

    SQLite does it by default in the commit that fills the WAL past 1,000 pages, so every 30-40th write
    spent 1-5 ms more holding the write lock (a registration's commit: p50 0.2 ms, p99 4.4 ms, half of
    all commit time in those). A PASSIVE checkpoint runs beside readers and writers; several processes'
    checkpointers take turns (one that finds another at work skips the round).
    """

    def __init__(self, interval: float = 0.5):
        self.interval = interval
        self._paths: dict[str, float] = {}  # database → the WAL's mtime at its last checkpoint
        self._lock = threading.Lock()
        self._pid = 0

    def watch(self, database: str) -> None:
        with self._lock:
            self._paths.setdefault(database, 0.0)
            if self._pid != os.getpid():  # not yet started, or started by the parent of this forked process
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="sqlite-wal-checkpointer", daemon=True).start()

    def checkpoint_now(self) -> None:
        """Check every watched WAL now (what the thread does every `interval`; tests call it)."""
        with self._lock:
            paths = list(self._paths)
        for database in paths:
            self._checkpoint(database)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.checkpoint_now()

    def _checkpoint(self, database: str) -> None:
        try:
            changed = os.stat(f"{database}-wal").st_mtime
        except OSError:  # no WAL (yet), or the database is gone (a test's copy): then stop watching it
            if not os.path.exists(database):
                with self._lock:
                    self._paths.pop(database, None)
            return
        if changed == self._paths.get(database):
            return
        try:
            with closing(sqlite3.connect(database, timeout=0)) as connection:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self._paths[database] = changed
        except sqlite3.Error:
            log.debug("WAL checkpoint of %s skipped", database, exc_info=True)


wal_checkpointer = WalCheckpointer()


def _configure_sqlite(engine: Engine) -> None:
    database = engine.url.database
    in_file = writer_lock_path(database) is not None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # noqa: ANN001
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if in_file:
            cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            wal_checkpointer.watch(database)
        cursor.close()

    writer = WriterLock(database)

    def _release_writer(conn) -> None:  # noqa: ANN001
        try:
            info = conn.info
        except SQLAlchemyError:  # an invalidated connection: its pool record lets go (below)
            return
        if info.pop(_HOLDS_WRITER, False):
            writer.release()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        # A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
        # another process wrote in between (busy_timeout does not apply). Writers therefore take
        # the write lock up front; readers stay concurrent.
        if not conn.get_execution_options().get(_WRITE_OPTION):
            conn.exec_driver_sql("BEGIN")
            return
        if not writer.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        conn.info[_HOLDS_WRITER] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release_writer(conn)
            raise

    def _end_then_release(end: str):  # noqa: ANN202
        # SQLAlchemy announces a commit or rollback *before* it asks the driver for it. Let the lock go
        # then and the next writer's BEGIN IMMEDIATE meets SQLite's lock still held, and SQLite's busy
        # handler sleeps 1 ms or more inside that writer's turn. So end the transaction here first;
        # SQLAlchemy's own call that follows finds none open and does nothing.
        def listener(conn) -> None:  # noqa: ANN001
            try:
                holds = conn.info.get(_HOLDS_WRITER)
            except SQLAlchemyError:  # an invalidated connection: its pool record lets go (below)
                return
            if not holds:
                return
            try:
                getattr(conn.connection.driver_connection, end)()
            except sqlite3.Error:
                return  # SQLAlchemy's own call reports it; its rollback or the checkin lets the lock go
            _release_writer(conn)

        return listener

    event.listen(engine, "commit", _end_then_release("commit"))
    event.listen(engine, "rollback", _end_then_release("rollback"))

    def _release_record(_dbapi_connection, record, *_args) -> None:  # noqa: ANN001
        # A connection invalidated or returned without an ended transaction must not keep the lock.
        if record is not None and record.info.pop(_HOLDS_WRITER, False):
            writer.release()

    event.listen(engine.pool, "invalidate", _release_record)
    event.listen(engine.pool, "checkin", _release_record)


def load_json(text: str | bytes):  # noqa: ANN201
    """JSON columns are read with orjson (several times faster on list pages); values only the
    standard library writes and reads (NaN, Infinity) fall back to it."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _private_sqlite_files(url: str) -> None:
    """Create the database file 0600 (like the secret key) before SQLite does: SQLite gives its -wal and
    -shm files the database file's permissions, so all of them stay private; files an older version
    created 0644 are tightened."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    db = Path(path)
    if not db.exists() and db.parent.is_dir():
        with suppress(FileExistsError):
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (db, *(db.with_name(db.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        with suppress(FileNotFoundError, PermissionError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """Create (once per process and URL) the engine for a database URL."""
    if url.startswith("sqlite"):
        _private_sqlite_files(url)
        engine = create_engine(url, pool_size=SQLITE_POOL_SIZE, max_overflow=10, json_deserializer=load_json,
                               connect_args={"check_same_thread": False, "timeout": 15})
        _configure_sqlite(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_deserializer=load_json,
                               connect_args={"options": "-c timezone=utc"})
    return engine


def get_engine() -> Engine:
    return engine_for(get_settings().sqlalchemy_url)


def is_sqlite(bind: Engine | Session | None = None) -> bool:
    """Whether `bind` (an engine, or a session's engine; the configured one by default) is SQLite."""
    engine = bind.get_bind() if isinstance(bind, Session) else bind or get_engine()
    return engine.dialect.name == "sqlite"


def upsert(session: Session, table: Table | type[SQLModel]) -> SqliteInsert | PgInsert:
    """An INSERT into `table` in the session's dialect, which takes `.on_conflict_do_update(...)`."""
    return (sqlite_insert if is_sqlite(session) else pg_insert)(table)


def new_session(*, write: bool = True) -> Session:
    """A session on the configured database; `write=True` takes SQLite's write lock at BEGIN."""
    engine = get_engine()
    bind = engine.execution_options(**{_WRITE_OPTION: True}) if write else engine
    return Session(bind, expire_on_commit=False)


def is_write_session(session: Session) -> bool:
    """Whether the session was opened for writing (on SQLite: it holds the write lock once begun)."""
    return bool(session.get_bind().get_execution_options().get(_WRITE_OPTION))


@contextmanager
def session_scope(*, write: bool = True) -> Iterator[Session]:
    """Unit of work for Reflex handlers, tasks and scripts: commit on success, roll back on error."""
    session = new_session(write=write)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
