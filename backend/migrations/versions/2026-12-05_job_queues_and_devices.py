"""jobs: queues, device requirements, time limits, checkpoints; worker devices

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("core_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        # Jobs created before queues existed ran on the one queue there was: the default one.
        batch_op.add_column(sa.Column("queue", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False,
                                      server_default="default"))
        batch_op.add_column(sa.Column("gpus_required", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("gpu_memory_mb_required", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("time_limit_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("checkpoint", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("checkpointed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_core_job_queue"), ["queue"], unique=False)
    with op.batch_alter_table("core_worker", schema=None) as batch_op:
        batch_op.add_column(sa.Column("queues", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("devices", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("core_worker", schema=None) as batch_op:
        batch_op.drop_column("devices")
        batch_op.drop_column("queues")
    with op.batch_alter_table("core_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_job_queue"))
        for column in ("checkpointed_at", "checkpoint", "time_limit_seconds", "gpu_memory_mb_required",
                       "gpus_required", "queue", "error_code"):
            batch_op.drop_column(column)
