"""Compliance readiness: run the frameworks' controls over the platform's real state, store the scored
report, keep manual attestations with their evidence, and route certification requests to an admin.

Scoring: a control passes when all its automated checks pass, or (for a manual control) when it has an
attestation that has not expired; anything else counts against the score, so a control nobody attested
is `needs_attestation`, not a pass. A framework's score is the percent of its controls passing; an
assessment's score is the percent over all the controls it assessed. Each check runs once per
assessment, however many controls use it.

Keyword-only functions, session first, the acting principal explicit; they authorize and flush only,
and audit every write.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, BinaryIO

from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.compliance import frameworks as catalogue
from backend.compliance.checks import CHECKS, CheckResult
from backend.compliance.models import Assessment, Attestation, CertificationRequest
from backend.compliance.schemas import (
    AssessmentRead,
    AssessmentSummary,
    AssessRequest,
    AttestationRead,
    CertificationRead,
    CertifyRequest,
    CheckRead,
    ComplianceStatus,
    ControlRead,
    DecisionRequest,
    FrameworkRead,
    FrameworkStatus,
    LatestScore,
)
from backend.core import artifacts
from backend.core.authorization import Principal, authorize
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import to_utc, utcnow

READ = "compliance:read"
ASSESS = "compliance:assess"
ATTEST = "compliance:attest"
CERTIFY = "compliance:certify"
APPROVE = "compliance:approve"  # held by admins only
ATTESTATION_VALID_DAYS = 365
MAX_EVIDENCE_BYTES = 5 * 1024 * 1024
EVIDENCE_PREFIX = "compliance/evidence"
STATUS_ORDER = {"failed": 0, "needs_attestation": 1, "attested": 2, "passed": 3}


def not_found(what: str, ident: str) -> AISystemError:
    return AISystemError("COMPLIANCE_001", f"No such {what}", {what.replace(" ", ""): str(ident)[:80]})


def conflict(message: str, **details: Any) -> AISystemError:
    return AISystemError("COMPLIANCE_002", message, details)


# --- the catalogue ----------------------------------------------------------------------------------------


def list_frameworks(*, actor: Principal) -> list[FrameworkRead]:
    """Every framework with its controls and the checks (or the attestation) that decide each."""
    authorize(actor, READ)
    return [FrameworkRead(id=f.id, name=f.name, description=f.description, controls=[
        ControlRead(id=c.id, title=c.title, description=c.description, automated=c.automated, guidance=c.guidance,
                    checks=[CheckRead(name=n, title=catalogue.check_title(n)) for n in c.checks])
        for c in f.controls]) for f in catalogue.FRAMEWORKS]


# --- attestations -----------------------------------------------------------------------------------------


def _safe_name(name: str | None) -> str:
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", (name or "evidence").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]).strip()
    return (base or "evidence")[:200]


def attest(*, session: Session, actor: Principal, framework: str, control_id: str, statement: str,
           evidence: BinaryIO | bytes | None = None, evidence_name: str | None = None) -> Attestation:
    """Record that a control holds, with an optional evidence file kept in the artifact store (at most
    5 MiB; REQ_002 beyond). Valid for a year; the newest one counts. COMPLIANCE_001 for an unknown control."""
    authorize(actor, ATTEST)
    control = catalogue.control(framework, control_id)
    if control is None:
        raise not_found("control", f"{framework} {control_id}")
    statement = (statement or "").strip()
    if not statement:
        raise InvalidRequest("The attestation needs a statement", {"statement": "required"})
    if len(statement) > 5000:
        raise InvalidRequest("The statement is too long", {"statement": "at most 5000 characters"})
    now = utcnow()
    row = Attestation(id=new_id("attest"), framework=framework, control_id=control_id, statement=statement,
                      attested_by=actor.user_id, attested_by_name=actor.username or actor.user_id, attested_at=now,
                      expires_at=now + timedelta(days=ATTESTATION_VALID_DAYS))
    if evidence is not None:
        key = f"{EVIDENCE_PREFIX}/{row.id}"
        stored = artifacts.get_store().put(key, [evidence] if isinstance(evidence, bytes) else evidence,
                                           limit=MAX_EVIDENCE_BYTES)
        if stored.size == 0:
            artifacts.get_store().delete(key)
            raise InvalidRequest("The evidence file is empty", {"file": "empty"})
        row.evidence_key, row.evidence_sha256, row.evidence_size = key, stored.sha256, stored.size
        row.evidence_name = _safe_name(evidence_name)
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="compliance.attest", entity_type="compliance_attestation",
                 entity_id=row.id, summary={"framework": framework, "control": control_id,
                                            "evidence": row.evidence_name, "sha256": row.evidence_sha256})
    return row


def list_attestations(*, session: Session, actor: Principal, framework: str | None = None) -> list[Attestation]:
    authorize(actor, READ)
    query = select(Attestation).order_by(col(Attestation.attested_at).desc(), col(Attestation.id).desc())
    if framework:
        query = query.where(Attestation.framework == framework)
    return list(session.exec(query.limit(500)).all())


def evidence_file(*, session: Session, actor: Principal, attestation_id: str) -> tuple[Attestation, Iterator[bytes]]:
    """An attestation's evidence file, streamed from the artifact store; COMPLIANCE_001 when it has none."""
    authorize(actor, READ)
    row = session.get(Attestation, attestation_id)
    if row is None or not row.evidence_key:
        raise not_found("evidence", attestation_id)
    stream = artifacts.get_store().open(row.evidence_key)

    def chunks() -> Iterator[bytes]:
        with stream:
            yield from iter(lambda: stream.read(1 << 16), b"")

    return row, chunks()


def attestation_read(row: Attestation) -> AttestationRead:
    return AttestationRead.model_validate(row)


def _valid_attestations(session: Session, now: datetime) -> dict[tuple[str, str], Attestation]:
    rows = session.exec(select(Attestation).order_by(col(Attestation.attested_at), col(Attestation.id))).all()
    return {(r.framework, r.control_id): r for r in rows if to_utc(r.expires_at) > now}


# --- assessments ------------------------------------------------------------------------------------------


def _run_checks(session: Session, names: set[str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for name in sorted(names):
        title, check = CHECKS[name]
        try:
            outcome = check(session)
        except AISystemError as exc:  # a check that cannot read what it needs fails, saying why
            outcome = CheckResult(False, f"The check could not run: {exc.message}", {"error": exc.code})
        results[name] = {"name": name, "title": title, **outcome.document()}
    return results


def evaluate(*, session: Session, framework_ids: list[str]) -> dict[str, Any]:
    """Every control of the frameworks, decided now: {framework id: framework result document}."""
    chosen = [catalogue.BY_ID[f] for f in framework_ids]
    checks = _run_checks(session, {n for f in chosen for c in f.controls for n in c.checks})
    attested = _valid_attestations(session, utcnow())
    results: dict[str, Any] = {}
    for framework in chosen:
        controls = []
        for control in framework.controls:
            doc: dict[str, Any] = {"id": control.id, "title": control.title, "automated": control.automated,
                                   "guidance": control.guidance, "checks": [checks[n] for n in control.checks],
                                   "attestation": None}
            if control.automated:
                doc["status"] = "passed" if all(checks[n]["passed"] for n in control.checks) else "failed"
            else:
                row = attested.get((framework.id, control.id))
                doc["status"] = "attested" if row else "needs_attestation"
                doc["attestation"] = attestation_read(row).model_dump(mode="json", by_alias=True) if row else None
            controls.append(doc)
        controls.sort(key=lambda c: STATUS_ORDER[c["status"]])
        passed = sum(c["status"] in ("passed", "attested") for c in controls)
        results[framework.id] = {"framework": framework.id, "name": framework.name, "passed": passed,
                                 "failed": len(controls) - passed,
                                 "score": round(100.0 * passed / len(controls), 1) if controls else 0.0,
                                 "controls": controls}
    return results


def assess(*, session: Session, actor: Principal, request: AssessRequest | None = None) -> Assessment:
    """Assess the chosen frameworks (all when none are named) and store the scored report."""
    authorize(actor, ASSESS)
    ids = list(dict.fromkeys((request.frameworks if request else None) or catalogue.FRAMEWORK_IDS))
    results = evaluate(session=session, framework_ids=ids)
    passed = sum(r["passed"] for r in results.values())
    failed = sum(r["failed"] for r in results.values())
    row = Assessment(id=new_id("assess"), frameworks=ids, passed=passed, failed=failed,
                     score=round(100.0 * passed / (passed + failed), 1) if passed + failed else 0.0,
                     results=results, created_by=actor.user_id, created_by_name=actor.username or actor.user_id,
                     created_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="compliance.assess", entity_type="compliance_assessment",
                 entity_id=row.id, summary={"frameworks": ids, "score": row.score, "passed": passed, "failed": failed})
    return row


def get_assessment(*, session: Session, actor: Principal, assessment_id: str) -> Assessment:
    authorize(actor, READ)
    row = session.get(Assessment, assessment_id)
    if row is None:
        raise not_found("assessment", assessment_id)
    return row


def list_assessments(*, session: Session, actor: Principal, params: PageParams) -> tuple[list[Assessment], str | None]:
    """Assessments, newest first."""
    authorize(actor, READ)
    return paginate(session, select(Assessment), params=params, order=[Assessment.created_at, Assessment.id],
                    descending=True, parse=[datetime.fromisoformat, str])


def assessment_summary(row: Assessment) -> AssessmentSummary:
    return AssessmentSummary(id=row.id, frameworks=row.frameworks, score=row.score, passed=row.passed,
                             failed=row.failed, created_by_name=row.created_by_name, created_at=row.created_at,
                             framework_scores={k: v["score"] for k, v in row.results.items()})


def assessment_document(row: Assessment) -> AssessmentRead:
    summary = assessment_summary(row)
    return AssessmentRead(**summary.model_dump(), results=[row.results[f] for f in row.frameworks if f in row.results])


def _latest_per_framework(session: Session, limit: int = 200) -> dict[str, Assessment]:
    latest: dict[str, Assessment] = {}
    rows = session.exec(select(Assessment).order_by(col(Assessment.created_at).desc(), col(Assessment.id).desc())
                        .limit(limit)).all()
    for row in rows:
        for framework in row.frameworks:
            latest.setdefault(framework, row)
    return latest


def status(*, session: Session, actor: Principal) -> ComplianceStatus:
    """Each framework's catalogue size, its newest assessment's score and its newest certification request."""
    authorize(actor, READ)
    latest = _latest_per_framework(session)
    certifications: dict[str, str] = {}
    for row in session.exec(select(CertificationRequest).order_by(col(CertificationRequest.requested_at))).all():
        certifications[row.framework] = row.status
    frameworks = []
    for f in catalogue.FRAMEWORKS:
        row = latest.get(f.id)
        score = None
        if row is not None:
            result = row.results[f.id]
            score = LatestScore(assessment_id=row.id, assessed_at=row.created_at, score=result["score"],
                                passed=result["passed"], failed=result["failed"])
        automated = sum(c.automated for c in f.controls)
        frameworks.append(FrameworkStatus(framework=f.id, name=f.name, controls=len(f.controls), automated=automated,
                                          manual=len(f.controls) - automated, latest=score,
                                          certification=certifications.get(f.id)))
    return ComplianceStatus(frameworks=frameworks)


# --- certification requests -------------------------------------------------------------------------------


def request_certification(*, session: Session, actor: Principal, data: CertifyRequest) -> CertificationRequest:
    """Open a request for an admin to sign off a framework's readiness, attaching an assessment (the newest
    covering the framework by default). COMPLIANCE_002 when one is already pending for the framework or no
    assessment covers it; COMPLIANCE_001 for an unknown assessment."""
    authorize(actor, CERTIFY)
    if data.assessment_id:
        assessment = session.get(Assessment, data.assessment_id)
        if assessment is None:
            raise not_found("assessment", data.assessment_id)
        if data.framework not in assessment.frameworks:
            raise conflict("That assessment does not cover the framework", framework=data.framework,
                           assessmentId=assessment.id)
    else:
        assessment = _latest_per_framework(session).get(data.framework)
        if assessment is None:
            raise conflict("Run an assessment of this framework first", framework=data.framework)
    pending = session.exec(select(CertificationRequest.id).where(CertificationRequest.framework == data.framework,
                                                                 CertificationRequest.status == "pending")).first()
    if pending:
        raise conflict("A certification request for this framework is already pending", framework=data.framework,
                       certificationId=pending)
    row = CertificationRequest(id=new_id("cert"), framework=data.framework, assessment_id=assessment.id,
                               score=assessment.results[data.framework]["score"], note=data.note,
                               requested_by=actor.user_id, requested_by_name=actor.username or actor.user_id,
                               requested_at=utcnow())
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action="compliance.certify.request", entity_type="compliance_certification",
                 entity_id=row.id, summary={"framework": row.framework, "assessment": assessment.id, "score": row.score})
    return row


def list_certifications(*, session: Session, actor: Principal, params: PageParams, status: str | None = None,
                        framework: str | None = None) -> tuple[list[CertificationRequest], str | None]:
    authorize(actor, READ)
    query = select(CertificationRequest)
    if status:
        query = query.where(CertificationRequest.status == status)
    if framework:
        query = query.where(CertificationRequest.framework == framework)
    return paginate(session, query, params=params, order=[CertificationRequest.requested_at, CertificationRequest.id],
                    descending=True, parse=[datetime.fromisoformat, str])


def decide(*, session: Session, actor: Principal, certification_id: str, data: DecisionRequest) -> CertificationRequest:
    """An admin approves or rejects a pending request, with a reason; COMPLIANCE_002 once decided."""
    authorize(actor, APPROVE)
    row = session.get(CertificationRequest, certification_id)
    if row is None:
        raise not_found("certification", certification_id)
    if row.status != "pending":
        raise conflict(f"The request was already {row.status}", status=row.status)
    row.status = "approved" if data.decision == "approve" else "rejected"
    row.decided_by, row.decided_by_name = actor.user_id, actor.username or actor.user_id
    row.decided_at, row.decision_reason = utcnow(), data.reason.strip()
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action=f"compliance.certify.{data.decision}",
                 entity_type="compliance_certification", entity_id=row.id,
                 summary={"framework": row.framework, "assessment": row.assessment_id, "reason": row.decision_reason})
    return row


def certification_read(row: CertificationRequest) -> CertificationRead:
    return CertificationRead.model_validate(row)
