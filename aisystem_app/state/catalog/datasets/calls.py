"""Units of work of the dataset detail page: plain functions `(session, principal) -> value` that the
state hands to `invoke` (which runs them as the signed-in user, in a worker thread).

Refusals the user can act on (a step naming a missing column, ratios that do not add up, a file
that cannot be read) come back as a `Refusal` value, shown inline in the dialog, after rolling the
unit of work back; everything else raises and becomes a toast.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlmodel import Session

from aisystem_app.errors import field_errors
from backend.auth import service as auth_service
from backend.auth.principal import Principal
from backend.catalog.datasets import rows as data_rows
from backend.catalog.datasets import service as datasets
from backend.catalog.datasets import storage
from backend.catalog.datasets.schemas import AccessEntry, ImportOptions, SplitRequest
from backend.core.errors import AISystemError, InvalidRequest, NotAuthenticated
from backend.core.pagination import PageParams
from backend.lineage.schemas import LineageGraph

# Only to show or hide buttons: the datasets service decides what the user may do.
WRITE, SHARE = "dataset:write", "dataset:share"
DELETE = "dataset:delete"
VERSIONS_SHOWN = 50
EXPLAINED = frozenset({"REQ_001", "REQ_002", "DATA_002", "DATA_003", "DATA_004"})
T = TypeVar("T")


@dataclass(frozen=True)
class Refusal:
    """Why the service refused, in its own words, for the dialog that asked."""

    code: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)


def explained(work: Callable[[Session, Principal], T]) -> Callable[[Session, Principal], T | Refusal]:
    """`work`, with the refusals a user can fix returned as a `Refusal` (the transaction rolled back)."""

    def wrapped(session: Session, principal: Principal) -> T | Refusal:
        try:
            return work(session, principal)
        except AISystemError as error:
            if error.code not in EXPLAINED:
                raise
            session.rollback()
            return Refusal(error.code, error.message, field_errors(error))

    return wrapped


@dataclass(frozen=True)
class Detail:
    """Everything the detail page shows, read in one unit of work."""

    doc: dict[str, Any]
    profile: dict[str, Any] | None
    versions: list[dict[str, Any]]
    access: list[dict[str, Any]]
    names: dict[str, str]
    may_write: bool
    may_manage: bool
    lineage: LineageGraph
    may_delete: bool = False


def _usernames(session: Session, user_ids: set[str]) -> dict[str, str]:
    names = {}
    for user_id in user_ids:
        with suppress(NotAuthenticated):
            names[user_id] = auth_service.get_user(session=session, user_id=user_id).username
    return names


def read_detail(dataset_id: str) -> Callable[[Session, Principal], Detail]:
    """The dataset document (figures from its newest version's profile), versions and access list."""

    def work(session: Session, principal: Principal) -> Detail:
        kw = {"session": session, "actor": principal, "dataset_id": dataset_id}
        dataset = datasets.get_dataset(**kw)
        profile = datasets.profile(**kw)[2] if dataset.current_version is not None else None
        doc = datasets.dataset_document(session=session, actor=principal, dataset=dataset)
        if profile is not None:
            doc["statistics"], doc["quality"] = profile["statistics"], profile["quality"]
        rows, _cursor = datasets.list_versions(**kw, params=PageParams(limit=VERSIONS_SHOWN))
        versions = [datasets.version_document(row, include_analysis=False) for row in rows]
        _dataset, entries = datasets.get_access(**kw)
        access = [entry.model_dump() for entry in entries]
        people = {dataset.created_by, *(a["granted_by"] for a in access),
                  *(a["subject"] for a in access if a["subject_type"] == "user")}
        level = doc["access"]
        return Detail(doc, profile, versions, access, _usernames(session, people),
                      may_write=level in ("admin", "owner", "write") and principal.can(WRITE),
                      may_manage=level in ("admin", "owner") and principal.can(SHARE),
                      lineage=datasets.lineage_graph(**kw),
                      may_delete=level in ("admin", "owner") and principal.can(DELETE))

    return work


def check_write(dataset_id: str) -> Callable[[Session, Principal], None]:
    """Refuses (DATA_001 / AUTH_002) unless the caller may add versions to the dataset."""

    def work(session: Session, principal: Principal) -> None:
        datasets.get_dataset(session=session, actor=principal, dataset_id=dataset_id, need="write")

    return work


def split(dataset_id: str, request: SplitRequest) -> Callable[[Session, Principal], int | Refusal]:
    """Split the newest version; its number."""

    def work(session: Session, principal: Principal) -> int:
        return datasets.split(session=session, actor=principal, dataset_id=dataset_id, request=request).number

    return explained(work)


def transform(dataset_id: str, steps: list[dict[str, Any]],
              message: str | None) -> Callable[[Session, Principal], int | Refusal]:
    """Run the steps on the newest version; the new version's number."""

    def work(session: Session, principal: Principal) -> int:
        return datasets.transform(session=session, actor=principal, dataset_id=dataset_id, steps=steps,
                                  message=message).number

    return explained(work)


def validate(dataset_id: str, rules: list[dict[str, Any]]) -> Callable[[Session, Principal], dict | Refusal]:
    """Check the rules on the newest version; the report."""

    def work(session: Session, principal: Principal) -> dict[str, Any]:
        return datasets.validate(session=session, actor=principal, dataset_id=dataset_id, rules=rules)

    return explained(work)


def _subject(session: Session, entry: AccessEntry) -> AccessEntry:
    """Users are named by username in the form; the ACL stores their id."""
    if entry.subject_type != "user":
        return entry
    user = auth_service.find_user_by_username(session=session, username=entry.subject)
    if user is None:
        raise InvalidRequest("No such user", {"subject": "No user has this username"})
    return entry.model_copy(update={"subject": user.id})


def share(dataset_id: str, entry: AccessEntry) -> Callable[[Session, Principal], None | Refusal]:
    """Grant (or change) one subject's access."""

    def work(session: Session, principal: Principal) -> None:
        datasets.share(session=session, actor=principal, dataset_id=dataset_id, entry=_subject(session, entry))

    return explained(work)


def revoke(dataset_id: str, subject_type: str, subject: str) -> Callable[[Session, Principal], None | Refusal]:
    """Take one subject off the access list (the rest stays as it is)."""

    def work(session: Session, principal: Principal) -> None:
        _dataset, entries = datasets.get_access(session=session, actor=principal, dataset_id=dataset_id)
        keep = [AccessEntry(subject_type=e.subject_type, subject=e.subject, permission=e.permission)
                for e in entries if (e.subject_type, e.subject) != (subject_type, subject)]
        datasets.set_access(session=session, actor=principal, dataset_id=dataset_id, entries=keep)

    return explained(work)


# --- the data viewer, download and delete ----------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """A page of a version's rows, and which version that is."""

    version: int
    records: int  # the version's rows, whatever the filter
    page: data_rows.RowsPage


def read_rows(dataset_id: str, version: int | None, *, offset: int, limit: int, sort: str | None,
              descending: bool, filter: str | None) -> Callable[[Session, Principal], Rows | Refusal]:  # noqa: A002
    """A page of a version's rows (the newest version when `version` is None); a bad sort or filter is a Refusal."""

    def work(session: Session, principal: Principal) -> Rows:
        row, page = datasets.read_rows(session=session, actor=principal, dataset_id=dataset_id, version=version,
                                       limit=limit, offset=offset, sort=sort, descending=descending, filter=filter)
        return Rows(row.number, row.record_count, page)

    return explained(work)


@dataclass(frozen=True)
class Download:
    """A file ready for the browser to fetch: which version, in which format, under which name."""

    version: int
    fmt: str
    filename: str


def prepare_download(dataset_id: str, version: int | None, fmt: str) -> Callable[[Session, Principal], Download]:
    """Check that the user may download the version in `fmt` and make the file ready (a CSV or JSON Lines
    export is written the first time), so that the browser's request for it answers at once."""

    def work(session: Session, principal: Principal) -> Download:
        item = datasets.download(session=session, actor=principal, dataset_id=dataset_id, version=version, fmt=fmt)
        number = version or datasets.get_dataset(session=session, actor=principal, dataset_id=dataset_id).current_version
        return Download(number, fmt, item.filename)

    return work


def delete(dataset_id: str) -> Callable[[Session, Principal], str]:
    """Soft-delete the dataset (owner or admin, with `dataset:delete`); its name, for the toast."""

    def work(session: Session, principal: Principal) -> str:
        name = datasets.get_dataset(session=session, actor=principal, dataset_id=dataset_id, need="delete").name
        datasets.delete_dataset(session=session, actor=principal, dataset_id=dataset_id)
        return name

    return work


# --- the upload dialog: preview and import with options -------------------------------------------------


@dataclass(frozen=True)
class Imported:
    """What an upload made: the service's message (a new version, or a duplicate) and what to check."""

    message: str
    warnings: list[str]


def import_file(dataset_id: str, staged: storage.StagedFile, filename: str | None,
                options: ImportOptions | None) -> Callable[[Session, Principal], Imported | Refusal]:
    """Upload a received (staged) file as a new version with the import options."""

    def work(session: Session, principal: Principal) -> Imported:
        outcome = datasets.upload(session=session, actor=principal, dataset_id=dataset_id, source=staged,
                                  filename=filename, options=options)
        return Imported(outcome.message, outcome.warnings)

    return explained(work)


def preview(dataset_id: str, folder: str, options: ImportOptions) -> Callable[[Session, Principal], dict | Refusal]:
    """What the pending file would become with `options` (nothing is stored)."""

    def work(session: Session, principal: Principal) -> dict[str, Any]:
        pending = storage.pending_upload(folder)
        if pending is None:
            raise AISystemError("DATA_004", "The previewed file is gone; choose it again")
        staged, filename = pending
        return datasets.preview_upload(session=session, actor=principal, dataset_id=dataset_id, source=staged,
                                       filename=filename, options=options)

    return explained(work)


def import_pending(dataset_id: str, folder: str,
                   options: ImportOptions) -> Callable[[Session, Principal], Imported | Refusal]:
    """Make the version from the previewed file with `options`."""

    def work(session: Session, principal: Principal) -> Imported:
        pending = storage.pending_upload(folder)
        if pending is None:
            raise AISystemError("DATA_004", "The previewed file is gone; choose it again")
        staged, filename = pending
        return import_file(dataset_id, staged, filename, options)(session, principal)

    return explained(work)
