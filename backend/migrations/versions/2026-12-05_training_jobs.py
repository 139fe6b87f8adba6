"""training: the training job table (backend.training)

A training job: what to train (dataset version, family, hyperparameters, trainer options, the plan
`check_trainable` made and the prepared module config), where it goes (target model, experiment run,
platform job) and how it went (status, control, progress, epoch and global step, checkpoints, resources,
metrics, error). New table only; downgrade drops it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TABLE = "training_job"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("name", _text(200), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("dataset_id", _text(40), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("family", _text(40), nullable=False),
        sa.Column("task", _text(24), nullable=False),
        sa.Column("label_column", _text(200), nullable=False),
        sa.Column("input_columns", sa.JSON(), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("trainer", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("prepared_config", sa.JSON(), nullable=True),
        sa.Column("model_id", _text(40), nullable=True),
        sa.Column("model_name", _text(200), nullable=True),
        sa.Column("model_version", _text(40), nullable=True),
        sa.Column("base_model_id", _text(40), nullable=True),
        sa.Column("base_model_version", _text(40), nullable=True),
        sa.Column("experiment_id", _text(40), nullable=False),
        sa.Column("run_id", _text(40), nullable=False),
        sa.Column("job_id", _text(40), nullable=True),
        sa.Column("control", _text(16), nullable=True),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("global_step", sa.Integer(), nullable=False),
        sa.Column("checkpoints", sa.JSON(), nullable=False),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("error", _text(2000), nullable=True),
        sa.Column("error_code", _text(16), nullable=True),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        _when("started_at", nullable=True),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for column in ("created_by", "dataset_id", "job_id", "run_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_{TABLE}_{column}"), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        for column in ("created_by", "dataset_id", "job_id", "run_id", "status"):
            batch_op.drop_index(batch_op.f(f"ix_{TABLE}_{column}"))
    op.drop_table(TABLE)
