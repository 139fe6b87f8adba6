"""Governance policies and violations: CRUD with validation, dry-run evaluation, enforcement over existing
entities, and the violations' waive/resolve workflow. The check at action time is `enforcement.py`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.models import User
from backend.auth.principal import Principal
from backend.core.authorization import authorize
from backend.core.errors import AISystemError
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import utcnow
from backend.governance import entities, rules
from backend.governance.models import Policy, Violation
from backend.governance.schemas import (
    DraftEvaluateRequest,
    EvaluateRequest,
    PolicyCreate,
    PolicyUpdate,
)

READ, WRITE, EVALUATE, ENFORCE, WAIVE, MANAGE = (
    "governance:read", "governance:write", "governance:evaluate", "governance:enforce", "governance:waive",
    "governance:manage")
ENFORCE_LIMIT = 500  # entities of each type one `enforce` call evaluates
# Fields whose change makes the policy check something else: the revision goes up and waivers lapse.
_CHECKED = ("target_types", "actions", "applies_when", "rules")


def policy_not_found(policy_id: str) -> AISystemError:
    return AISystemError("GOV_001", f"Policy {policy_id} does not exist", {"policyId": policy_id})


def violation_not_found(violation_id: str) -> AISystemError:
    return AISystemError("GOV_004", f"Violation {violation_id} does not exist", {"violationId": violation_id})


# --- what a policy is, for evaluation --------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What evaluation needs of a policy, saved (a row) or not (a draft)."""

    id: str | None
    name: str
    enforcement: str
    applies_when: str | None
    rules: tuple[dict[str, Any], ...]
    revision: int = 1

    @classmethod
    def of(cls, policy: Policy) -> Spec:
        return cls(policy.id, policy.name, policy.enforcement, policy.applies_when, tuple(policy.rules),
                   policy.revision)


@dataclass(frozen=True)
class RuleResult:
    name: str
    expression: str
    message: str | None
    outcome: rules.Outcome


def failure_reason(result: RuleResult) -> str | None:
    """Why a rule failed, in the policy author's words first (None when it passed)."""
    if result.outcome.passed:
        return None
    return f"{result.message} ({result.outcome.reason})" if result.message else result.outcome.reason


def run_policy(spec: Spec, context: Mapping[str, Any]) -> tuple[bool, str | None, list[RuleResult]]:
    """(applies, why not, each rule's result). A guard that errors applies the policy (fail closed)."""
    if spec.applies_when and spec.applies_when.strip():
        guard = rules.evaluate(spec.applies_when, context)
        if not guard.passed and guard.value is False:
            return False, "appliesWhen is false", []
    results = [RuleResult(r["name"], r["expression"], r.get("message"), rules.evaluate(r["expression"], context))
               for r in spec.rules]
    return True, None, results


# --- validation -------------------------------------------------------------------------------------------------


def validate(*, target_types: list[str], applies_when: str | None,
             rule_list: list[Mapping[str, Any]]) -> list[rules.Problem]:
    """Every problem of a policy's expressions: syntax errors and unknown names, with their positions."""
    fields = entities.fields_of(list(target_types))
    problems: list[rules.Problem] = []
    if applies_when and applies_when.strip():
        problems += rules.check(applies_when, where="appliesWhen", rule=None, entity_fields=fields)
    names = set()
    for i, rule in enumerate(rule_list):
        problems += rules.check(rule["expression"], where=f"rules[{i}]", rule=rule["name"], entity_fields=fields)
        if rule["name"] in names:
            problems.append(rules.Problem(f"rules[{i}]", rule["name"], 1, 1, "Two rules have this name"))
        names.add(rule["name"])
    return problems


def _raise_invalid(problems: list[rules.Problem]) -> None:
    if problems:
        first = problems[0]
        raise AISystemError("GOV_002", f"The policy is not valid: {first.where} line {first.line}, column "
                            f"{first.column}: {first.message}", {"errors": [p.as_dict() for p in problems]})


def _check_actions(target_types: list[str], actions: list[str]) -> None:
    from backend.core.actions import ACTIONS

    stray = [a for a in actions if ACTIONS[a] not in target_types]
    if stray:
        raise AISystemError("GOV_002", f"The action {stray[0]} acts on a {ACTIONS[stray[0]]}, which the policy "
                            "does not target", {"errors": [{"where": "actions", "rule": None, "line": 1, "column": 1,
                                                            "message": f"{a} acts on {ACTIONS[a]}"} for a in stray]})


def _rule_dicts(rule_list: list[Any]) -> list[dict[str, Any]]:
    return [r.model_dump(by_alias=True) if hasattr(r, "model_dump") else dict(r) for r in rule_list]


# --- policies ---------------------------------------------------------------------------------------------------


def count_policies(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Policy)).one())


def find_policy(*, session: Session, policy_id: str) -> Policy | None:
    return session.get(Policy, policy_id)


def get_policy(*, session: Session, actor: Principal, policy_id: str) -> Policy:
    authorize(actor, READ)
    policy = session.get(Policy, policy_id)
    if policy is None:
        raise policy_not_found(policy_id)
    return policy


def list_policies(*, session: Session, actor: Principal, params: PageParams, kind: str | None = None,
                  enabled: bool | None = None, target_type: str | None = None,
                  q: str | None = None) -> tuple[list[Policy], str | None]:
    authorize(actor, READ)
    query = select(Policy)
    if kind:
        query = query.where(Policy.kind == kind)
    if enabled is not None:
        query = query.where(Policy.enabled == enabled)
    if q:
        query = query.where(func.lower(Policy.name).contains(q.lower()))
    rows, cursor = paginate(session, query, params=params, order=[Policy.name, Policy.id])
    if target_type:  # a JSON list: filtered here (a few dozen policies at most)
        rows = [r for r in rows if target_type in r.target_types]
    return rows, cursor


def open_violation_counts(session: Session, policy_ids: list[str]) -> dict[str, int]:
    if not policy_ids:
        return {}
    rows = session.exec(select(Violation.policy_id, func.count()).where(
        col(Violation.policy_id).in_(policy_ids), Violation.status == "open").group_by(Violation.policy_id)).all()
    return {pid: int(n) for pid, n in rows}


def _name_free(session: Session, name: str, policy_id: str | None = None) -> None:
    existing = session.exec(select(Policy).where(Policy.name == name)).first()
    if existing is not None and existing.id != policy_id:
        raise AISystemError("REQ_001", "A policy with this name exists",
                            {"fields": [{"field": "name", "message": "already used"}]})


def create_policy(*, session: Session, actor: Principal, data: PolicyCreate | dict) -> Policy:
    """Save a policy after validating its expressions (GOV_002 lists each problem with its position)."""
    authorize(actor, WRITE)
    data = data if isinstance(data, PolicyCreate) else PolicyCreate.model_validate(data)
    rule_list = _rule_dicts(data.rules)
    _raise_invalid(validate(target_types=list(data.target_types), applies_when=data.applies_when,
                            rule_list=rule_list))
    _check_actions(list(data.target_types), list(data.actions))
    _name_free(session, data.name)
    now = utcnow()
    policy = Policy(id=new_id("policy"), name=data.name, description=data.description, kind=data.kind,
                    target_types=list(dict.fromkeys(data.target_types)), actions=list(dict.fromkeys(data.actions)),
                    severity=data.severity, enforcement=data.enforcement, enabled=data.enabled,
                    applies_when=(data.applies_when or "").strip() or None, rules=rule_list,
                    created_by=actor.user_id, created_at=now, updated_at=now)
    session.add(policy)
    session.flush()
    audit.record(session=session, actor=actor, action="governance.policy.create", entity_type="governance_policy",
                 entity_id=policy.id, summary={"name": policy.name, "enforcement": policy.enforcement,
                                               "targets": policy.target_types, "rules": len(rule_list)})
    return policy


def update_policy(*, session: Session, actor: Principal, policy_id: str, data: PolicyUpdate | dict) -> Policy:
    """Change the fields sent; a change of what it checks bumps `revision` (earlier waivers lapse)."""
    authorize(actor, WRITE)
    data = data if isinstance(data, PolicyUpdate) else PolicyUpdate.model_validate(data)
    policy = get_policy(session=session, actor=actor, policy_id=policy_id)
    sent = data.model_fields_set
    new = {
        "name": data.name if "name" in sent and data.name is not None else policy.name,
        "description": data.description if "description" in sent and data.description is not None
        else policy.description,
        "kind": data.kind or policy.kind,
        "target_types": list(dict.fromkeys(data.target_types)) if data.target_types else policy.target_types,
        "actions": list(dict.fromkeys(data.actions)) if data.actions is not None else policy.actions,
        "severity": data.severity or policy.severity,
        "enforcement": data.enforcement or policy.enforcement,
        "enabled": data.enabled if data.enabled is not None else policy.enabled,
        "applies_when": ((data.applies_when or "").strip() or None) if "applies_when" in sent else policy.applies_when,
        "rules": _rule_dicts(data.rules) if data.rules is not None else policy.rules,
    }
    _raise_invalid(validate(target_types=new["target_types"], applies_when=new["applies_when"],
                            rule_list=new["rules"]))
    _check_actions(new["target_types"], new["actions"])
    _name_free(session, new["name"], policy.id)
    changed = sorted(k for k, v in new.items() if getattr(policy, k) != v)
    if not changed:
        return policy
    if any(k in _CHECKED for k in changed):
        policy.revision += 1
    for key, value in new.items():
        setattr(policy, key, value)
    policy.updated_at = utcnow()
    session.add(policy)
    session.flush()
    audit.record(session=session, actor=actor, action="governance.policy.update", entity_type="governance_policy",
                 entity_id=policy.id, summary={"fields": changed, "revision": policy.revision,
                                               "enforcement": policy.enforcement, "enabled": policy.enabled})
    return policy


def delete_policy(*, session: Session, actor: Principal, policy_id: str) -> None:
    """Delete a policy; its violations stay (with its name) as the record of what it found."""
    authorize(actor, WRITE)
    policy = get_policy(session=session, actor=actor, policy_id=policy_id)
    session.delete(policy)
    session.flush()
    audit.record(session=session, actor=actor, action="governance.policy.delete", entity_type="governance_policy",
                 entity_id=policy_id, summary={"name": policy.name})


# --- evaluation -------------------------------------------------------------------------------------------------


def waiver_for(session: Session, spec: Spec, entity_type: str, entity_id: str) -> Violation | None:
    """The waived violation that lets this entity through this policy's current revision, if any."""
    if spec.id is None:
        return None
    return session.exec(select(Violation).where(
        Violation.policy_id == spec.id, Violation.entity_type == entity_type, Violation.entity_id == entity_id,
        Violation.status == "waived", Violation.policy_revision == spec.revision)
        .order_by(col(Violation.decided_at).desc())).first()


def _user_principal(session: Session, actor: Principal, username: str | None) -> Principal:
    if not username or username == actor.username:
        return actor
    from backend.auth import service as auth_service

    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise AISystemError("REQ_001", f"No user {username}", {"fields": [{"field": "asUser", "message": "no such user"}]})
    return auth_service.principal_for(user, credential_id=None, credential_type="session")


def _evaluate(session: Session, actor: Principal, spec: Spec, target_types: list[str],
              data: EvaluateRequest) -> dict[str, Any]:
    if data.entity_type not in target_types:
        raise AISystemError("REQ_001", f"The policy does not govern {data.entity_type}",
                            {"fields": [{"field": "entityType", "message": f"one of {', '.join(target_types)}"}]})
    row = entities.load(session, data.entity_type, data.entity_id)
    entity_id, entity_name, doc = entities.describe(session, data.entity_type, row)
    user = _user_principal(session, actor, data.as_user)
    context = {"entity": doc, "user": rules.user_context(user),
               "action": rules.action_context(data.action or "policy.evaluate", data.action_details)}
    applies, why, results = run_policy(spec, context)
    compliant = all(r.outcome.passed for r in results)
    waived = not compliant and waiver_for(session, spec, data.entity_type, entity_id) is not None
    return {
        "policyId": spec.id, "policyName": spec.name, "entityType": data.entity_type, "entityId": entity_id,
        "entityName": entity_name, "applies": applies, "appliesReason": why, "compliant": compliant,
        "waived": waived, "wouldBlock": not compliant and not waived and spec.enforcement == "enforce",
        "rules": [{"name": r.name, "expression": r.expression, "passed": r.outcome.passed,
                   "value": r.outcome.value if isinstance(r.outcome.value, bool | int | float | str) else None,
                   "reason": failure_reason(r)}
                  for r in results],
        "context": {"user": context["user"], "action": context["action"]},
    }


def evaluate_policy(*, session: Session, actor: Principal, policy_id: str, data: EvaluateRequest | dict) -> dict[str, Any]:
    """Dry-run a saved policy against one entity: each rule's result, nothing recorded."""
    authorize(actor, EVALUATE)
    data = data if isinstance(data, EvaluateRequest) else EvaluateRequest.model_validate(data)
    policy = get_policy(session=session, actor=actor, policy_id=policy_id)
    return _evaluate(session, actor, Spec.of(policy), list(policy.target_types), data)


def evaluate_draft(*, session: Session, actor: Principal, data: DraftEvaluateRequest | dict) -> dict[str, Any]:
    """Dry-run an unsaved policy (the editor's "test against entity"); GOV_002 if it does not compile."""
    authorize(actor, EVALUATE)
    data = data if isinstance(data, DraftEvaluateRequest) else DraftEvaluateRequest.model_validate(data)
    draft = data.policy
    rule_list = _rule_dicts(draft.rules)
    _raise_invalid(validate(target_types=list(draft.target_types), applies_when=draft.applies_when,
                            rule_list=rule_list))
    spec = Spec(None, draft.name, draft.enforcement, (draft.applies_when or "").strip() or None, tuple(rule_list))
    return _evaluate(session, actor, spec, list(draft.target_types), data)


def validate_draft(*, actor: Principal, target_types: list[str], applies_when: str | None,
                   rule_list: list[Any]) -> list[dict[str, Any]]:
    """The problems of an unsaved policy (empty: it would save)."""
    authorize(actor, EVALUATE)
    return [p.as_dict() for p in validate(target_types=target_types, applies_when=applies_when,
                                          rule_list=_rule_dicts(rule_list))]


# --- violations ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One failed rule of one policy on one entity, about to become (or count up on) a violation."""

    policy_id: str
    policy_name: str
    policy_revision: int
    severity: str
    enforcement: str
    entity_type: str
    entity_id: str
    entity_name: str
    action: str
    rule: str
    condition: str
    reason: str
    blocked: bool


def open_violation(session: Session, f: Finding) -> Violation | None:
    return session.exec(select(Violation).where(
        Violation.policy_id == f.policy_id, Violation.entity_type == f.entity_type,
        Violation.entity_id == f.entity_id, Violation.rule == f.rule, Violation.status == "open")).first()


def record_findings(session: Session, actor: Principal, findings: list[Finding],
                    ids: Mapping[int, str] | None = None) -> tuple[list[Violation], int]:
    """Open a violation per finding, or count up on the open one of the same policy, entity and rule.
    Returns (the violations, how many were new); writes one audit record per violation."""
    out, opened, now = [], 0, utcnow()
    for i, f in enumerate(findings):
        row = open_violation(session, f)
        if row is None:
            row = Violation(id=(ids or {}).get(i) or new_id("violation"), policy_id=f.policy_id,
                            policy_name=f.policy_name, policy_revision=f.policy_revision, severity=f.severity,
                            enforcement=f.enforcement, entity_type=f.entity_type, entity_id=f.entity_id,
                            entity_name=f.entity_name[:300], action=f.action, rule=f.rule[:120],
                            condition=f.condition[:2000], reason=f.reason[:1000], blocked=f.blocked,
                            actor_id=actor.user_id, created_at=now, last_seen_at=now)
            opened += 1
        else:
            row.occurrences += 1
            row.last_seen_at, row.action, row.reason = now, f.action, f.reason[:1000]
            row.blocked = row.blocked or f.blocked
            row.policy_revision = f.policy_revision
        session.add(row)
        session.flush()
        audit.record(session=session, actor=actor, action="governance.violation.record", entity_type=f.entity_type,
                     entity_id=f.entity_id, outcome="failure" if f.blocked else "success",
                     summary={"violationId": row.id, "policyId": f.policy_id, "policy": f.policy_name,
                              "rule": f.rule, "action": f.action, "blocked": f.blocked, "reason": f.reason[:300]})
        out.append(row)
    return out, opened


def get_violation(*, session: Session, actor: Principal, violation_id: str) -> Violation:
    authorize(actor, READ)
    row = session.get(Violation, violation_id)
    if row is None or not (actor.can(MANAGE) or row.actor_id == actor.user_id):
        raise violation_not_found(violation_id)
    return row


def list_violations(*, session: Session, actor: Principal, params: PageParams, policy_id: str | None = None,
                    status: str | None = None, entity_type: str | None = None, entity_id: str | None = None,
                    severity: str | None = None) -> tuple[list[Violation], str | None]:
    """Newest first. Admins see every violation; others the ones their own actions caused."""
    authorize(actor, READ)
    query = select(Violation)
    if not actor.can(MANAGE):
        query = query.where(Violation.actor_id == actor.user_id)
    for column, value in ((Violation.policy_id, policy_id), (Violation.status, status),
                          (Violation.entity_type, entity_type), (Violation.entity_id, entity_id),
                          (Violation.severity, severity)):
        if value:
            query = query.where(column == value)
    return paginate(session, query, params=params, order=[Violation.created_at, Violation.id], descending=True,
                    parse=[datetime.fromisoformat, str])


def _decide(session: Session, actor: Principal, violation_id: str, status: str, note: str) -> Violation:
    authorize(actor, WAIVE)
    row = session.exec(select(Violation).where(Violation.id == violation_id).with_for_update()).first()
    if row is None:
        raise violation_not_found(violation_id)
    if row.status != "open":
        raise AISystemError("GOV_005", f"The violation is {row.status}; only an open violation is {status}",
                            {"violationId": row.id, "status": row.status})
    row.status, row.decided_by, row.decided_at, row.decision_note = status, actor.user_id, utcnow(), note
    session.add(row)
    session.flush()
    audit.record(session=session, actor=actor, action=f"governance.violation.{'waive' if status == 'waived' else 'resolve'}",
                 entity_type=row.entity_type, entity_id=row.entity_id,
                 summary={"violationId": row.id, "policyId": row.policy_id, "policy": row.policy_name,
                          "rule": row.rule, "revision": row.policy_revision, "reason": note})
    return row


def waive_violation(*, session: Session, actor: Principal, violation_id: str, reason: str) -> Violation:
    """Accept the risk (admins): the entity passes this policy's current revision from now on."""
    return _decide(session, actor, violation_id, "waived", reason)


def resolve_violation(*, session: Session, actor: Principal, violation_id: str, reason: str) -> Violation:
    """Mark an open violation fixed (admins); a later failure opens a new one."""
    return _decide(session, actor, violation_id, "resolved", reason)


# --- enforce now ----------------------------------------------------------------------------------------------


def enforce_policy(*, session: Session, actor: Principal, policy_id: str) -> dict[str, Any]:
    """Apply a policy now to the existing entities it targets (up to ENFORCE_LIMIT of each type): open a
    violation per failing rule, and resolve open violations of entities that now pass."""
    authorize(actor, ENFORCE)
    policy = get_policy(session=session, actor=actor, policy_id=policy_id)
    spec = Spec.of(policy)
    counts = {"evaluated": 0, "compliant": 0, "opened": 0, "again": 0, "resolved": 0, "na": 0}
    action = rules.action_context("policy.enforce")
    user = rules.user_context(actor)
    findings: list[Finding] = []
    for type_name in policy.target_types:
        kind = entities.entity_type(type_name)
        for row in kind.rows(session, ENFORCE_LIMIT):
            entity_id, entity_name, doc = entities.describe(session, type_name, row)
            counts["evaluated"] += 1
            applies, _, results = run_policy(spec, {"entity": doc, "user": user, "action": action})
            failed = [r for r in results if not r.outcome.passed]
            if not applies or not failed:
                counts["na" if not applies else "compliant"] += 1
                counts["resolved"] += _resolve_passing(session, actor, policy, type_name, entity_id)
                continue
            if waiver_for(session, spec, type_name, entity_id) is not None:
                counts["compliant"] += 1
                continue
            findings += [Finding(policy.id, policy.name, policy.revision, policy.severity, policy.enforcement,
                                 type_name, entity_id, entity_name, "policy.enforce", r.name, r.expression,
                                 failure_reason(r) or "failed", False) for r in failed]
    _, opened = record_findings(session, actor, findings)
    counts["opened"], counts["again"] = opened, len(findings) - opened
    audit.record(session=session, actor=actor, action="governance.policy.enforce", entity_type="governance_policy",
                 entity_id=policy.id, summary=dict(counts))
    return {"policyId": policy.id, "evaluated": counts["evaluated"], "compliant": counts["compliant"],
            "violationsOpened": counts["opened"], "violationsSeenAgain": counts["again"],
            "violationsResolved": counts["resolved"], "notApplicable": counts["na"]}


def _resolve_passing(session: Session, actor: Principal, policy: Policy, entity_type: str, entity_id: str) -> int:
    rows = session.exec(select(Violation).where(
        Violation.policy_id == policy.id, Violation.entity_type == entity_type, Violation.entity_id == entity_id,
        Violation.status == "open")).all()
    now = utcnow()
    for row in rows:
        row.status, row.decided_by, row.decided_at = "resolved", actor.user_id, now
        row.decision_note = f"Passes revision {policy.revision} when enforced"
        session.add(row)
    if rows:
        session.flush()
    return len(rows)


def entity_choices(*, session: Session, actor: Principal, entity_type: str, limit: int = 100) -> list[tuple[str, str]]:
    """(id, display name) of existing entities of a type, for choosing one to test a policy against."""
    authorize(actor, EVALUATE)
    if entity_type not in entities.ENTITY_TYPE_NAMES:
        return []
    kind = entities.entity_type(entity_type)
    rows = kind.rows(session, limit)
    if entity_type != "model_version":
        return sorted(((str(r.id), kind.name_of(r)) for r in rows), key=lambda pair: pair[1].lower())
    from backend.catalog.model_registry.models import RegisteredModel

    names = dict(session.exec(select(RegisteredModel.id, RegisteredModel.name).where(
        col(RegisteredModel.id).in_({r.model_id for r in rows}))).all())
    return sorted(((r.id, f"{names.get(r.model_id, r.model_id)} {r.version}") for r in rows),
                  key=lambda pair: pair[1].lower())
