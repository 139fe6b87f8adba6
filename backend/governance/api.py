"""REST routes of governance policies and violations: /api/v1/governance/policies, /governance/violations.

Thin: the service validates, evaluates and records; the action-time check is `enforcement.py`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlmodel import Session

from backend.auth.deps import require
from backend.auth.principal import Principal
from backend.core.http import COMMON_ERRORS, error_responses, get_read_session, get_session
from backend.core.pagination import PageParams, page_params
from backend.core.schemas import Page
from backend.governance import service
from backend.governance.models import Policy
from backend.governance.schemas import (
    Decision,
    DraftEvaluateRequest,
    EnforceReport,
    EntityTypeName,
    EvaluateRequest,
    Evaluation,
    PolicyCreate,
    PolicyKind,
    PolicyRead,
    PolicyUpdate,
    Severity,
    ValidationReport,
    ViolationRead,
)

router = APIRouter(prefix="/governance", tags=["governance"], responses=COMMON_ERRORS)
SessionDep = Annotated[Session, Depends(get_session)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]  # dry runs write nothing
PolicyId = Annotated[str, Path(max_length=64, description="The policy id (`policy_…`)")]
ViolationId = Annotated[str, Path(max_length=64, description="The violation id (`violation_…`)")]
Status = Annotated[str | None, Query(pattern="^(open|waived|resolved)$", description="open, waived or resolved")]
NOT_FOUND = error_responses(404)
INVALID_DOC = ("GOV_002 (422) when an expression does not compile or names an attribute the policy's context "
               "lacks: `details.errors` lists each problem with `where` (appliesWhen or rules[i]), the rule, "
               "and the 1-based `line` and `column` in that expression.")


def _read(session: Session, policy: Policy, counts: dict[str, int] | None = None) -> PolicyRead:
    counts = counts if counts is not None else service.open_violation_counts(session, [policy.id])
    return PolicyRead.model_validate(policy).model_copy(update={"open_violations": counts.get(policy.id, 0)})


@router.get("/policies", response_model=Page[PolicyRead], summary="List policies")
def list_policies(session: SessionDep, params: PageParams = Depends(page_params),
                  kind: PolicyKind | None = None, enabled: bool | None = None,
                  target_type: Annotated[EntityTypeName | None, Query(alias="targetType")] = None,
                  q: Annotated[str | None, Query(max_length=120, description="Part of the name")] = None,
                  principal: Principal = require("governance:read")) -> Page[PolicyRead]:
    """Policies by name, with their count of open violations."""
    rows, cursor = service.list_policies(session=session, actor=principal, params=params, kind=kind,
                                         enabled=enabled, target_type=target_type, q=q)
    counts = service.open_violation_counts(session, [r.id for r in rows])
    return Page[PolicyRead](items=[_read(session, r, counts) for r in rows], next_cursor=cursor)


@router.post("/policies", response_model=PolicyRead, status_code=201, summary="Create a policy",
             responses=error_responses(422),
             description="A policy: the entity types and actions it gates, `enforce` (blocks the action) or `audit` "
             "(records a violation and lets it through), and rules in CEL over `entity`, `user` and `action`, each "
             "of which must evaluate to true. " + INVALID_DOC)
def create_policy(body: PolicyCreate, session: SessionDep,
                  principal: Principal = require("governance:write")) -> PolicyRead:
    policy = service.create_policy(session=session, actor=principal, data=body)
    session.commit()
    return _read(session, policy, {})


@router.post("/policies/validate", response_model=ValidationReport, summary="Check an unsaved policy's rules")
def validate_policy(body: PolicyCreate, principal: Principal = require("governance:evaluate")) -> ValidationReport:
    """Compile every expression of a draft and check its names: `valid`, and each problem with its rule, line
    and column (the editor shows them at their position). Nothing is saved."""
    errors = service.validate_draft(actor=principal, target_types=list(body.target_types),
                                    applies_when=body.applies_when, rule_list=list(body.rules))
    return ValidationReport(valid=not errors, errors=errors)


@router.post("/policies/evaluate", response_model=Evaluation, summary="Dry-run an unsaved policy against an entity",
             responses=error_responses(422),
             description="Each rule's result for one entity, as the action `action` by `asUser` would see it; "
             "nothing is recorded (the policy editor's \"test against entity\"). " + INVALID_DOC)
def evaluate_draft(body: DraftEvaluateRequest, session: ReadSessionDep,
                   principal: Principal = require("governance:evaluate")) -> Evaluation:
    return Evaluation.model_validate(service.evaluate_draft(session=session, actor=principal, data=body))


@router.get("/policies/{policyId}", response_model=PolicyRead, summary="Get a policy", responses=NOT_FOUND,
    description='Only the fields sent change. Changing what it checks (targets, actions, appliesWhen, rules) bumps `revision`, and waivers given on an earlier revision no longer let entities through.' + " " + INVALID_DOC)
def get_policy(policyId: PolicyId, session: SessionDep,  # noqa: N803
               principal: Principal = require("governance:read")) -> PolicyRead:
    return _read(session, service.get_policy(session=session, actor=principal, policy_id=policyId))


@router.put("/policies/{policyId}", response_model=PolicyRead, summary="Update a policy",
            responses=error_responses(404, 422),
            description="Only the fields sent change. Changing what it checks (targets, actions, appliesWhen, "
            "rules) bumps `revision`, and waivers given on an earlier revision no longer let entities through. "
            + INVALID_DOC)
def update_policy(policyId: PolicyId, body: PolicyUpdate, session: SessionDep,  # noqa: N803
                  principal: Principal = require("governance:write")) -> PolicyRead:
    policy = service.update_policy(session=session, actor=principal, policy_id=policyId, data=body)
    session.commit()
    return _read(session, policy)


@router.delete("/policies/{policyId}", status_code=204, response_class=Response, summary="Delete a policy",
               responses=NOT_FOUND)
def delete_policy(policyId: PolicyId, session: SessionDep,  # noqa: N803
                  principal: Principal = require("governance:write")) -> Response:
    """The policy stops gating actions; its violations stay, with its name."""
    service.delete_policy(session=session, actor=principal, policy_id=policyId)
    session.commit()
    return Response(status_code=204)


@router.post("/policies/{policyId}/enforce", response_model=EnforceReport, summary="Apply a policy to existing entities",
             responses=NOT_FOUND)
def enforce_policy(policyId: PolicyId, session: SessionDep,  # noqa: N803
                   principal: Principal = require("governance:enforce")) -> EnforceReport:
    """Evaluate the policy now against every existing entity it targets (up to 500 of each type): a violation
    opens for each failing rule (or counts up on the open one), and open violations of entities that now
    pass are resolved. Whether the policy is enabled does not matter here."""
    report = service.enforce_policy(session=session, actor=principal, policy_id=policyId)
    session.commit()
    return EnforceReport.model_validate(report)


@router.get("/policies/{policyId}/violations", response_model=Page[ViolationRead],
            summary="A policy's violations", responses=NOT_FOUND)
def policy_violations(policyId: PolicyId, session: SessionDep, params: PageParams = Depends(page_params),  # noqa: N803
                      status: Status = None, principal: Principal = require("governance:read")) -> Page[ViolationRead]:
    """Newest first; admins see all, others the ones their actions caused."""
    service.get_policy(session=session, actor=principal, policy_id=policyId)
    rows, cursor = service.list_violations(session=session, actor=principal, params=params, policy_id=policyId,
                                           status=status)
    return Page[ViolationRead](items=[ViolationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.post("/policies/{policyId}/evaluate", response_model=Evaluation,
             summary="Dry-run a policy against an entity", responses=error_responses(404, 422))
def evaluate_policy(policyId: PolicyId, body: EvaluateRequest, session: ReadSessionDep,  # noqa: N803
                    principal: Principal = require("governance:evaluate")) -> Evaluation:
    """Each rule's result (true, false, or the error that failed it closed) for one entity, whether the policy
    applies, whether a waiver covers the entity, and whether the action would be blocked. Nothing is recorded."""
    result = service.evaluate_policy(session=session, actor=principal, policy_id=policyId, data=body)
    return Evaluation.model_validate(result)


@router.get("/violations", response_model=Page[ViolationRead], summary="List violations")
def list_violations(session: SessionDep, params: PageParams = Depends(page_params), status: Status = None,
                    policy_id: Annotated[str | None, Query(alias="policyId", max_length=64)] = None,
                    entity_type: Annotated[EntityTypeName | None, Query(alias="entityType")] = None,
                    entity_id: Annotated[str | None, Query(alias="entityId", max_length=120)] = None,
                    severity: Severity | None = None,
                    principal: Principal = require("governance:read")) -> Page[ViolationRead]:
    """Newest first, filtered by status, policy, entity and severity. Admins see every violation; others the
    ones their own actions caused."""
    rows, cursor = service.list_violations(session=session, actor=principal, params=params, policy_id=policy_id,
                                           status=status, entity_type=entity_type, entity_id=entity_id,
                                           severity=severity)
    return Page[ViolationRead](items=[ViolationRead.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/violations/{violationId}", response_model=ViolationRead, summary="Get a violation",
            responses=NOT_FOUND)
def get_violation(violationId: ViolationId, session: SessionDep,  # noqa: N803
                  principal: Principal = require("governance:read")) -> ViolationRead:
    return ViolationRead.model_validate(service.get_violation(session=session, actor=principal,
                                                              violation_id=violationId))


@router.post("/violations/{violationId}/waive", response_model=ViolationRead, summary="Waive a violation",
             responses=error_responses(404, 409))
def waive_violation(violationId: ViolationId, body: Decision, session: SessionDep,  # noqa: N803
                    principal: Principal = require("governance:waive")) -> ViolationRead:
    """Accept the risk, with a reason (admins). From now on the entity passes this policy (any rule, any
    action) until the policy's rules change (a new revision). GOV_005 unless the violation is open."""
    row = service.waive_violation(session=session, actor=principal, violation_id=violationId, reason=body.reason)
    session.commit()
    return ViolationRead.model_validate(row)


@router.post("/violations/{violationId}/resolve", response_model=ViolationRead, summary="Resolve a violation",
             responses=error_responses(404, 409))
def resolve_violation(violationId: ViolationId, body: Decision, session: SessionDep,  # noqa: N803
                      principal: Principal = require("governance:waive")) -> ViolationRead:
    """Mark an open violation fixed, with a note (admins); a later failure opens a new violation."""
    row = service.resolve_violation(session=session, actor=principal, violation_id=violationId, reason=body.reason)
    session.commit()
    return ViolationRead.model_validate(row)
