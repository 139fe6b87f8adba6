"""compliance: compliance attestations, assessments and certification requests (backend.compliance)

`compliance_attestation` holds a person's statement (and optional evidence file in the artifact store) that
a manual control holds; `compliance_assessment` a stored, scored report of every control of the assessed
frameworks; `compliance_certification` a request for an admin to sign off a framework's readiness, with
the assessment it rests on. Downgrade drops the three tables (evidence files stay in the store).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "compliance_attestation",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("framework", _text(16), nullable=False),
        sa.Column("control_id", _text(40), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("evidence_key", _text(200), nullable=True),
        sa.Column("evidence_name", _text(200), nullable=True),
        sa.Column("evidence_sha256", _text(64), nullable=True),
        sa.Column("evidence_size", sa.Integer(), nullable=True),
        sa.Column("attested_by", _text(40), nullable=False),
        sa.Column("attested_by_name", _text(64), nullable=False),
        _instant("attested_at"),
        _instant("expires_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_attestation")),
    )
    with op.batch_alter_table("compliance_attestation", schema=None) as batch_op:
        batch_op.create_index("ix_compliance_attestation_control", ["framework", "control_id", "attested_at"],
                              unique=False)
    op.create_table(
        "compliance_assessment",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("frameworks", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        sa.Column("created_by_name", _text(64), nullable=False),
        _instant("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_assessment")),
    )
    with op.batch_alter_table("compliance_assessment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compliance_assessment_created_at"), ["created_at"], unique=False)
    op.create_table(
        "compliance_certification",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("framework", _text(16), nullable=False),
        sa.Column("assessment_id", _text(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("note", _text(2000), nullable=True),
        sa.Column("requested_by", _text(40), nullable=False),
        sa.Column("requested_by_name", _text(64), nullable=False),
        _instant("requested_at"),
        sa.Column("decided_by", _text(40), nullable=True),
        sa.Column("decided_by_name", _text(64), nullable=True),
        _instant("decided_at", nullable=True),
        sa.Column("decision_reason", _text(2000), nullable=True),
        sa.ForeignKeyConstraint(["assessment_id"], ["compliance_assessment.id"],
                                name=op.f("fk_compliance_certification_assessment_id_compliance_assessment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_certification")),
    )
    with op.batch_alter_table("compliance_certification", schema=None) as batch_op:
        for column in ("framework", "status", "requested_at"):
            batch_op.create_index(batch_op.f(f"ix_compliance_certification_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table("compliance_certification")
    op.drop_table("compliance_assessment")
    op.drop_table("compliance_attestation")
