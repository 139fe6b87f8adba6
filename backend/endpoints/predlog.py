"""The prediction log, written behind the requests: `record(...)` queues a row in memory and a
background thread inserts the queue in one transaction every `FLUSH_SECONDS` (or sooner when it grows), so a
prediction costs no database write of its own. A failed insert keeps the rows for the next try and says so
in the server log; beyond `MAX_PENDING` waiting rows the oldest are dropped, counted and logged as an
error, never silently. The readers (`logs`, `metrics`) flush first, so this process's own predictions
are always visible to them. Each batch also feeds the marketplace's usage counters (`metering`)."""

from __future__ import annotations

import atexit
import logging
import threading
import time
from typing import Any

import orjson
from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from backend.core.driver_insert import PreparedInsert, prepared_insert
from backend.core.timeutil import utcnow
from backend.endpoints.models import PredictionLog

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5
FLUSH_ROWS = 500
MAX_PENDING = 200_000

_pending: list[dict[str, Any]] = []
_lock = threading.Lock()
_flush_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None
dropped = 0


# A flush is CPU the requests wait for: on a saturated web process every in-flight request is late by
# the length of the flush (at 2,400 predictions/s, 500 rows every 0.2 s took 12-36 ms of wall time and
# were most of the p99). So the rows go to the driver as they are bound, with no per-row statement
# machinery (SQLAlchemy's parameter building was half the cost), and in slices between which the
# thread lets the requests run.
SLICE_ROWS = 100
_JSON_COLUMNS = ("inputs", "outputs")


class _SerializedJSON(TypeDecorator):
    """A JSON column's value already serialized: bound as it is (the column's own type still decides the
    SQL, e.g. PostgreSQL's `::JSON` cast)."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any) -> None:
        return None


_SERIALIZED_JSON = _SerializedJSON()


def _statement(dialect: Dialect) -> PreparedInsert:
    table = PredictionLog.__table__
    names = tuple(column.key for column in table.columns if column.key != "id")
    statement = prepared_insert(table, names, dialect, tuple((name, _SERIALIZED_JSON) for name in _JSON_COLUMNS))
    assert statement is not None  # noqa: S101  (every column but the key is listed)
    return statement


def record(**row: Any) -> None:
    """Queue one prediction's row; its inputs and outputs are serialized here, a few µs spread over the
    requests rather than a burst in the flush."""
    global dropped
    row.setdefault("created_at", utcnow())
    for name in _JSON_COLUMNS:
        row[name] = _json(row.get(name, []))
    with _lock:
        _pending.append(row)
        if len(_pending) > MAX_PENDING:
            excess = len(_pending) - MAX_PENDING
            del _pending[:excess]
            dropped += excess
            log.error("prediction log: %d rows dropped (the database has not taken them); %d in all",
                      excess, dropped)
        size = len(_pending)
    _ensure_thread()
    if size >= FLUSH_ROWS:
        _wake.set()


def pending() -> int:
    with _lock:
        return len(_pending)


def flush() -> int:
    """Insert every queued row now; returns how many were written."""
    from backend.core.db import session_scope

    with _flush_lock:
        with _lock:
            rows = list(_pending)
            del _pending[:]
        if not rows:
            return 0
        try:
            with session_scope() as session:
                _insert(session, rows)
                _meter(session, rows)
        except Exception:
            with _lock:
                _pending[:0] = rows  # kept, in order, for the next flush
            log.exception("prediction log: could not write %d rows; will retry", len(rows))
            return 0
        return len(rows)


def _insert(session: Any, rows: list[dict[str, Any]]) -> None:
    connection = session.connection()
    statement = _statement(connection.dialect)
    for start in range(0, len(rows), SLICE_ROWS):
        if start:
            time.sleep(0)  # let the requests have the GIL between slices
        statement.execute(connection, rows[start:start + SLICE_ROWS])


def _json(value: Any) -> str:
    # A value JSON cannot hold is logged as its text, not left to fail every flush after it.
    return orjson.dumps(value, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def _meter(session: Any, rows: list[dict[str, Any]]) -> None:
    """Count the batch in the marketplace's usage counters (backend.endpoints.metering), in a savepoint: a
    metering failure is logged as an error and never holds back the log itself."""
    from backend.endpoints import metering

    try:
        with session.begin_nested():
            metering.count(session, rows)
    except Exception:
        log.exception("prediction log: could not count %d rows in the marketplace usage", len(rows))


def _loop() -> None:
    while True:
        _wake.wait(FLUSH_SECONDS)
        _wake.clear()
        try:
            flush()
        except Exception:  # pragma: no cover - flush logs its own failures
            log.exception("prediction log flush failed")


def _ensure_thread() -> None:
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_loop, name="prediction-log", daemon=True)
            _thread.start()


atexit.register(lambda: flush())
