"""Platform lineage tables, shaped like W3C PROV: entities, activities and the relations between them.

Lineage is history: rows are never deleted (a deleted dataset keeps its place in the graph of the
models trained on it). Every write accompanies the audited action that caused it, so the tables
stay audited: a transaction that records lineage without an audit record fails its commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.core.timeutil import utcnow

ENTITY_KINDS = ("dataset", "dataset_version", "model", "model_version", "run", "job", "endpoint", "generated_app")
ACTIVITY_KINDS = ("upload", "transform", "restore", "split", "register", "train", "deploy", "batch_predict",
                  "generate")
# PROV's relations, plus hadMember (PROV collections) tying a model or dataset to its versions.
# wasAssociatedWith is the activity's agent, kept on the activity row (the agents are users).
RELATIONS = ("used", "wasGeneratedBy", "wasDerivedFrom", "hadMember")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class LineageEntity(SQLModel, table=True):
    """A thing the platform holds (dataset, model, their versions, runs, jobs, endpoints, generated apps).

    `ref` is the id the platform knows it by: the dataset's or model's id, `<dataset id>@<number>`,
    `<model id>@<version>`, the run's, job's, endpoint's or app's id.
    """

    __tablename__ = "lineage_entity"
    __table_args__ = (
        UniqueConstraint("ref", "kind"),
        CheckConstraint(_one_of("kind", ENTITY_KINDS), name="kind"),
    )

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=24)
    ref: str = Field(max_length=160)
    label: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class LineageActivity(SQLModel, table=True):
    """Something that happened to entities (an upload, a transform, a registration, a training...):
    who did it (PROV's wasAssociatedWith) and when. `key` makes recording it again a no-op."""

    __tablename__ = "lineage_activity"
    __table_args__ = (
        UniqueConstraint("key", "kind"),
        CheckConstraint(_one_of("kind", ACTIVITY_KINDS), name="kind"),
    )

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=24)
    key: str | None = Field(default=None, max_length=160)
    label: str = Field(max_length=200)
    agent_id: str | None = Field(default=None, max_length=40)
    agent_name: str | None = Field(default=None, max_length=64)
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None


class LineageRelation(SQLModel, table=True):
    """One PROV statement `subject relation object`: an entity wasGeneratedBy an activity, an activity
    used an entity, an entity wasDerivedFrom or hadMember another entity. Ids are entity or activity ids."""

    __tablename__ = "lineage_relation"
    __table_args__ = (
        UniqueConstraint("subject_id", "relation", "object_id"),
        Index("ix_lineage_relation_object_id", "object_id", "relation"),
        CheckConstraint(_one_of("relation", RELATIONS), name="relation"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_id: str = Field(max_length=40)
    relation: str = Field(max_length=24)
    object_id: str = Field(max_length=40)
    created_at: datetime = Field(default_factory=utcnow)
