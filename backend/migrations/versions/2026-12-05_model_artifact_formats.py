"""model registry: opaque artifacts and richer artifact metadata

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it (or left empty: no schema change)


def downgrade() -> None:
    pass
