"""REST routes of compliance readiness: /api/v1/governance/compliance (status, assess, certifications,
certify, plus the frameworks' catalogues, assessments and attestations). An internal readiness assessment,
not a certification."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.compliance import service
from backend.compliance.schemas import (
    AssessmentRead,
    AssessmentSummary,
    AssessRequest,
    AttestationRead,
    AttestRequest,
    CertificationRead,
    CertificationStatus,
    CertifyRequest,
    ComplianceStatus,
    DecisionRequest,
    FrameworkId,
    FrameworkRead,
)
from backend.core.errors import InvalidRequest
from backend.core.http import COMMON_ERRORS, error_responses, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page

router = APIRouter(prefix="/governance/compliance", tags=["governance"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
Ident = Annotated[str, Path(max_length=40, pattern=r"^[A-Za-z0-9_\-]+$")]
NOT_FOUND = error_responses(404)


@router.get("/status", response_model=ComplianceStatus, summary="Get compliance status")
def get_status(session: SessionDep, principal: Principal = require(service.READ)) -> ComplianceStatus:
    """Each framework's controls (automated and manual), its newest assessment's score and its newest
    certification request. An internal readiness view, not a certification."""
    return service.status(session=session, actor=principal)


@router.get("/frameworks", response_model=list[FrameworkRead], summary="List frameworks and controls")
def list_frameworks(principal: Principal = require(service.READ)) -> list[FrameworkRead]:
    """GDPR, SOC 2, ISO/IEC 27001, HIPAA and FedRAMP: each control with the automated checks that decide it,
    or the guidance for the manual attestation that does."""
    return service.list_frameworks(actor=principal)


@router.post("/assess", response_model=AssessmentRead, status_code=201, summary="Assess compliance")
def assess(session: SessionDep, body: AssessRequest | None = None,
           principal: Principal = require(service.ASSESS)) -> AssessmentRead:
    """Run every control of the chosen frameworks (all when none are named) over the platform's current
    state, store the scored report and return it: each control passed, failed, attested or needing an
    attestation, with the evidence each check measured. Failing controls come first."""
    row = service.assess(session=session, actor=principal, request=body)
    session.commit()
    return service.assessment_document(row)


@router.get("/assessments", response_model=Page[AssessmentSummary], summary="List assessments")
def list_assessments(session: SessionDep, params: PageParams = Depends(page_params),
                     principal: Principal = require(service.READ)) -> Page[AssessmentSummary]:
    """Stored assessments, newest first, with each framework's score (the history chart's data)."""
    rows, cursor = service.list_assessments(session=session, actor=principal, params=params)
    return Page[AssessmentSummary](items=[service.assessment_summary(r) for r in rows], next_cursor=cursor)


@router.get("/assessments/{assessmentId}", response_model=AssessmentRead, summary="Get an assessment",
            responses=NOT_FOUND)
def get_assessment(assessmentId: Ident, session: SessionDep,  # noqa: N803
                   principal: Principal = require(service.READ)) -> AssessmentRead:
    """One stored report with every control's result and evidence; COMPLIANCE_001 when unknown."""
    return service.assessment_document(service.get_assessment(session=session, actor=principal,
                                                              assessment_id=assessmentId))


@router.get("/attestations", response_model=list[AttestationRead], summary="List attestations")
def list_attestations(session: SessionDep,
                      framework: Annotated[FrameworkId | None, Query(description="Only this framework's")] = None,
                      principal: Principal = require(service.READ)) -> list[AttestationRead]:
    """Manual attestations, newest first (the newest unexpired one per control counts in assessments)."""
    rows = service.list_attestations(session=session, actor=principal, framework=framework)
    return [service.attestation_read(r) for r in rows]


@router.post("/attestations", response_model=AttestationRead, status_code=201, summary="Attest a control",
             responses=error_responses(404, 413))
def attest(body: AttestRequest, session: SessionDep, principal: Principal = require(service.ATTEST)) -> AttestationRead:
    """State that a control holds, with an optional evidence file (base64, at most 5 MiB) kept in the
    artifact store with its sha256. Valid for a year. COMPLIANCE_001 for an unknown control."""
    evidence = None
    if body.evidence_base64:
        try:
            evidence = base64.b64decode(body.evidence_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("The evidence is not valid base64", {"evidenceBase64": "not base64"}) from None
    row = service.attest(session=session, actor=principal, framework=body.framework, control_id=body.control_id,
                         statement=body.statement, evidence=evidence, evidence_name=body.evidence_name)
    session.commit()
    return service.attestation_read(row)


@router.get("/attestations/{attestationId}/evidence", summary="Download attestation evidence",
            response_class=StreamingResponse, responses={**NOT_FOUND, 200: {"content": {"application/octet-stream": {}}}})
def download_evidence(attestationId: Ident, session: SessionDep,  # noqa: N803
                      principal: Principal = require(service.READ)) -> StreamingResponse:
    """The evidence file as it was attested (its sha256 is in the attestation); COMPLIANCE_001 when none."""
    row, chunks = service.evidence_file(session=session, actor=principal, attestation_id=attestationId)
    return StreamingResponse(chunks, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{row.evidence_name or "evidence"}"',
        "X-Content-SHA256": row.evidence_sha256 or ""})


@router.get("/certifications", response_model=Page[CertificationRead], summary="List certifications")
def list_certifications(
    session: SessionDep,
    status: Annotated[CertificationStatus | None, Query(description="Only requests in this state")] = None,
    framework: Annotated[FrameworkId | None, Query(description="Only this framework's")] = None,
    params: PageParams = Depends(page_params),
    principal: Principal = require(service.READ),
) -> Page[CertificationRead]:
    """Certification requests, newest first: pending, approved or rejected, each with its assessment.
    Approval is an internal sign-off of readiness, not a certification by an accredited body."""
    rows, cursor = service.list_certifications(session=session, actor=principal, params=params, status=status,
                                               framework=framework)
    return Page[CertificationRead](items=[service.certification_read(r) for r in rows], next_cursor=cursor)


@router.post("/certify", response_model=CertificationRead, status_code=201, summary="Request certification",
             responses=error_responses(404, 409))
def certify(body: CertifyRequest, session: SessionDep,
            principal: Principal = require(service.CERTIFY)) -> CertificationRead:
    """Open a request for an admin to sign off a framework's readiness, attaching an assessment (the newest
    covering the framework by default). COMPLIANCE_002 when one is pending already or no assessment exists."""
    row = service.request_certification(session=session, actor=principal, data=body)
    session.commit()
    return service.certification_read(row)


@router.post("/certifications/{certificationId}/decision", response_model=CertificationRead,
             summary="Approve or reject a certification request", responses=error_responses(404, 409))
def decide(certificationId: Ident, body: DecisionRequest, session: SessionDep,  # noqa: N803
           principal: Principal = require(service.APPROVE)) -> CertificationRead:
    """Admins only: approve or reject a pending request with a reason; COMPLIANCE_002 once decided."""
    row = service.decide(session=session, actor=principal, certification_id=certificationId, data=body)
    session.commit()
    return service.certification_read(row)
