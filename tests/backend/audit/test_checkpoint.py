"""The signed checkpoint outside the database: written within its interval after commits (not on each
one) and at exit, and still what catches a tail rewritten with recomputed hashes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlmodel import col, select

from backend.audit import checkpoint
from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.core.config import get_settings
from backend.core.db import get_engine, session_scope

ROOT = Path(__file__).resolve().parents[3]


def append(n: int = 1) -> tuple[int, str]:
    """Commit `n` audited transactions; the chain head (seq, hash) after them."""
    for i in range(n):
        with session_scope() as s:
            row = audit.record(session=s, actor=None, actor_name="tester", action="test.event", summary={"i": i})
            head = (row.seq, row.hash)
    return head


def wait_for_checkpoint(seq: int, timeout: float) -> tuple[int, str] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = checkpoint.read_checkpoint()
        if current and current[0] >= seq:
            return current
        time.sleep(0.02)
    return checkpoint.read_checkpoint()


def test_commits_move_the_checkpoint_within_its_interval_not_on_each_commit(db_backend, monkeypatch):
    interval = 2.0
    monkeypatch.setattr(get_settings(), "audit_checkpoint_seconds", interval)
    writes: list[int] = []
    real_write = checkpoint.write_checkpoint

    def counting_write(seq: int, digest: str) -> None:
        writes.append(seq)
        real_write(seq, digest)

    monkeypatch.setattr(checkpoint, "write_checkpoint", counting_write)
    checkpoint.flush_checkpoint()  # start from a quiet spell: nothing pending, the interval over
    time.sleep(interval)

    first = append()
    assert wait_for_checkpoint(first[0], timeout=interval / 2) == first  # after a quiet spell: at once
    started = time.monotonic()
    head = append(20)
    committing = time.monotonic() - started
    assert wait_for_checkpoint(head[0], timeout=interval + 1.5) == head  # within the interval (+ slack)
    # One write after the quiet spell, at most one per interval while the commits went on, and the last.
    most = 2 + int(committing / interval) + 1
    assert len(writes) <= min(most, 20), f"the checkpoint was written {len(writes)} times for 21 commits"


def test_interval_zero_writes_the_checkpoint_at_every_commit(db_backend, monkeypatch):
    monkeypatch.setattr(get_settings(), "audit_checkpoint_seconds", 0)
    for _ in range(3):
        head = append()
        assert checkpoint.read_checkpoint() == head


def test_a_process_that_exits_writes_its_last_head(db_backend, tmp_path):
    """The interval is long (300 s) and the process commits twice: the first head is written at once,
    the second only at exit."""
    script = (
        "import time\n"
        "from backend.audit import checkpoint, service as audit\n"
        "from backend.core.db import session_scope\n"
        "def commit():\n"
        "    with session_scope() as s:\n"
        "        return audit.record(session=s, actor=None, actor_name='exiting', action='test.exit').seq\n"
        "first = commit()\n"
        "for _ in range(500):\n"
        "    if (checkpoint.read_checkpoint() or (0,))[0] == first: break\n"
        "    time.sleep(0.01)\n"
        "second = commit()\n"
        "time.sleep(0.3)\n"
        "print(second, checkpoint.read_checkpoint()[0], flush=True)\n"
    )
    env = dict(os.environ, AISYSTEM_DATA_DIR=str(tmp_path), AISYSTEM_DATABASE_URL=get_settings().sqlalchemy_url,
               AISYSTEM_AUDIT_CHECKPOINT_SECONDS="300", AISYSTEM_LOG_LEVEL="WARNING")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    head, written_before_exit = map(int, done.stdout.split())
    assert written_before_exit == head - 1  # the second commit waited for its interval …
    assert time.monotonic() - started < 100  # … which exit did not wait for
    data = (tmp_path / checkpoint.CHECKPOINT_FILE).read_text()
    assert f'"seq": {head}' in data  # … and exit wrote it


def _forge_last(rows: list[AuditRecord]) -> None:
    """Rewrite the last record and recompute its hash (the chain alone then looks intact)."""
    last = rows[-1]
    forged = AuditRecord(**{**last.model_dump(), "actor_name": "forger"})
    forged.hash = audit.chain_hash(forged.prev_hash, forged)
    engine = get_engine()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS governance_audit_record_no_update"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE governance_audit_record SET actor_name = 'forger', hash = :h WHERE seq = :s"),
                     {"h": forged.hash, "s": last.seq})


def test_a_tail_rewritten_after_the_background_checkpoint_is_found(db_backend, principals, monkeypatch):
    monkeypatch.setattr(get_settings(), "audit_checkpoint_seconds", 0.3)
    head = append(5)
    assert wait_for_checkpoint(head[0], timeout=2) == head  # no verify ran: the commits' own checkpoint
    with session_scope(write=False) as s:
        rows = s.exec(select(AuditRecord).order_by(col(AuditRecord.seq))).all()
        assert audit.verify(session=s, actor=principals["admin"]).valid
    _forge_last(rows)
    with session_scope(write=False) as s:
        result = audit.verify(session=s, actor=principals["admin"])
    assert not result.valid and "checkpoint" in result.reason
