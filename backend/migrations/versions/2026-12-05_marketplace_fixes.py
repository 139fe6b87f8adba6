"""marketplace: subscription end states, provider contact and demo-data marks

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Provider contact: where "Contact sales" writes to; seeded addresses are marked as demo data.
    with op.batch_alter_table("marketplace_provider", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=True))
        batch_op.add_column(sa.Column("contact_is_demo", sa.Boolean(), nullable=False, server_default=sa.false()))
    _upgrade_search_and_demo_marks()


def downgrade() -> None:
    _downgrade_search_and_demo_marks()
    with op.batch_alter_table("marketplace_provider", schema=None) as batch_op:
        batch_op.drop_column("contact_is_demo")
        batch_op.drop_column("contact_email")


# --- marketplace search and demo-data marks (issue 11, B1) ---------------------------------------------
# Names: table marketplace_listing_search (keyword index: FTS5 on SQLite, tsvector + GIN on PostgreSQL),
# table marketplace_listing_embedding (sentence vectors), column marketplace_review.demo_consumer.

LISTING_SEARCH = "marketplace_listing_search"


def _create_listing_search() -> None:
    """The listings' keyword index: four weighted columns of pre-split, pre-stemmed text
    (backend.core.keywords), FTS5 on SQLite, a weighted tsvector with a GIN index on PostgreSQL."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"CREATE VIRTUAL TABLE {LISTING_SEARCH} USING fts5("
                   "listing_id UNINDEXED, name, tags, context, body, tokenize = 'unicode61 remove_diacritics 0')")
        return
    norm = "regexp_replace(coalesce({0}, ''), '[^[:alnum:]]+', ' ', 'g')"
    op.execute(
        f"CREATE TABLE {LISTING_SEARCH} ("
        "listing_id VARCHAR(40) NOT NULL PRIMARY KEY REFERENCES marketplace_listing (id) ON DELETE CASCADE, "
        "name TEXT NOT NULL, tags TEXT NOT NULL, context TEXT NOT NULL, body TEXT NOT NULL, "
        "document tsvector GENERATED ALWAYS AS ("
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('name')}), 'A') || "
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('tags')}), 'B') || "
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('context')}), 'C') || "
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('body')}), 'D')"
        ") STORED)")
    op.execute(f"CREATE INDEX ix_{LISTING_SEARCH}_document ON {LISTING_SEARCH} USING gin (document)")


def _index_existing_listings() -> None:
    """Index the live listings already there (new and changed ones are indexed by the service)."""
    import json

    from backend.core.keywords import index_text, rowid

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT l.id, l.name, l.description, l.features, p.name, c.name FROM marketplace_listing l "
        "JOIN marketplace_provider p ON p.id = l.provider_id JOIN marketplace_category c ON c.id = l.category_id "
        "WHERE l.removed_at IS NULL")).all()
    tags: dict[str, list[str]] = {}
    for listing_id, tag in bind.execute(sa.text("SELECT listing_id, tag FROM marketplace_listing_tag")).all():
        tags.setdefault(listing_id, []).append(tag)
    licences: dict[str, list[str]] = {}
    for listing_id, kind in bind.execute(sa.text("SELECT listing_id, type FROM marketplace_license")).all():
        licences.setdefault(listing_id, []).append(kind)
    sqlite = bind.dialect.name == "sqlite"
    for listing_id, name, description, features, provider, category in rows:
        features = json.loads(features) if isinstance(features, str) else (features or [])
        values = {"listing_id": listing_id, "name": index_text(name), "tags": index_text(*tags.get(listing_id, [])),
                  "context": index_text(provider, category),
                  "body": index_text(description, *features, *licences.get(listing_id, []))}
        if sqlite:
            bind.execute(sa.text(f"INSERT INTO {LISTING_SEARCH} (rowid, listing_id, name, tags, context, body) "
                                 "VALUES (:rowid, :listing_id, :name, :tags, :context, :body)"),
                         values | {"rowid": rowid(listing_id)})
        else:
            bind.execute(sa.text(f"INSERT INTO {LISTING_SEARCH} (listing_id, name, tags, context, body) "
                                 "VALUES (:listing_id, :name, :tags, :context, :body)"), values)


def _upgrade_search_and_demo_marks() -> None:
    with op.batch_alter_table("marketplace_review", schema=None) as batch_op:
        batch_op.add_column(sa.Column("demo_consumer", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    # Demo reviews seeded before this revision were marked "verified use" at random, with no usage behind
    # them: none of them may claim it.
    review = sa.table("marketplace_review", sa.column("verified_use", sa.Boolean()), sa.column("is_demo", sa.Boolean()),
                      sa.column("demo_consumer", sa.String()))
    op.execute(review.update().where(review.c.is_demo == sa.true(), review.c.demo_consumer.is_(None))
               .values(verified_use=False))
    op.create_table(
        "marketplace_listing_embedding",
        sa.Column("listing_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("encoder", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("text_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("embedded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["listing_id"], ["marketplace_listing.id"],
                                name=op.f("fk_marketplace_listing_embedding_listing_id_marketplace_listing")),
        sa.PrimaryKeyConstraint("listing_id", name=op.f("pk_marketplace_listing_embedding")),
    )
    with op.batch_alter_table("marketplace_listing_embedding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_marketplace_listing_embedding_embedded_at"), ["embedded_at"],
                              unique=False)
    _create_listing_search()
    _index_existing_listings()


def _downgrade_search_and_demo_marks() -> None:
    op.execute(f"DROP TABLE IF EXISTS {LISTING_SEARCH}")
    with op.batch_alter_table("marketplace_listing_embedding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_marketplace_listing_embedding_embedded_at"))
    op.drop_table("marketplace_listing_embedding")
    with op.batch_alter_table("marketplace_review", schema=None) as batch_op:
        batch_op.drop_column("demo_consumer")

