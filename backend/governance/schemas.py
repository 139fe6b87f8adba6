"""Wire documents of governance policies and violations (camelCase; unknown input fields refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from backend.core.schemas import InputModel, ReadModel, UtcDateTime

PolicyKind = Literal["access", "data_governance", "model_release", "deployment", "compliance"]
Severity = Literal["low", "medium", "high", "critical"]
Enforcement = Literal["enforce", "audit"]
EntityTypeName = Literal["model", "model_version", "dataset", "endpoint", "marketplace_listing"]
ActionName = Literal["model.promote", "model.rollback", "endpoint.deploy", "dataset.train", "dataset.share",
                     "model.publish", "marketplace.publish"]
Cel = str


class Rule(InputModel, ReadModel):
    """One condition every governed entity must meet."""

    name: str = Field(min_length=1, max_length=120, description="Short name, shown in violations")
    expression: Cel = Field(min_length=1, max_length=2000,
                            description="CEL over `entity`, `user` and `action`; must evaluate to true",
                            examples=["entity.metrics.accuracy >= 0.9"])
    message: str | None = Field(default=None, max_length=500, description="What to tell the user when it fails")


class PolicyFields(InputModel):
    description: str | None = Field(default=None, max_length=2000)
    kind: PolicyKind | None = None
    target_types: list[EntityTypeName] | None = Field(default=None, min_length=1, max_length=5,
                                                      description="The entity types it governs")
    actions: list[ActionName] | None = Field(
        default=None, max_length=7, description="The governed actions it checks; empty: every action on its targets")
    severity: Severity | None = None
    enforcement: Enforcement | None = Field(default=None, description="enforce blocks the action; audit records only")
    enabled: bool | None = None
    applies_when: Cel | None = Field(default=None, max_length=2000,
                                     description="CEL guard: the policy applies only where it holds (empty: always)",
                                     examples=['action.toStage == "production" || entity.stage == "production"'])
    rules: list[Rule] | None = Field(default=None, min_length=1, max_length=30)


class PolicyCreate(PolicyFields):
    name: str = Field(min_length=1, max_length=120)
    kind: PolicyKind
    target_types: list[EntityTypeName] = Field(min_length=1, max_length=5)
    rules: list[Rule] = Field(min_length=1, max_length=30)
    severity: Severity = "medium"
    enforcement: Enforcement = "audit"
    enabled: bool = True
    description: str = Field(default="", max_length=2000)
    actions: list[ActionName] = Field(default_factory=list, max_length=7)


class PolicyUpdate(PolicyFields):
    name: str | None = Field(default=None, min_length=1, max_length=120)


class PolicyRead(ReadModel):
    id: str
    name: str
    description: str
    kind: str
    target_types: list[str]
    actions: list[str]
    severity: str
    enforcement: str
    enabled: bool
    applies_when: str | None
    rules: list[Rule]
    revision: int = Field(description="Bumped when what the policy checks changes; waivers hold per revision")
    created_by: str
    created_at: UtcDateTime
    updated_at: UtcDateTime
    open_violations: int = 0


class ValidationProblem(ReadModel):
    where: str = Field(description="appliesWhen, or rules[i] (0-based)")
    rule: str | None
    line: int = Field(description="1-based line in the expression")
    column: int = Field(description="1-based column in the expression")
    message: str


class ValidationReport(ReadModel):
    valid: bool
    errors: list[ValidationProblem]


class EntityRef(InputModel):
    entity_type: EntityTypeName
    entity_id: str = Field(min_length=1, max_length=120,
                           description="The entity's id (a model version also as `<modelId>@<version>`)")


class EvaluateRequest(InputModel):
    """Dry-run a policy against one entity. On `/policies/evaluate`, `policy` is the (unsaved) policy."""

    entity_type: EntityTypeName
    entity_id: str = Field(min_length=1, max_length=120)
    action: ActionName | None = Field(default=None, description="The action to imagine (empty: none)")
    action_details: dict[str, Any] = Field(default_factory=dict, description="e.g. {\"toStage\": \"production\"}")
    as_user: str | None = Field(default=None, max_length=64,
                                description="Username whose attributes `user` holds (default: you)")


class DraftEvaluateRequest(EvaluateRequest):
    policy: PolicyCreate


class RuleResult(ReadModel):
    name: str
    expression: str
    passed: bool
    value: Any = None
    reason: str | None


class Evaluation(ReadModel):
    policy_id: str | None
    policy_name: str
    entity_type: str
    entity_id: str
    entity_name: str
    applies: bool = Field(description="Whether `appliesWhen` held (a policy that does not apply passes)")
    applies_reason: str | None = None
    compliant: bool
    waived: bool = Field(description="A waiver of this policy's revision covers the entity")
    would_block: bool = Field(description="The policy is enforced and the entity fails it without a waiver")
    rules: list[RuleResult]
    context: dict[str, Any] = Field(description="The `user` and `action` the rules saw")


class EnforceReport(ReadModel):
    policy_id: str
    evaluated: int
    compliant: int
    violations_opened: int
    violations_seen_again: int
    violations_resolved: int = Field(description="Open violations of entities that now pass, marked resolved")
    not_applicable: int


class ViolationRead(ReadModel):
    id: str
    policy_id: str
    policy_name: str
    policy_revision: int
    severity: str
    enforcement: str
    entity_type: str
    entity_id: str
    entity_name: str | None
    action: str
    rule: str
    condition: str
    reason: str
    blocked: bool
    status: str
    actor_id: str
    occurrences: int
    created_at: UtcDateTime
    last_seen_at: UtcDateTime
    decided_by: str | None
    decided_at: UtcDateTime | None
    decision_note: str | None


class Decision(InputModel):
    reason: str = Field(min_length=3, max_length=1000, description="Why (kept on the violation and audited)")
