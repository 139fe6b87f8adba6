"""model_registry: indexes for the numeric filters and for facet counts

`POST /catalog/models/filter` ranges on parameters, context length and accuracy are often narrow
(models under 50M parameters); with an index the service can size such a range and read only its
rows (see service.list_models). Facet counts group live models by type, status, framework, category
and license: (column, deleted_at) indexes answer them without reading the table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("parameters", "context_length", "accuracy")
FACET_COLUMNS = ("type", "status", "framework", "category", "license")


def upgrade() -> None:
    for column in COLUMNS:
        op.create_index(f"ix_catalog_model_{column}", "catalog_model", [column])
    for column in FACET_COLUMNS:
        op.create_index(f"ix_catalog_model_{column}_live", "catalog_model", [column, "deleted_at"])


def downgrade() -> None:
    for column in FACET_COLUMNS:
        op.drop_index(f"ix_catalog_model_{column}_live", table_name="catalog_model")
    for column in COLUMNS:
        op.drop_index(f"ix_catalog_model_{column}", table_name="catalog_model")
