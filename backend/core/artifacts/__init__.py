"""One store for every file the platform keeps: dataset blobs, model artifacts, and next checkpoints,
generated applications, batch-prediction outputs and benchmark reports.

The local directory `<data dir>/artifacts` is the default; `AISYSTEM_ARTIFACT_URL=s3://bucket/prefix`
selects an S3-compatible server shared by workers on several hosts (`file:///path` another directory).

    from backend.core import artifacts

    store = artifacts.get_store()
    report = store.put("reports/bench_1/summary.json", b'{"rows": 3}')     # atomic; report.sha256
    ckpt = store.put_blob("checkpoints", path, ext="ckpt", move=True)        # named by hash, stored once
    with store.open(ckpt.key) as stream: ...                                  # read as a stream
    weights = store.local_path(ckpt.key)                                      # a real file (S3: verified cache)
    store.exists(key), store.size(key), store.stat(key).sha256, store.delete(key), list(store.list("reports/"))

Keys are relative `/`-separated paths checked by `check_key` (ARTIFACT_001 otherwise); a missing file
is ARTIFACT_002. A client's file name never becomes a key: keep it as metadata through `safe_file_name`.
Local work files (upload spools, scratch folders, the S3 read cache) live under the data dir whatever
the backend: `spool()` and `scratch()`.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from backend.core.artifacts.base import (
    CHUNK,
    ArtifactStore,
    Hasher,
    Source,
    Spool,
    Stored,
    blob_key,
    check_key,
    chunks_of,
    download_name,
    safe_file_name,
    sha256_file,
)
from backend.core.artifacts.local import LocalStore
from backend.core.config import get_settings

__all__ = ["CHUNK", "ArtifactStore", "Hasher", "LocalStore", "Source", "Spool", "Stored", "blob_key", "check_key",
           "chunks_of", "download_name", "get_store", "local_store", "open_store", "safe_file_name", "scratch",
           "sha256_file", "spool", "sweep_leftovers", "work_dir"]


def work_dir() -> Path:
    """This host's folder for local work files (never shared between hosts)."""
    return get_settings().artifacts_dir


def open_store(url: str | None, *, work: Path) -> ArtifactStore:
    """The store a URL names: None or `file:///path` local, `s3://bucket/prefix` S3-compatible."""
    if not url:
        return LocalStore(work)
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStore(Path(parsed.path))
    if parsed.scheme == "s3" and parsed.netloc:
        from backend.core.artifacts.s3 import S3Store

        return S3Store(parsed.netloc, parsed.path, work_dir=work)
    raise ValueError(f"AISYSTEM_ARTIFACT_URL must be file:///path or s3://bucket/prefix, not {url!r}")


@lru_cache(maxsize=8)
def _cached_store(url: str | None, work: Path, endpoint: str | None) -> ArtifactStore:
    return open_store(url, work=work)


def reset_store_cache() -> None:
    """Forget the stores built so far (a process forked to run with other settings)."""
    _cached_store.cache_clear()


def get_store() -> ArtifactStore:
    """The configured store (one per configuration and process: an S3 client is costly to build)."""
    settings = get_settings()
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    return _cached_store(settings.artifact_url, settings.artifacts_dir, endpoint)


def local_store() -> LocalStore:
    """The configured store when it is a local directory (for tests and maintenance that need paths)."""
    store = get_store()
    if not isinstance(store, LocalStore):
        raise TypeError(f"the artifact store {store.url} is not a local directory")
    return store


def spool(*, limit: int | None = None) -> Spool:
    """A local temp file that counts (REQ_002 past `limit`) and hashes what is written to it."""
    return Spool(work_dir() / "tmp", limit=limit)


# Where `scratch()` folders live (`under`): a killed process leaves them behind, so `sweep_leftovers` looks there.
SCRATCH_AREAS = ("tmp", "datasets/staging")
_SCRATCH_NAME = re.compile(r"^[0-9a-f]{24}$")
_SPOOL_NAME = re.compile(r"^spool-[0-9a-f]{32}\.part$")


@contextmanager
def scratch(under: str = "tmp") -> Iterator[Path]:
    """A fresh private local folder below `under` (one of SCRATCH_AREAS), removed with its contents
    however the block exits."""
    base = work_dir().joinpath(*check_key(under).split("/"))
    base.mkdir(parents=True, exist_ok=True)
    folder = base / secrets.token_hex(12)
    folder.mkdir(mode=0o700)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_leftovers(*, max_age_seconds: float) -> int:
    """Remove the upload spools (`spool-*.part`) and scratch folders that a killed process (SIGKILL,
    power loss) never removed, once nothing was written in them for `max_age_seconds`; the number
    removed. Run when `serve` starts and by the workers' housekeeping. Only names these helpers hand out
    are touched."""
    base = work_dir()
    roots = {base}
    store = get_store()
    if isinstance(store, LocalStore):
        roots.add(store.root)
    cutoff = time.time() - max_age_seconds
    removed = 0
    for root in roots:
        for folder in (root / ".tmp", root / "tmp", root / "cache" / "tmp"):
            removed += _sweep(folder, _SPOOL_NAME, cutoff, folders=False)
    for area in SCRATCH_AREAS:
        removed += _sweep(base.joinpath(*area.split("/")), _SCRATCH_NAME, cutoff, folders=True)
    return removed


def _sweep(folder: Path, name: re.Pattern[str], cutoff: float, *, folders: bool) -> int:
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        if not name.match(entry.name) or entry.is_symlink() or entry.is_dir() != folders:
            continue
        try:
            if _last_written(Path(entry.path)) >= cutoff:
                continue
            if folders:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


def _last_written(path: Path) -> float:
    """The latest modification time of a file, or of a folder and what is directly in it (a file being
    written moves its own time, not its folder's)."""
    latest = path.stat().st_mtime
    if path.is_dir():
        for entry in os.scandir(path):
            latest = max(latest, entry.stat(follow_symlinks=False).st_mtime)
    return latest
