"""Wire documents of the platform lineage: entities, activities, the graph and provenance queries."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

EntityKind = Literal["dataset", "dataset_version", "model", "model_version", "run", "job", "endpoint",
                     "generated_app"]
NodeKind = Literal["dataset", "dataset_version", "model", "model_version", "run", "job", "endpoint",
                   "generated_app", "activity", "agent"]
ActivityKind = Literal["upload", "transform", "restore", "split", "register", "train", "deploy", "batch_predict",
                       "generate"]
EdgeRelation = Literal["used", "wasGeneratedBy", "wasDerivedFrom", "hadMember", "wasAssociatedWith"]
Direction = Literal["ancestors", "descendants", "both"]
MAX_DEPTH = 10
Depth = Annotated[int, Field(ge=1, le=MAX_DEPTH)]
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:@\-]+$")]


class EntityRead(ReadModel):
    id: str = Field(description="`kind:ref`, unique on the platform", examples=["dataset_version:dataset_1@2"])
    kind: EntityKind
    ref: str = Field(description="The id the owning domain knows it by", examples=["dataset_1@2"])
    label: str
    href: str | None = Field(default=None, description="The page that shows it, where there is one")
    content_hash: str | None = Field(default=None, description="sha256 of its content as recorded by its domain "
                                     "(a dataset version's Parquet blob, a model version's artifact); null for "
                                     "runs, jobs, endpoints and apps", examples=["3f1c…"])


class ActivityRead(ReadModel):
    id: str
    kind: ActivityKind = Field(examples=["transform"])
    label: str
    agent_id: str | None = None
    agent_name: str | None = Field(default=None, description="Who did it (PROV wasAssociatedWith)")
    started_at: UtcDateTime
    ended_at: UtcDateTime | None = None


class GraphNode(ReadModel):
    id: str = Field(description="`kind:ref` for entities, the activity id, or `agent:<user id>`")
    kind: NodeKind
    label: str
    ref: str | None = None
    href: str | None = None
    hidden: bool = Field(default=False, description="You may not read it: its label is withheld")
    depth: int = Field(description="Steps from the entity asked about; negative for ancestors, 0 for it")
    detail: str | None = Field(default=None, description="For activities: who and when")
    content_hash: str | None = Field(default=None, description="sha256 of an entity's recorded content, where it has one")


class GraphEdge(ReadModel):
    source: str
    target: str
    relation: EdgeRelation


class LineageGraph(ReadModel):
    """The PROV graph around one entity: edges point from effect to cause (used, wasGeneratedBy,
    wasDerivedFrom), from a collection to its members (hadMember) and from activities to agents."""

    root: str
    depth: int
    truncated: bool = Field(description="True when nodes beyond the limit were left out")
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class RelatedEntity(EntityRead):
    distance: int = Field(description="Steps from the entity asked about")
    recorded_at: UtcDateTime | None = Field(default=None, description="When the lineage first recorded it")


class ProvenanceQuery(InputModel):
    entity: EntityId = Field(description="`kind:ref` or a ref alone", examples=["model:model_1"])
    direction: Literal["ancestors", "descendants"] = "ancestors"
    depth: Depth = 3
    kinds: list[EntityKind] = Field(default_factory=list, max_length=8,
                                    description="Only these kinds in the answer (all when empty)")
    since: UtcDateTime | None = Field(default=None, description="Only entities recorded at or after this instant")
    until: UtcDateTime | None = Field(default=None, description="Only entities recorded before this instant")


class ProvenanceQueryResult(ReadModel):
    entity: EntityRead
    direction: Literal["ancestors", "descendants"]
    depth: int
    items: list[RelatedEntity]


class Provenance(ReadModel):
    """One entity's own provenance: what generated it, what it derives from, what used it."""

    entity: EntityRead
    generated_by: list[ActivityRead]
    derived_from: list[EntityRead]
    members: list[EntityRead]
    member_of: list[EntityRead]
    used_by: list[ActivityRead]
    derivatives: list[EntityRead]


class ProvenanceRecord(ActivityRead):
    """One activity as a provenance record: who did what, when, with what, producing what."""

    used: list[EntityRead] = Field(description="What it used (PROV used)")
    generated: list[EntityRead] = Field(description="What it produced (PROV wasGeneratedBy)")
    withheld: int = Field(default=0, description="Entities it touched that you may not read, left out")


class IntegrityFinding(ReadModel):
    """One dataset version a model version was trained from, re-hashed now."""

    model_version: EntityRead
    dataset_version: EntityRead
    recorded_hash: str | None = Field(description="The sha256 recorded when the dataset version was made "
                                      "(and so when the model was trained from it)")
    current_hash: str | None = Field(description="The sha256 of the stored file now; null when it is missing")
    status: Literal["ok", "mismatch", "missing", "unchecked"] = Field(
        description="`mismatch`: the file's bytes changed; `missing`: no file; `unchecked`: over the check's limit")


class IntegrityReport(ReadModel):
    """Whether the data models were trained from is still the data the lineage recorded."""

    checked_at: UtcDateTime
    intact: bool = Field(description="True when every finding is `ok`")
    files_checked: int = Field(description="Distinct dataset files re-hashed")
    findings: list[IntegrityFinding]
