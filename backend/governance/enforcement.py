"""Policies at action time: the "action_check" hook every governed action runs (`backend.core.actions`),
and the registry's "promotion" hook, which hands promotions and rollbacks to the same check.

For each enabled policy that targets the entity's type and gates the action: evaluate `appliesWhen`, then
every rule. A failing rule of an `audit` policy opens (or counts up on) a violation in the action's own
transaction and lets the action go on. A failing rule of an `enforce` policy refuses the action with
GOV_003, naming the policy, the rule and its condition; its violations are written in a transaction of
their own once the refused one has ended (so they persist although the action is rolled back), with an
audit record each. A waived violation of the same policy revision and entity lets the action through;
each use of a waiver is audited in the action's transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.unit_of_work import after_commit, after_rollback
from backend.governance import entities, rules, service
from backend.governance.models import Policy

log = logging.getLogger(__name__)


def active_policies(session: Session, entity_type: str, action: str) -> list[Policy]:
    """The enabled policies that target `entity_type` and gate `action` (no actions listed: every one)."""
    rows = session.exec(select(Policy).where(Policy.enabled == True).order_by(col(Policy.name))).all()  # noqa: E712
    return [p for p in rows if entity_type in p.target_types and (not p.actions or action in p.actions)]


def promotion_check(ctx: Any) -> None:
    """The registry's promotion hook: a stage move or a rollback is the governed action on the version."""
    from backend.core.actions import check_action

    action = "model.rollback" if ctx.action == "rollback" else "model.promote"
    check_action(session=ctx.session, actor=ctx.actor, action=action, entity=ctx.version,
                 details={"toStage": ctx.stage, "fromStage": ctx.version.stage, "modelId": ctx.model.id,
                          "version": ctx.version.version})


def action_check(session: Session, actor: Any, action: str, entity_type: str, entity: Any,
                 details: dict[str, Any]) -> None:
    """Refuse (GOV_003) an action an enforced policy fails; record the violations it finds."""
    policies = active_policies(session, entity_type, action)
    if not policies:
        return
    try:
        entity_id, entity_name, doc = entities.describe(session, entity_type, entity, details)
    except AISystemError:
        raise
    except Exception:
        # Fail closed where a policy enforces; audit-only policies never break the action they watch.
        if any(p.enforcement == "enforce" for p in policies):
            raise
        log.exception("could not describe the %s of a %s for audit-mode policies", entity_type, action)
        return
    context = {"entity": doc, "user": rules.user_context(actor), "action": rules.action_context(action, details)}
    findings: list[service.Finding] = []
    blocking: list[tuple[Policy, service.RuleResult]] = []
    for policy in policies:
        spec = service.Spec.of(policy)
        applies, _, results = service.run_policy(spec, context)
        failed = [r for r in results if not r.outcome.passed]
        if not applies or not failed:
            continue
        waiver = service.waiver_for(session, spec, entity_type, entity_id)
        if waiver is not None:
            audit.record(session=session, actor=actor, action="governance.waiver.apply", entity_type=entity_type,
                         entity_id=entity_id, summary={"violationId": waiver.id, "policyId": policy.id,
                                                       "policy": policy.name, "action": action,
                                                       "rules": [r.name for r in failed]})
            continue
        enforced = policy.enforcement == "enforce"
        findings += [service.Finding(policy.id, policy.name, policy.revision, policy.severity, policy.enforcement,
                                     entity_type, entity_id, entity_name, action, r.name, r.expression,
                                     service.failure_reason(r) or "failed", enforced) for r in failed]
        if enforced:
            blocking.append((policy, failed[0]))
    if not findings:
        return
    if not blocking:
        service.record_findings(session, actor, findings)
        return
    _refuse(session, actor, action, entity_type, entity_id, entity_name, findings, blocking)


def _refuse(session: Session, actor: Any, action: str, entity_type: str, entity_id: str, entity_name: str,
            findings: list[service.Finding], blocking: list[tuple[Policy, service.RuleResult]]) -> None:
    # The ids the error names: the open violation each finding will count up on, or a new one.
    ids = {}
    for i, finding in enumerate(findings):
        existing = service.open_violation(session, finding)
        ids[i] = existing.id if existing is not None else new_id("violation")
    done: list[bool] = []

    def write() -> None:
        if done:
            return
        done.append(True)
        from backend.core.db import session_scope

        try:
            with session_scope() as own:
                service.record_findings(own, actor, findings, ids)
        except Exception:
            log.exception("could not record the violations of a refused %s", action)

    # Once the refused transaction has ended: rolled back (the usual case) or committed by a caller that
    # caught the error; either way the violations land in a transaction of their own.
    after_rollback(session, write)
    after_commit(session, write)
    policy, rule = blocking[0]
    index = next(i for i, f in enumerate(findings) if f.policy_id == policy.id and f.rule == rule.name)
    reason = service.failure_reason(rule) or "failed"
    others = [p.name for p, _ in blocking[1:]]
    message = (f"Blocked by policy '{policy.name}': rule '{rule.name}' failed for {entity_name} "
               f"(condition: {rule.expression}; {reason})")
    if others:
        message += f"; also blocked by {', '.join(repr(n) for n in others)}"
    raise AISystemError("GOV_003", message, {
        "policyId": policy.id, "policy": policy.name, "rule": rule.name, "condition": rule.expression,
        "reason": reason, "action": action, "entityType": entity_type, "entityId": entity_id,
        "violationId": ids[index], "violationIds": [ids[i] for i in range(len(findings)) if findings[i].blocked],
        "blockedBy": [p.name for p, _ in blocking]})
