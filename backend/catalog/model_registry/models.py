"""Model registry tables: models, versions (with artifacts), stage history, activity, embeddings.

The keyword index (`catalog_model_search`: FTS5 on SQLite, a tsvector table on PostgreSQL) is created
by the migration with dialect-specific SQL and maintained by `search.py`; it has no ORM class.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from backend.core.cache import track_changes
from backend.core.timeutil import utcnow

LIFECYCLE = ("development", "training", "validation", "deployment", "monitoring", "retirement")
STAGES = ("none", "staging", "production", "archived")
FACET_FIELDS = ("type", "status", "framework", "category", "license")


class RegisteredModel(SQLModel, table=True):
    """One model of the catalog: the design's "AI Model" document.

    Nested parts of the document (training, performance, pricing, deployment) are JSON; the fields
    that lists sort and filter on are columns of their own, with NOT NULL sort keys so keyset
    pagination never meets a NULL.
    """

    __tablename__ = "catalog_model"
    __table_args__ = (
        # A name is unique among live models; a soft-deleted model frees its name.
        Index("uq_catalog_model_name_key_live", "name_key", unique=True,
              sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL")),
        Index("ix_catalog_model_created_at_id", "created_at", "id"),
        Index("ix_catalog_model_updated_at_id", "updated_at", "id"),
        Index("ix_catalog_model_name_key_id", "name_key", "id"),
        Index("ix_catalog_model_sort_accuracy_id", "sort_accuracy", "id"),
        Index("ix_catalog_model_sort_parameters_id", "sort_parameters", "id"),
        # Facet counts of live models read these alone (no table row per model).
        *[Index(f"ix_catalog_model_{column}_live", column, "deleted_at") for column in FACET_FIELDS],
    )

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    name_key: str = Field(max_length=200)  # lower-cased name: uniqueness and case-blind lookups
    type: str = Field(index=True, max_length=40)
    category: str = Field(index=True, max_length=100)
    framework: str = Field(index=True, max_length=60)
    architecture: str | None = Field(default=None, max_length=120)
    version: str | None = Field(default=None, max_length=20)  # production version, else the highest
    status: str = Field(default="development", index=True, max_length=20)
    deployment_type: str | None = Field(default=None, max_length=20)
    parameters: int | None = Field(default=None, index=True, sa_type=BigInteger)
    context_length: int | None = Field(default=None, index=True)
    capabilities: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    documentation: str | None = Field(default=None, max_length=500)
    paper: str | None = Field(default=None, max_length=500)
    license: str | None = Field(default=None, index=True, max_length=100)
    training: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    performance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    pricing: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    deployment: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    accuracy: float | None = Field(default=None, index=True)
    sort_accuracy: float = -1.0  # accuracy, or -1 when unknown
    sort_parameters: int = Field(default=-1, sa_type=BigInteger)  # parameters, or -1 when unknown
    # Bumped by every stage move; a conditional UPDATE on it makes each move apply to the state it read.
    stage_revision: int = 0
    created_by: str | None = Field(default=None, index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    deleted_at: datetime | None = Field(default=None, index=True)
    deleted_by: str | None = Field(default=None, max_length=40)


class ModelLabel(SQLModel, table=True):
    """Tags, capabilities and endpoints of a model, one row each, so filters on them use an index."""

    __tablename__ = "catalog_model_label"
    __table_args__ = (Index("ix_catalog_model_label_kind_value", "kind", "value", "model_id"),)

    model_id: str = Field(foreign_key="catalog_model.id", primary_key=True, max_length=40)
    kind: str = Field(primary_key=True, max_length=16)  # tag | capability | endpoint
    value: str = Field(primary_key=True, max_length=80)


class ModelVersion(SQLModel, table=True):
    """One semantic version of a model; MAJOR/MINOR/PATCH are integer columns so SQL sorts them."""

    __tablename__ = "catalog_model_version"
    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_catalog_model_version_model_id_version"),
        Index("ix_catalog_model_version_semver", "model_id", "major", "minor", "patch"),
        # At most one production version per model, whatever races happen above.
        Index("uq_catalog_model_version_one_production", "model_id", unique=True,
              sqlite_where=text("stage = 'production'"), postgresql_where=text("stage = 'production'")),
    )

    id: str = Field(primary_key=True, max_length=40)
    model_id: str = Field(foreign_key="catalog_model.id", index=True, max_length=40)
    version: str = Field(max_length=20)
    major: int
    minor: int
    patch: int
    stage: str = Field(default="none", max_length=16)
    stage_changed_at: datetime = Field(default_factory=utcnow)
    source: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    hyperparameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notes: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The artifact: stored under a server-made id, never under a client's file name.
    artifact_id: str | None = Field(default=None, max_length=40)
    artifact_format: str | None = Field(default=None, max_length=16)  # safetensors | onnx | opaque
    artifact_size: int | None = Field(default=None, sa_type=BigInteger)
    artifact_sha256: str | None = Field(default=None, max_length=64)
    artifact_file_name: str | None = Field(default=None, max_length=200)  # sanitised, shown only
    artifact_details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    artifact_uploaded_at: datetime | None = None
    artifact_uploaded_by: str | None = Field(default=None, max_length=40)
    artifact_integrity: str | None = Field(default=None, max_length=16)  # ok | mismatch | missing
    artifact_verified_at: datetime | None = None
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class StageHistory(SQLModel, table=True):
    """Which version held which stage from when to when, who moved it there and why.

    A row is open (`ended_at` NULL) while the version holds the stage; a move closes it and opens
    the next one at the same instant, so "what was in production at T" is one range query.
    """

    __tablename__ = "catalog_model_stage_history"
    __table_args__ = (
        Index("ix_catalog_model_stage_history_model_started", "model_id", "started_at", "id"),
        Index("ix_catalog_model_stage_history_model_stage", "model_id", "stage", "ended_at"),
        Index("uq_catalog_model_stage_history_open", "version_id", unique=True,
              sqlite_where=text("ended_at IS NULL"), postgresql_where=text("ended_at IS NULL")),
    )

    id: str = Field(primary_key=True, max_length=40)
    model_id: str = Field(foreign_key="catalog_model.id", max_length=40)
    version_id: str = Field(foreign_key="catalog_model_version.id", max_length=40)
    version: str = Field(max_length=20)
    stage: str = Field(max_length=16)
    from_stage: str | None = Field(default=None, max_length=16)
    action: str = Field(max_length=24)  # register | promote | demote | replaced | rollback
    started_at: datetime
    ended_at: datetime | None = None
    moved_by: str | None = Field(default=None, max_length=40)
    moved_by_name: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, max_length=1000)


class ModelActivity(SQLModel, table=True):
    """An activity event (view, download, new version, deployment, prediction...) feeding trending
    and recommendations. Bookkeeping: not audited (mutations it accompanies are)."""

    __tablename__ = "catalog_model_activity"
    __audited__ = False
    __table_args__ = (
        Index("ix_catalog_model_activity_hour", "hour_bucket", "model_id"),
        Index("ix_catalog_model_activity_user", "user_id", "occurred_at"),
        Index("ix_catalog_model_activity_model", "model_id", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    model_id: str = Field(foreign_key="catalog_model.id", max_length=40)
    user_id: str | None = Field(default=None, max_length=40)
    kind: str = Field(max_length=16)
    count: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    hour_bucket: int  # hours since the epoch: SQL groups by it the same way on every database


class ModelEmbedding(SQLModel, table=True):
    """The sentence embedding of a model's text (float32, L2-normalised), computed in the background."""

    __tablename__ = "catalog_model_embedding"
    __audited__ = False  # derived data, recomputed from the audited model row

    model_id: str = Field(foreign_key="catalog_model.id", primary_key=True, max_length=40)
    encoder: str = Field(max_length=80)
    dimensions: int
    vector: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    text_sha256: str = Field(max_length=64)
    embedded_at: datetime = Field(default_factory=utcnow, index=True)


# Ranked searches and facet counts are cached until a model or its labels change (see core.cache).
MODELS_GENERATION = "catalog.models"
track_changes(MODELS_GENERATION, RegisteredModel, ModelLabel)
