"""generator: generated applications (backend.generator)

One table, `generator_app`: the design's "Generated Application" document — the prompt, its analysis,
the chosen architecture, MCP tools and capabilities, the file manifest of the last generation (the files
themselves are a zip in the artifact store), measured lines of code, test results and coverage, and the
local deployment's state. New table only; downgrade drops it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

APP = "generator_app"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        APP,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("name", _text(120), nullable=False),
        sa.Column("description", _text(2000), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("app_type", _text(40), nullable=False),
        sa.Column("template_id", _text(80), nullable=False),
        sa.Column("status", _text(20), nullable=False),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("architecture", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("mcp_tools", sa.JSON(), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("file_key", _text(300), nullable=True),
        sa.Column("file_sha256", _text(64), nullable=True),
        sa.Column("lines_of_code", sa.Integer(), nullable=True),
        sa.Column("test_coverage", sa.Float(), nullable=True),
        sa.Column("test_results", sa.JSON(), nullable=False),
        sa.Column("generation_seconds", sa.Float(), nullable=True),
        sa.Column("generation_count", sa.Integer(), nullable=False),
        _when("generated_at", nullable=True),
        sa.Column("job_id", _text(40), nullable=True),
        sa.Column("error", _text(2000), nullable=True),
        sa.Column("deployment", sa.JSON(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{APP}")),
    )
    with op.batch_alter_table(APP, schema=None) as batch_op:
        for column in ("created_by", "status"):
            batch_op.create_index(batch_op.f(f"ix_{APP}_{column}"), [column], unique=False)


def downgrade() -> None:
    op.drop_table(APP)
