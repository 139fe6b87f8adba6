"""Wire documents of compliance readiness (camelCase; unknown input fields refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

FrameworkId = Literal["GDPR", "SOC2", "ISO27001", "HIPAA", "FedRAMP"]
ControlStatus = Literal["passed", "failed", "attested", "needs_attestation"]
CertificationStatus = Literal["pending", "approved", "rejected"]
DISCLAIMER = ("An internal readiness assessment of this platform's own state against a selection of each "
              "framework's controls. It is not a certification, an audit opinion or legal advice.")


class CheckRead(ReadModel):
    name: str
    title: str


class ControlRead(ReadModel):
    id: str = Field(examples=["Art.32(1)(b)"])
    title: str
    description: str
    automated: bool = Field(description="Decided by automated checks; otherwise by a manual attestation")
    checks: list[CheckRead]
    guidance: str = Field(description="For manual controls: what an attestation should state and attach")


class FrameworkRead(ReadModel):
    id: FrameworkId
    name: str
    description: str
    controls: list[ControlRead]


class CheckEvidence(ReadModel):
    """What one automated check measured when the assessment ran."""

    name: str
    title: str
    passed: bool
    summary: str
    measured: dict[str, Any] = Field(description="The figures the check computed")
    items: list[dict[str, Any]] = Field(description="The offending (or, for some checks, the inspected) items; "
                                                    "at most 25")
    items_total: int


class AttestationRead(ReadModel):
    id: str
    framework: FrameworkId
    control_id: str
    statement: str
    evidence_name: str | None = None
    evidence_sha256: str | None = None
    evidence_size: int | None = None
    attested_by_name: str
    attested_at: UtcDateTime
    expires_at: UtcDateTime


class ControlResult(ReadModel):
    id: str
    title: str
    automated: bool
    status: ControlStatus = Field(description="`passed`/`failed` by the checks; `attested` by a valid attestation; "
                                              "`needs_attestation` for a manual control nobody attested (counts as "
                                              "not passing)")
    checks: list[CheckEvidence] = Field(default_factory=list)
    attestation: AttestationRead | None = None
    guidance: str = ""


class FrameworkResult(ReadModel):
    framework: FrameworkId
    name: str
    score: float = Field(description="Percent of controls passing or attested")
    passed: int
    failed: int
    controls: list[ControlResult] = Field(description="Failing controls first")


class AssessmentSummary(ReadModel):
    id: str
    frameworks: list[FrameworkId]
    score: float = Field(description="Percent of all assessed controls passing or attested")
    passed: int
    failed: int
    framework_scores: dict[str, float]
    created_by_name: str
    created_at: UtcDateTime


class AssessmentRead(AssessmentSummary):
    disclaimer: str = DISCLAIMER
    results: list[FrameworkResult]


class AssessRequest(InputModel):
    frameworks: list[FrameworkId] = Field(default_factory=list, max_length=5,
                                          description="The frameworks to assess; all when empty")


class LatestScore(ReadModel):
    assessment_id: str
    assessed_at: UtcDateTime
    score: float
    passed: int
    failed: int


class FrameworkStatus(ReadModel):
    framework: FrameworkId
    name: str
    controls: int
    automated: int
    manual: int
    latest: LatestScore | None = Field(description="The newest assessment that covered this framework")
    certification: CertificationStatus | None = Field(description="The newest certification request's status")


class ComplianceStatus(ReadModel):
    disclaimer: str = DISCLAIMER
    frameworks: list[FrameworkStatus]


class CertifyRequest(InputModel):
    framework: FrameworkId
    assessment_id: str | None = Field(default=None, max_length=40,
                                      description="The assessment to attach; the newest covering the framework "
                                                  "when absent")
    note: str | None = Field(default=None, max_length=2000)


class DecisionRequest(InputModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=1, max_length=2000)


class CertificationRead(ReadModel):
    id: str
    framework: FrameworkId
    assessment_id: str
    score: float
    status: CertificationStatus
    note: str | None = None
    requested_by_name: str
    requested_at: UtcDateTime
    decided_by_name: str | None = None
    decided_at: UtcDateTime | None = None
    decision_reason: str | None = None
    disclaimer: str = DISCLAIMER


class AttestRequest(InputModel):
    framework: FrameworkId
    control_id: str = Field(min_length=1, max_length=40, examples=["CP-9"])
    statement: str = Field(min_length=1, max_length=5000, description="What holds, who checked it and how")
    evidence_name: str | None = Field(default=None, max_length=200, description="The evidence file's name")
    evidence_base64: str | None = Field(default=None, max_length=7_000_000,
                                        description="The evidence file, base64 (at most 5 MiB decoded); kept in "
                                                    "the artifact store with its sha256")
