"""Where dataset bytes live, as keys of the platform's artifact store (`backend.core.artifacts`):

    datasets/blobs/<sha[:2]>/<sha>.parquet   immutable, named by the sha256 of the bytes (stored once)
    datasets/exports/<sha>.<fmt>             derived CSV/JSONL downloads; `<sha>.<fmt>sha` holds their hash

and a local scratch folder per operation (`staging()`, under `<artifacts>/datasets/staging/`), removed
on exit. No key is ever built from client input: names are hex digests or server-chosen; the store
checks every key (no `..`, no links followed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sqlmodel import Session, select

from backend.catalog.datasets.models import DatasetVersion
from backend.core import artifacts
from backend.core.config import get_settings
from backend.core.errors import AISystemError

CHUNK = artifacts.CHUNK
BLOBS = "datasets/blobs"
EXPORTS = "datasets/exports"
_SHA = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]{1,10}$")


def root() -> Path:
    """This host's local folder for dataset work files."""
    return artifacts.work_dir() / "datasets"


def unavailable() -> AISystemError:
    return AISystemError("DATA_001", "The dataset's data is not available")


def blob_key(sha256: str, ext: str = "parquet") -> str:
    if not _SHA.match(sha256 or "") or not _EXT.match(ext or ""):
        raise unavailable()
    return artifacts.blob_key(BLOBS, sha256, ext)


def export_key(sha256: str, fmt: str) -> str:
    if not _SHA.match(sha256 or "") or not _EXT.match(fmt or ""):
        raise unavailable()
    return f"{EXPORTS}/{sha256}.{fmt}"


def blob_path(sha256: str, ext: str = "parquet") -> Path:
    """Where a blob lives in a local store (which may not exist yet); for tests and maintenance."""
    return artifacts.local_store().path(blob_key(sha256, ext))


def existing_blob(sha256: str, ext: str = "parquet") -> Path:
    """A local file with a stored blob's bytes; DATA_001 when it is missing or replaced by a link."""
    try:
        return artifacts.get_store().local_path(blob_key(sha256, ext))
    except AISystemError as exc:
        if exc.code in ("ARTIFACT_001", "ARTIFACT_002"):
            raise unavailable() from None
        raise


def commit_blob(staged: Path, ext: str = "parquet") -> tuple[str, int, bool]:
    """Move a finished staging file into the store under its sha256: (sha256, size, created).

    Identical content already stored is kept (blobs are immutable) and the staged copy dropped.
    """
    stored = artifacts.get_store().put_blob(BLOBS, staged, ext=ext, move=True)
    return stored.sha256, stored.size, stored.created


def recorded_files(session: Session) -> dict[str, str]:
    """Store key -> sha256 of every blob a dataset version names (its data and its split)."""
    rows = session.exec(select(DatasetVersion.blob_sha256, DatasetVersion.split_blob_sha256)).all()
    return {blob_key(sha): sha for pair in rows for sha in pair if sha}


def remove_blob(sha256: str, ext: str = "parquet") -> None:
    """Remove a blob this process just created for a transaction that then rolled back."""
    with suppress(AISystemError, OSError):
        artifacts.get_store().delete(blob_key(sha256, ext))


def export(sha256: str, fmt: str, write: Callable[[Path], None]) -> tuple[Path, int, str]:
    """A blob's export in `fmt` as (local file, size, sha256), made by `write(path)` the first time."""
    store, key = artifacts.get_store(), export_key(sha256, fmt)
    sidecar = export_key(sha256, fmt + "sha")
    if not (store.exists(key) and store.exists(sidecar)):
        with staging() as work:
            tmp = work.path(f"export.{fmt}")
            write(tmp)
            stored = store.put(key, tmp, move=True)
            store.put(sidecar, stored.sha256.encode())  # written second: its presence means the export is whole
    path = store.local_path(key)
    return path, path.stat().st_size, store.read_bytes(sidecar).decode().strip()


@dataclass
class Staging:
    """A private folder for one operation; `path(name)` hands out files inside it."""

    dir: Path

    def path(self, name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name) or name.startswith("."):
            raise ValueError("staging names are server-chosen")
        return self.dir / name


@contextmanager
def staging() -> Iterator[Staging]:
    """A fresh staging folder, removed with everything in it when the block exits, however it exits."""
    with artifacts.scratch("datasets/staging") as folder:
        yield Staging(folder)


@dataclass(frozen=True)
class StagedFile:
    path: Path
    sha256: str
    size: int
    head: bytes  # the first bytes, for sniffing


def stage_stream(source: BinaryIO, target: Path, *, limit: int | None = None, head_bytes: int = 65536) -> StagedFile:
    """Copy a binary stream to `target` in chunks, hashing and counting; REQ_002 past `limit` bytes."""
    limit = get_settings().max_upload_bytes if limit is None else limit
    spool = artifacts.Spool(target.parent, limit=limit, path=target, head_bytes=head_bytes).fill(source)
    stored = spool.close()
    return StagedFile(path=target, sha256=stored.sha256, size=stored.size, head=spool.head)


sha256_of = artifacts.sha256_file
