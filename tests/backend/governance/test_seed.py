"""The demo policies: the issue's four examples, valid, in audit mode, seeded once."""

from __future__ import annotations

from sqlmodel import select

from backend.core.db import session_scope
from backend.governance.models import Policy
from backend.governance.seed import DEMO_POLICIES, seed_policies


def test_the_demo_policies_are_seeded_once_in_audit_mode(demo_users):
    with session_scope() as s:
        assert seed_policies(s).startswith("4 demo policies")
    with session_scope() as s:
        assert seed_policies(s) == "demo policies present"
        rows = s.exec(select(Policy)).all()
    assert sorted(p.name for p in rows) == sorted(d["name"] for d in DEMO_POLICIES)
    assert {p.enforcement for p in rows} == {"audit"} and all(p.enabled for p in rows)
