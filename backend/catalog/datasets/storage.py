"""Where dataset bytes live, as keys of the platform's artifact store (`backend.core.artifacts`):

    datasets/blobs/<sha[:2]>/<sha>.parquet   immutable, named by the sha256 of the bytes (stored once)
    datasets/blobs/<sha[:2]>/<sha>.orig      an upload's original bytes (downloaded as they came)
    datasets/exports/<sha>[.<variant>].<fmt> derived CSV/JSONL downloads (the variant: the value formats
                                             they are written in); `….<fmt>sha` holds their hash

and a local scratch folder per operation (`staging()`, under `<artifacts>/datasets/staging/`), removed
on exit. No key is ever built from client input: names are hex digests or server-chosen; the store
checks every key (no `..`, no links followed).
"""

from __future__ import annotations

import base64
import codecs
import json
import os
import re
import secrets
import shutil
import time
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
_VARIANT = re.compile(r"^[0-9a-f]{1,16}$")
ORIGINAL = "orig"  # the blob extension of an upload's original bytes


def root() -> Path:
    """This host's local folder for dataset work files."""
    return artifacts.work_dir() / "datasets"


def unavailable() -> AISystemError:
    return AISystemError("DATA_001", "The dataset's data is not available")


def blob_key(sha256: str, ext: str = "parquet") -> str:
    if not _SHA.match(sha256 or "") or not _EXT.match(ext or ""):
        raise unavailable()
    return artifacts.blob_key(BLOBS, sha256, ext)


def export_key(sha256: str, fmt: str, variant: str | None = None) -> str:
    if not _SHA.match(sha256 or "") or not _EXT.match(fmt or "") or (variant and not _VARIANT.match(variant)):
        raise unavailable()
    return f"{EXPORTS}/{sha256}.{variant}.{fmt}" if variant else f"{EXPORTS}/{sha256}.{fmt}"


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
    """Store key -> sha256 of every blob a dataset version names (its data, its split, its original bytes)."""
    rows = session.exec(select(DatasetVersion.blob_sha256, DatasetVersion.split_blob_sha256,
                               DatasetVersion.original_sha256)).all()
    named = {blob_key(sha): sha for data, split, _original in rows for sha in (data, split) if sha}
    named.update({blob_key(original, ORIGINAL): original for _data, _split, original in rows if original})
    return named


def commit_original(staged: Path, sha256: str) -> tuple[str, int, bool]:
    """Keep an upload's bytes (moved, not copied) under their sha256: (sha256, size, created)."""
    stored = artifacts.get_store().put_blob(BLOBS, staged, ext=ORIGINAL, move=True, sha256=sha256)
    return stored.sha256, stored.size, stored.created


def remove_blob(sha256: str, ext: str = "parquet") -> None:
    """Remove a blob this process just created for a transaction that then rolled back."""
    with suppress(AISystemError, OSError):
        artifacts.get_store().delete(blob_key(sha256, ext))


def export(sha256: str, fmt: str, write: Callable[[Path], None], *, variant: str | None = None) -> tuple[Path, int, str]:
    """A blob's export in `fmt` (and value formats `variant`) as (local file, size, sha256), made by
    `write(path)` the first time."""
    store, key = artifacts.get_store(), export_key(sha256, fmt, variant)
    sidecar = export_key(sha256, fmt + "sha", variant)
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
    utf8: bool | None = None  # whether every byte decodes as UTF-8 (None: not checked)


class UploadSink:
    """Where an upload's bytes go as they arrive, in one pass: a private staging file, their sha256 and
    size (REQ_002 past `limit`), the first bytes for sniffing and whether they are all UTF-8 — so the
    file is never read again to learn any of that. Not fsynced: only a committed blob must survive a crash."""

    def __init__(self, target: Path, *, limit: int | None = None, head_bytes: int = 65536):
        self.path = target
        self._hasher = artifacts.Hasher(get_settings().max_upload_bytes if limit is None else limit)
        self._file: BinaryIO | None = open(target, "xb")  # noqa: SIM115  (closed by close/abort)
        os.chmod(target, 0o600)
        self._head_bytes = head_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True
        self.head = b""

    @property
    def size(self) -> int:
        return self._hasher.size

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._hasher.update(chunk)
        if len(self.head) < self._head_bytes:
            self.head += chunk[: self._head_bytes - len(self.head)]
        if self._utf8:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self._utf8 = False
        assert self._file is not None, "upload sink closed"
        self._file.write(chunk)

    def fill(self, source: BinaryIO) -> UploadSink:
        """Write a whole stream; the file is removed if that fails."""
        try:
            while chunk := source.read(CHUNK):
                self.write(chunk)
        except BaseException:
            self.abort()
            raise
        return self

    def close(self) -> StagedFile:
        assert self._file is not None, "upload sink closed"
        self._file.close()
        self._file = None
        if self._utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._utf8 = False
        return StagedFile(path=self.path, sha256=self._hasher.sha256, size=self.size, head=self.head,
                          utf8=self._utf8)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


def stage_stream(source: BinaryIO, target: Path, *, limit: int | None = None, head_bytes: int = 65536) -> StagedFile:
    """Copy a binary stream to `target` in chunks, hashing and counting; REQ_002 past `limit` bytes."""
    return UploadSink(target, limit=limit, head_bytes=head_bytes).fill(source).close()


# --- uploads a person is still previewing (the UI's upload dialog) ---------------------------------------

PENDING = "datasets/pending"
PENDING_MAX_AGE_SECONDS = 6 * 3600


def pending_folder() -> Path:
    """A fresh private folder for an upload that waits for its import options (removed by `discard_pending`,
    or by `sweep_pending` once older than PENDING_MAX_AGE_SECONDS)."""
    base = artifacts.work_dir().joinpath(*PENDING.split("/"))
    base.mkdir(parents=True, exist_ok=True)
    sweep_pending()
    folder = base / secrets.token_hex(12)
    folder.mkdir(mode=0o700)
    return folder


def pending_path(folder: str | Path | None) -> Path | None:
    """A pending folder handed out earlier, if it still exists (never a path outside the pending area)."""
    if not folder:
        return None
    base = artifacts.work_dir().joinpath(*PENDING.split("/")).resolve()
    path = Path(folder).resolve()
    if path.parent != base or not re.fullmatch(r"[0-9a-f]{24}", path.name) or not path.is_dir():
        return None
    return path


def keep_pending(folder: Path, staged: StagedFile, filename: str | None) -> None:
    """Remember what a pending upload is (hash, size, head, UTF-8 check, the client's file name) beside it,
    so each preview and the import take it as staged without reading it again."""
    meta = {"sha256": staged.sha256, "size": staged.size, "head": base64.b64encode(staged.head).decode(),
            "utf8": staged.utf8, "filename": filename, "file": staged.path.name}
    (folder / "upload.json").write_text(json.dumps(meta))


def pending_upload(folder: str | Path | None) -> tuple[StagedFile, str | None] | None:
    """The staged file of a pending upload and its client's file name; None when it is gone."""
    path = pending_path(folder)
    if path is None or not (path / "upload.json").is_file():
        return None
    meta = json.loads((path / "upload.json").read_text())
    file = path / str(meta["file"])
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", str(meta["file"])) or not file.is_file():
        return None
    return StagedFile(path=file, sha256=meta["sha256"], size=meta["size"], head=base64.b64decode(meta["head"]),
                      utf8=meta["utf8"]), meta.get("filename")


def discard_pending(folder: str | Path | None) -> None:
    path = pending_path(folder)
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


def sweep_pending(max_age: float = PENDING_MAX_AGE_SECONDS) -> None:
    """Remove pending uploads nobody came back to."""
    base = artifacts.work_dir().joinpath(*PENDING.split("/"))
    if not base.is_dir():
        return
    cutoff = time.time() - max_age
    for folder in base.iterdir():
        with suppress(OSError):
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)


sha256_of = artifacts.sha256_file
