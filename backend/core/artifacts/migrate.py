"""Copy files kept in the old local layout (`<data dir>/artifacts/...`) into the configured store.

The keys do not change: a file at `<source>/<key>` is stored under `<key>`. Only files the database
refers to are copied, each checked against the hash recorded for it, before and after the copy.
Running it again copies nothing that is already there with the right hash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from backend.core.artifacts.base import ArtifactStore, check_key, sha256_file
from backend.core.errors import AISystemError


@dataclass
class Report:
    copied: int = 0
    present: int = 0  # already in the store with the right hash
    unreferenced: int = 0  # work files, derived caches and files no record names: left where they are
    missing: list[str] = field(default_factory=list)  # recorded but not found under the source
    failed: list[str] = field(default_factory=list)  # bytes that do not match their recorded hash

    def lines(self) -> list[str]:
        return [f"copied {self.copied}, already present {self.present}, not referenced {self.unreferenced}, "
                f"missing {len(self.missing)}, failed {len(self.failed)}",
                *(f"missing: {key}" for key in self.missing), *(f"hash mismatch: {key}" for key in self.failed)]


def _in_store(store: ArtifactStore, key: str, sha256: str) -> bool:
    try:
        return store.stat(key).sha256 == sha256
    except AISystemError as exc:
        if exc.code == "ARTIFACT_002":
            return False
        raise


def copy_into(source: Path, store: ArtifactStore, expected: Mapping[str, str]) -> Report:
    """Copy `source/<key>` to `store` for every `key -> sha256` in `expected`, verified; the source stays."""
    report = Report()
    for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink()):
        key = path.relative_to(source).as_posix()
        try:
            check_key(key)
        except AISystemError:
            key = ""
        if key not in expected:
            report.unreferenced += 1
    for key, sha256 in sorted(expected.items()):
        path = source.joinpath(*check_key(key).split("/"))
        if _in_store(store, key, sha256):
            report.present += 1
        elif path.is_symlink() or not path.is_file():
            report.missing.append(key)
        elif sha256_file(path) != sha256:
            report.failed.append(key)
        elif store.put(key, path).sha256 != sha256:  # changed while we copied it
            store.delete(key)
            report.failed.append(key)
        else:
            report.copied += 1
    return report
