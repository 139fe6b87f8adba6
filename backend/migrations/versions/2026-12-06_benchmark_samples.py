"""benchmarks: a result's per-row samples

`benchmarks_result.samples` (JSON, nullable) references the per-row outcomes of a result in the artifact
store (key, sha256, size, rows, format), from which the comparison recomputes quality metrics on bootstrap
resamples. Results measured before have none. Downgrade drops the column (the files stay).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("benchmarks_result") as batch:
        batch.add_column(sa.Column("samples", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("benchmarks_result") as batch:
        batch.drop_column("samples")
