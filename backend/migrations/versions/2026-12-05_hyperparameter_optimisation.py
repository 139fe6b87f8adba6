"""tuning: hyperparameter optimisation studies and their trials (backend.tuning)

A study optimises an experiment (strategy, configuration, objectives, what each trial trains); a trial is
one Optuna trial or one population-based-training member round, tied to its training job and run. Optuna's
own tables live in Optuna's database (AISYSTEM_OPTUNA_STORAGE_URL), not here. New tables only; downgrade
drops them.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

STUDY, TRIAL = "tuning_study", "tuning_trial"
STUDY_INDEXES = ("created_by", "experiment_id", "status")
TRIAL_INDEXES = ("status", "study_id", "training_job_id")


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        STUDY,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("experiment_id", _text(40), nullable=False),
        sa.Column("strategy", _text(32), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("training", sa.JSON(), nullable=False),
        sa.Column("objectives", sa.JSON(), nullable=False),
        sa.Column("max_trials", sa.Integer(), nullable=False),
        sa.Column("parallel_trials", sa.Integer(), nullable=False),
        sa.Column("error", _text(2000), nullable=True),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        _when("completed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{STUDY}")),
    )
    op.create_table(
        TRIAL,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("study_id", _text(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("optuna_trial_id", sa.Integer(), nullable=True),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=True),
        sa.Column("run_id", _text(40), nullable=True),
        sa.Column("training_job_id", _text(40), nullable=True),
        sa.Column("member", sa.Integer(), nullable=True),
        sa.Column("round", sa.Integer(), nullable=True),
        sa.Column("parent_trial_id", _text(40), nullable=True),
        sa.Column("error", _text(2000), nullable=True),
        _when("created_at"),
        _when("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TRIAL}")),
        sa.UniqueConstraint("study_id", "number", name=op.f(f"uq_{TRIAL}_study_id")),
    )
    for table, columns in ((STUDY, STUDY_INDEXES), (TRIAL, TRIAL_INDEXES)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def downgrade() -> None:
    for table, columns in ((TRIAL, TRIAL_INDEXES), (STUDY, STUDY_INDEXES)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_index(batch_op.f(f"ix_{table}_{column}"))
        op.drop_table(table)
