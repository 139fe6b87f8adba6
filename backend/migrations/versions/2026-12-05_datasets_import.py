"""datasets: import options and the file's dialect, encoding and original format on each version

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_dataset_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_compression", sqlmodel.sql.sqltypes.AutoString(length=8),
                                      nullable=True))
        batch_op.add_column(sa.Column("source_dialect", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("import_options", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("import_warnings", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("original_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("catalog_dataset_version", schema=None) as batch_op:
        batch_op.drop_column("original_sha256")
        batch_op.drop_column("import_warnings")
        batch_op.drop_column("import_options")
        batch_op.drop_column("source_dialect")
        batch_op.drop_column("source_compression")
