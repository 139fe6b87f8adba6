"""core: generation counters for results cached until their data changes

`core_generation` holds one counter per tracked set of tables (e.g. `catalog.models`), bumped in the
transaction of every change to them (with a random epoch per row); server processes key cached search results and facet counts by
it (see backend/core/cache.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_generation",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_core_generation")),
    )


def downgrade() -> None:
    op.drop_table("core_generation")
