"""endpoints: model endpoints, their deployments, keys and prediction log (backend.endpoints)

An endpoint serves a registered model version (or follows a stage), with its traffic split, replicas and
autoscaling block, rate limit, timeout and stored examples; its keys are `auth_api_key` rows of kind
`model`. The prediction log holds one row per prediction (bookkeeping, not audited). New tables only;
downgrade drops them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ENDPOINT, PREDICTION = "endpoints_endpoint", "endpoints_prediction"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        ENDPOINT,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("name", _text(120), nullable=False),
        sa.Column("description", _text(2000), nullable=True),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("model_id", _text(40), nullable=True),
        sa.Column("version", _text(20), nullable=True),
        sa.Column("follow_stage", _text(16), nullable=True),
        sa.Column("traffic", sa.JSON(), nullable=False),
        sa.Column("replicas", sa.Integer(), nullable=False),
        sa.Column("min_replicas", sa.Integer(), nullable=False),
        sa.Column("max_replicas", sa.Integer(), nullable=False),
        sa.Column("autoscaling", sa.JSON(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("timeout_ms", sa.Integer(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        _when("deployed_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{ENDPOINT}")),
        sa.UniqueConstraint("name", name=op.f(f"uq_{ENDPOINT}_name")),
    )
    with op.batch_alter_table(ENDPOINT, schema=None) as batch_op:
        for column in ("created_by", "model_id", "status"):
            batch_op.create_index(batch_op.f(f"ix_{ENDPOINT}_{column}"), [column], unique=False)
    op.create_table(
        PREDICTION,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint_id", _text(40), nullable=False),
        sa.Column("model_id", _text(40), nullable=True),
        sa.Column("version", _text(20), nullable=True),
        sa.Column("role", _text(16), nullable=False),
        sa.Column("key_id", _text(40), nullable=True),
        sa.Column("user_id", _text(40), nullable=True),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("error_code", _text(16), nullable=True),
        sa.Column("instances", sa.Integer(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{PREDICTION}")),
    )
    with op.batch_alter_table(PREDICTION, schema=None) as batch_op:
        batch_op.create_index("ix_endpoints_prediction_endpoint_created", ["endpoint_id", "created_at", "id"],
                              unique=False)


def downgrade() -> None:
    op.drop_table(PREDICTION)
    op.drop_table(ENDPOINT)
