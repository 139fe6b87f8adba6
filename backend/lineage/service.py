"""Platform lineage, shaped like W3C PROV: which activity generated an entity, what it used, who ran
it and when, what derives from what; asked for ancestors and descendants to a depth.

Entities are named `kind:ref` (`dataset_version:dataset_1@2`, `model_version:model_1@1.0.0`). The
owning domain records them when it creates them and checks that the things it refers to exist;
lineage then joins only entities it holds (a `Ref` without a label must be recorded already, or
LINEAGE_002). Writes only add rows (flushed with the caller's other changes) and never audit: they
accompany the audited action that caused them.

Call points for the domains (each returns the activity; keyword-only, session first, actor explicit):

- `record_activity(session=, actor=, kind=, used=[...], generated=[...], key=, label=)` the general
  form: `generated` entities wasGeneratedBy the activity and wasDerivedFrom every `used` one.
- `record_training(session=, actor=, run=Ref("run", run_id, "Run 12"), inputs=[dataset versions],
  outputs=[model versions])` a training run (or tuning trial): the run is used as the code's record.
- `record_deployment(session=, actor=, model_version=Ref("model_version", "model_1@1.0.0"),
  endpoint=Ref("endpoint", endpoint_id, "Churn API"))` a model version served by an endpoint.
- `record_batch_prediction(session=, actor=, job=Ref("job", job_id, "Scoring"), model_version=...,
  inputs=[dataset versions], outputs=[the dataset version written])`.
- `record_generated_app(session=, actor=, app=Ref("generated_app", app_id, "Churn dashboard"),
  models=[model versions])`.
- `add_member(session=, collection=Ref("model", ...), member=Ref("model_version", ...))` ties a
  model or dataset to a version (PROV hadMember); `record_entity` names or renames an entity.

Readers: `entity_graph` (the model and dataset pages; needs the entity's own read permission),
`provenance_graph`, `provenance` and `query` (the governance routes; also need `lineage:read`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy import inspect as sa_inspect
from sqlmodel import Session, col, select

from backend.core.authorization import Principal, authorize, is_authorized
from backend.core.errors import AISystemError, InvalidRequest, PermissionDenied
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import isoformat_z, utcnow
from backend.core.unit_of_work import append, new_row, transaction_memo
from backend.lineage.models import (
    ACTIVITY_KINDS,
    ENTITY_KINDS,
    LineageActivity,
    LineageEntity,
    LineageRelation,
)
from backend.lineage.schemas import (
    MAX_DEPTH,
    ActivityRead,
    EntityRead,
    GraphEdge,
    GraphNode,
    LineageGraph,
    Provenance,
    ProvenanceQuery,
    ProvenanceQueryResult,
    ProvenanceRecord,
    RelatedEntity,
)

LINEAGE_READ = "lineage:read"
MAX_NODES = 500
# The permission that reads each kind; kinds whose domain is not built yet need lineage:read.
READ_PERMISSION = {"dataset": "dataset:read", "dataset_version": "dataset:read", "model": "model:read",
                   "model_version": "model:read", "run": "experiment:read", "job": "job:read",
                   "endpoint": "endpoint:read", "generated_app": LINEAGE_READ}
# Records of how something ran: used by an activity, never what its results derive from.
PROCESS_KINDS = ("run", "job")
ACTIVITY_LABELS = {"upload": "Upload", "transform": "Transform", "restore": "Restore", "split": "Split",
                   "register": "Registration", "train": "Training", "deploy": "Deployment",
                   "batch_predict": "Batch prediction", "generate": "Generation"}


@dataclass(frozen=True)
class Ref:
    """An entity named by kind and ref; with a label it is recorded (or renamed) when used. `new` says
    the thing was created in this transaction, so the lineage cannot hold it yet and is not asked."""

    kind: str
    ref: str
    label: str | None = None
    new: bool = field(default=False, compare=False)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.ref}"


def dataset_version_ref(dataset_id: str, number: int, label: str | None = None) -> Ref:
    return Ref("dataset_version", f"{dataset_id}@{number}", label)


def model_version_ref(model_id: str, version: str, label: str | None = None, *, new: bool = False) -> Ref:
    return Ref("model_version", f"{model_id}@{version}", label, new)


def href(kind: str, ref: str) -> str | None:
    """The page that shows an entity (the UI's routes), where one exists."""
    owner = ref.split("@", 1)[0]
    return {"dataset": f"/catalog/datasets/{ref}", "dataset_version": f"/catalog/datasets/{owner}?tab=versions",
            "model": f"/catalog/models/{ref}", "model_version": f"/catalog/models/{owner}?tab=versions"}.get(kind)


def not_found(entity_id: str) -> AISystemError:
    return AISystemError("LINEAGE_001", "No such entity in the lineage", {"entity": str(entity_id)[:200]})


# --- writing ---------------------------------------------------------------------------------------------


# Writers remember, for the rest of their transaction, the entities they found or created and the
# relations they added: a registration names the same model several times and asks nothing twice.
_ENTITIES = "lineage_entities"  # (kind, ref) → LineageEntity
_CREATED = "lineage_created"  # ids of entities and activities created in this transaction
_RELATIONS = "lineage_relations"  # (subject id, relation, object id) known to exist


# Built once: every write that records lineage looks entities up.
_ENTITY_BY_REF = select(LineageEntity).where(LineageEntity.ref == bindparam("ref"), LineageEntity.kind == bindparam("kind"))


def find_entity(*, session: Session, kind: str, ref: str) -> LineageEntity | None:
    known = transaction_memo(session, _ENTITIES)
    if (kind, ref) not in known:
        # No autoflush: an entity this transaction created is in the memo, not only among its pending rows.
        with session.no_autoflush:
            row = session.exec(_ENTITY_BY_REF, params={"ref": ref, "kind": kind}).first()
        if row is None:
            return None
        known[(kind, ref)] = row
    return known[(kind, ref)]


def record_entity(*, session: Session, kind: str, ref: str, label: str, new: bool = False) -> LineageEntity:
    """Record an entity, or rename it when its label changed (idempotent). With `new` the caller
    created the thing in this transaction, so it is recorded without looking for it first."""
    if kind not in ENTITY_KINDS:
        raise AISystemError("LINEAGE_002", f"Unknown entity kind '{kind[:40]}'", {"kind": kind[:40]})
    label = (label or ref)[:200]
    row = transaction_memo(session, _ENTITIES).get((kind, ref)) if new else find_entity(session=session, kind=kind, ref=ref)
    if row is None:
        row = new_row(LineageEntity, id=new_id("lent"), kind=kind, ref=ref[:160], label=label)
        append(session, row)
        transaction_memo(session, _ENTITIES)[(kind, ref)] = row
        transaction_memo(session, _CREATED)[row.id] = True
        return row
    if row.label == label:
        return row
    row.label = label
    if sa_inspect(row).transient:  # appended in this transaction, perhaps written already: say it in SQL
        session.exec(update(LineageEntity).where(LineageEntity.id == row.id).values(label=label))
    else:
        session.add(row)
    return row


def _entity(session: Session, ref: Ref) -> LineageEntity:
    if ref.label is not None or ref.new:
        return record_entity(session=session, kind=ref.kind, ref=ref.ref, label=ref.label or ref.ref, new=ref.new)
    row = find_entity(session=session, kind=ref.kind, ref=ref.ref)
    if row is None:
        raise AISystemError("LINEAGE_002", f"{ref.key[:200]} is not recorded in the lineage", {"entity": ref.key[:200]})
    return row


def _relate(session: Session, subject_id: str, relation: str, object_id: str) -> None:
    known = transaction_memo(session, _RELATIONS)
    if subject_id == object_id or (subject_id, relation, object_id) in known:
        return
    known[(subject_id, relation, object_id)] = True
    created = transaction_memo(session, _CREATED)
    if subject_id not in created and object_id not in created:
        with session.no_autoflush:  # the relations this transaction added are in the memo
            if session.exec(select(LineageRelation.id).where(
                    LineageRelation.subject_id == subject_id, LineageRelation.relation == relation,
                    LineageRelation.object_id == object_id)).first() is not None:
                return
    append(session, new_row(LineageRelation, subject_id=subject_id, relation=relation, object_id=object_id))


def add_member(*, session: Session, collection: Ref, member: Ref) -> None:
    """`collection` (a model or dataset) hadMember `member` (one of its versions)."""
    _relate(session, _entity(session, collection).id, "hadMember", _entity(session, member).id)


def derive(*, session: Session, entity: Ref, sources: Iterable[Ref]) -> None:
    """`entity` wasDerivedFrom each of `sources`, with no activity in between (metadata that names them)."""
    row = _entity(session, entity)
    for source in sources:
        _relate(session, row.id, "wasDerivedFrom", _entity(session, source).id)


def record_activity(*, session: Session, actor: Principal | None, kind: str, used: Sequence[Ref] = (),
                    generated: Sequence[Ref] = (), key: str | None = None, label: str | None = None,
                    started_at: datetime | None = None, ended_at: datetime | None = None,
                    derived: bool = True, key_is_new: bool = False) -> LineageActivity:
    """Record that `actor` ran an activity that used and generated entities; the generated ones
    wasDerivedFrom the used ones unless `derived` is False. With a `key` a second call adds only
    what is missing to the first one's activity; a key that names something created in this
    transaction (`key_is_new`) cannot have an activity yet and is not looked up."""
    if kind not in ACTIVITY_KINDS:
        raise AISystemError("LINEAGE_002", f"Unknown activity kind '{kind[:40]}'", {"kind": kind[:40]})
    inputs = [_entity(session, ref) for ref in used]
    outputs = [_entity(session, ref) for ref in generated]
    activity = None
    if key is not None and not key_is_new:
        activity = session.exec(select(LineageActivity).where(LineageActivity.key == key,
                                                              LineageActivity.kind == kind)).first()
    if activity is None:
        activity = new_row(
            LineageActivity, id=new_id("lact"), kind=kind, key=key, label=(label or ACTIVITY_LABELS[kind])[:200],
            agent_id=getattr(actor, "user_id", None), agent_name=getattr(actor, "username", None),
            started_at=started_at or utcnow(), ended_at=ended_at)
        append(session, activity)
        transaction_memo(session, _CREATED)[activity.id] = True
    for entity in inputs:
        _relate(session, activity.id, "used", entity.id)
    for entity in outputs:
        _relate(session, entity.id, "wasGeneratedBy", activity.id)
        for source in inputs if derived else ():
            if source.kind not in PROCESS_KINDS:
                _relate(session, entity.id, "wasDerivedFrom", source.id)
    return activity


def record_training(*, session: Session, actor: Principal, run: Ref, inputs: Sequence[Ref],
                    outputs: Sequence[Ref], started_at: datetime | None = None,
                    ended_at: datetime | None = None) -> LineageActivity:
    """A training run (or tuning trial) used `inputs` (dataset versions, a parent model version) and
    generated `outputs` (model versions); the run itself is recorded as what the activity used."""
    return record_activity(session=session, actor=actor, kind="train", used=[run, *inputs], generated=outputs,
                           key=run.ref, label=f"Training {run.label or run.ref}", started_at=started_at,
                           ended_at=ended_at)


def record_deployment(*, session: Session, actor: Principal, model_version: Ref, endpoint: Ref) -> LineageActivity:
    """An endpoint now serves `model_version`: the endpoint wasDerivedFrom it."""
    return record_activity(session=session, actor=actor, kind="deploy", used=[model_version], generated=[endpoint],
                           key=f"{endpoint.ref}<{model_version.ref}", label=f"Deployment to {endpoint.label or endpoint.ref}")


def record_batch_prediction(*, session: Session, actor: Principal, job: Ref, model_version: Ref,
                            inputs: Sequence[Ref], outputs: Sequence[Ref]) -> LineageActivity:
    """A batch-prediction job ran `model_version` on `inputs` and wrote `outputs` (dataset versions)."""
    return record_activity(session=session, actor=actor, kind="batch_predict", used=[job, model_version, *inputs],
                           generated=outputs, key=job.ref, label=f"Batch prediction {job.label or job.ref}")


def record_generated_app(*, session: Session, actor: Principal, app: Ref, models: Sequence[Ref]) -> LineageActivity:
    """The generator built `app` around `models` (model versions)."""
    return record_activity(session=session, actor=actor, kind="generate", used=models, generated=[app],
                           key=app.ref, label=f"Generation of {app.label or app.ref}")


# --- reading ---------------------------------------------------------------------------------------------


def _owner(ref: str) -> str:
    """The model or dataset a version's ref belongs to (`model_1@1.0.0` -> `model_1`)."""
    return ref.split("@", 1)[0]


def _family(session: Session, kind: str, refs: Sequence[str]) -> dict[str, str]:
    """Entity id -> owner ref, for the entities of `kind` named by `refs` and all their members."""
    owners = {e.id: e.ref for e in session.exec(select(LineageEntity).where(
        LineageEntity.kind == kind, col(LineageEntity.ref).in_(list(refs)))).all()} if refs else {}
    for r in _relations(session, "subject_id", list(owners), ("hadMember",)):
        owners[r.object_id] = owners[r.subject_id]
    return owners


def derivations(*, session: Session, kind: str, refs: Sequence[str], source_kind: str) -> list[tuple[str, str]]:
    """(ref, source ref) for each time an entity of `kind` in `refs`, or one of its versions, was derived
    directly from a `source_kind` entity or one of its versions: e.g. the datasets models were trained on."""
    owners = _family(session, kind, refs)
    derived = _relations(session, "subject_id", list(owners), ("wasDerivedFrom",))
    sources = {e.id: e.ref for e in session.exec(select(LineageEntity).where(
        col(LineageEntity.id).in_([r.object_id for r in derived]),
        col(LineageEntity.kind).in_([source_kind, f"{source_kind}_version"]))).all()} if derived else {}
    return sorted({(owners[r.subject_id], _owner(sources[r.object_id])) for r in derived if r.object_id in sources})


def derived_owners(*, session: Session, kind: str, ref: str, derived_kind: str, limit: int = 200) -> list[str]:
    """Refs of the `derived_kind` entities (or their owners, for versions) derived directly from the
    entity of `kind` named `ref` or one of its versions: e.g. the models trained on a dataset."""
    family = _family(session, kind, [ref])
    derived = _relations(session, "object_id", list(family), ("wasDerivedFrom",))
    rows = session.exec(select(LineageEntity.ref).where(
        col(LineageEntity.id).in_([r.subject_id for r in derived]),
        col(LineageEntity.kind).in_([derived_kind, f"{derived_kind}_version"]))).all() if derived else []
    return sorted({_owner(r) for r in rows})[:limit]


def _parse(entity_id: str) -> tuple[str | None, str]:
    kind, sep, ref = entity_id.partition(":")
    return (kind, ref) if sep and kind in ENTITY_KINDS else (None, entity_id)


def get_entity(*, session: Session, actor: Principal, entity_id: str) -> LineageEntity:
    """The entity named `kind:ref` (or by its ref alone), which `actor` may read; LINEAGE_001 when
    it is not recorded or is hidden by its domain's rules, AUTH_002 when the role may not read its kind."""
    kind, ref = _parse(entity_id)
    query = select(LineageEntity).where(LineageEntity.ref == ref)
    rows = session.exec(query.where(LineageEntity.kind == kind) if kind else query.limit(2)).all()
    if len(rows) != 1:
        raise not_found(entity_id)
    row = rows[0]
    permission = READ_PERMISSION[row.kind]
    if not actor.can(permission):
        raise PermissionDenied(permission)
    if not _may_read(actor, row):
        raise not_found(entity_id)  # as its own domain does: what you may not see does not exist
    return row


def _may_read(actor: Principal, row: LineageEntity) -> bool:
    return is_authorized(actor, READ_PERMISSION[row.kind], row)


def entity_read(row: LineageEntity) -> EntityRead:
    return EntityRead(id=f"{row.kind}:{row.ref}", kind=row.kind, ref=row.ref, label=row.label,
                      href=href(row.kind, row.ref))


def _activity_read(row: LineageActivity) -> ActivityRead:
    return ActivityRead.model_validate(row)


@dataclass
class _Walk:
    """What a walk found: entity and activity ids with their signed column, and the relations crossed."""

    entities: dict[str, int] = field(default_factory=dict)
    activities: dict[str, int] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    truncated: bool = False


def _relations(session: Session, column: str, ids: Iterable[str], relations: tuple[str, ...]) -> list[LineageRelation]:
    ids = list(ids)
    if not ids:
        return []
    where = col(getattr(LineageRelation, column)).in_(ids)
    return list(session.exec(select(LineageRelation).where(where, col(LineageRelation.relation).in_(relations))
                             .order_by(col(LineageRelation.id))).all())


def _walk(session: Session, start: Iterable[str], *, ancestors: bool, depth: int, walk: _Walk) -> None:
    """Breadth first, two queries per level (entities, then the activities between them); every id is
    expanded once, so cycles end, and the walk stops at `depth` levels or MAX_NODES nodes."""
    sign = -1 if ancestors else 1
    seen = set(start)
    frontier = list(seen)
    for level in range(1, depth + 1):
        if not frontier:
            return
        if ancestors:  # effect -> cause: follow subject -> object
            first = _relations(session, "subject_id", frontier, ("wasDerivedFrom", "wasGeneratedBy"))
            via = [r.object_id for r in first if r.relation == "wasGeneratedBy"]
            second = _relations(session, "subject_id", via, ("used",))
            found = [r.object_id for r in first if r.relation == "wasDerivedFrom"] + [r.object_id for r in second]
        else:  # cause -> effect: follow object -> subject
            first = _relations(session, "object_id", frontier, ("wasDerivedFrom", "used"))
            via = [r.subject_id for r in first if r.relation == "used"]
            second = _relations(session, "object_id", via, ("wasGeneratedBy",))
            found = [r.subject_id for r in first if r.relation == "wasDerivedFrom"] + [r.subject_id for r in second]
        for activity in via:
            walk.activities.setdefault(activity, sign * (2 * level - 1))
        walk.edges.update((r.subject_id, r.relation, r.object_id) for r in (*first, *second))
        frontier = []
        for entity in found:
            if entity not in seen:
                seen.add(entity)
                frontier.append(entity)
                walk.entities.setdefault(entity, sign * 2 * level)
        if len(walk.entities) + len(walk.activities) > MAX_NODES:
            walk.truncated = True
            return


def _members(session: Session, collection_id: str) -> list[str]:
    return [r.object_id for r in _relations(session, "subject_id", [collection_id], ("hadMember",))]


def _check_depth(depth: int) -> int:
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidRequest(f"depth must be between 1 and {MAX_DEPTH}", {"depth": f"1 to {MAX_DEPTH}"})
    return depth


def entity_graph(*, session: Session, actor: Principal, entity_id: str, depth: int = 3,
                 direction: str = "both", agents: bool = False) -> LineageGraph:
    """The PROV graph around an entity and its members (a model's versions, a dataset's versions):
    ancestors and descendants to `depth` steps, each version joined to its model or dataset. Nodes
    `actor` may not read are kept, with their label withheld."""
    root = get_entity(session=session, actor=actor, entity_id=entity_id)
    _check_depth(depth)
    start = [root.id, *_members(session, root.id)]
    walk = _Walk(entities=dict.fromkeys(start, 0))
    walk.edges.update((root.id, "hadMember", member) for member in start[1:])
    if direction in ("ancestors", "both"):
        _walk(session, start, ancestors=True, depth=depth, walk=walk)
    if direction in ("descendants", "both"):
        _walk(session, start, ancestors=False, depth=depth, walk=walk)
    # Each version found is shown inside its model or dataset (not walked further).
    for r in _relations(session, "object_id", [e for e in walk.entities if e not in start], ("hadMember",)):
        walk.entities.setdefault(r.subject_id, walk.entities[r.object_id])
        walk.edges.add((r.subject_id, r.relation, r.object_id))
    return _graph_document(session, actor, root, depth, walk, agents=agents)


def _graph_document(session: Session, actor: Principal, root: LineageEntity, depth: int, walk: _Walk, *,
                    agents: bool) -> LineageGraph:
    entities = {e.id: e for e in session.exec(select(LineageEntity).where(
        col(LineageEntity.id).in_(list(walk.entities)))).all()}
    activities = {a.id: a for a in session.exec(select(LineageActivity).where(
        col(LineageActivity.id).in_(list(walk.activities)))).all()}
    names: dict[str, str] = {}
    nodes: list[GraphNode] = []
    for entity_id, column in sorted(walk.entities.items(), key=lambda item: (item[1], item[0])):
        row = entities[entity_id]
        names[entity_id] = f"{row.kind}:{row.ref}"
        readable = _may_read(actor, row)
        nodes.append(GraphNode(id=names[entity_id], kind=row.kind, ref=row.ref if readable else None,
                               label=row.label if readable else f"Hidden {row.kind.replace('_', ' ')}",
                               href=href(row.kind, row.ref) if readable else None, hidden=not readable,
                               depth=column))
    edges = []
    for activity_id, column in sorted(walk.activities.items(), key=lambda item: (item[1], item[0])):
        row = activities[activity_id]
        names[activity_id] = row.id
        who = f"by {row.agent_name}, " if row.agent_name else ""
        nodes.append(GraphNode(id=row.id, kind="activity", label=row.label, ref=row.kind, depth=column,
                               detail=f"{who}{isoformat_z(row.started_at)}"))
        if agents and row.agent_id:
            agent = f"agent:{row.agent_id}"
            if agent not in names.values():
                names[agent] = agent
                nodes.append(GraphNode(id=agent, kind="agent", label=row.agent_name or row.agent_id,
                                       depth=column))
            edges.append(GraphEdge(source=row.id, target=agent, relation="wasAssociatedWith"))
    edges += [GraphEdge(source=names[s], target=names[o], relation=relation)
              for s, relation, o in sorted(walk.edges) if s in names and o in names]
    return LineageGraph(root=f"{root.kind}:{root.ref}", depth=depth, truncated=walk.truncated, nodes=nodes,
                        edges=edges)


def provenance_graph(*, session: Session, actor: Principal, entity_id: str, depth: int = 3,
                     direction: str = "both", agents: bool = False) -> LineageGraph:
    """`entity_graph` for the governance routes, which need `lineage:read` as well."""
    authorize(actor, LINEAGE_READ)
    return entity_graph(session=session, actor=actor, entity_id=entity_id, depth=depth, direction=direction,
                        agents=agents)


def provenance(*, session: Session, actor: Principal, entity_id: str) -> Provenance:
    """One entity's direct provenance: the activities that generated and used it, what it derives
    from and what derives from it, its members and collections. Unreadable neighbours are left out."""
    authorize(actor, LINEAGE_READ)
    row = get_entity(session=session, actor=actor, entity_id=entity_id)
    out = _relations(session, "subject_id", [row.id], ("wasGeneratedBy", "wasDerivedFrom", "hadMember"))
    into = _relations(session, "object_id", [row.id], ("used", "wasDerivedFrom", "hadMember"))
    neighbours = {e.id: e for e in session.exec(select(LineageEntity).where(col(LineageEntity.id).in_(
        [r.object_id for r in out] + [r.subject_id for r in into]))).all() if _may_read(actor, e)}
    acts = {a.id: a for a in session.exec(select(LineageActivity).where(col(LineageActivity.id).in_(
        [r.object_id for r in out] + [r.subject_id for r in into]))).all()}

    def entities(relations: list[LineageRelation], relation: str, end: str) -> list[EntityRead]:
        ids = [getattr(r, end) for r in relations if r.relation == relation]
        return [entity_read(neighbours[i]) for i in ids if i in neighbours]

    return Provenance(
        entity=entity_read(row),
        generated_by=[_activity_read(acts[r.object_id]) for r in out if r.relation == "wasGeneratedBy"],
        derived_from=entities(out, "wasDerivedFrom", "object_id"),
        members=entities(out, "hadMember", "object_id"),
        member_of=entities(into, "hadMember", "subject_id"),
        used_by=[_activity_read(acts[r.subject_id]) for r in into if r.relation == "used"],
        derivatives=entities(into, "wasDerivedFrom", "subject_id"),
    )


def related(*, session: Session, actor: Principal, entity_id: str, ancestors: bool, depth: int = 3,
            kinds: Sequence[str] = ()) -> tuple[LineageEntity, list[tuple[LineageEntity, int]]]:
    """The entity and its readable ancestors (or descendants) to `depth` steps, nearest first, with
    their distance; only `kinds` when given. A model's or dataset's versions count as itself."""
    root = get_entity(session=session, actor=actor, entity_id=entity_id)
    _check_depth(depth)
    start = [root.id, *_members(session, root.id)]
    walk = _Walk()
    _walk(session, start, ancestors=ancestors, depth=depth, walk=walk)
    rows = {e.id: e for e in session.exec(select(LineageEntity).where(
        col(LineageEntity.id).in_(list(walk.entities)))).all()}
    found = [(rows[i], abs(d) // 2) for i, d in walk.entities.items()
             if (not kinds or rows[i].kind in kinds) and _may_read(actor, rows[i])]
    return root, sorted(found, key=lambda item: (item[1], item[0].kind, item[0].ref))


def ancestors(*, session: Session, actor: Principal, entity_id: str, depth: int = 3,
              kinds: Sequence[str] = ()) -> list[tuple[LineageEntity, int]]:
    """What `entity_id` came from, to `depth` steps (see `related`)."""
    return related(session=session, actor=actor, entity_id=entity_id, ancestors=True, depth=depth, kinds=kinds)[1]


def descendants(*, session: Session, actor: Principal, entity_id: str, depth: int = 3,
                kinds: Sequence[str] = ()) -> list[tuple[LineageEntity, int]]:
    """What came from `entity_id`, to `depth` steps (see `related`)."""
    return related(session=session, actor=actor, entity_id=entity_id, ancestors=False, depth=depth, kinds=kinds)[1]


def query(*, session: Session, actor: Principal, request: ProvenanceQuery) -> ProvenanceQueryResult:
    """The governance query: ancestors or descendants of one entity, filtered by kind."""
    authorize(actor, LINEAGE_READ)
    root, found = related(session=session, actor=actor, entity_id=request.entity,
                          ancestors=request.direction == "ancestors", depth=request.depth, kinds=request.kinds)
    items = [RelatedEntity(**entity_read(row).model_dump(), distance=distance) for row, distance in found]
    return ProvenanceQueryResult(entity=entity_read(root), direction=request.direction, depth=request.depth,
                                 items=items)


def list_records(*, session: Session, actor: Principal, params: PageParams, kind: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 agent: str | None = None) -> tuple[list[ProvenanceRecord], str | None]:
    """Provenance records, newest first: each activity (of `kind`, or any; started in [`since`, `until`);
    run by the user named `agent`) with who ran it, what it used and what it generated. Entities the
    caller may not read are left out and counted in `withheld`."""
    authorize(actor, LINEAGE_READ)
    query = select(LineageActivity)
    if kind is not None:
        query = query.where(LineageActivity.kind == kind)
    if since is not None:
        query = query.where(LineageActivity.started_at >= since)
    if until is not None:
        query = query.where(LineageActivity.started_at < until)
    if agent:
        query = query.where(LineageActivity.agent_name == agent)
    rows, cursor = paginate(session, query, params=params, order=[LineageActivity.started_at, LineageActivity.id],
                            descending=True, parse=[datetime.fromisoformat, str])
    ids = [row.id for row in rows]
    used = _relations(session, "subject_id", ids, ("used",))
    generated = _relations(session, "object_id", ids, ("wasGeneratedBy",))
    entity_ids = {r.object_id for r in used} | {r.subject_id for r in generated}
    entities = {e.id: e for e in session.exec(select(LineageEntity).where(col(LineageEntity.id).in_(entity_ids)))}
    readable = {e.id for e in entities.values() if _may_read(actor, e)}
    touched: dict[str, tuple[list[str], list[str]]] = {row.id: ([], []) for row in rows}
    for relation in used:
        touched[relation.subject_id][0].append(relation.object_id)
    for relation in generated:
        touched[relation.object_id][1].append(relation.subject_id)

    def shown(entity_ids: list[str]) -> list[EntityRead]:
        return sorted((entity_read(entities[i]) for i in entity_ids if i in readable), key=lambda e: e.id)

    records = []
    for row in rows:
        inputs, outputs = touched[row.id]
        records.append(ProvenanceRecord(**_activity_read(row).model_dump(), used=shown(inputs), generated=shown(outputs),
                                        withheld=sum(i not in readable for i in (*inputs, *outputs))))
    return records, cursor
