"""core: one artifact store for datasets and models (no schema change)

The shared store keeps the keys the files already had (`datasets/blobs/<sha[:2]>/<sha>.parquet`,
`models/<artifact id>`) and the tables name files as before, so nothing in the database changes.
Files move between backends (local directory, S3) with `python -m backend.cli migrate-artifacts`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # no schema change: see the docstring


def downgrade() -> None:
    pass
