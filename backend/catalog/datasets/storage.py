"""Where dataset bytes live: content-addressed blobs, a staging area that never outlives a request,
and a cache of CSV/JSONL exports.

    <artifacts_dir>/datasets/blobs/<sha[:2]>/<sha>.parquet   immutable, named by the sha256 of the bytes
    <artifacts_dir>/datasets/staging/<random>/               one folder per operation, removed on exit
    <artifacts_dir>/datasets/exports/<sha>.<fmt>             derived downloads, written atomically

No path is ever built from client input: names are hex digests or server-generated tokens, and every
path is resolved and checked to stay under the root (symlinks are refused).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backend.core.config import get_settings
from backend.core.errors import AISystemError, PayloadTooLarge

CHUNK = 1024 * 1024
_SHA = re.compile(r"^[0-9a-f]{64}$")
_EXT = re.compile(r"^[a-z0-9]{1,10}$")


def root() -> Path:
    return get_settings().artifacts_dir / "datasets"


def _inside(path: Path, base: Path) -> Path:
    """`path` resolved, refusing anything that leaves `base` or is a symlink (checklist PATH-01)."""
    if path.is_symlink():
        raise AISystemError("DATA_001", "The dataset's data is not available")
    resolved = path.resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise AISystemError("DATA_001", "The dataset's data is not available")
    return resolved


def blob_path(sha256: str, ext: str = "parquet") -> Path:
    """The path of a stored blob (which may not exist yet)."""
    if not _SHA.match(sha256) or not _EXT.match(ext):
        raise AISystemError("DATA_001", "The dataset's data is not available")
    base = root() / "blobs"
    return _inside(base / sha256[:2] / f"{sha256}.{ext}", base)


def existing_blob(sha256: str, ext: str = "parquet") -> Path:
    """A stored blob's path; DATA_001 when it is missing, replaced by a link, or not a plain file."""
    path = blob_path(sha256, ext)
    parent = path.parent
    if parent.is_symlink() or not path.is_file() or path.is_symlink():
        raise AISystemError("DATA_001", "The dataset's data is not available")
    return path


def export_path(sha256: str, fmt: str) -> Path:
    if not _SHA.match(sha256) or not _EXT.match(fmt):
        raise AISystemError("DATA_001", "The dataset's data is not available")
    base = root() / "exports"
    return _inside(base / f"{sha256}.{fmt}", base)


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
    base = root() / "staging"
    base.mkdir(parents=True, exist_ok=True)
    folder = base / secrets.token_hex(12)
    folder.mkdir(mode=0o700)
    try:
        yield Staging(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class StagedFile:
    path: Path
    sha256: str
    size: int
    head: bytes  # the first bytes, for sniffing


def stage_stream(source: BinaryIO, target: Path, *, limit: int | None = None, head_bytes: int = 65536) -> StagedFile:
    """Copy a binary stream to `target` in chunks, hashing and counting; REQ_002 past `limit` bytes."""
    limit = get_settings().max_upload_bytes if limit is None else limit
    digest = hashlib.sha256()
    size = 0
    head = b""
    with open(target, "wb") as out:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(limit)
            if len(head) < head_bytes:
                head += chunk[: head_bytes - len(head)]
            digest.update(chunk)
            out.write(chunk)
    return StagedFile(path=target, sha256=digest.hexdigest(), size=size, head=head)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def commit_blob(staged: Path, ext: str = "parquet") -> tuple[str, int, bool]:
    """Move a finished staging file into the blob store under its sha256: (sha256, size, created).

    Identical content already stored is kept (blobs are immutable) and the staged copy dropped.
    """
    sha = sha256_of(staged)
    size = staged.stat().st_size
    target = blob_path(sha, ext)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        staged.unlink()
        return sha, size, False
    with open(staged, "rb") as f:
        os.fsync(f.fileno())
    os.replace(staged, target)
    os.chmod(target, 0o444)
    return sha, size, True


def remove_blob(sha256: str, ext: str = "parquet") -> None:
    """Remove a blob this process just created for a transaction that then rolled back."""
    with suppress(AISystemError, OSError):
        blob_path(sha256, ext).unlink(missing_ok=True)
