"""The governance routes' provenance: the platform lineage (`backend.lineage.service`) with each entity's
content hash, time filters, and the training-data integrity check.

The lineage tables depend only on core; this module reads the owning domains to add what they
recorded about an entity's content:

- a dataset version's hash is the sha256 of its Parquet blob (`DatasetVersion.blob_sha256`, written
  when the version was made; versions are immutable, so it is the hash the data had when any model
  was trained from that version); a dataset's is its current version's;
- a model version's is the sha256 of its artifact (`ModelVersion.artifact_sha256`); a model's is its
  current version's (the production one, else the highest).

`training_data_integrity` re-hashes, through the artifact store, the dataset files that model
versions were trained from and reports each one whose bytes no longer match the recorded hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from backend.catalog.datasets import storage as dataset_storage
from backend.catalog.datasets.models import Dataset, DatasetVersion
from backend.catalog.model_registry.models import ModelVersion, RegisteredModel
from backend.core import artifacts
from backend.core.authorization import Principal, authorize
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.core.timeutil import to_utc, utcnow
from backend.lineage import service
from backend.lineage.models import LineageEntity, LineageRelation
from backend.lineage.schemas import (
    IntegrityFinding,
    IntegrityReport,
    LineageGraph,
    Provenance,
    ProvenanceQuery,
    ProvenanceQueryResult,
    ProvenanceRecord,
    RelatedEntity,
)

HASHED_KINDS = ("dataset", "dataset_version", "model", "model_version")
MAX_CHECKED_FILES = 200  # distinct dataset files re-hashed by one integrity check


def _split(ref: str) -> tuple[str, str]:
    owner, _, version = ref.partition("@")
    return owner, version


def content_hashes(session: Session, entities: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(kind, ref) -> the sha256 its domain recorded for its content, for the entities that have one."""
    wanted = {(kind, ref) for kind, ref in entities if kind in HASHED_KINDS}
    found: dict[tuple[str, str], str] = {}
    dataset_versions = {_split(r) for k, r in wanted if k == "dataset_version"}
    datasets = {r for k, r in wanted if k == "dataset"}
    current_of: dict[str, str] = {}
    if datasets:
        current = session.exec(select(Dataset.id, Dataset.current_version).where(col(Dataset.id).in_(datasets))).all()
        dataset_versions |= {(d, str(n)) for d, n in current if n is not None}
        current_of = {d: str(n) for d, n in current if n is not None}
    if dataset_versions:
        rows = session.exec(select(DatasetVersion.dataset_id, DatasetVersion.number, DatasetVersion.blob_sha256)
                            .where(col(DatasetVersion.dataset_id).in_({d for d, _ in dataset_versions}))).all()
        for dataset_id, number, sha in rows:
            found[("dataset_version", f"{dataset_id}@{number}")] = sha
        for dataset_id in datasets:
            sha = found.get(("dataset_version", f"{dataset_id}@{current_of.get(dataset_id)}"))
            if sha:
                found[("dataset", dataset_id)] = sha
    model_versions = {_split(r) for k, r in wanted if k == "model_version"}
    models = {r for k, r in wanted if k == "model"}
    model_current: dict[str, str] = {}
    if models:
        current = session.exec(select(RegisteredModel.id, RegisteredModel.version)
                               .where(col(RegisteredModel.id).in_(models))).all()
        model_versions |= {(m, v) for m, v in current if v}
        model_current = {m: v for m, v in current if v}
    if model_versions:
        rows = session.exec(select(ModelVersion.model_id, ModelVersion.version, ModelVersion.artifact_sha256)
                            .where(col(ModelVersion.model_id).in_({m for m, _ in model_versions}))).all()
        for model_id, version, sha in rows:
            if sha:
                found[("model_version", f"{model_id}@{version}")] = sha
        for model_id in models:
            sha = found.get(("model_version", f"{model_id}@{model_current.get(model_id)}"))
            if sha:
                found[("model", model_id)] = sha
    return {key: value for key, value in found.items() if key in wanted}


def _with_hashes(session: Session, items: Sequence) -> None:  # noqa: ANN001
    """Fill `content_hash` on entity documents (EntityRead, RelatedEntity, GraphNode) in place."""
    hashes = content_hashes(session, [(i.kind, i.ref) for i in items if i.ref])
    for item in items:
        if item.ref:
            item.content_hash = hashes.get((item.kind, item.ref))


# --- the routes' reads ------------------------------------------------------------------------------------


def list_records(*, session: Session, actor: Principal, params: PageParams, kind: str | None = None,
                 since: datetime | None = None, until: datetime | None = None,
                 agent: str | None = None) -> tuple[list[ProvenanceRecord], str | None]:
    """Provenance records (activities), newest first, filtered by kind, time and agent; every entity
    they used or generated carries its content hash."""
    records, cursor = service.list_records(session=session, actor=actor, params=params, kind=kind,
                                           since=since and to_utc(since), until=until and to_utc(until), agent=agent)
    _with_hashes(session, [e for r in records for e in (*r.used, *r.generated)])
    return records, cursor


def provenance(*, session: Session, actor: Principal, entity_id: str) -> Provenance:
    """One artifact's direct provenance, each entity with its content hash."""
    doc = service.provenance(session=session, actor=actor, entity_id=entity_id)
    _with_hashes(session, [doc.entity, *doc.derived_from, *doc.members, *doc.member_of, *doc.derivatives])
    return doc


def graph(*, session: Session, actor: Principal, entity_id: str, depth: int = 3, direction: str = "both",
          agents: bool = False) -> LineageGraph:
    """The PROV graph around an entity (nodes and edges), entity nodes with their content hash."""
    doc = service.provenance_graph(session=session, actor=actor, entity_id=entity_id, depth=depth,
                                   direction=direction, agents=agents)
    _with_hashes(session, [n for n in doc.nodes if n.kind not in ("activity", "agent") and not n.hidden])
    return doc


def query(*, session: Session, actor: Principal, request: ProvenanceQuery) -> ProvenanceQueryResult:
    """Ancestors or descendants to a depth, filtered by kind and by when the lineage recorded them."""
    authorize(actor, service.LINEAGE_READ)
    root, found = service.related(session=session, actor=actor, entity_id=request.entity,
                                  ancestors=request.direction == "ancestors", depth=request.depth,
                                  kinds=request.kinds)
    since, until = (request.since and to_utc(request.since)), (request.until and to_utc(request.until))
    items = []
    for row, distance in found:
        recorded = to_utc(row.created_at)
        if (since and recorded < since) or (until and recorded >= until):
            continue
        items.append(RelatedEntity(**service.entity_read(row).model_dump(), distance=distance, recorded_at=recorded))
    entity = service.entity_read(root)
    _with_hashes(session, [entity, *items])
    return ProvenanceQueryResult(entity=entity, direction=request.direction, depth=request.depth, items=items)


# --- training-data integrity ------------------------------------------------------------------------------


@dataclass
class _Trained:
    model_version: LineageEntity
    dataset_version: LineageEntity


def _rehash(sha256: str) -> tuple[str, str | None]:
    """('ok' | 'mismatch' | 'missing', the sha256 of the stored bytes now)."""
    store = artifacts.get_store()
    try:
        key = dataset_storage.blob_key(sha256)
        if not store.exists(key):
            return "missing", None
        digest = hashlib.sha256()
        with store.open(key) as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    except AISystemError:
        return "missing", None
    now = digest.hexdigest()
    return ("ok" if now == sha256 else "mismatch"), now


def _trained_pairs(session: Session, model_id: str | None) -> list[_Trained]:
    """Every (model version, dataset version) where the model version wasDerivedFrom the dataset version."""
    versions = select(LineageEntity).where(LineageEntity.kind == "model_version")
    if model_id:
        versions = versions.where(col(LineageEntity.ref).startswith(f"{model_id}@"))
    model_rows = {e.id: e for e in session.exec(versions).all()}
    if not model_rows:
        return []
    relations = session.exec(select(LineageRelation).where(
        col(LineageRelation.subject_id).in_(list(model_rows)), LineageRelation.relation == "wasDerivedFrom")).all()
    sources = {e.id: e for e in session.exec(select(LineageEntity).where(
        col(LineageEntity.id).in_([r.object_id for r in relations]),
        LineageEntity.kind == "dataset_version")).all()} if relations else {}
    return [_Trained(model_rows[r.subject_id], sources[r.object_id]) for r in relations if r.object_id in sources]


def training_data_integrity(*, session: Session, actor: Principal, model_id: str | None = None) -> IntegrityReport:
    """Re-hash the dataset files that model versions were trained from and compare each with the hash
    recorded for that dataset version; `mismatch` means the stored bytes changed, `missing` that the file
    is gone. Model versions `actor` may not read are left out."""
    authorize(actor, service.LINEAGE_READ)
    if model_id:
        service.get_entity(session=session, actor=actor, entity_id=f"model:{model_id}")
    pairs = [p for p in _trained_pairs(session, model_id) if service._may_read(actor, p.model_version)]
    refs = {_split(p.dataset_version.ref) for p in pairs}
    recorded = {(d, str(n)): sha for d, n, sha in session.exec(
        select(DatasetVersion.dataset_id, DatasetVersion.number, DatasetVersion.blob_sha256)
        .where(col(DatasetVersion.dataset_id).in_({d for d, _ in refs}))).all()} if refs else {}
    checked: dict[str, tuple[str, str | None]] = {}
    findings = []
    for pair in sorted(pairs, key=lambda p: (p.model_version.ref, p.dataset_version.ref)):
        sha = recorded.get(_split(pair.dataset_version.ref))
        if sha is None:
            status, now = "missing", None
        elif sha in checked or len(checked) < MAX_CHECKED_FILES:
            if sha not in checked:
                checked[sha] = _rehash(sha)
            status, now = checked[sha]
        else:
            status, now = "unchecked", None
        findings.append(IntegrityFinding(
            model_version=service.entity_read(pair.model_version), dataset_version=service.entity_read(pair.dataset_version),
            recorded_hash=sha, current_hash=now, status=status))
    return IntegrityReport(checked_at=utcnow(), files_checked=len(checked), findings=findings,
                           intact=all(f.status == "ok" for f in findings))
