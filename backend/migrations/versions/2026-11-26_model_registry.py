"""model_registry: models, versions, stage history, lineage, activity, embeddings, keyword index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEARCH_TABLE = "catalog_model_search"


def _create_search_index() -> None:
    """The keyword index: FTS5 on SQLite, a weighted tsvector with a GIN index on PostgreSQL.

    Both index the same text split the same way (runs of letters and digits, lower-cased, no
    stemming), so a query matches the same models on both; see search.py.
    """
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5("
            "model_id UNINDEXED, name, tags, capabilities, architecture, description, "
            "tokenize = 'unicode61 remove_diacritics 0')"
        )
        return
    norm = "regexp_replace(coalesce({0}, ''), '[^[:alnum:]]+', ' ', 'g')"
    op.execute(
        f"CREATE TABLE {SEARCH_TABLE} ("
        "model_id VARCHAR(40) NOT NULL PRIMARY KEY "
        "REFERENCES catalog_model (id) ON DELETE CASCADE, "
        "name TEXT NOT NULL, tags TEXT NOT NULL, capabilities TEXT NOT NULL, "
        "architecture TEXT NOT NULL, description TEXT NOT NULL, "
        "document tsvector GENERATED ALWAYS AS ("
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('name')}), 'A') || "
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('tags')} || ' ' || {norm.format('capabilities')}), 'B') || "
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('architecture')}), 'C') || "
        f"setweight(to_tsvector('simple'::regconfig, {norm.format('description')}), 'D')"
        ") STORED)"
    )
    op.execute(f"CREATE INDEX ix_{SEARCH_TABLE}_document ON {SEARCH_TABLE} USING gin (document)")


def _drop_search_index() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")


def upgrade() -> None:
    op.create_table(
        "catalog_model",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("framework", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("architecture", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("deployment_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("parameters", sa.BigInteger(), nullable=True),
        sa.Column("context_length", sa.Integer(), nullable=True),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("documentation", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("paper", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("license", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("training", sa.JSON(), nullable=False),
        sa.Column("performance", sa.JSON(), nullable=False),
        sa.Column("pricing", sa.JSON(), nullable=False),
        sa.Column("deployment", sa.JSON(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=True),
        sa.Column("sort_accuracy", sa.Float(), nullable=False),
        sa.Column("sort_parameters", sa.BigInteger(), nullable=False),
        sa.Column("stage_revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("deleted_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_model")),
    )
    with op.batch_alter_table("catalog_model", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_model_category"), ["category"], unique=False)
        batch_op.create_index("ix_catalog_model_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_model_created_by"), ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_model_deleted_at"), ["deleted_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_model_framework"), ["framework"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_model_license"), ["license"], unique=False)
        batch_op.create_index("ix_catalog_model_name_key_id", ["name_key", "id"], unique=False)
        batch_op.create_index("ix_catalog_model_sort_accuracy_id", ["sort_accuracy", "id"], unique=False)
        batch_op.create_index("ix_catalog_model_sort_parameters_id", ["sort_parameters", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_model_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_model_type"), ["type"], unique=False)
        batch_op.create_index("ix_catalog_model_updated_at_id", ["updated_at", "id"], unique=False)
        batch_op.create_index(
            "uq_catalog_model_name_key_live",
            ["name_key"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "catalog_model_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("hour_bucket", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["catalog_model.id"], name=op.f("fk_catalog_model_activity_model_id_catalog_model")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_model_activity")),
    )
    with op.batch_alter_table("catalog_model_activity", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_model_activity_hour", ["hour_bucket", "model_id"], unique=False)
        batch_op.create_index("ix_catalog_model_activity_model", ["model_id", "occurred_at"], unique=False)
        batch_op.create_index("ix_catalog_model_activity_user", ["user_id", "occurred_at"], unique=False)

    op.create_table(
        "catalog_model_embedding",
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("encoder", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("text_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("embedded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["catalog_model.id"], name=op.f("fk_catalog_model_embedding_model_id_catalog_model")
        ),
        sa.PrimaryKeyConstraint("model_id", name=op.f("pk_catalog_model_embedding")),
    )
    with op.batch_alter_table("catalog_model_embedding", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_model_embedding_embedded_at"), ["embedded_at"], unique=False
        )

    op.create_table(
        "catalog_model_label",
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["catalog_model.id"], name=op.f("fk_catalog_model_label_model_id_catalog_model")
        ),
        sa.PrimaryKeyConstraint("model_id", "kind", "value", name=op.f("pk_catalog_model_label")),
    )
    with op.batch_alter_table("catalog_model_label", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_model_label_kind_value", ["kind", "value", "model_id"], unique=False
        )

    op.create_table(
        "catalog_model_lineage_edge",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("source_type", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("source_label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("target_type", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column("target_label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("relation", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["catalog_model.id"],
            name=op.f("fk_catalog_model_lineage_edge_model_id_catalog_model"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_model_lineage_edge")),
        sa.UniqueConstraint(
            "model_id",
            "source_type",
            "source_id",
            "target_type",
            "target_id",
            "relation",
            name="uq_catalog_model_lineage_edge_model_id",
        ),
    )
    with op.batch_alter_table("catalog_model_lineage_edge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_catalog_model_lineage_edge_model_id"), ["model_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_catalog_model_lineage_edge_target_id"), ["target_id"], unique=False
        )

    op.create_table(
        "catalog_model_version",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("major", sa.Integer(), nullable=False),
        sa.Column("minor", sa.Integer(), nullable=False),
        sa.Column("patch", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("stage_changed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("artifact_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("artifact_format", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("artifact_size", sa.BigInteger(), nullable=True),
        sa.Column("artifact_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("artifact_file_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("artifact_details", sa.JSON(), nullable=False),
        sa.Column("artifact_uploaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("artifact_uploaded_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("artifact_integrity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("artifact_verified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["catalog_model.id"], name=op.f("fk_catalog_model_version_model_id_catalog_model")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_model_version")),
        sa.UniqueConstraint("model_id", "version", name="uq_catalog_model_version_model_id_version"),
    )
    with op.batch_alter_table("catalog_model_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_model_version_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            "ix_catalog_model_version_semver", ["model_id", "major", "minor", "patch"], unique=False
        )
        batch_op.create_index(
            "uq_catalog_model_version_one_production",
            ["model_id"],
            unique=True,
            sqlite_where=sa.text("stage = 'production'"),
            postgresql_where=sa.text("stage = 'production'"),
        )

    op.create_table(
        "catalog_model_stage_history",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("model_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("version_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("from_stage", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("moved_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("moved_by_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["catalog_model.id"],
            name=op.f("fk_catalog_model_stage_history_model_id_catalog_model"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["catalog_model_version.id"],
            name=op.f("fk_catalog_model_stage_history_version_id_catalog_model_version"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_model_stage_history")),
    )
    with op.batch_alter_table("catalog_model_stage_history", schema=None) as batch_op:
        batch_op.create_index(
            "ix_catalog_model_stage_history_model_stage", ["model_id", "stage", "ended_at"], unique=False
        )
        batch_op.create_index(
            "ix_catalog_model_stage_history_model_started", ["model_id", "started_at", "id"], unique=False
        )
        batch_op.create_index(
            "uq_catalog_model_stage_history_open",
            ["version_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
    _create_search_index()


def downgrade() -> None:
    _drop_search_index()
    with op.batch_alter_table("catalog_model_stage_history", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_catalog_model_stage_history_open",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index("ix_catalog_model_stage_history_model_started")
        batch_op.drop_index("ix_catalog_model_stage_history_model_stage")

    op.drop_table("catalog_model_stage_history")
    with op.batch_alter_table("catalog_model_version", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_catalog_model_version_one_production",
            sqlite_where=sa.text("stage = 'production'"),
            postgresql_where=sa.text("stage = 'production'"),
        )
        batch_op.drop_index("ix_catalog_model_version_semver")
        batch_op.drop_index(batch_op.f("ix_catalog_model_version_model_id"))

    op.drop_table("catalog_model_version")
    with op.batch_alter_table("catalog_model_lineage_edge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_model_lineage_edge_target_id"))
        batch_op.drop_index(batch_op.f("ix_catalog_model_lineage_edge_model_id"))

    op.drop_table("catalog_model_lineage_edge")
    with op.batch_alter_table("catalog_model_label", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_model_label_kind_value")

    op.drop_table("catalog_model_label")
    with op.batch_alter_table("catalog_model_embedding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_model_embedding_embedded_at"))

    op.drop_table("catalog_model_embedding")
    with op.batch_alter_table("catalog_model_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_catalog_model_activity_user")
        batch_op.drop_index("ix_catalog_model_activity_model")
        batch_op.drop_index("ix_catalog_model_activity_hour")

    op.drop_table("catalog_model_activity")
    with op.batch_alter_table("catalog_model", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_catalog_model_name_key_live",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index("ix_catalog_model_updated_at_id")
        batch_op.drop_index(batch_op.f("ix_catalog_model_type"))
        batch_op.drop_index(batch_op.f("ix_catalog_model_status"))
        batch_op.drop_index("ix_catalog_model_sort_parameters_id")
        batch_op.drop_index("ix_catalog_model_sort_accuracy_id")
        batch_op.drop_index("ix_catalog_model_name_key_id")
        batch_op.drop_index(batch_op.f("ix_catalog_model_license"))
        batch_op.drop_index(batch_op.f("ix_catalog_model_framework"))
        batch_op.drop_index(batch_op.f("ix_catalog_model_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_catalog_model_created_by"))
        batch_op.drop_index("ix_catalog_model_created_at_id")
        batch_op.drop_index(batch_op.f("ix_catalog_model_category"))

    op.drop_table("catalog_model")
