"""datasets: import options and the file's dialect, encoding and original format on each version

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it (or left empty: no schema change)


def downgrade() -> None:
    pass
