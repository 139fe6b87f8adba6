"""experiments: experiments, runs, params, metrics and tags (MLflow's tracking model, one to one)

Adds the experiment-tracking tables of `backend.catalog.experiments` (see its models.py for the
MLflow mapping): experiments and their tags; runs; per run its params, tags, metric points (one row
per point, indexed by run, key and step), the latest-metric summary kept on ingest, log lines and
artifact records. New tables only: nothing existing changes, and downgrade drops them.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 20:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only
RUN = "catalog_experiment_run"


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _when(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.UTCDateTime(), nullable=nullable)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], [f"{RUN}.id"], name=op.f(f"fk_{table}_run_id_{RUN}"))


def upgrade() -> None:
    op.create_table(
        "catalog_experiment",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("name", _text(256), nullable=False),
        sa.Column("description", _text(5000), nullable=False),
        sa.Column("artifact_location", _text(300), nullable=False),
        sa.Column("lifecycle_stage", _text(16), nullable=False),
        sa.Column("model_id", _text(40), nullable=True),
        sa.Column("dataset_id", _text(40), nullable=True),
        sa.Column("type", _text(40), nullable=False),
        sa.Column("task", _text(40), nullable=True),
        sa.Column("objective", _text(300), nullable=True),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("configuration", sa.JSON(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _when("updated_at"),
        _when("started_at", nullable=True),
        _when("completed_at", nullable=True),
        _when("deleted_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_experiment")),
        sa.UniqueConstraint("name", name=op.f("uq_catalog_experiment_name")),
    )
    with op.batch_alter_table("catalog_experiment", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_experiment_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index("ix_catalog_experiment_updated_at_id", ["updated_at", "id"], unique=False)
        for column in ("created_by", "dataset_id", "lifecycle_stage", "model_id", "status", "task"):
            batch_op.create_index(batch_op.f(f"ix_catalog_experiment_{column}"), [column], unique=False)

    op.create_table(
        "catalog_experiment_tag",
        sa.Column("experiment_id", _text(40), nullable=False),
        sa.Column("key", _text(250), nullable=False),
        sa.Column("value", _text(8000), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["catalog_experiment.id"],
                                name=op.f("fk_catalog_experiment_tag_experiment_id_catalog_experiment")),
        sa.PrimaryKeyConstraint("experiment_id", "key", name=op.f("pk_catalog_experiment_tag")),
    )

    op.create_table(
        RUN,
        sa.Column("id", _text(40), nullable=False),
        sa.Column("experiment_id", _text(40), nullable=False),
        sa.Column("name", _text(250), nullable=False),
        sa.Column("status", _text(16), nullable=False),
        sa.Column("start_time", sa.BigInteger(), nullable=False),
        sa.Column("end_time", sa.BigInteger(), nullable=True),
        sa.Column("lifecycle_stage", _text(16), nullable=False),
        _when("deleted_at", nullable=True),
        sa.Column("user_id", _text(40), nullable=False),
        sa.Column("artifact_uri", _text(300), nullable=False),
        sa.Column("job_id", _text(40), nullable=True),
        sa.Column("source", _text(16), nullable=False),
        sa.Column("parent_run_id", _text(40), nullable=True),
        sa.ForeignKeyConstraint(["experiment_id"], ["catalog_experiment.id"],
                                name=op.f(f"fk_{RUN}_experiment_id_catalog_experiment")),
        sa.ForeignKeyConstraint(["parent_run_id"], [f"{RUN}.id"], name=op.f(f"fk_{RUN}_parent_run_id_{RUN}")),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{RUN}")),
    )
    with op.batch_alter_table(RUN, schema=None) as batch_op:
        batch_op.create_index(f"ix_{RUN}_experiment_id_start_time", ["experiment_id", "start_time", "id"],
                              unique=False)
        for column in ("job_id", "parent_run_id", "status", "user_id"):
            batch_op.create_index(batch_op.f(f"ix_{RUN}_{column}"), [column], unique=False)

    for table, limit in (("catalog_experiment_param", 6000), ("catalog_experiment_run_tag", 8000)):
        op.create_table(
            table,
            sa.Column("run_id", _text(40), nullable=False),
            sa.Column("key", _text(250), nullable=False),
            sa.Column("value", _text(limit), nullable=False),
            _run_fk(table),
            sa.PrimaryKeyConstraint("run_id", "key", name=op.f(f"pk_{table}")),
        )

    op.create_table(
        "catalog_experiment_metric",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _text(40), nullable=False),
        sa.Column("key", _text(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        _run_fk("catalog_experiment_metric"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_experiment_metric")),
    )
    with op.batch_alter_table("catalog_experiment_metric", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_experiment_metric_run_id_key_step", ["run_id", "key", "step"], unique=False)

    op.create_table(
        "catalog_experiment_latest_metric",
        sa.Column("run_id", _text(40), nullable=False),
        sa.Column("key", _text(250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("is_nan", sa.Boolean(), nullable=False),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        _run_fk("catalog_experiment_latest_metric"),
        sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_catalog_experiment_latest_metric")),
    )
    with op.batch_alter_table("catalog_experiment_latest_metric", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_experiment_latest_metric_key_value", ["key", "value"], unique=False)

    op.create_table(
        "catalog_experiment_run_log",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("run_id", _text(40), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("level", _text(10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        _run_fk("catalog_experiment_run_log"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_experiment_run_log")),
    )
    with op.batch_alter_table("catalog_experiment_run_log", schema=None) as batch_op:
        batch_op.create_index("ix_catalog_experiment_run_log_run_id_id", ["run_id", "id"], unique=False)

    op.create_table(
        "catalog_experiment_run_artifact",
        sa.Column("id", _text(40), nullable=False),
        sa.Column("run_id", _text(40), nullable=False),
        sa.Column("path", _text(500), nullable=False),
        sa.Column("key", _text(300), nullable=False),
        sa.Column("sha256", _text(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_by", _text(40), nullable=False),
        _when("created_at"),
        _run_fk("catalog_experiment_run_artifact"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_experiment_run_artifact")),
        sa.UniqueConstraint("run_id", "path", name=op.f("uq_catalog_experiment_run_artifact_run_id")),
    )
    with op.batch_alter_table("catalog_experiment_run_artifact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_catalog_experiment_run_artifact_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    for table in ("catalog_experiment_run_artifact", "catalog_experiment_run_log", "catalog_experiment_latest_metric",
                  "catalog_experiment_metric", "catalog_experiment_run_tag", "catalog_experiment_param", RUN,
                  "catalog_experiment_tag", "catalog_experiment"):
        op.drop_table(table)
