"""The 0004 migration creates exactly the marketplace tables the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend import domains
from backend.core.db import get_engine, metadata


def test_migration_matches_the_models(db_backend):
    domains.import_table_modules()

    def ours(obj, name, type_, reflected, compare_to):  # noqa: ANN001
        table = obj if type_ == "table" else getattr(obj, "table", None)
        table_name = name if type_ == "table" else getattr(table, "name", "")
        return str(table_name).startswith("marketplace_")

    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": ours, "compare_type": True})
        diff = compare_metadata(context, metadata)
    assert diff == []
