"""Datasets, their immutable versions, access entries and the per-version profile cache."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

DATASET_TYPES = ("text", "image", "audio", "tabular")
DATASET_STATUSES = ("empty", "available", "deleted", "purged")  # purged: deleted, and its versions and files gone
SUBJECT_TYPES = ("user", "role", "department")
ACCESS_LEVELS = ("read", "write")


class Dataset(SQLModel, table=True):
    """A named dataset; its data lives in versions. `current_version` is the newest version number."""

    __tablename__ = "catalog_dataset"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(index=True, max_length=200)
    description: str = Field(default="", max_length=5000)
    type: str = Field(max_length=16)
    status: str = Field(default="empty", index=True, max_length=16)
    label_column: str | None = Field(default=None, max_length=256)
    # Descriptive metadata typed in by people: source, collection_period, languages, tags.
    descriptive: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    compliance: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    retention: str | None = Field(default=None, max_length=80)
    # Denormalised from the current version, for listing and sorting.
    current_version: int | None = None
    size_bytes: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    record_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_by: str = Field(index=True, max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    deleted_at: datetime | None = None


class DatasetVersion(SQLModel, table=True):
    """One immutable version: a content-addressed Parquet blob plus how it came to be."""

    __tablename__ = "catalog_dataset_version"
    __table_args__ = (UniqueConstraint("dataset_id", "number"),)

    id: str = Field(primary_key=True, max_length=40)
    dataset_id: str = Field(foreign_key="catalog_dataset.id", index=True, max_length=40)
    number: int
    blob_sha256: str = Field(index=True, max_length=64)
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    source_sha256: str | None = Field(default=None, index=True, max_length=64)
    source_format: str = Field(max_length=16)
    source_filename: str | None = Field(default=None, max_length=200)
    source_encoding: str | None = Field(default=None, max_length=16)
    source_compression: str | None = Field(default=None, max_length=8)  # gzip | bzip2 | zstd | zip
    # What the import found (separator, quoting, header, missing-value token, value formats) and the
    # options it ran with; a transform or restore inherits its parent's, so exports keep the formats.
    source_dialect: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    import_options: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    import_warnings: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    original_sha256: str | None = Field(default=None, max_length=64)  # the uploaded bytes, kept as a blob
    record_count: int = Field(sa_column=Column(BigInteger, nullable=False))
    column_count: int
    fields: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parent_number: int | None = None
    operation: str = Field(max_length=16)  # upload | transform | restore
    steps: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    message: str | None = Field(default=None, max_length=500)
    split: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    split_blob_sha256: str | None = Field(default=None, max_length=64)
    analysis: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    contains_pii: bool | None = None
    anonymized: bool = False
    created_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class DatasetAccess(SQLModel, table=True):
    """An ACL entry: a user, a role or a department may read (or read and write) the dataset."""

    __tablename__ = "catalog_dataset_access"
    __table_args__ = (UniqueConstraint("dataset_id", "subject_type", "subject"),)

    id: str = Field(primary_key=True, max_length=40)
    dataset_id: str = Field(foreign_key="catalog_dataset.id", index=True, max_length=40)
    subject_type: str = Field(max_length=16)
    subject: str = Field(max_length=80)
    permission: str = Field(max_length=8)
    granted_by: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)


class DatasetProfile(SQLModel, table=True):
    """Cached statistics/profile/quality of one version (derived data, recomputable: not audited)."""

    __tablename__ = "catalog_dataset_profile"
    __audited__ = False

    version_id: str = Field(primary_key=True, foreign_key="catalog_dataset_version.id", max_length=40)
    algorithm: str = Field(max_length=16)
    profile: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    computed_at: datetime = Field(default_factory=utcnow)
