"""The migrations build exactly the tables every domain's models describe, on both databases: a table,
column, type, index or constraint added to a model without a migration (or the reverse) fails here."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from backend import domains
from backend.core.db import get_engine, metadata

# Tables a migration creates in plain SQL that no model describes: SQLite's full-text indexes of the models
# and of the marketplace listings (FTS5 virtual tables and their shadow tables).
UNMODELLED_PREFIXES = ("catalog_model_search", "marketplace_listing_search")


def modelled(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    return not (type_ == "table" and reflected and compare_to is None and str(name).startswith(UNMODELLED_PREFIXES))


def test_the_migrations_match_every_domains_models(db_backend):
    domains.import_table_modules()
    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": modelled})
        assert compare_metadata(context, metadata) == []
