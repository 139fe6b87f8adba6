"""governance: policies and violations (backend.governance)

A policy names the entity types and governed actions it gates, its severity and enforcement mode
(enforce | audit), an optional CEL guard and its CEL rules (JSON), and a revision that waivers hold for.
A violation is one entity failing one rule of one policy (no foreign key: it outlives a deleted policy),
with its status (open | waived | resolved) and the admin's decision. New tables only; downgrade drops them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

POLICY, VIOLATION = "governance_policy", "governance_violation"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        POLICY,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("name", _text(120), nullable=False),
        sa.Column("description", _text(2000), nullable=False),
        sa.Column("kind", _text(24), nullable=False),
        sa.Column("target_types", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("severity", _text(16), nullable=False),
        sa.Column("enforcement", _text(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("applies_when", _text(2000), nullable=True),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{POLICY}")),
        sa.UniqueConstraint("name", name=op.f(f"uq_{POLICY}_name")),
    )
    with op.batch_alter_table(POLICY, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{POLICY}_enabled"), ["enabled"], unique=False)
    op.create_table(
        VIOLATION,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("policy_id", _text(40), nullable=False),
        sa.Column("policy_name", _text(120), nullable=False),
        sa.Column("policy_revision", sa.Integer(), nullable=False),
        sa.Column("severity", _text(16), nullable=False),
        sa.Column("enforcement", _text(16), nullable=False),
        sa.Column("entity_type", _text(32), nullable=False),
        sa.Column("entity_id", _text(64), nullable=False),
        sa.Column("entity_name", _text(300), nullable=True),
        sa.Column("action", _text(40), nullable=False),
        sa.Column("rule", _text(120), nullable=False),
        sa.Column("condition", _text(2000), nullable=False),
        sa.Column("reason", _text(1000), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("actor_id", _text(40), nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("last_seen_at"),
        sa.Column("decided_by", _text(40), nullable=True),
        _when("decided_at", nullable=True),
        sa.Column("decision_note", _text(1000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{VIOLATION}")),
    )
    with op.batch_alter_table(VIOLATION, schema=None) as batch_op:
        for column in ("entity_type", "status", "actor_id", "created_at"):
            batch_op.create_index(batch_op.f(f"ix_{VIOLATION}_{column}"), [column], unique=False)
        batch_op.create_index("ix_governance_violation_lookup",
                              ["policy_id", "entity_type", "entity_id", "status"], unique=False)


def downgrade() -> None:
    op.drop_table(VIOLATION)
    op.drop_table(POLICY)
