"""What every artifact backend shares: the key rule, the file-name rule, hashing and the interface."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from backend.core.errors import AISystemError, PayloadTooLarge

CHUNK = 1024 * 1024
MAX_KEY = 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_UNSAFE_NAME = re.compile(r"[\\/:*?\"<>|\x00-\x1f\x7f-\x9f]")
# Bidirectional controls (U+061C, U+200E/F, U+202A-E, U+2066-9): "invoice\u202efdp.exe" shows as
# "invoiceexe.pdf". They are removed from a file name, so it reads as what it is.
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# What a write accepts: bytes, a binary stream, an iterable of byte chunks, or a local file.
Source = bytes | BinaryIO | Iterable[bytes] | Path


@dataclass(frozen=True)
class Stored:
    """A stored file: its key, sha256 and size; `created` is False when identical content was already there."""

    key: str
    sha256: str
    size: int
    created: bool = True


def bad_key(key: object, reason: str) -> AISystemError:
    return AISystemError("ARTIFACT_001", f"The artifact key is not valid: {reason}",
                         {"key": str(key)[:200].encode("unicode_escape").decode()})


def check_key(key: str) -> str:
    """`key` when it is a relative path of safe parts; ARTIFACT_001 otherwise (the one containment rule).

    Refused: empty or over 1024 characters, absolute paths, drive letters, backslashes, NUL and control
    characters, empty, `.` or `..` parts, and parts starting with a dot (reserved for temp files).
    """
    if not isinstance(key, str) or not key:
        raise bad_key(key, "empty")
    if len(key) > MAX_KEY:
        raise bad_key(key, f"over {MAX_KEY} characters")
    if _CONTROL.search(key):
        raise bad_key(key, "control character")
    if key.startswith("/") or "\\" in key or re.match(r"^[A-Za-z]:", key):
        raise bad_key(key, "not a relative path")
    for part in key.split("/"):
        if not part or part.startswith(".") or len(part) > 255:
            raise bad_key(key, "empty, hidden or over-long part")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a valid key with an optional trailing slash."""
    return prefix if not prefix else check_key(prefix.rstrip("/")) + ("/" if prefix.endswith("/") else "")


def blob_key(prefix: str, sha256: str, ext: str = "bin") -> str:
    """The content address of a blob: `<prefix>/<sha[:2]>/<sha>.<ext>`."""
    if not SHA256.match(sha256 or "") or not re.fullmatch(r"[a-z0-9]{1,10}", ext or ""):
        raise bad_key(f"{prefix}/{sha256}.{ext}", "not a sha256 and a short lower-case extension")
    return check_key(f"{prefix.strip('/')}/{sha256[:2]}/{sha256}.{ext}")


def safe_file_name(name: str | None, *, limit: int = 200) -> str | None:
    """A client's file name as harmless display metadata (the one naming rule): last path part, NFC,
    no control, bidi-control or path characters, no leading/trailing dots or spaces, `limit` characters
    at most."""
    if not name:
        return None
    base = re.split(r"[\\/]", name)[-1]
    base = _UNSAFE_NAME.sub("_", BIDI_CONTROLS.sub("", unicodedata.normalize("NFC", base))).strip(" .")
    return base[:limit].strip(" .") or None


def download_name(title: str, suffix: str = "", *, fallback: str = "download", limit: int = 80) -> str:
    """A server-made file name for a download from a display title: ASCII letters, digits, `.-_` only."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("._")[:limit].strip("._") or fallback
    return base + suffix


def chunks_of(source: Source) -> Iterator[bytes]:
    """The bytes of any accepted source, one chunk at a time."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield bytes(source)
    elif isinstance(source, Path):
        with open(source, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    elif hasattr(source, "read"):
        while chunk := source.read(CHUNK):
            yield chunk
    else:
        for chunk in source:
            if chunk:
                yield bytes(chunk)


class Hasher:
    """Counts and hashes bytes on their way through; REQ_002 once they pass `limit`."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.size = 0
        self._digest = hashlib.sha256()

    def update(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise PayloadTooLarge(self.limit)
        self._digest.update(chunk)
        return chunk

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def sha256_file(path: Path) -> str:
    """The sha256 of a local file, read in chunks."""
    hasher = Hasher()
    for chunk in chunks_of(path):
        hasher.update(chunk)
    return hasher.sha256


def file_stored(path: Path, *, limit: int | None = None, sha256: str | None = None) -> Stored:
    """Hash and size of a finished local file (the hash given by its writer is trusted); REQ_002 past `limit`."""
    size = path.stat().st_size
    if limit is not None and size > limit:
        raise PayloadTooLarge(limit)
    return Stored(key=path.name, sha256=sha256 or sha256_file(path), size=size)


class Spool:
    """A private local temp file that counts and hashes what is written (uploads, staging).

    `finish()` closes it and returns its path, hash, size and first bytes; `abort()` removes it. A
    backend can take the finished file with `put(..., move=True)` without copying it again.
    """

    def __init__(self, directory: Path, *, limit: int | None = None, path: Path | None = None,
                 head_bytes: int = 65536):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = path or directory / f"spool-{secrets.token_hex(16)}.part"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self._hasher = Hasher(limit)
        self._head_bytes = head_bytes
        self.head = b""

    @property
    def size(self) -> int:
        return self._hasher.size

    @property
    def limit(self) -> int | None:
        return self._hasher.limit

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._hasher.update(chunk)
        if len(self.head) < self._head_bytes:
            self.head += chunk[: self._head_bytes - len(self.head)]
        assert self._file is not None
        self._file.write(chunk)

    def fill(self, source: Source) -> Spool:
        """Write a whole source; the file is removed if that fails."""
        try:
            for chunk in chunks_of(source):
                self.write(chunk)
        except BaseException:
            self.abort()
            raise
        return self

    def close(self) -> Stored:
        """Flush to disk and close; the path's hash and size."""
        assert self._file is not None, "spool already closed"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        return Stored(key=self.path.name, sha256=self._hasher.sha256, size=self.size)

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)


class ArtifactStore(ABC):
    """Where the platform keeps files. Keys are `/`-separated relative paths (see `check_key`).

    Writes are atomic: a file appears under its key complete or not at all, and a failed write
    leaves nothing. `put_blob` names content by its hash, so identical bytes are stored once.
    """

    url: str

    @abstractmethod
    def put(self, key: str, source: Source, *, limit: int | None = None, move: bool = False,
            sha256: str | None = None) -> Stored:
        """Write `source` under `key` (replacing it), hashing on the way.

        With `move`, a Path source is consumed (renamed in place when it can be). `sha256` is the hash of a
        Path source that its writer computed on the way in (a `Spool`'s), so the file is not read twice.
        """

    @abstractmethod
    def put_blob(self, prefix: str, source: Source, *, ext: str = "bin", limit: int | None = None,
                 move: bool = False, sha256: str | None = None) -> Stored:
        """Write `source` under its content address below `prefix`; `created` is False when it was there."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A binary stream of the stored bytes; ARTIFACT_002 when missing."""

    @abstractmethod
    def local_path(self, key: str) -> Path:
        """A real local file with the stored bytes (the file itself, or a verified cache copy)."""

    @abstractmethod
    def stat(self, key: str) -> Stored:
        """Key, sha256 and size of a stored file; ARTIFACT_002 when missing."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove a file; nothing happens when it is not there."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Every key that starts with `prefix`, in no promised order."""

    def read_bytes(self, key: str) -> bytes:
        """The whole file (small files only)."""
        with self.open(key) as stream:
            return stream.read()


def missing(key: str) -> AISystemError:
    return AISystemError("ARTIFACT_002", "No file is stored under this key", {"key": key[:200]})
