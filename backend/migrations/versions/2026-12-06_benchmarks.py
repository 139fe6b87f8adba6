"""benchmarks: benchmark runs, results and leaderboards (backend.benchmarks)

A run names model versions, a dataset version, a task and a split, and its job; a result holds one
version's measured figures (quality, latency, throughput) and the device of one run; a leaderboard entry
puts a result on a named public leaderboard. New tables only; downgrade drops them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

RUN, RESULT, ENTRY = "benchmarks_run", "benchmarks_result", "benchmarks_leaderboard_entry"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        RUN,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("job_id", _text(40), nullable=True),
        sa.Column("dataset_id", _text(40), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("task", _text(16), nullable=False),
        sa.Column("split", _text(16), nullable=False),
        sa.Column("version_ids", sa.JSON(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("error", _text(1000), nullable=True),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{RUN}")),
    )
    with op.batch_alter_table(RUN, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{RUN}_dataset_id"), ["dataset_id"], unique=False)
        batch_op.create_index("ix_benchmarks_run_created_by_created_at", ["created_by", "created_at"], unique=False)
    op.create_table(
        RESULT,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("run_id", _text(40), nullable=False),
        sa.Column("model_version_id", _text(40), nullable=False),
        sa.Column("model_id", _text(40), nullable=False),
        sa.Column("version", _text(20), nullable=False),
        sa.Column("dataset_id", _text(40), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("task", _text(16), nullable=False),
        sa.Column("split", _text(16), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("per_class", sa.JSON(), nullable=False),
        sa.Column("device", _text(8), nullable=False),
        sa.Column("device_name", _text(200), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        sa.ForeignKeyConstraint(["run_id"], [f"{RUN}.id"], name=op.f(f"fk_{RESULT}_run_id_{RUN}")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{RESULT}")),
        sa.UniqueConstraint("run_id", "model_version_id", name="uq_benchmarks_result_run_id_model_version_id"),
    )
    with op.batch_alter_table(RESULT, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{RESULT}_model_id"), ["model_id"], unique=False)
        batch_op.create_index("ix_benchmarks_result_key",
                              ["model_version_id", "dataset_id", "dataset_version", "task", "created_at"], unique=False)
        batch_op.create_index("ix_benchmarks_result_dataset_task", ["dataset_id", "task", "created_at"], unique=False)
    op.create_table(
        ENTRY,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("leaderboard", _text(80), nullable=False),
        sa.Column("result_id", _text(40), nullable=False),
        sa.Column("note", _text(500), nullable=True),
        sa.Column("submitted_by", _text(40), nullable=False),
        _when("submitted_at"),
        sa.ForeignKeyConstraint(["result_id"], [f"{RESULT}.id"], name=op.f(f"fk_{ENTRY}_result_id_{RESULT}")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{ENTRY}")),
        sa.UniqueConstraint("leaderboard", "result_id", name="uq_benchmarks_leaderboard_entry_board_result"),
    )
    with op.batch_alter_table(ENTRY, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{ENTRY}_leaderboard"), ["leaderboard"], unique=False)


def downgrade() -> None:
    op.drop_table(ENTRY)
    op.drop_table(RESULT)
    op.drop_table(RUN)
