"""House rules that a grep can hold: import direction, no unsafe deserialization, no create_all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [p for d in ("backend", "aisystem_app") for p in (ROOT / d).rglob("*.py")]


def _grep(pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return [f"{p.relative_to(ROOT)}:{i}" for p in SOURCES for i, line in enumerate(p.read_text().splitlines(), 1)
            if rx.search(line) and "noqa: unsafe-ok" not in line]


def test_backend_never_imports_the_ui():
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_unsafe_deserialization():
    assert not _grep(r"weights_only\s*=\s*False"), "torch.load must stay weights_only"
    assert not _grep(r"\bpickle\.loads?\(|\bjoblib\.load\(|\byaml\.load\(|\bdill\.")
    assert not _grep(r"(?<![.\w])(eval|exec)\(")


def test_tables_come_from_migrations_only():
    assert not _grep(r"create_all\(")


def test_celery_accepts_json_only():
    from backend.core.celery_app import create_celery

    conf = create_celery("memory://").conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
