"""The audit trail: what gets recorded, search and reports, and tamper detection."""

from __future__ import annotations

import csv
import io
import logging

import pytest
from sqlalchemy import text
from sqlmodel import select

from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.auth.models import User
from backend.core.db import get_engine, session_scope
from backend.core.errors import UnauditedChange
from tests.conftest import DEMO_PASSWORD

AUDIT = "/api/v1/governance/audit"


def records(api, auth, **params):
    return api.get(AUDIT, params={"limit": 500, **params}, headers=auth.headers("admin")).json()["items"]


def test_logins_and_changes_are_recorded_with_context(api, auth):
    api.post("/api/v1/auth/login", json={"username": "ml_ops", "password": "wrong"})
    created = api.post("/api/v1/auth/api-keys", json={"name": "k"}, headers={**auth.headers("ml_ops"),
                       "X-Request-ID": "trace-42"})
    rows = records(api, auth, actor="ml_ops")
    actions = [(r["action"], r["outcome"]) for r in rows]
    assert ("apikey.create", "success") in actions and ("auth.login", "success") in actions
    failed = records(api, auth, action="auth.login", outcome="failure")
    assert [r["actorName"] for r in failed] == ["ml_ops"]
    key_record = next(r for r in rows if r["action"] == "apikey.create")
    assert key_record["requestId"] == "trace-42"
    assert key_record["entityId"] == created.json()["id"] and key_record["entityType"] == "api_key"
    assert key_record["clientIp"] and key_record["credentialId"]


def test_secrets_never_reach_the_audit_trail_or_the_log(api, auth, caplog):
    caplog.set_level(logging.DEBUG)
    token = auth.token("ml_engineer")
    key = api.post("/api/v1/auth/api-keys", json={"name": "k"}, headers={"Authorization": f"Bearer {token}"}).json()["key"]
    api.get("/api/v1/auth/me", headers={"X-API-Key": key})
    report = api.get(f"{AUDIT}/report", params={"format": "csv"}, headers=auth.headers("admin")).text
    logs = "\n".join(r.getMessage() for r in caplog.records)
    secret_part = key.split("_", 2)[-1]  # kind_prefix_secret; the secret itself may hold "_"
    for secret in (DEMO_PASSWORD, token, key, secret_part):
        assert secret not in report and secret not in logs


def test_summary_redacts_secret_looking_keys():
    assert audit.sanitize_summary({"password": "p", "apiKey": "k", "name": "n", "nested": {"token": "t"}}) == {
        "password": "[redacted]", "apiKey": "[redacted]", "name": "n", "nested": {"token": "[redacted]"}}


def test_search_by_actor_action_and_time(api, auth):
    api.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=auth.headers("data_engineer"))
    everything = records(api, auth)
    newest = everything[0]["occurredAt"]
    body = {"actor": "data_engineer", "action": "apikey.*", "since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"}
    found = api.post(f"{AUDIT}/search", json=body, headers=auth.headers("admin")).json()["items"]
    assert [r["action"] for r in found] == ["apikey.create"]
    none = api.post(f"{AUDIT}/search", json={"until": "2001-01-01T00:00:00Z"}, headers=auth.headers("admin"))
    assert none.json()["items"] == []
    assert newest.endswith("Z")
    bad = api.post(f"{AUDIT}/search", json={"outcome": "maybe"}, headers=auth.headers("admin"))
    assert bad.status_code == 422


def test_entity_trail(api, auth):
    key_id = api.post("/api/v1/auth/api-keys", json={"name": "k"}, headers=auth.headers("admin")).json()["id"]
    api.delete(f"/api/v1/auth/api-keys/{key_id}", headers=auth.headers("admin"))
    trail = api.get(f"{AUDIT}/{key_id}", headers=auth.headers("admin")).json()["items"]
    assert [r["action"] for r in trail] == ["apikey.revoke", "apikey.create"]


def test_reports_in_csv_and_json(api, auth):
    api.post("/api/v1/auth/api-keys", json={"name": "report me"}, headers=auth.headers("admin"))
    csv_response = api.get(f"{AUDIT}/report", params={"format": "csv"}, headers=auth.headers("admin"))
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert [int(r["seq"]) for r in rows] == sorted(int(r["seq"]) for r in rows)
    json_report = api.get(f"{AUDIT}/report", headers=auth.headers("admin")).json()
    assert json_report["count"] == len(json_report["records"]) == len(rows)
    assert json_report["byAction"]["apikey.create"] == 1
    assert sum(json_report["byOutcome"].values()) == json_report["count"]
    assert api.get(f"{AUDIT}/report", params={"format": "xml"}, headers=auth.headers("admin")).status_code == 422


def test_only_admins_read_the_trail(api, auth):
    for role in ("ml_engineer", "business_user", "ml_ops"):
        assert api.get(AUDIT, headers=auth.headers(role)).status_code == 403


def test_change_without_audit_record_cannot_commit(session):
    session.add(User(id="user_x", username="sneaky", display_name="x", password_hash="x", role="admin"))
    with pytest.raises(UnauditedChange):
        session.commit()
    session.rollback()
    with session_scope() as s:
        assert s.exec(select(User).where(User.username == "sneaky")).first() is None


def test_failed_audit_write_fails_the_request(api, auth, monkeypatch):
    headers = auth.headers("admin")

    def broken(**_kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "record", broken)
    response = api.post("/api/v1/auth/api-keys", json={"name": "unaudited"}, headers=headers)
    assert response.status_code == 500
    monkeypatch.undo()
    assert api.get("/api/v1/auth/api-keys", headers=headers).json()["items"] == []


# --- tamper detection -------------------------------------------------------------------------


def _chain(api, auth, n: int = 5) -> list[dict]:
    for i in range(n):
        api.post("/api/v1/auth/api-keys", json={"name": f"k{i}"}, headers=auth.headers("admin"))
    return list(reversed(records(api, auth)))


def _verify(api, auth) -> dict:
    return api.get(f"{AUDIT}/verify", headers=auth.headers("admin")).json()


def _tamper(sql: str, **params) -> None:
    engine = get_engine()
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS governance_audit_record_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS governance_audit_record_no_delete"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


def test_untouched_chain_verifies(api, auth):
    chain = _chain(api, auth)
    result = _verify(api, auth)
    assert result["valid"] is True and result["checked"] >= len(chain)


def test_the_database_refuses_edits_of_the_trail(api, auth):
    _chain(api, auth, 1)
    with pytest.raises(Exception, match="append-only"), get_engine().begin() as conn:
        conn.execute(text("UPDATE governance_audit_record SET action = 'x'"))
    with pytest.raises(Exception, match="append-only"), get_engine().begin() as conn:
        conn.execute(text("DELETE FROM governance_audit_record"))


def test_edited_record_is_found(api, auth):
    chain = _chain(api, auth)
    target = chain[3]
    _tamper("UPDATE governance_audit_record SET actor_name = 'someone-else' WHERE seq = :s", s=target["seq"])
    result = _verify(api, auth)
    assert result["valid"] is False and result["firstBrokenId"] == target["id"]


def test_deleted_record_is_found(api, auth):
    chain = _chain(api, auth)
    _tamper("DELETE FROM governance_audit_record WHERE seq = :s", s=chain[2]["seq"])
    result = _verify(api, auth)
    assert result["valid"] is False and result["firstBrokenSeq"] == chain[3]["seq"]


def test_deleted_tail_is_found_by_the_checkpoint(api, auth):
    chain = _chain(api, auth)
    assert _verify(api, auth)["valid"]
    _tamper("DELETE FROM governance_audit_record WHERE seq >= :s", s=chain[-3]["seq"])
    result = _verify(api, auth)
    assert result["valid"] is False and "deleted" in result["reason"]


def test_rewritten_tail_with_recomputed_hashes_is_found(api, auth):
    _chain(api, auth)
    assert _verify(api, auth)["valid"]
    with session_scope(write=False) as s:
        rows = s.exec(select(AuditRecord).order_by(AuditRecord.seq)).all()
    last = rows[-1]
    forged = AuditRecord(**{**last.model_dump(), "actor_name": "forger"})
    forged.hash = audit.chain_hash(forged.prev_hash, forged)
    _tamper("UPDATE governance_audit_record SET actor_name = 'forger', hash = :h WHERE seq = :s",
            h=forged.hash, s=last.seq)
    result = _verify(api, auth)
    assert result["valid"] is False and "checkpoint" in result["reason"]
