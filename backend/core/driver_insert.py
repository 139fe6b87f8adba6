"""INSERTs handed to the database driver as they are bound, for the hot paths that write many rows or
many small batches: the rows a transaction appends (audit, lineage, activity: `unit_of_work.append`)
and the prediction log.

`connection.execute(table.insert(), rows)` builds an execution context, compiles (or finds in the
cache) and processes each row's parameters through SQLAlchemy's layers: about 150 µs for one small
row on the 2-core development machine, most of a registration's appended-row cost. Here the SQL text
and each column's bind conversion are worked out once per table, column set and dialect, and
`exec_driver_sql` passes the converted values on: the same values stored, the same statement events
fired (before/after cursor execute), a fraction of the work.

Column defaults that SQLAlchemy computes in Python (`Column(default=...)`) are not applied here: a
column set that leaves out such a column has no prepared form (`prepared_insert` returns None) and the
caller goes the ordinary way. Server defaults and autoincrement keys are the database's own and work.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, bindparam, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine


@dataclass(frozen=True)
class PreparedInsert:
    """One INSERT as the driver takes it: SQL text in the dialect's parameter style, and per column its
    default (for rows that leave it out) and the type's own bind conversion."""

    sql: str
    names: tuple[str, ...]
    defaults: tuple[Any, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    positional: bool

    def parameters(self, row: Mapping[str, Any]) -> tuple | dict:
        values = []
        for name, default, convert in zip(self.names, self.defaults, self.converters, strict=True):
            value = row.get(name, default)
            # None too, as SQLAlchemy does: a JSON column's None is stored as JSON `null`, not SQL NULL.
            values.append(value if convert is None else convert(value))
        return tuple(values) if self.positional else dict(zip(self.names, values, strict=True))

    def execute(self, connection: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        connection.exec_driver_sql(self.sql, [self.parameters(row) for row in rows])


@functools.cache
def prepared_insert(table: Table, names: tuple[str, ...], dialect: Dialect,
                    types: tuple[tuple[str, TypeEngine], ...] = ()) -> PreparedInsert | None:
    """The INSERT of `names` into `table` for `dialect` (cached), or None when a column left out has a
    default SQLAlchemy would compute. `types` overrides a column's bind type by name (e.g. a value the
    caller has serialized already)."""
    if any(column.default is not None for column in table.columns if column.key not in names):
        return None
    overrides = dict(types)
    columns = {column.key: column for column in table.columns}
    compiled = insert(table).values({
        name: bindparam(name, type_=overrides.get(name, columns[name].type)) for name in names
    }).compile(dialect=dialect)
    order = tuple(compiled.positiontup) if compiled.positional else names
    return PreparedInsert(
        sql=compiled.string,
        names=order,
        defaults=tuple(_scalar_default(columns[name]) for name in order),
        converters=tuple(overrides.get(name, columns[name].type).dialect_impl(dialect).bind_processor(dialect)
                         for name in order),
        positional=compiled.positional,
    )


def _scalar_default(column: Any) -> Any:
    """The column's fixed default, for a row that leaves the column out; None when it has none."""
    default = column.default
    return default.arg if default is not None and default.is_scalar else None
