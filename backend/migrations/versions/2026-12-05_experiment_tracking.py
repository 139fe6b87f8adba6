"""experiments: experiments, runs, params, metrics and tags (MLflow's tracking model, one to one)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 20:15:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the change that needs it


def downgrade() -> None:
    pass
