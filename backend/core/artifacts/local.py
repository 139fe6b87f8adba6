"""The local-filesystem artifact backend (the default): files under one root directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from backend.core.artifacts.base import (
    ArtifactStore,
    Source,
    Spool,
    Stored,
    bad_key,
    blob_key,
    check_key,
    check_prefix,
    file_stored,
    missing,
    sha256_file,
)

TEMP = ".tmp"  # keys never start with a dot, so temp files can never collide with one


class LocalStore(ArtifactStore):
    """Files under `root`; writes go to `root/.tmp` first and are renamed into place (atomic on POSIX)."""

    def __init__(self, root: Path):
        self.root = root
        self._resolved_root = root.resolve()
        self.url = f"file://{self._resolved_root}"

    # --- paths -------------------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        """Where `key` lives (it may not exist); its parent must resolve inside the root (a link in the last part is left to
        the reader to refuse, so a planted link reads as missing rather than as somewhere else)."""
        parts = check_key(key).split("/")
        parent = self.root.joinpath(*parts[:-1]).resolve()
        if not parent.is_relative_to(self._resolved_root):
            raise bad_key(key, "outside the store")
        return parent / parts[-1]

    def _file(self, key: str) -> Path:
        path = self.path(key)
        if path.is_symlink() or not path.is_file():
            raise missing(key)
        return path

    def _spool(self, source: Source, limit: int | None) -> tuple[Path, Stored]:
        spool = Spool(self.root / TEMP, limit=limit).fill(source)
        return spool.path, spool.close()

    def _staged(self, source: Source, limit: int | None, move: bool, sha256: str | None) -> tuple[Path, Stored]:
        """A complete local file with the bytes, ours to rename or remove."""
        if move and isinstance(source, Path):
            with open(source, "rb") as f:
                os.fsync(f.fileno())  # it is renamed into place: its bytes must survive a crash
            return source, file_stored(source, limit=limit, sha256=sha256)
        return self._spool(source, limit)

    def _same_device(self, staged: Path) -> Path:
        """`staged`, or a copy of it under the root's temp dir when it lives on another file system."""
        (self.root / TEMP).mkdir(parents=True, exist_ok=True)
        if os.stat(staged).st_dev == os.stat(self.root / TEMP).st_dev:
            return staged
        path, _stored = self._spool(staged, None)
        staged.unlink(missing_ok=True)
        return path

    # --- writing -----------------------------------------------------------------------------------

    def put(self, key: str, source: Source, *, limit: int | None = None, move: bool = False,
            sha256: str | None = None) -> Stored:
        target = self.path(key)
        staged, stored = self._staged(source, limit, move, sha256)
        try:
            staged = self._same_device(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, target)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        return Stored(key=key, sha256=stored.sha256, size=stored.size)

    def put_blob(self, prefix: str, source: Source, *, ext: str = "bin", limit: int | None = None,
                 move: bool = False, sha256: str | None = None) -> Stored:
        staged, stored = self._staged(source, limit, move, sha256)
        try:
            key = blob_key(prefix, stored.sha256, ext)
            target = self.path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            staged = self._same_device(staged)
            try:
                os.link(staged, target)  # fails when the blob exists: identical content is kept once
                created = True
            except FileExistsError:
                created = False
            if created:
                os.chmod(target, 0o444)  # blobs are immutable
        finally:
            staged.unlink(missing_ok=True)
        return Stored(key=key, sha256=stored.sha256, size=stored.size, created=created)

    # --- reading -----------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        return open(self._file(key), "rb")

    def local_path(self, key: str) -> Path:
        return self._file(key)

    def stat(self, key: str) -> Stored:
        path = self._file(key)
        return Stored(key=key, sha256=sha256_file(path), size=path.stat().st_size, created=False)

    def exists(self, key: str) -> bool:
        path = self.path(key)
        return path.is_file() and not path.is_symlink()

    def size(self, key: str) -> int:
        return self._file(key).stat().st_size

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise bad_key(key, "names a folder") from None

    def list(self, prefix: str = "") -> Iterator[str]:
        prefix = check_prefix(prefix)
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self.root.joinpath(*folder.split("/")) if folder else self.root
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            relative = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix) and not name.startswith("."):
                    yield key

    def clear_temp(self) -> None:
        """Remove temp files left by a process that died mid-write (none are ever visible under a key)."""
        shutil.rmtree(self.root / TEMP, ignore_errors=True)
