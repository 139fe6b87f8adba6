"""Transaction rules every session follows, whoever opened it (route, Reflex handler, task, script).

1. Nothing changes unaudited: a transaction that touches an audited table must also append an
   audit record, or its commit fails. Tables opt out with `__audited__ = False` (the audit itself,
   job progress, login throttling).
2. Work that must only happen once the data is durable (enqueueing a job, moving the audit
   checkpoint) is registered with `after_commit(session, fn)` and runs after a successful commit.
3. Work that undoes what a transaction did outside the database (removing a file it wrote), or that
   must be recorded although the transaction fails, is registered with `after_rollback(session, fn)`
   and runs once the transaction has ended without a commit (rolled back, or closed unfinished).

Services only flush: the edge (route, `session_scope`, task) commits or rolls back, so several
services' writes compose into one transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Table, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import SessionTransaction, instrumentation
from sqlmodel import SQLModel

from backend.core.driver_insert import prepared_insert
from backend.core.errors import UnauditedChange

log = logging.getLogger(__name__)
Row = TypeVar("Row", bound=SQLModel)

_NEEDS_AUDIT = "aisystem_needs_audit"
_AUDITED = "aisystem_audited"
_AFTER_COMMIT = "aisystem_after_commit"
_EXEMPT = "aisystem_audit_exempt"
_AFTER_ROLLBACK = "aisystem_after_rollback"
_WROTE = "aisystem_wrote"
_MEMO = "aisystem_memo"
_APPENDS = "aisystem_appends"


def after_commit(session: OrmSession, fn: Callable[[], None]) -> None:
    """Run `fn` once the current transaction has committed (dropped on rollback)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(fn)


def after_rollback(session: OrmSession, fn: Callable[[], None]) -> None:
    """Run `fn` once the current transaction has ended without a commit (dropped on commit).

    It runs after the session has released its connection, so `fn` may write in a session of its own
    (on SQLite the failed transaction no longer holds the write lock).
    """
    if not session.in_transaction():
        session.begin()  # no I/O yet; the transaction `fn` belongs to, so that its end is seen
    session.info.setdefault(_AFTER_ROLLBACK, []).append(fn)


def transaction_memo(session: OrmSession, name: str) -> dict:
    """A scratch dict named `name` that lives as long as the current transaction, for what a service
    learned in it and need not ask the database again (a row it created, a counter it moved). It is
    dropped whenever a transaction or savepoint ends, so nothing a rolled-back savepoint undid is
    remembered."""
    return session.info.setdefault(_MEMO, {}).setdefault(name, {})


def has_pending_changes(session: OrmSession) -> bool:
    """Whether the current transaction has changed anything, flushed or not (ORM or DML statements)."""
    return bool(session.new or session.dirty or session.deleted or session.info.get(_WROTE))


def append(session: OrmSession, row: SQLModel) -> None:
    """Insert `row`, a new record that nothing in this transaction changes or refers to afterwards.

    Appended rows are written when pending ORM rows would be: at the next flush (after the ORM's own
    inserts, so they may refer to those), before a query that autoflushes, before a savepoint begins,
    and before the commit. A table's rows go in one INSERT handed to the driver as bound
    (`backend.core.driver_insert`), about 25 µs a row instead of the 120-160 µs of flushing it as an ORM
    object (registering a version appends seven rows; its turn holding SQLite's
    write lock went from 4.0-4.9 to 2.5-2.7 ms with these). The row stays transient: changing it later
    writes nothing (say a change in SQL). Inside a savepoint it is written at once, so that the
    savepoint's rollback undoes it. Not for tables a result-cache generation tracks
    (`core.cache.track_changes`): refused.
    """
    cls = type(row)
    if getattr(cls, "__generation_tracked__", False):
        raise TypeError(f"{cls.__name__} is tracked by a result-cache generation: add it to the session")
    if not session.in_transaction():
        session.begin()  # no I/O yet: the transaction whose end drops what was not written
    if cls.__name__ == "AuditRecord":
        session.info[_AUDITED] = True
    elif _is_audited_type(row):
        session.info[_NEEDS_AUDIT] = True
    session.info[_WROTE] = True
    session.info.setdefault(_APPENDS, []).append(row)
    if session.in_nested_transaction():
        session.flush()  # the ORM rows it may refer to first
        _write_appends(session)


def new_row(cls: type[Row], **values: Any) -> Row:
    """A new row of `cls` with these column values (the others take their defaults), built without the
    ORM's per-attribute events: for `append`, and for the rows a hot write adds to its session. A table
    model's constructor sets each field through pydantic's and SQLAlchemy's `__setattr__` (an audit
    record: ~64 µs; this: ~6 µs). Those events matter for changes to a row the database already holds;
    the INSERT of a new row reads its values as they are. The row is otherwise the same (its values,
    fields set and instance state) and may be added, changed and read like any other. Nothing is
    validated: for values the service built or a request schema checked."""
    given = set(values)
    for name, field in cls.model_fields.items():
        if name not in given and not field.is_required():
            values[name] = field.get_default(call_default_factory=True)
    row = instrumentation.manager_of_class(cls).new_instance()
    row.__dict__.update(values)
    object.__setattr__(row, "__pydantic_fields_set__", given)
    return row


def _write_appends(session: OrmSession, transaction: SessionTransaction | None = None) -> None:
    """Write the appended rows in `transaction` (the session's current one by default)."""
    rows = session.info.pop(_APPENDS, None)
    if not rows:
        return
    batches: dict[tuple[Table, tuple[str, ...]], list[dict]] = {}
    for row in rows:
        table, values = _insert_values(row)
        batches.setdefault((table, tuple(values)), []).append(values)
    order = _table_order()
    connection = transaction.connection(None) if transaction is not None else session.connection()
    for (table, keys), values in sorted(batches.items(), key=lambda item: order.get(item[0][0], 0)):
        prepared = prepared_insert(table, keys, connection.dialect)
        if prepared is not None:
            prepared.execute(connection, values)
        else:  # a column it leaves out has a default SQLAlchemy computes
            connection.execute(_insert(table), values)


def _insert_values(row: SQLModel) -> tuple[Table, dict]:
    """The row's table and its column values; a missing value the database or column fills (an
    autoincrement key, a column default) is left out."""
    mapper = sa_inspect(type(row))
    values = {}
    for attribute in mapper.column_attrs:
        column = attribute.columns[0]
        value = row.__dict__.get(attribute.key)
        if value is None and (column.default is not None or column.server_default is not None
                              or (column.primary_key and column.autoincrement in (True, "auto"))):
            continue
        values[column.key] = value
    return mapper.local_table, values


_ORDER: dict[int, dict[Table, int]] = {}


@cache
def _insert(table: Table):  # noqa: ANN202  (built once a table: its compiled form is then cached too)
    return table.insert()


def _table_order() -> dict[Table, int]:
    """Tables in foreign-key order (referred-to first), recomputed when tables are added."""
    tables = SQLModel.metadata.tables
    order = _ORDER.get(len(tables))
    if order is None:
        order = {table: i for i, table in enumerate(SQLModel.metadata.sorted_tables)}
        _ORDER.clear()
        _ORDER[len(tables)] = order
    return order


def mark_audited(session: OrmSession) -> None:
    session.info[_AUDITED] = True


def exempt_from_audit(session: OrmSession, reason: str) -> None:
    """Let this session change audited tables without a record: migrations-like maintenance only."""
    log.info("audit exemption for this session: %s", reason)
    session.info[_EXEMPT] = reason


def _is_audited_type(obj: object) -> bool:
    # Only the platform's own tables: other libraries' ORM sessions (kombu's SQLAlchemy broker,
    # Optuna's storage) share the Session class these listeners hang on.
    return isinstance(obj, SQLModel) and getattr(type(obj), "__audited__", True)


@event.listens_for(OrmSession, "before_flush")
def _track_changes(session: OrmSession, _flush_context, _instances) -> None:  # noqa: ANN001
    for obj in list(session.new) + list(session.deleted):
        if type(obj).__name__ == "AuditRecord":
            session.info[_AUDITED] = True
        elif _is_audited_type(obj):
            session.info[_NEEDS_AUDIT] = True
    for obj in session.dirty:
        if _is_audited_type(obj) and session.is_modified(obj, include_collections=False):
            session.info[_NEEDS_AUDIT] = True


@event.listens_for(OrmSession, "after_flush")
def _note_flush(session: OrmSession, _flush_context) -> None:  # noqa: ANN001
    session.info[_WROTE] = True
    if _APPENDS in session.info and not session.in_nested_transaction():
        _write_appends(session)


@event.listens_for(OrmSession, "do_orm_execute")
def _note_statement(state) -> None:  # noqa: ANN001
    session = state.session
    if state.is_insert or state.is_update or state.is_delete:
        session.info[_WROTE] = True
    # The appended rows, like pending ones, are written before a query that autoflushes reads: after the
    # pending rows they may refer to, so this flushes first (the query's own autoflush, which runs after this
    # hook, then finds nothing to do).
    if (_APPENDS in session.info and session.autoflush and not session.in_nested_transaction()
            and state.execution_options.get("autoflush", True)):
        session.flush()
        _write_appends(session)


@event.listens_for(OrmSession, "after_transaction_create")
def _write_appends_before_savepoint(session: OrmSession, transaction: SessionTransaction) -> None:
    # What was appended before a savepoint belongs to the enclosing transaction: written there, before the
    # SAVEPOINT (which is only sent with the savepoint's first statement), so that rolling the savepoint back
    # keeps it, and what the savepoint reads (an audit chain's head) includes it. Pending ORM rows were
    # flushed as the savepoint began.
    if transaction.nested and _APPENDS in session.info:
        _write_appends(session, transaction.parent)


@event.listens_for(OrmSession, "before_commit")
def _require_audit(session: OrmSession) -> None:
    session.flush()
    if not session.in_nested_transaction():
        _write_appends(session)
    if session.info.get(_NEEDS_AUDIT) and not session.info.get(_AUDITED) and not session.info.get(_EXEMPT):
        raise UnauditedChange("this transaction changes audited data but wrote no audit record")


@event.listens_for(OrmSession, "after_commit")
def _run_after_commit(session: OrmSession) -> None:
    if session.in_nested_transaction():
        return  # SQLAlchemy fires this on releasing a savepoint too: the work waits for the real commit
    session.info.pop(_AFTER_ROLLBACK, None)
    _run(session.info.pop(_AFTER_COMMIT, []), "after-commit")


def _run(callbacks: list[Callable[[], None]], stage: str) -> None:
    for fn in callbacks:
        try:
            fn()
        except Exception:  # the transaction has ended either way; a failed follow-up is logged
            log.exception("%s step failed", stage)


@event.listens_for(OrmSession, "after_transaction_end")
def _reset(session: OrmSession, transaction: SessionTransaction) -> None:
    if transaction.parent is None or transaction.nested:  # not the subtransaction each flush opens
        session.info.pop(_MEMO, None)
    if transaction.parent is None:
        for key in (_NEEDS_AUDIT, _AUDITED, _AFTER_COMMIT, _WROTE, _APPENDS):
            session.info.pop(key, None)
        # Still here: the transaction ended without a commit (after a commit the list was dropped).
        _run(session.info.pop(_AFTER_ROLLBACK, []), "after-rollback")
