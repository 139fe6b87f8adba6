"""Serve the already built UI, its websocket and the REST API on one port, without rebuilding.

`python -m backend.cli serve` builds the UI only when its sources changed (see `ui_build_stamp`)
and then starts this module, so a second `make run` starts in seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

from backend.core.config import get_settings

ROOT = Path(__file__).resolve().parent.parent
STAMP_FILE = ".aisystem-build-stamp"


def ui_build_stamp() -> str:
    """A hash of everything the frontend build depends on (the port is compiled into it)."""
    settings = get_settings()
    digest = hashlib.sha256(f"{version('reflex')}|{settings.port}|{settings.public_url}".encode())
    sources = [ROOT / "rxconfig.py", *sorted((ROOT / "aisystem_app").rglob("*.py")),
               *sorted(p for p in (ROOT / "assets").rglob("*") if p.is_file()),
               *sorted(p for p in (ROOT / "reflex.lock").rglob("*") if p.is_file())]
    for path in sources:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(_content(path))
    return digest.hexdigest()


def _content(path: Path) -> bytes:
    # Reflex and Bun rewrite reflex.lock/package.json with different layouts; only its meaning counts.
    if path.suffix == ".json":
        return json.dumps(json.loads(path.read_text()), sort_keys=True).encode()
    return path.read_bytes()


def web_dir() -> Path:
    return ROOT / os.environ.get("REFLEX_WEB_WORKDIR", ".web")


def build_is_current() -> bool:
    stamp = web_dir() / STAMP_FILE
    index = web_dir() / "build" / "client" / "index.html"
    return index.exists() and stamp.exists() and stamp.read_text() == ui_build_stamp()


def record_build() -> None:
    (web_dir() / STAMP_FILE).write_text(ui_build_stamp())


def serve(port: int) -> None:
    """Run the production server on the existing build (what `reflex run --env prod` does after building)."""
    from reflex.constants import LogLevel
    from reflex.utils import exec as reflex_exec

    os.environ["REFLEX_ENV_MODE"] = "prod"
    os.environ["REFLEX_SKIP_COMPILE"] = "true"
    reflex_exec.run_backend_prod("0.0.0.0", port, LogLevel.WARNING, mount_frontend_compiled_app=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--check"]:
        sys.exit(0 if build_is_current() else 1)
    if sys.argv[1:2] == ["--record"]:
        record_build()
        sys.exit(0)
    serve(int(sys.argv[1]))
