"""Compliance readiness: the checks read the platform's real state, assessments are scored and stored with
their evidence, attestations keep evidence files, certification requests go to an admin; routes with
their permissions and errors."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from backend.audit.models import AuditRecord
from backend.auth import service as auth_service
from backend.catalog.datasets import service as datasets_service
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import ModelUpdate
from backend.compliance import checks, seed, service
from backend.compliance.models import Assessment
from backend.core.db import get_engine
from backend.core.timeutil import utcnow
from backend.endpoints import demo
from tests.backend.endpoints.conftest import iris_package

BASE = "/api/v1/governance/compliance"


@pytest.fixture(autouse=True)
def no_broker(sent) -> None:
    """Jobs are recorded, not sent: these tests run no worker."""


def _controls(assessment: dict, framework: str) -> dict[str, dict]:
    [result] = [r for r in assessment["results"] if r["framework"] == framework]
    return {c["id"]: c for c in result["controls"]}


def _check(assessment: dict, framework: str, control: str, name: str) -> dict:
    return next(c for c in _controls(assessment, framework)[control]["checks"] if c["name"] == name)


@pytest.fixture
def platform(session, principals):
    """A dataset without retention and one with; a production model with metrics but no licence or card."""
    engineer = principals["ml_engineer"]
    kept = datasets_service.create_dataset(session=session, actor=engineer,
                                           data={"name": "Kept", "type": "tabular", "retention": "P1Y"})
    loose = datasets_service.create_dataset(session=session, actor=engineer, data={"name": "Loose", "type": "tabular"})
    weights, config = iris_package(0)
    model_id, version = demo.register(session, engineer, weights=weights, config=config, version="1.0.0", name="iris")
    registry.promote_version(session=session, actor=engineer, model_id=model_id, version=version, stage="production",
                             reason="test")
    session.commit()
    return {"kept": kept.id, "loose": loose.id, "model": model_id}


def test_assessment_scores_the_real_state(api, auth, session, principals, platform):
    response = api.post(f"{BASE}/assess", headers=auth.headers("ml_ops"), json={"frameworks": ["GDPR", "SOC2"]})
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["frameworks"] == ["GDPR", "SOC2"] and "not a certification" in doc["disclaimer"]
    gdpr = _controls(doc, "GDPR")
    retention = _check(doc, "GDPR", "Art.5(1)(e)", "dataset_retention_set")
    assert gdpr["Art.5(1)(e)"]["status"] == "failed" and retention["passed"] is False
    assert [i["dataset"] for i in retention["items"]] == ["Loose"] and retention["measured"] == {
        "datasets": 2, "withRetention": 1}
    assert gdpr["Art.30"]["status"] == "passed"  # the audit chain verifies
    assert gdpr["Art.6"]["status"] == "needs_attestation" and gdpr["Art.6"]["guidance"]
    soc = _controls(doc, "SOC2")
    release = {c["name"]: c for c in soc["CC8.1"]["checks"]}
    assert soc["CC8.1"]["status"] == "failed"
    assert release["production_models_licensed"]["passed"] is False
    assert release["production_models_have_card"]["passed"] is False
    assert release["production_models_evaluated"]["passed"] is True
    assert soc["CC6.1"]["checks"][0]["name"] == "endpoints_require_authentication"
    assert soc["CC6.1"]["checks"][0]["passed"] is True and soc["CC6.1"]["checks"][0]["measured"]["publicRoutes"] == 0
    assert soc["CC6.6"]["status"] == "passed" and soc["CC6.2"]["status"] == "passed"
    # Failing controls first; the score is the share passing.
    [result] = [r for r in doc["results"] if r["framework"] == "GDPR"]
    statuses = [c["status"] for c in result["controls"]]
    assert statuses == sorted(statuses, key=lambda s: service.STATUS_ORDER[s])
    assert result["score"] == round(100 * result["passed"] / len(statuses), 1)
    assert doc["score"] == round(100 * doc["passed"] / (doc["passed"] + doc["failed"]), 1)

    # Fix the model's documentation: the release control passes on the next assessment.
    with_card = ModelUpdate.model_validate({"metadata": {
        "license": "MIT", "description": "Classifies iris flowers into three species from four measurements "
                                         "of sepals and petals."}})
    registry.update_model(session=session, actor=principals["ml_engineer"], model_id=platform["model"], data=with_card)
    session.commit()
    again = api.post(f"{BASE}/assess", headers=auth.headers("ml_ops"), json={"frameworks": ["SOC2"]}).json()
    assert _controls(again, "SOC2")["CC8.1"]["status"] == "passed"
    stored = api.get(f"{BASE}/assessments", headers=auth.headers("ml_engineer")).json()["items"]
    assert [a["id"] for a in stored] == [again["id"], doc["id"]]
    assert stored[0]["frameworkScores"]["SOC2"] > stored[1]["frameworkScores"]["SOC2"]
    one = api.get(f"{BASE}/assessments/{doc['id']}", headers=auth.headers("ml_engineer")).json()
    assert one["results"] == doc["results"]
    actions = session.exec(select(AuditRecord.action).where(AuditRecord.action == "compliance.assess")).all()
    assert len(actions) == 2


def test_old_keys_and_a_broken_audit_chain_fail(session, principals, monkeypatch):
    engineer = principals["ml_engineer"]
    auth_service.create_api_key(session=session, actor=engineer, name="ci")
    session.commit()
    assert checks.api_keys_rotated(session).passed
    monkeypatch.setattr(checks, "utcnow", lambda: utcnow() + timedelta(days=91))
    late = checks.api_keys_rotated(session)
    assert not late.passed and late.items[0]["name"] == "ci" and late.items[0]["ageDays"] == 91
    assert checks.audit_chain_intact(session).passed
    session.commit()
    engine = get_engine()
    with engine.begin() as conn:  # as an attacker with database access would, past the trail's triggers
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS governance_audit_record_no_update"))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE governance_audit_record SET actor_name = 'someone-else' WHERE seq = 2"))
    broken = checks.audit_chain_intact(session)
    assert not broken.passed and broken.measured["firstBrokenSeq"] == 2


def test_attestation_with_evidence_counts_and_is_downloadable(api, auth, session):
    evidence = b"nightly pg_dump to offsite bucket; last restore test 2026-11-30\n"
    body = {"framework": "FedRAMP", "controlId": "CP-9", "statement": "Backups run nightly.",
            "evidenceName": "../backup report.txt", "evidenceBase64": base64.b64encode(evidence).decode()}
    response = api.post(f"{BASE}/attestations", headers=auth.headers("ml_ops"), json=body)
    assert response.status_code == 201, response.text
    attestation = response.json()
    assert attestation["evidenceSha256"] == hashlib.sha256(evidence).hexdigest()
    assert attestation["evidenceName"] == "backup report.txt" and attestation["attestedByName"] == "ml_ops"
    download = api.get(f"{BASE}/attestations/{attestation['id']}/evidence", headers=auth.headers("ml_engineer"))
    assert download.status_code == 200 and download.content == evidence
    assert download.headers["x-content-sha256"] == attestation["evidenceSha256"]
    doc = api.post(f"{BASE}/assess", headers=auth.headers("admin"), json={"frameworks": ["FedRAMP"]}).json()
    control = _controls(doc, "FedRAMP")["CP-9"]
    assert control["status"] == "attested" and control["attestation"]["id"] == attestation["id"]
    assert _controls(doc, "FedRAMP")["SC-28"]["status"] == "needs_attestation"
    # A text-only attestation is fine too; errors:
    text_only = api.post(f"{BASE}/attestations", headers=auth.headers("ml_ops"),
                         json={"framework": "HIPAA", "controlId": "164.308(a)(1)", "statement": "Reviewed."})
    assert text_only.status_code == 201 and text_only.json()["evidenceSha256"] is None
    assert api.get(f"{BASE}/attestations/{text_only.json()['id']}/evidence",
                   headers=auth.headers("ml_ops")).json()["error"]["code"] == "COMPLIANCE_001"
    unknown = api.post(f"{BASE}/attestations", headers=auth.headers("ml_ops"), json={**body, "controlId": "XX-1"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "COMPLIANCE_001"
    bad = api.post(f"{BASE}/attestations", headers=auth.headers("ml_ops"), json={**body, "evidenceBase64": "%%%"})
    assert bad.status_code == 422
    refused = api.post(f"{BASE}/attestations", headers=auth.headers("ml_engineer"), json=body)
    assert refused.status_code == 403
    listed = api.get(f"{BASE}/attestations?framework=FedRAMP", headers=auth.headers("ml_engineer")).json()
    assert [a["controlId"] for a in listed] == ["CP-9"]


def test_certification_requests_go_to_an_admin(api, auth, session):
    ops, admin = auth.headers("ml_ops"), auth.headers("admin")
    early = api.post(f"{BASE}/certify", headers=ops, json={"framework": "HIPAA"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "COMPLIANCE_002"
    assessment = api.post(f"{BASE}/assess", headers=ops, json={"frameworks": ["HIPAA"]}).json()
    opened = api.post(f"{BASE}/certify", headers=ops, json={"framework": "HIPAA", "note": "Q4 readiness"})
    assert opened.status_code == 201, opened.text
    request = opened.json()
    assert request["status"] == "pending" and request["assessmentId"] == assessment["id"]
    assert request["score"] == assessment["results"][0]["score"]
    assert api.post(f"{BASE}/certify", headers=ops, json={"framework": "HIPAA"}).status_code == 409
    other = api.post(f"{BASE}/certify", headers=ops, json={"framework": "GDPR", "assessmentId": assessment["id"]})
    assert other.status_code == 409  # that assessment does not cover GDPR
    assert api.post(f"{BASE}/certify", headers=ops,
                    json={"framework": "GDPR", "assessmentId": "assess_nope"}).status_code == 404
    decision = {"decision": "approve", "reason": "Gaps accepted for the pilot"}
    path = f"{BASE}/certifications/{request['id']}/decision"
    assert api.post(path, headers=ops, json=decision).status_code == 403
    approved = api.post(path, headers=admin, json=decision)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert approved.json()["decidedByName"] == "admin"
    assert api.post(path, headers=admin, json={**decision, "decision": "reject"}).status_code == 409
    assert api.post(f"{BASE}/certifications/cert_nope/decision", headers=admin, json=decision).status_code == 404
    assert api.post(path, headers=admin, json={"decision": "maybe", "reason": "x"}).status_code == 422
    listed = api.get(f"{BASE}/certifications?status=approved", headers=auth.headers("ml_engineer")).json()["items"]
    assert [c["id"] for c in listed] == [request["id"]]
    status = api.get(f"{BASE}/status", headers=auth.headers("data_engineer")).json()
    hipaa = next(f for f in status["frameworks"] if f["framework"] == "HIPAA")
    assert hipaa["certification"] == "approved" and hipaa["latest"]["assessmentId"] == assessment["id"]
    assert next(f for f in status["frameworks"] if f["framework"] == "GDPR")["latest"] is None
    actions = set(session.exec(select(AuditRecord.action).where(AuditRecord.action.like("compliance.%"))).all())
    assert {"compliance.assess", "compliance.certify.request", "compliance.certify.approve"} <= actions


@pytest.mark.parametrize("method,path,body", [
    ("get", "/status", None), ("get", "/frameworks", None), ("post", "/assess", {}), ("get", "/assessments", None),
    ("get", "/certifications", None), ("post", "/certify", {"framework": "GDPR"}),
])
def test_routes_need_sign_in_and_permission(api, auth, demo_users, method, path, body):
    assert api.request(method.upper(), BASE + path, json=body).status_code == 401
    refused = api.request(method.upper(), BASE + path, json=body, headers=auth.headers("business_user"))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AUTH_002"


def test_catalogue_and_errors(api, auth, demo_users):
    headers = auth.headers("ml_engineer")
    frameworks = api.get(f"{BASE}/frameworks", headers=headers).json()
    assert [f["id"] for f in frameworks] == ["GDPR", "SOC2", "ISO27001", "HIPAA", "FedRAMP"]
    assert all(c["checks"] or c["guidance"] for f in frameworks for c in f["controls"])
    assert api.get(f"{BASE}/assessments/assess_nope", headers=headers).json()["error"]["code"] == "COMPLIANCE_001"
    assert api.post(f"{BASE}/assess", headers=headers, json={}).status_code == 403  # read only
    bad = api.post(f"{BASE}/assess", headers=auth.headers("ml_ops"), json={"frameworks": ["PCI"]})
    assert bad.status_code == 422


def test_seed_assesses_the_platform_once(session, demo_users):
    message = seed.seed_demo_assessment(session)
    session.commit()
    assert message.startswith("assessed 5 frameworks")
    row = session.exec(select(Assessment)).one()
    assert row.created_by == "system" and set(row.results) == {"GDPR", "SOC2", "ISO27001", "HIPAA", "FedRAMP"}
    assert seed.seed_demo_assessment(session) == "demo compliance assessment already present"
