"""comparison: model comparisons, metric definitions and scores (backend.comparison)

User-defined comparison metrics (the six built-ins live in code), stored comparison documents (fetched
by id) and calculated score snapshots per subject. New tables only; downgrade drops them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

METRIC, RESULT, SCORE = "comparison_metric", "comparison_result", "comparison_score"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        METRIC,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("key", _text(40), nullable=False),
        sa.Column("label", _text(80), nullable=False),
        sa.Column("description", _text(1000), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("direction", _text(8), nullable=False),
        sa.Column("normalization", _text(16), nullable=False),
        sa.Column("reference", sa.Float(), nullable=True),
        sa.Column("scale", _text(8), nullable=False),
        sa.Column("unit", _text(24), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{METRIC}")),
        sa.UniqueConstraint("key", name=op.f(f"uq_{METRIC}_key")),
    )
    with op.batch_alter_table(METRIC, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{METRIC}_created_by"), ["created_by"], unique=False)
    op.create_table(
        RESULT,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("title", _text(200), nullable=True),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("subject_ids", sa.JSON(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{RESULT}")),
    )
    with op.batch_alter_table(RESULT, schema=None) as batch_op:
        batch_op.create_index("ix_comparison_result_created_by_created_at", ["created_by", "created_at"], unique=False)
    op.create_table(
        SCORE,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("subject_id", _text(80), nullable=False),
        sa.Column("subject_name", _text(200), nullable=False),
        sa.Column("method", _text(16), nullable=False),
        sa.Column("weighting", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("metric_scores", sa.JSON(), nullable=False),
        sa.Column("raw_values", sa.JSON(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{SCORE}")),
    )
    with op.batch_alter_table(SCORE, schema=None) as batch_op:
        batch_op.create_index("ix_comparison_score_subject_created", ["subject_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_table(SCORE)
    op.drop_table(RESULT)
    op.drop_table(METRIC)
