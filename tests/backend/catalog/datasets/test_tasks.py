"""The purge of deleted datasets: after the soft-delete period their versions and files go for good,
except files another dataset's version still names; before it, nothing goes; the workers' periodic
task runs it, and running it again changes nothing."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlmodel import col, select, update

from backend.audit.models import AuditRecord
from backend.catalog.datasets import service, storage
from backend.catalog.datasets.models import Dataset, DatasetProfile, DatasetVersion
from backend.core import artifacts
from backend.core.config import get_settings
from backend.core.db import session_scope
from backend.core.timeutil import utcnow
from backend.jobs.tasks import run_due_periodic_tasks
from tests.backend.catalog.datasets.conftest import FEEDBACK_CSV

TASK = "catalog.datasets.purge_deleted"
OTHER_CSV = FEEDBACK_CSV.replace(b"Meh", b"Hmm")


def filled(session, actor, name: str, *files: bytes) -> str:  # noqa: ANN001
    """A dataset with one version per file (committed), profiled."""
    dataset = service.create_dataset(session=session, actor=actor, data={"name": name, "type": "tabular"})
    session.commit()
    for data in files:
        service.upload(session=session, actor=actor, dataset_id=dataset.id, source=io.BytesIO(data),
                       filename="data.csv")
        session.commit()
    dataset_id = dataset.id
    session.rollback()  # let go of SQLite's write lock: the profile is cached from a session of its own
    with session_scope(write=False) as reads:
        service.profile(session=reads, actor=actor, dataset_id=dataset_id)
    return dataset_id


def stored(key: str) -> bool:
    return artifacts.get_store().exists(key)


def keys_of(session, dataset_id: str) -> tuple[str, ...]:  # noqa: ANN001
    """The store keys of a dataset's versions: data, splits, and the uploaded bytes kept as they came."""
    rows = session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)).all()
    return tuple([storage.blob_key(sha) for row in rows for sha in (row.blob_sha256, row.split_blob_sha256) if sha]
                 + [storage.blob_key(row.original_sha256, storage.ORIGINAL) for row in rows if row.original_sha256])


def test_deleted_datasets_lose_their_files_after_the_period_but_shared_files_stay(session, principals):
    actor = principals["data_scientist"]
    doomed = filled(session, actor, "Doomed", FEEDBACK_CSV, OTHER_CSV)
    kept = filled(session, actor, "Kept", FEEDBACK_CSV)  # the same bytes as Doomed's v1: one shared blob
    service.split(session=session, actor=actor, dataset_id=doomed, request={"train": 0.8, "validation": 0.1,
                                                                             "test": 0.1})
    session.commit()
    export = service.download(session=session, actor=actor, dataset_id=doomed, fmt="csv")  # a cached CSV export
    doomed_keys, kept_keys = keys_of(session, doomed), keys_of(session, kept)
    doomed_versions = session.exec(select(DatasetVersion.id).where(DatasetVersion.dataset_id == doomed)).all()
    profiled = select(DatasetProfile.version_id).where(col(DatasetProfile.version_id).in_(doomed_versions))
    assert len(session.exec(profiled).all()) == 1  # the newest version's cached profile
    shared = set(doomed_keys) & set(kept_keys)
    only_doomed = set(doomed_keys) - shared
    assert len(shared) == 2 and len(only_doomed) == 3 and export.path.exists()  # v2, its original and the split
    service.delete_dataset(session=session, actor=actor, dataset_id=doomed)
    session.commit()
    deleted_at = session.get(Dataset, doomed).deleted_at
    days = get_settings().dataset_purge_days

    assert service.purge_deleted(session=session, now=deleted_at + timedelta(days=days - 1)) == {}
    session.commit()
    assert all(stored(k) for k in doomed_keys) and export.path.exists()

    outcome = service.purge_deleted(session=session, now=deleted_at + timedelta(days=days, minutes=1))
    session.commit()
    assert outcome == {"datasets": 1, "versions": 2, "files": 3}
    assert not any(stored(k) for k in only_doomed) and not export.path.exists()
    assert all(stored(k) for k in kept_keys)  # still named by Kept's version
    assert session.get(Dataset, doomed).status == "purged"
    assert session.exec(select(DatasetVersion).where(DatasetVersion.dataset_id == doomed)).all() == []
    assert session.exec(profiled).all() == []
    actions = session.exec(select(AuditRecord.action).where(AuditRecord.entity_id == doomed)
                           .order_by(AuditRecord.seq)).all()
    assert actions[-1] == "dataset.purge"
    # The dataset that shares the blob still reads.
    _row, page = service.read_rows(session=session, actor=actor, dataset_id=kept)
    assert page.total == 10
    assert set(storage.recorded_files(session)) == set(kept_keys)  # nothing names a removed file

    assert service.purge_deleted(session=session, now=deleted_at + timedelta(days=days + 5)) == {}  # once only


def test_the_workers_run_the_purge(session, principals):
    actor = principals["data_scientist"]
    dataset_id = filled(session, actor, "Old", OTHER_CSV + b"11,extra,positive,5,\n")
    keys = keys_of(session, dataset_id)
    service.delete_dataset(session=session, actor=actor, dataset_id=dataset_id)
    session.commit()
    long_ago = utcnow() - timedelta(days=get_settings().dataset_purge_days + 1)
    session.exec(update(Dataset).where(col(Dataset.id) == dataset_id).values(deleted_at=long_ago))
    session.commit()
    assert all(stored(k) for k in keys)
    assert TASK in run_due_periodic_tasks({})
    with session_scope(write=False) as fresh:
        assert fresh.get(Dataset, dataset_id).status == "purged"
    assert not any(stored(k) for k in keys)


def test_live_datasets_are_never_purged_and_deleted_ones_only_after_the_period(session, principals):
    actor = principals["data_scientist"]
    live = filled(session, actor, "Live", OTHER_CSV + b"12,live,neutral,3,\n")
    recent = filled(session, actor, "Recent", OTHER_CSV + b"13,recent,neutral,3,\n")
    service.delete_dataset(session=session, actor=actor, dataset_id=recent)
    session.commit()
    live_keys, recent_keys = keys_of(session, live), keys_of(session, recent)
    assert service.purge_deleted(session=session) == {}  # deleted just now: its period has not passed
    session.commit()
    assert all(stored(k) for k in live_keys + recent_keys)
    outcome = service.purge_deleted(session=session, now=utcnow() + timedelta(days=3650))
    session.commit()
    assert outcome["datasets"] == 1 and not any(stored(k) for k in recent_keys)
    assert session.get(Dataset, live).status == "available" and all(stored(k) for k in live_keys)
