"""Datasets: create, share, upload immutable versions, download, split, transform, validate, profile, analyze.

Every function is keyword-only, session first, actor explicit, and is called the same way by the
REST routes, the Reflex pages and the worker. Visibility follows the dataset's ACL: its owner and
admins always; users, roles or departments named in an access entry with `read` or `write`. Anyone
else gets DATA_001 exactly as if the dataset did not exist.

Slow file work (ingesting, transforming) reads what it needs first through a short read session of
its own where the caller has nothing pending (`_reading`), so SQLite's write lock is not held for
seconds; the version row and its audit record are then written through the caller's session, which
the caller commits or rolls back. A blob written for a transaction that rolls back is removed again
(`unit_of_work.after_rollback`).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import polars as pl
from pydantic import ValidationError
from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.principal import Principal
from backend.catalog.datasets import exports, ingest, profiling, sandbox, storage, transforms, validation
from backend.catalog.datasets import rows as data_rows
from backend.catalog.datasets.models import Dataset, DatasetAccess, DatasetProfile, DatasetVersion
from backend.catalog.datasets.schemas import (
    AccessEntry,
    DatasetCreate,
    DatasetUpdate,
    ImportOptions,
    Rule,
    SplitRequest,
    ValidateRequest,
)
from backend.core import artifacts
from backend.core.actions import check_action
from backend.core.authorization import authorize
from backend.core.config import get_settings
from backend.core.db import session_scope
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import utcnow
from backend.core.unit_of_work import after_commit, after_rollback, has_pending_changes
from backend.lineage import service as lineage
from backend.lineage.models import LineageEntity
from backend.lineage.schemas import LineageGraph

log = logging.getLogger(__name__)

ID_PATTERN = re.compile(r"^dataset_[0-9a-f]{20}$")
LEVELS = {"read": 1, "write": 2, "owner": 3, "admin": 4}
EXPORT_FORMATS = ("parquet", "csv", "jsonl", "original")
SPLIT_NAMES = ("train", "validation", "test")
SORTS = {"name": Dataset.name, "createdAt": Dataset.created_at, "updatedAt": Dataset.updated_at,
         "size": Dataset.size_bytes, "recordCount": Dataset.record_count}


def not_found(dataset_id: str) -> AISystemError:
    return AISystemError("DATA_001", "No such dataset", {"datasetId": str(dataset_id)[:60]})


def _remember_new_blob(session: Session, sha256: str) -> None:
    """Remove a blob written for this transaction if the transaction does not commit."""
    after_rollback(session, lambda: storage.remove_blob(sha256))


@contextmanager
def _reading(session: Session) -> Iterator[Session]:
    """The session to read through before slow file work: the caller's when its transaction has
    changes (they must be visible), else a short read session of our own, so the caller's session
    does not begin a transaction (a SQLite write session's BEGIN takes the write lock) for the
    seconds the files take."""
    if has_pending_changes(session):
        yield session
        return
    with session_scope(write=False) as own:
        yield own


# --- access ----------------------------------------------------------------------------------------


def _department(actor: Principal) -> str | None:
    return (actor.attributes or {}).get("department")


def access_level(*, session: Session, actor: Principal, dataset: Dataset) -> str | None:
    """admin | owner | write | read | None for this actor on this dataset."""
    if actor.is_admin:
        return "admin"
    if dataset.created_by == actor.user_id:
        return "owner"
    subjects = [and_(DatasetAccess.subject_type == "user", DatasetAccess.subject == actor.user_id),
                and_(DatasetAccess.subject_type == "role", DatasetAccess.subject == actor.role)]
    if _department(actor):
        subjects.append(and_(DatasetAccess.subject_type == "department", DatasetAccess.subject == _department(actor)))
    permissions = session.exec(
        select(DatasetAccess.permission).where(DatasetAccess.dataset_id == dataset.id, or_(*subjects))
    ).all()
    if "write" in permissions:
        return "write"
    return "read" if permissions else None


def find_dataset(*, session: Session, actor: Principal, dataset_id: str) -> Dataset | None:
    """The dataset if it exists, is not deleted and the actor may see it; else None."""
    if not isinstance(dataset_id, str) or not ID_PATTERN.match(dataset_id):
        return None
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.deleted_at is not None:
        return None
    if access_level(session=session, actor=actor, dataset=dataset) is None:
        return None
    return dataset


def get_dataset(*, session: Session, actor: Principal, dataset_id: str, need: str = "read") -> Dataset:
    """The dataset, for the action `need` (`read`, `write`, `share`, `delete`): DATA_001 when missing or
    invisible; AUTH_002 when visible but the role or the dataset's access list does not allow `need`."""
    dataset = find_dataset(session=session, actor=actor, dataset_id=dataset_id)
    if dataset is None:
        raise not_found(dataset_id)
    authorize(actor, f"dataset:{need}", dataset)
    return dataset


# The level of the access list each action on a dataset needs; an action not named needs ownership.
_ACTION_LEVEL = {"read": LEVELS["read"], "write": LEVELS["write"]}


def dataset_access_rule(principal: Principal, permission: str, resource: object | None) -> str | None:
    """The datasets' attribute rule: the dataset's own access list (owner, users, roles, departments)."""
    if isinstance(resource, LineageEntity) and resource.kind in ("dataset", "dataset_version"):
        # The dataset behind a lineage node: a graph shows its name only to those who may read it.
        resource = object_session(resource).get(Dataset, resource.ref.split("@", 1)[0]) or resource
    if not isinstance(resource, Dataset):
        return None
    session = object_session(resource)
    if session is None:  # a detached row: its access list cannot be read, so nothing is allowed
        return "the dataset's access list could not be read"
    level = access_level(session=session, actor=principal, dataset=resource)
    if LEVELS.get(level, 0) >= _ACTION_LEVEL.get(permission.partition(":")[2], LEVELS["owner"]):
        return None
    return f"your access to this dataset is {level or 'none'}; ask its owner"


def _visible(query, actor: Principal):  # noqa: ANN001, ANN202
    if actor.is_admin:
        return query
    subjects = [and_(DatasetAccess.subject_type == "user", DatasetAccess.subject == actor.user_id),
                and_(DatasetAccess.subject_type == "role", DatasetAccess.subject == actor.role)]
    if _department(actor):
        subjects.append(and_(DatasetAccess.subject_type == "department", DatasetAccess.subject == _department(actor)))
    shared = select(DatasetAccess.dataset_id).where(or_(*subjects))
    return query.where(or_(Dataset.created_by == actor.user_id, col(Dataset.id).in_(shared)))


# --- CRUD ------------------------------------------------------------------------------------------


def _as(model: type, data: Any) -> Any:
    return data if isinstance(data, model) else model.model_validate(data)


def create_dataset(*, session: Session, actor: Principal, data: DatasetCreate | dict) -> Dataset:
    """Create an empty dataset owned by the actor (data comes with the first upload)."""
    authorize(actor, "dataset:create")
    data = _as(DatasetCreate, data)
    now = utcnow()
    dataset = Dataset(
        id=new_id("dataset"), name=data.name, description=data.description, type=data.type,
        label_column=data.label_column, descriptive=data.metadata.model_dump(by_alias=True),
        compliance=list(data.compliance), retention=data.retention, created_by=actor.user_id,
        created_at=now, updated_at=now,
    )
    session.add(dataset)
    session.flush()
    lineage.record_entity(session=session, kind="dataset", ref=dataset.id, label=dataset.name)
    audit.record(session=session, actor=actor, action="dataset.create", entity_type="dataset", entity_id=dataset.id,
                 summary={"name": dataset.name, "type": dataset.type})
    return dataset


def list_datasets(
    *, session: Session, actor: Principal, params: PageParams, type: str | None = None,  # noqa: A002
    status: str | None = None, q: str | None = None, tag: str | None = None, created_by: str | None = None,
    sort: str = "-updatedAt",
) -> tuple[list[Dataset], str | None]:
    """The datasets the actor may see, filtered, sorted (`name`, `-createdAt`, …) and keyset-paginated."""
    authorize(actor, "dataset:read")
    query = _visible(select(Dataset).where(col(Dataset.deleted_at).is_(None)), actor)
    if type:
        query = query.where(Dataset.type == type)
    if status:
        query = query.where(Dataset.status == status)
    if created_by:
        query = query.where(Dataset.created_by == created_by)
    if q:
        query = query.where(func.lower(Dataset.name).contains(q.lower()))
    if tag:
        # tags are a JSON list; match the quoted value in its text form (portable across both databases)
        query = query.where(func.lower(func.cast(Dataset.descriptive, pl_text())).contains(f'"{tag.lower()}"'))
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORTS:
        raise InvalidRequest("Unknown sort", {"sort": f"one of {', '.join(SORTS)} (prefix - for descending)"})
    column = SORTS[key]
    parse = [datetime.fromisoformat, str] if key in ("createdAt", "updatedAt") else None
    return paginate(session, query, params=params, order=[column, Dataset.id], descending=descending, parse=parse)


def pl_text():  # noqa: ANN201
    from sqlalchemy import Text

    return Text()


def update_dataset(*, session: Session, actor: Principal, dataset_id: str, data: DatasetUpdate | dict) -> Dataset:
    """Change the descriptive fields (never the data, the owner or any computed figure)."""
    data = _as(DatasetUpdate, data)
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id, need="write")
    changes = data.model_dump(exclude_unset=True)
    if "type" in changes and changes["type"] != dataset.type and dataset.current_version is not None:
        raise InvalidRequest("The type of a dataset with data cannot change", {"type": "the dataset has versions"})
    for field in ("name", "description", "type", "label_column", "compliance", "retention"):
        if field in changes and (changes[field] is not None or field in ("label_column", "retention")):
            setattr(dataset, field, changes[field])
    if data.metadata is not None:
        dataset.descriptive = data.metadata.model_dump(by_alias=True)
    dataset.updated_at = utcnow()
    session.add(dataset)
    session.flush()
    lineage.record_entity(session=session, kind="dataset", ref=dataset.id, label=dataset.name)
    audit.record(session=session, actor=actor, action="dataset.update", entity_type="dataset", entity_id=dataset.id,
                 summary={"fields": sorted(changes)})
    return dataset


def delete_dataset(*, session: Session, actor: Principal, dataset_id: str) -> None:
    """Soft-delete: the dataset disappears from every route; its versions and files are kept for
    `AISYSTEM_DATASET_PURGE_DAYS` days, then removed by the purge task (`purge_deleted`)."""
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id, need="delete")
    dataset.deleted_at = dataset.updated_at = utcnow()
    dataset.status = "deleted"
    session.add(dataset)
    session.flush()
    audit.record(session=session, actor=actor, action="dataset.delete", entity_type="dataset", entity_id=dataset.id,
                 summary={"name": dataset.name})


def purge_deleted(*, session: Session, now: datetime | None = None, batch: int = 50) -> dict[str, int]:
    """Remove for good what datasets deleted more than `AISYSTEM_DATASET_PURGE_DAYS` ago still keep:
    their versions (and cached profiles) go from the database, and once that commits, the stored files
    no other version names (data, split, downloads made of them) go from the artifact store.

    The dataset row stays, marked `purged`, with its audit trail. Safe on several workers at once: a
    conditional write claims each dataset, so exactly one worker purges it.
    """
    cutoff = (now or utcnow()) - timedelta(days=get_settings().dataset_purge_days)
    due = session.exec(select(Dataset.id).where(Dataset.status == "deleted", col(Dataset.deleted_at) < cutoff)
                       .order_by(col(Dataset.deleted_at)).limit(batch)).all()
    if not due:
        return {}
    named_before = storage.recorded_files(session)
    purged, versions = [], 0
    for dataset_id in due:
        claimed = session.exec(update(Dataset).where(col(Dataset.id) == dataset_id, col(Dataset.status) == "deleted")
                               .values(status="purged"))
        if claimed.rowcount != 1:  # another worker got there first
            continue
        version_ids = select(DatasetVersion.id).where(DatasetVersion.dataset_id == dataset_id)
        session.exec(delete(DatasetProfile).where(col(DatasetProfile.version_id).in_(version_ids)))
        gone = session.exec(delete(DatasetVersion).where(col(DatasetVersion.dataset_id) == dataset_id)).rowcount
        versions += gone
        purged.append(dataset_id)
        audit.record(session=session, actor=None, actor_name="system:dataset-purge", action="dataset.purge",
                     entity_type="dataset", entity_id=dataset_id,
                     summary={"versions": gone, "afterDays": get_settings().dataset_purge_days})
    unnamed = sorted(set(named_before) - set(storage.recorded_files(session)))
    after_commit(session, lambda: _remove_unnamed_files(unnamed))
    return {"datasets": len(purged), "versions": versions, "files": len(unnamed)}


def _remove_unnamed_files(keys: list[str]) -> None:
    """Remove stored files no version names any more, with the downloads made of each (after the purge
    committed). A file a version came to name since then (the same bytes uploaded again) is kept."""
    store = artifacts.get_store()
    with session_scope(write=False) as session:
        still_named = storage.recorded_files(session)
    for key in keys:
        if key in still_named:
            continue
        sha = key.rsplit("/", 1)[-1].split(".", 1)[0]
        derived = list(store.list(f"{storage.EXPORTS}/{sha}.")) if len(sha) == 64 else []
        for name in [key, *derived]:
            try:
                store.delete(name)
            except (AISystemError, OSError):
                log.warning("could not remove %s, which no dataset version names any more", name, exc_info=True)


def count_datasets(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Dataset).where(col(Dataset.deleted_at).is_(None))).one()


# --- versions --------------------------------------------------------------------------------------


def get_version(*, session: Session, actor: Principal, dataset_id: str, version: int | None = None,
                need: str = "read") -> tuple[Dataset, DatasetVersion]:
    """The dataset and one of its versions (the newest when `version` is None); DATA_001 if missing."""
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id, need=need)
    number = version if version is not None else dataset.current_version
    row = None
    if number is not None:
        row = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id,
                                                        DatasetVersion.number == number)).first()
    if row is None:
        if version is None:
            raise AISystemError("DATA_004", "The dataset has no data yet; upload a file first",
                                {"datasetId": dataset.id})
        raise AISystemError("DATA_001", "No such dataset version", {"datasetId": dataset.id, "version": version})
    return dataset, row


def list_versions(*, session: Session, actor: Principal, dataset_id: str,
                  params: PageParams) -> tuple[list[DatasetVersion], str | None]:
    """Versions, newest first."""
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id)
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id)
    return paginate(session, query, params=params, order=[DatasetVersion.number], descending=True, parse=[int])


@dataclass
class Prepared:
    """Data ready to become a version: a Parquet file in staging and what we learnt about it."""

    parquet: Path
    source_sha256: str | None
    source_format: str
    filename: str | None
    encoding: str | None
    fields: list[dict[str, Any]]
    record_count: int
    compression: str | None = None
    dialect: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    warnings: list[str] | None = None
    original_sha256: str | None = None


def _prepared(parquet: Path, *, source_sha256: str | None, source_format: str, filename: str | None,
              encoding: str | None, **extra: Any) -> Prepared:
    fields = profiling.infer_fields(parquet)
    rows = pl.scan_parquet(parquet).select(pl.len()).collect().item()
    return Prepared(parquet, source_sha256, source_format, filename, encoding, fields, rows, **extra)


def _add_version(*, session: Session, actor: Principal, dataset_id: str, prepared: Prepared, operation: str,
                 parent: int | None = None, steps: list | None = None, message: str | None = None,
                 anonymized: bool = False, blob: tuple[str, int, bool] | None = None,
                 action: str = "dataset.version.create") -> DatasetVersion:
    """Store the blob (unless given) and write the version row, the dataset's figures and the audit."""
    dataset = session.exec(select(Dataset).where(Dataset.id == dataset_id).with_for_update()).one()
    sha, size, created = blob or storage.commit_blob(prepared.parquet)
    if created:
        _remember_new_blob(session, sha)
    number = (session.exec(select(func.max(DatasetVersion.number))
                           .where(DatasetVersion.dataset_id == dataset.id)).one() or 0) + 1
    row = DatasetVersion(
        id=new_id("dsv"), dataset_id=dataset.id, number=number, blob_sha256=sha, size_bytes=size,
        source_sha256=prepared.source_sha256, source_format=prepared.source_format,
        source_filename=prepared.filename, source_encoding=prepared.encoding, record_count=prepared.record_count,
        column_count=len(prepared.fields), fields=prepared.fields, parent_number=parent, operation=operation,
        steps=steps, message=message, anonymized=anonymized, created_by=actor.user_id, created_at=utcnow(),
        source_compression=prepared.compression, source_dialect=prepared.dialect, import_options=prepared.options,
        import_warnings=prepared.warnings or None, original_sha256=prepared.original_sha256,
    )
    session.add(row)
    dataset.current_version, dataset.size_bytes, dataset.record_count = number, size, prepared.record_count
    dataset.status, dataset.updated_at = "available", utcnow()
    session.add(dataset)
    session.flush()
    _version_lineage(session, actor, dataset, row)
    audit.record(session=session, actor=actor, action=action, entity_type="dataset", entity_id=dataset.id,
                 summary={"version": number, "operation": operation, "sha256": sha, "rows": prepared.record_count,
                          "parent": parent, "format": prepared.source_format})
    return row


def lineage_graph(*, session: Session, actor: Principal, dataset_id: str, depth: int = 3) -> LineageGraph:
    """The dataset's lineage (see backend.lineage): its versions, the uploads and transforms that made
    them, and what was made of them (model versions trained on them, batch predictions...)."""
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id)
    return lineage.entity_graph(session=session, actor=actor, entity_id=f"dataset:{dataset.id}", depth=depth)


def _version_lineage(session: Session, actor: Principal, dataset: Dataset, row: DatasetVersion) -> None:
    """The version as a member of its dataset, generated by its upload, transform or restore (of its parent)."""
    version = lineage.dataset_version_ref(dataset.id, row.number, f"{dataset.name} v{row.number}")
    parent = [lineage.dataset_version_ref(dataset.id, row.parent_number)] if row.parent_number else []
    label = {"upload": f"Upload of {row.source_filename or 'a file'}",
             "transform": f"Transform of v{row.parent_number} ({len(row.steps or [])} steps)",
             "restore": f"Restore of v{row.parent_number}"}.get(row.operation, row.operation)
    lineage.record_activity(session=session, actor=actor, kind=row.operation, key=row.id, used=parent,
                            generated=[version], label=label, started_at=row.created_at)
    lineage.add_member(session=session, collection=lineage.Ref("dataset", dataset.id, dataset.name), member=version)


def create_version_from(*, session: Session, actor: Principal, dataset_id: str, from_version: int,
                        message: str | None = None) -> DatasetVersion:
    """A new version with the content of an older one (a restore); the blob is shared, not copied."""
    _dataset, source = get_version(session=session, actor=actor, dataset_id=dataset_id, version=from_version,
                                   need="write")
    prepared = Prepared(Path(), source.source_sha256, source.source_format, source.source_filename,
                        source.source_encoding, source.fields, source.record_count,
                        compression=source.source_compression, dialect=source.source_dialect,
                        options=source.import_options, original_sha256=source.original_sha256)
    storage.existing_blob(source.blob_sha256)
    return _add_version(session=session, actor=actor, dataset_id=dataset_id, prepared=prepared, operation="restore",
                        parent=source.number, message=message or f"restored from version {source.number}",
                        anonymized=source.anonymized, blob=(source.blob_sha256, source.size_bytes, False))


@dataclass
class UploadOutcome:
    version: DatasetVersion
    duplicate: bool
    message: str
    warnings: list[str] = dataclass_field(default_factory=list)


def _open(source: BinaryIO | str | Path):  # noqa: ANN202
    if isinstance(source, str | Path):
        return open(source, "rb")
    return _Borrowed(source)


class _Borrowed:
    """A caller's stream used as a context manager without closing it."""

    def __init__(self, stream: BinaryIO):
        self.stream = stream

    def __enter__(self) -> BinaryIO:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None


def _stage(source: BinaryIO | str | Path | storage.StagedFile, work: storage.Staging, name: str, *,
           limit: int | None = None) -> storage.StagedFile:
    """A staged copy of an upload (a file the caller staged already is taken as it is)."""
    if isinstance(source, storage.StagedFile):
        return source
    with _open(source) as stream:
        return storage.stage_stream(stream, work.path(name), limit=limit)


def _options(options: ImportOptions | dict | None) -> ImportOptions:
    if options is None:
        return ImportOptions()
    if isinstance(options, ImportOptions):
        return options
    try:
        return ImportOptions.model_validate(options)
    except ValidationError as exc:
        raise InvalidRequest("The import options are invalid", {
            "options." + ".".join(str(p) for p in err["loc"]) if err["loc"] else "options":
                err["msg"].removeprefix("Value error, ") for err in exc.errors()[:20]}) from exc


def upload(*, session: Session, actor: Principal, dataset_id: str,
           source: BinaryIO | str | Path | storage.StagedFile, filename: str | None = None,
           labels: BinaryIO | str | Path | storage.StagedFile | None = None, message: str | None = None,
           options: ImportOptions | dict | None = None) -> UploadOutcome:
    """Ingest a file (a binary stream, a path, or a file the caller staged) as a new version.

    CSV/TSV are read with the import `options` (what they leave open is detected: compression,
    encoding, separator, header), Parquet, JSON and JSON Lines as they are, all into Parquet (zstd);
    image/audio datasets take a ZIP (optionally with `labels.csv`, or `labels` beside it). The
    uploaded bytes are kept, so the version downloads as it came. The same bytes with the same
    options uploaded again give the existing version back with `duplicate=True`.
    """
    options = _options(options)
    requested = options.model_dump(by_alias=True)
    with _reading(session) as reads:
        kind = get_dataset(session=reads, actor=actor, dataset_id=dataset_id, need="write").type
    with storage.staging() as work:
        staged = _stage(source, work, "upload")
        labels_staged = None
        if labels is not None:
            labels_staged = _stage(labels, work, "labels.csv", limit=64 * 1024 * 1024)
        fingerprint = staged.sha256 if labels_staged is None else hashlib.sha256(
            (staged.sha256 + labels_staged.sha256).encode()).hexdigest()
        with _reading(session) as reads:
            candidates = reads.exec(select(DatasetVersion.id, DatasetVersion.import_options)
                                    .where(DatasetVersion.dataset_id == dataset_id,
                                           DatasetVersion.source_sha256 == fingerprint)
                                    .order_by(col(DatasetVersion.number))).all()
        existing = next((vid for vid, opts in candidates if (opts or ImportOptions().model_dump(by_alias=True))
                         == requested), None)
        if existing is not None:
            get_dataset(session=session, actor=actor, dataset_id=dataset_id, need="write")
            existing = session.get(DatasetVersion, existing)
            return UploadOutcome(existing, True, f"These bytes were uploaded before as version {existing.number}; "
                                                 "no new version was made", list(existing.import_warnings or []))
        name = artifacts.safe_file_name(filename)
        fmt = ingest.detect_format(name, staged.head)
        # Parsed in a child process under limits: a reader's crash or hang fails this upload only.
        result, fields, rows = sandbox.run(ingest.convert, staged, kind, fmt, work, options, name, labels_staged)
        prepared = Prepared(result.parquet, fingerprint, result.source_format, name, result.encoding, fields, rows,
                            compression=result.compression, dialect=result.dialect,
                            options=requested if kind == "tabular" else None, warnings=result.warnings)
        get_dataset(session=session, actor=actor, dataset_id=dataset_id, need="write")  # still allowed?
        original, _size, created = storage.commit_original(staged.path, staged.sha256)
        if created:
            after_rollback(session, lambda: storage.remove_blob(original, storage.ORIGINAL))
        prepared.original_sha256 = original
        row = _add_version(session=session, actor=actor, dataset_id=dataset_id, prepared=prepared,
                           operation="upload", message=message, action="dataset.upload")
    return UploadOutcome(row, False, f"Stored as version {row.number}: {row.record_count} records, "
                                     f"{row.column_count} columns", list(result.warnings))


def preview_upload(*, session: Session, actor: Principal, dataset_id: str,
                   source: BinaryIO | str | Path | storage.StagedFile, filename: str | None = None,
                   options: ImportOptions | dict | None = None) -> dict[str, Any]:
    """What uploading the file with `options` would make, from its beginning: the format, compression,
    encoding and dialect found (and which were guessed), the columns with their inferred types and null
    counts, the first rows and the warnings. Needs write access; nothing is stored."""
    options = _options(options)
    with _reading(session) as reads:
        kind = get_dataset(session=reads, actor=actor, dataset_id=dataset_id, need="write").type
    if kind != "tabular":
        raise AISystemError("DATA_002", f"A preview reads tabular files; an {kind} dataset takes a ZIP of {kind} files")
    with storage.staging() as work:
        staged = _stage(source, work, "upload")
        return sandbox.run(ingest.preview, staged, artifacts.safe_file_name(filename), options, work)


def open_frame(*, session: Session, actor: Principal, dataset_id: str, version: int | None = None) -> pl.LazyFrame:
    """A lazy frame over a version's data (for training, feature sets and benchmarks)."""
    _dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=version)
    return pl.scan_parquet(storage.existing_blob(row.blob_sha256))


# --- download --------------------------------------------------------------------------------------


@dataclass
class Download:
    path: Path
    size: int
    sha256: str
    filename: str
    media_type: str = "application/octet-stream"


def _original_suffix(row: DatasetVersion) -> str:
    """The file name ending of an upload's original bytes (`.csv`, `.csv.gz`, `.tsv`...)."""
    suffixes = [s.lower() for s in Path(row.source_filename or "").suffixes[-2:]]
    if suffixes and all(re.fullmatch(r"\.[a-z0-9]{1,8}", s) for s in suffixes):
        return "".join(suffixes)
    ext = {"zip": ".zip"}.get(row.source_format, f".{row.source_format}")
    return ext + {"gzip": ".gz", "bzip2": ".bz2", "zstd": ".zst", "zip": ".zip"}.get(row.source_compression or "", "")


def download(*, session: Session, actor: Principal, dataset_id: str, version: int | None = None,
             fmt: str = "parquet") -> Download:
    """The file to stream: the stored Parquet; the uploaded bytes (`original`, and `csv`/`jsonl` of a
    version uploaded uncompressed in that format); or a cached CSV/JSONL export of the Parquet, its
    values written in the formats the source used (see `exports`)."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidRequest("Unknown format", {"format": f"one of {', '.join(EXPORT_FORMATS)}"})
    dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=version)
    as_uploaded = fmt in ("csv", "jsonl") and row.source_format == fmt and not row.source_compression
    if as_uploaded and fmt == "csv":  # a CSV is for spreadsheets: formula-like cells are neutralised (exports)
        as_uploaded = not exports.has_formula_cells(storage.existing_blob(row.blob_sha256))
    if fmt == "original" or (as_uploaded and row.original_sha256):
        if not row.original_sha256:
            raise AISystemError("DATA_004", f"Version {row.number} was made by a {row.operation}, not uploaded: it has "
                                            "no original file (download it as Parquet, CSV or JSON Lines)",
                                {"version": row.number})
        original = storage.existing_blob(row.original_sha256, storage.ORIGINAL)
        suffix = _original_suffix(row) if fmt == "original" else f".{fmt}"
        return Download(original, original.stat().st_size, row.original_sha256,
                        artifacts.download_name(dataset.name, f"-v{row.number}{suffix}", fallback="dataset"))
    blob = storage.existing_blob(row.blob_sha256)
    filename = artifacts.download_name(dataset.name, f"-v{row.number}.{fmt}", fallback="dataset")
    if fmt == "parquet":
        return Download(blob, row.size_bytes, row.blob_sha256, filename)
    if fmt == "csv":
        path, size, digest = storage.export(row.blob_sha256, fmt,
                                            lambda target: exports.write_csv(blob, target, row.source_dialect),
                                            variant=exports.variant(row.source_dialect))
        return Download(path, size, digest, filename)

    def write(target: Path) -> None:
        lf = pl.scan_parquet(blob)
        keep = [c for c, t in lf.collect_schema().items() if profiling.kind_of(t) not in ("binary", "list", "struct")]
        lf.select(keep).sink_ndjson(target)

    path, size, digest = storage.export(row.blob_sha256, fmt, write)
    return Download(path, size, digest, filename)


# --- rows (the data viewer) -----------------------------------------------------------------------


def read_rows(*, session: Session, actor: Principal, dataset_id: str, version: int | None = None,
              limit: int = data_rows.DEFAULT_LIMIT, offset: int = 0, sort: str | None = None,
              descending: bool = False, filter: str | None = None,  # noqa: A002
              ) -> tuple[DatasetVersion, data_rows.RowsPage]:
    """A page of a version's rows (the newest version when `version` is None), read lazily from its
    Parquet file: `filter` is a safe expression (`rating >= 4 and sentiment == "positive"`), `sort` a
    column (`-column`, or `descending`, for descending). REQ_001 names a bad `sort`, `filter`, `limit`
    or `offset`."""
    _dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=version)
    page = data_rows.read_page(storage.existing_blob(row.blob_sha256), record_count=row.record_count, limit=limit,
                               offset=offset, sort=sort, descending=descending, filter=filter)
    return row, page


# --- split -----------------------------------------------------------------------------------------


def split(*, session: Session, actor: Principal, dataset_id: str, request: SplitRequest | dict) -> DatasetVersion:
    """Assign every row of a version to train/validation/test (random or stratified, deterministic
    for a seed) and store the assignment with the version."""
    request = _as(SplitRequest, request)
    with _reading(session) as reads:
        _dataset, row = get_version(session=reads, actor=actor, dataset_id=dataset_id, version=request.version,
                                    need="write")
        blob_sha256, n, number = row.blob_sha256, row.record_count, row.number
    lf = pl.scan_parquet(storage.existing_blob(blob_sha256))
    ratios = (request.train, request.validation, request.test)
    rng = np.random.default_rng(request.seed)
    assignment = np.empty(n, dtype=np.int8)
    if request.stratify_by:
        if request.stratify_by not in lf.collect_schema():
            raise AISystemError("DATA_003", f"No column '{request.stratify_by[:100]}' to stratify by",
                                {"column": request.stratify_by[:256]})
        labels = lf.select(pl.col(request.stratify_by).cast(pl.String).fill_null("\x00null")).collect().to_series()
        groups = (pl.DataFrame({"label": labels}).with_row_index("i").group_by("label")
                  .agg(pl.col("i")).sort("label"))
        for indices in groups["i"].to_list():
            _assign(assignment, rng.permutation(np.asarray(indices, dtype=np.int64)), ratios)
    else:
        _assign(assignment, rng.permutation(n), ratios)
    counts = {name: int((assignment == i).sum()) for i, name in enumerate(SPLIT_NAMES)}
    empty = [name for name, ratio in zip(SPLIT_NAMES, ratios, strict=True) if ratio > 0 and counts[name] == 0]
    if empty:
        raise AISystemError("DATA_004", f"Too few rows ({n}) for this split: '{empty[0]}' would be empty",
                            {"rows": n, "emptySplits": empty})
    with storage.staging() as work:
        out = work.path("split.parquet")
        pl.DataFrame({"split": pl.Series(assignment).cast(pl.Int8)}).write_parquet(out, compression="zstd")
        sha, _size, created = storage.commit_blob(out)
    _dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=number,
                                need="write")
    if created:
        _remember_new_blob(session, sha)
    row.split = {"train": request.train, "validation": request.validation, "test": request.test,
                 "seed": request.seed, "stratifyBy": request.stratify_by, "counts": counts}
    row.split_blob_sha256 = sha
    session.add(row)
    session.flush()
    lineage.record_activity(session=session, actor=actor, kind="split", key=f"{row.id}:{sha}",
                            used=[lineage.dataset_version_ref(dataset_id, row.number)],
                            label=f"Split of v{row.number} ({request.train:g}/{request.validation:g}/{request.test:g})")
    audit.record(session=session, actor=actor, action="dataset.split", entity_type="dataset", entity_id=dataset_id,
                 summary={"version": row.number, **row.split})
    return row


def _assign(assignment: np.ndarray, order: np.ndarray, ratios: tuple[float, float, float]) -> None:
    m = len(order)
    n_train = int(round(m * ratios[0]))
    n_val = min(int(round(m * ratios[1])), m - n_train)
    assignment[order[:n_train]] = 0
    assignment[order[n_train:n_train + n_val]] = 1
    assignment[order[n_train + n_val:]] = 2


def split_frames(*, session: Session, actor: Principal, dataset_id: str,
                 version: int | None = None) -> dict[str, pl.LazyFrame]:
    """{train, validation, test} lazy frames of a split version (DATA_004 when it was never split)."""
    _dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=version)
    if not row.split_blob_sha256:
        raise AISystemError("DATA_004", "This version has not been split yet", {"version": row.number})
    data = pl.scan_parquet(storage.existing_blob(row.blob_sha256))
    labels = pl.scan_parquet(storage.existing_blob(row.split_blob_sha256)).select(pl.col("split").alias("__split"))
    joined = pl.concat([data, labels], how="horizontal")
    return {name: joined.filter(pl.col("__split") == i).drop("__split") for i, name in enumerate(SPLIT_NAMES)}


# --- transform -------------------------------------------------------------------------------------


def _mask_key(dataset_id: str) -> bytes:
    return hmac.new(get_settings().jwt_secret().encode(), f"dataset-mask:{dataset_id}".encode(), "sha256").digest()


def transform(*, session: Session, actor: Principal, dataset_id: str, steps: list, version: int | None = None,
              message: str | None = None) -> DatasetVersion:
    """Run declarative steps lazily in polars; the result is a new version with lineage to its parent."""
    parsed = transforms.parse_steps(steps)
    with _reading(session) as reads:
        _dataset, parent = get_version(session=reads, actor=actor, dataset_id=dataset_id, version=version,
                                       need="write")
        source = storage.existing_blob(parent.blob_sha256)
        parent_number, parent_anonymized = parent.number, parent.anonymized
        parent_dialect = parent.source_dialect
    key = _mask_key(dataset_id)
    settings = get_settings()
    limits = transforms.OutputLimits(max_cell_bytes=settings.transform_max_cell_bytes,
                                     max_column_bytes=settings.transform_max_column_bytes)
    plan = transforms.apply_steps(pl.scan_parquet(source), parsed, mask_key=key, limits=limits)
    with storage.staging() as work:
        out = work.path("data.parquet")
        try:
            plan.sink_parquet(out, compression="zstd", row_group_size=128_000)
        except pl.exceptions.PolarsError as exc:
            out.unlink(missing_ok=True)
            index = transforms.failing_step(pl.scan_parquet(source), parsed, mask_key=key,
                                            scratch=work.path("probe.parquet"))
            index = len(parsed) - 1 if index is None else index
            raise transforms.step_error(index, parsed[index].op, ingest._short(exc)) from exc
        names = pl.scan_parquet(out).collect_schema().names()
        if not names:
            raise AISystemError("DATA_004", "The transform leaves no columns")
        ingest.check_column_names(list(names))
        prepared = _prepared(out, source_sha256=None, source_format="parquet", filename=None, encoding=None,
                             dialect=exports.inherited(parent_dialect, pl.scan_parquet(out).collect_schema()))
        if prepared.record_count == 0:
            raise AISystemError("DATA_004", "The transform leaves no rows", {"steps": len(parsed)})
        get_dataset(session=session, actor=actor, dataset_id=dataset_id, need="write")
        return _add_version(
            session=session, actor=actor, dataset_id=dataset_id, prepared=prepared, operation="transform",
            parent=parent_number, steps=transforms.describe_steps(parsed), message=message,
            anonymized=parent_anonymized or any(s.op == "mask_pii" for s in parsed), action="dataset.transform",
        )


# --- validate --------------------------------------------------------------------------------------


def validate(*, session: Session, actor: Principal, dataset_id: str, rules: list[Rule | dict],
             version: int | None = None, gate: bool = False) -> dict[str, Any]:
    """A report per rule (failing-row counts and examples); with `gate`, DATA_002 when any rule fails."""
    request = ValidateRequest.model_validate({"rules": [r.model_dump(by_alias=True, exclude_unset=True)
                                                        if isinstance(r, Rule) else r for r in rules],
                                              "version": version, "gate": gate})
    _dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=request.version)
    frame = pl.read_parquet(storage.existing_blob(row.blob_sha256))
    results = validation.run_rules(frame, request.rules)
    report = {"datasetId": dataset_id, "version": row.number, "passed": all(r["passed"] for r in results),
              "rows": frame.height, "engine": validation.ENGINE,
              "results": [{**r, "failingRows": r.pop("failing_rows")} for r in results]}
    if gate and not report["passed"]:
        failed = [r["rule"] for r in report["results"] if not r["passed"]]
        raise AISystemError("DATA_002", f"{len(failed)} validation rule(s) failed", {"failedRules": failed[:50],
                                                                                     "report": report})
    return report


# --- statistics / profile / quality ----------------------------------------------------------------


def profile(*, session: Session, actor: Principal, dataset_id: str,
            version: int | None = None) -> tuple[Dataset, DatasetVersion, dict[str, Any]]:
    """The version's profile, computed once (two polars passes) and cached."""
    dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=version)
    cached = session.get(DatasetProfile, row.id)
    if cached is not None and cached.algorithm == profiling.ALGORITHM:
        return dataset, row, cached.profile
    result = sandbox.run(profiling.compute_profile, storage.existing_blob(row.blob_sha256),
                         label_column=dataset.label_column, what="version's data")
    _store_profile(row.id, result)
    return dataset, row, result


def cached_profile(*, session: Session, version: DatasetVersion) -> dict[str, Any] | None:
    cached = session.get(DatasetProfile, version.id)
    return cached.profile if cached is not None and cached.algorithm == profiling.ALGORITHM else None


def _store_profile(version_id: str, result: dict[str, Any]) -> None:
    """Cache in a short transaction of its own; losing a race or a busy database only skips caching."""
    try:
        with session_scope() as cache:
            existing = cache.get(DatasetProfile, version_id)
            if existing is None:
                cache.add(DatasetProfile(version_id=version_id, algorithm=profiling.ALGORITHM, profile=result))
            else:
                existing.algorithm, existing.profile, existing.computed_at = profiling.ALGORITHM, result, utcnow()
                cache.add(existing)
    except (IntegrityError, OperationalError):
        log.info("profile of %s not cached (concurrent write or busy database)", version_id)


# --- analysis (background) -------------------------------------------------------------------------

ANALYZE_JOB = "catalog.datasets.analyze"


def start_analysis(*, session: Session, actor: Principal, dataset_id: str, version: int | None = None,
                   baseline_version: int | None = None):  # noqa: ANN201
    """Queue the analysis job (correlations, PII detection, drift against `baseline_version`)."""
    from backend.catalog.datasets import tasks  # noqa: F401  (registers the job type in this process)
    from backend.jobs import service as jobs_service

    _dataset, row = get_version(session=session, actor=actor, dataset_id=dataset_id, version=version, need="write")
    if baseline_version is not None:
        get_version(session=session, actor=actor, dataset_id=dataset_id, version=baseline_version)
    return jobs_service.create_job(session=session, actor=actor, type=ANALYZE_JOB, payload={
        "datasetId": dataset_id, "version": row.number, "baselineVersion": baseline_version})


def correlations(frame: pl.DataFrame, *, max_columns: int = 50) -> dict[str, Any]:
    """Pearson correlations between numeric columns (the first `max_columns`)."""
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()][:max_columns]
    if len(numeric) < 2:
        return {"method": "pearson", "columns": numeric, "matrix": []}
    exprs = [pl.corr(a, b).alias(f"{i}\x00{j}") for i, a in enumerate(numeric) for j, b in enumerate(numeric) if i < j]
    row = frame.select(exprs).row(0, named=True)
    matrix = [[1.0 if i == j else row.get(f"{min(i, j)}\x00{max(i, j)}") for j in range(len(numeric))]
              for i in range(len(numeric))]
    strongest = sorted(((abs(v), numeric[int(k.split("\x00")[0])], numeric[int(k.split("\x00")[1])], v)
                        for k, v in row.items() if v is not None and np.isfinite(v)), reverse=True)[:10]
    return profiling.clean({"method": "pearson", "columns": numeric, "matrix": matrix,
                            "strongest": [{"a": a, "b": b, "r": r} for _abs, a, b, r in strongest]})


def read_version_frame(*, session: Session, dataset_id: str, version: int) -> tuple[DatasetVersion, pl.LazyFrame]:
    """For the worker: a version by number, no ACL (the job was authorized when it was queued)."""
    dataset = session.get(Dataset, dataset_id)
    row = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id,
                                                    DatasetVersion.number == version)).first()
    if dataset is None or dataset.deleted_at is not None or row is None:
        raise not_found(dataset_id)
    return row, pl.scan_parquet(storage.existing_blob(row.blob_sha256))


def record_analysis(*, session: Session, job_id: str, dataset_id: str, version: int, analysis: dict[str, Any]) -> None:
    """Store an analysis result on its version and mark PII (inside the job's finishing transaction)."""
    row = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id,
                                                    DatasetVersion.number == version)).one()
    row.analysis = analysis
    row.contains_pii = bool(analysis.get("pii", {}).get("containsPII"))
    session.add(row)
    session.flush()
    audit.record(session=session, actor=None, actor_name=f"job:{job_id}", action="dataset.analyze",
                 entity_type="dataset", entity_id=dataset_id,
                 summary={"version": version, "containsPII": row.contains_pii,
                          "driftScore": (analysis.get("drift") or {}).get("driftScore")})


# --- sharing ---------------------------------------------------------------------------------------


def get_access(*, session: Session, actor: Principal, dataset_id: str) -> tuple[Dataset, list[DatasetAccess]]:
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id)
    entries = session.exec(select(DatasetAccess).where(DatasetAccess.dataset_id == dataset.id)
                           .order_by(col(DatasetAccess.subject_type), col(DatasetAccess.subject))).all()
    return dataset, list(entries)


def _check_subject(session: Session, entry: AccessEntry) -> None:
    from backend.auth.models import User
    from backend.auth.permissions import ROLES

    if entry.subject_type == "role" and entry.subject not in ROLES:
        raise InvalidRequest("Unknown role", {"subject": f"one of {', '.join(ROLES)}"})
    if entry.subject_type == "user" and session.get(User, entry.subject) is None:
        raise InvalidRequest("Unknown user", {"subject": "a user id"})


def share(*, session: Session, actor: Principal, dataset_id: str, entry: AccessEntry | dict) -> list[DatasetAccess]:
    """Grant (or change) one subject's access; owner and admins only."""
    entry = _as(AccessEntry, entry)
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id, need="share")
    _check_subject(session, entry)
    # Governance: policies on sharing (GOV_003 refuses; see backend/core/actions.py).
    check_action(session=session, actor=actor, action="dataset.share", entity=dataset,
                 details={"entries": [entry.model_dump(by_alias=True)]})
    _upsert(session, actor, dataset.id, entry)
    session.flush()
    audit.record(session=session, actor=actor, action="dataset.share", entity_type="dataset", entity_id=dataset.id,
                 summary=entry.model_dump(by_alias=True))
    return get_access(session=session, actor=actor, dataset_id=dataset_id)[1]


def _upsert(session: Session, actor: Principal, dataset_id: str, entry: AccessEntry) -> None:
    row = session.exec(select(DatasetAccess).where(
        DatasetAccess.dataset_id == dataset_id, DatasetAccess.subject_type == entry.subject_type,
        DatasetAccess.subject == entry.subject)).first()
    if row is None:
        session.add(DatasetAccess(id=new_id("dsacl"), dataset_id=dataset_id, subject_type=entry.subject_type,
                                  subject=entry.subject, permission=entry.permission, granted_by=actor.user_id))
    elif row.permission != entry.permission:
        row.permission = entry.permission
        session.add(row)


def set_access(*, session: Session, actor: Principal, dataset_id: str,
               entries: list[AccessEntry | dict]) -> list[DatasetAccess]:
    """Replace the whole access list; owner and admins only."""
    entries = [_as(AccessEntry, e) for e in entries]
    dataset = get_dataset(session=session, actor=actor, dataset_id=dataset_id, need="share")
    keys = [(e.subject_type, e.subject) for e in entries]
    if len(set(keys)) != len(keys):
        raise InvalidRequest("A subject appears twice", {"entries": "one entry per subject"})
    for entry in entries:
        _check_subject(session, entry)
    check_action(session=session, actor=actor, action="dataset.share", entity=dataset,
                 details={"entries": [e.model_dump(by_alias=True) for e in entries]})
    for row in session.exec(select(DatasetAccess).where(DatasetAccess.dataset_id == dataset.id)).all():
        if (row.subject_type, row.subject) not in keys:
            session.delete(row)
    session.flush()
    for entry in entries:
        _upsert(session, actor, dataset.id, entry)
    session.flush()
    audit.record(session=session, actor=actor, action="dataset.access.update", entity_type="dataset",
                 entity_id=dataset.id, summary={"entries": [e.model_dump(by_alias=True) for e in entries]})
    return get_access(session=session, actor=actor, dataset_id=dataset_id)[1]


# --- the wire documents ----------------------------------------------------------------------------


def version_document(row: DatasetVersion, *, include_analysis: bool = True) -> dict[str, Any]:
    return {
        "version": row.number, "id": row.id, "datasetId": row.dataset_id, "sha256": row.blob_sha256,
        "sourceSha256": row.source_sha256, "size": row.size_bytes, "recordCount": row.record_count,
        "columnCount": row.column_count, "sourceFormat": row.source_format, "sourceFilename": row.source_filename,
        "sourceEncoding": row.source_encoding, "sourceCompression": row.source_compression,
        "sourceDialect": row.source_dialect, "importOptions": row.import_options,
        "importWarnings": list(row.import_warnings or []), "originalAvailable": bool(row.original_sha256),
        "parentVersion": row.parent_number, "operation": row.operation,
        "steps": row.steps, "message": row.message, "schema": {"fields": row.fields}, "splits": row.split,
        "containsPII": row.contains_pii, "anonymized": row.anonymized,
        "analysis": row.analysis if include_analysis else None, "createdAt": row.created_at,
        "createdBy": row.created_by,
    }


def dataset_document(*, session: Session, actor: Principal, dataset: Dataset, compute: bool = False) -> dict[str, Any]:
    """The design's Dataset document; statistics/quality come from the cached profile (computed
    first when `compute`)."""
    row = None
    if dataset.current_version is not None:
        row = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset.id,
                                                        DatasetVersion.number == dataset.current_version)).first()
    prof = None
    if row is not None:
        prof = cached_profile(session=session, version=row)
        if prof is None and compute:
            try:
                prof = profile(session=session, actor=actor, dataset_id=dataset.id, version=row.number)[2]
            except AISystemError:
                prof = None
    level = access_level(session=session, actor=actor, dataset=dataset)
    return {
        "id": dataset.id, "name": dataset.name, "description": dataset.description, "type": dataset.type,
        "format": "parquet" if row else None, "size": dataset.size_bytes, "recordCount": dataset.record_count,
        "version": dataset.current_version, "status": dataset.status, "createdAt": dataset.created_at,
        "updatedAt": dataset.updated_at, "createdBy": dataset.created_by, "labelColumn": dataset.label_column,
        "schema": {"fields": row.fields if row else []},
        "statistics": prof["statistics"] if prof else None,
        "quality": prof["quality"] if prof else None,
        "splits": row.split if row else None,
        "privacy": {"containsPII": row.contains_pii if row else None, "anonymized": bool(row and row.anonymized),
                    "encryptionType": "none", "compliance": dataset.compliance},
        "storage": {"location": f"datasets/blobs/{row.blob_sha256[:2]}/{row.blob_sha256}.parquet",
                    "compression": "zstd", "partitioning": "none", "retention": dataset.retention} if row else None,
        "metadata": dataset.descriptive,
        "access": level or "read",
    }


def read_upload_bytes(data: bytes) -> io.BytesIO:
    """A stream over in-memory bytes (for seeds and tests)."""
    return io.BytesIO(data)
