"""Rows handed to the driver as bound are stored exactly as SQLAlchemy's own INSERT stores them, and a
column set that would need a default computed in Python has no prepared form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, select

from backend.core.db import get_engine
from backend.core.driver_insert import prepared_insert

metadata = MetaData()
THINGS = Table(
    "test_driver_insert_things", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("name", String(40), nullable=False),
    Column("at", DateTime(timezone=True)),
    Column("data", JSON, nullable=False),
    Column("extra", JSON, nullable=True),
    Column("flag", Boolean, nullable=False),
    Column("tries", Integer, default=7),
)
ROW = {"name": "ünïcode ✓", "at": datetime(2026, 12, 7, 6, 5, 4, 321000, tzinfo=UTC),
       "data": {"nested": [1, 2.5, None, "x"], "ok": True}, "extra": None, "flag": True, "tries": 3}


@pytest.fixture
def things(db_backend):
    engine = get_engine()
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)


def stored(connection, name: str) -> tuple:  # noqa: ANN001
    row = connection.execute(select(THINGS).where(THINGS.c.name == name)).one()
    return row._tuple()[1:]


def test_a_prepared_insert_stores_what_sqlalchemy_stores(things):
    with things.begin() as connection:
        connection.execute(THINGS.insert(), [ROW])
        prepared = prepared_insert(THINGS, tuple(ROW), connection.dialect)
        prepared.execute(connection, [ROW | {"name": "prepared"}, ROW | {"name": "second", "flag": False}])
        expected = stored(connection, ROW["name"])
        assert stored(connection, "prepared") == (("prepared",) + expected[1:])
        assert stored(connection, "second")[4] is False
        # A JSON column's None is JSON `null` either way, not SQL NULL.
        nulls = dict(connection.exec_driver_sql(f"SELECT name, extra IS NULL FROM {THINGS.name}").all())
        assert len(nulls) == 3 and not any(nulls.values())
        ids = connection.execute(select(THINGS.c.id).order_by(THINGS.c.id)).scalars().all()
    assert len(ids) == 3 and len(set(ids)) == 3  # the database gave each its key


def test_leaving_out_a_column_with_a_computed_default_has_no_prepared_form(things):
    without_tries = tuple(name for name in ROW if name != "tries")
    assert prepared_insert(THINGS, without_tries, things.dialect) is None
    with_tries = prepared_insert(THINGS, tuple(ROW), things.dialect)
    assert with_tries is not None and "tries" in with_tries.names
