"""datasets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_dataset",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=5000), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("label_column", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("descriptive", sa.JSON(), nullable=False),
        sa.Column("compliance", sa.JSON(), nullable=False),
        sa.Column("retention", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("current_version", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_dataset")),
    )
    with op.batch_alter_table("catalog_dataset", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_dataset_created_by"), ["created_by"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_dataset_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_dataset_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_dataset_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "catalog_dataset_access",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("dataset_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("permission", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("granted_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["catalog_dataset.id"],
                                name=op.f("fk_catalog_dataset_access_dataset_id_catalog_dataset")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_dataset_access")),
        sa.UniqueConstraint("dataset_id", "subject_type", "subject", name=op.f("uq_catalog_dataset_access_dataset_id")),
    )
    with op.batch_alter_table("catalog_dataset_access", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_dataset_access_dataset_id"), ["dataset_id"], unique=False)

    op.create_table(
        "catalog_dataset_version",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("dataset_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("blob_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("source_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("source_format", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source_filename", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("source_encoding", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("column_count", sa.Integer(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("parent_number", sa.Integer(), nullable=True),
        sa.Column("operation", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=True),
        sa.Column("message", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("split", sa.JSON(), nullable=True),
        sa.Column("split_blob_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("analysis", sa.JSON(), nullable=True),
        sa.Column("contains_pii", sa.Boolean(), nullable=True),
        sa.Column("anonymized", sa.Boolean(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["catalog_dataset.id"],
                                name=op.f("fk_catalog_dataset_version_dataset_id_catalog_dataset")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_dataset_version")),
        sa.UniqueConstraint("dataset_id", "number", name=op.f("uq_catalog_dataset_version_dataset_id")),
    )
    with op.batch_alter_table("catalog_dataset_version", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_dataset_version_blob_sha256"), ["blob_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_dataset_version_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_catalog_dataset_version_source_sha256"), ["source_sha256"],
                              unique=False)

    op.create_table(
        "catalog_dataset_profile",
        sa.Column("version_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("algorithm", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("computed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["catalog_dataset_version.id"],
                                name=op.f("fk_catalog_dataset_profile_version_id_catalog_dataset_version")),
        sa.PrimaryKeyConstraint("version_id", name=op.f("pk_catalog_dataset_profile")),
    )


def downgrade() -> None:
    op.drop_table("catalog_dataset_profile")
    with op.batch_alter_table("catalog_dataset_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_version_source_sha256"))
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_version_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_version_blob_sha256"))
    op.drop_table("catalog_dataset_version")
    with op.batch_alter_table("catalog_dataset_access", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_access_dataset_id"))
    op.drop_table("catalog_dataset_access")
    with op.batch_alter_table("catalog_dataset", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_updated_at"))
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_status"))
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_name"))
        batch_op.drop_index(batch_op.f("ix_catalog_dataset_created_by"))
    op.drop_table("catalog_dataset")
