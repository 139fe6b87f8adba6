"""Dashboard figures are counted from the database, day by day."""

from __future__ import annotations

from backend.core.db import session_scope
from backend.core.timeutil import utcnow
from backend.platform_stats import service


def test_dashboard_counts_what_exists(api, auth):
    api.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"})
    auth.headers("ml_ops")
    with session_scope(write=False) as s:
        figures = service.dashboard_figures(session=s)
    assert figures["users"] == 6
    assert figures["auditEvents24h"] >= 8  # six accounts created, one failed and one good login
    today = figures["activity"][-1]
    assert len(figures["activity"]) == 14 and today["day"] == utcnow().date().isoformat()
    assert today["failure"] == 1 and today["success"] >= 7
    assert all(day["success"] == day["failure"] == day["denied"] == 0 for day in figures["activity"][:-1])
