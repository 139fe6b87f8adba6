"""The one authorization check: every service entry point asks it before acting.

`authorize(principal, "model:promote", resource)` checks the role's grants (RBAC, the design's
table) and then every attribute rule (ABAC: department, project, clearance level, cost centre)
that a domain has added, with the resource in hand. Routes and UI handlers still authenticate,
but the decision is made here, so every caller (REST, UI, MCP tools, pipelines, tasks) gets it.

It lives in core because every domain asks it, the audit trail (which depends only on core) included;
`backend.auth.principal.Principal` is the principal every caller passes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from backend import domains
from backend.core.errors import PermissionDenied


class Principal(Protocol):
    """Who acts, as authorization sees it (auth's Principal is one)."""

    user_id: str
    role: str
    attributes: Mapping[str, Any]

    def can(self, permission: str) -> bool: ...


# A rule returns None to allow, or a short reason to deny (shown to the user in the error details).
# Domains declare theirs as "attribute_rule" hooks in backend/domains.py (every process runs them);
# add_attribute_rule is for rules that come and go at run time (a governance policy withdrawn).
AttributeRule = Callable[[Principal, str, object | None], str | None]

_ATTRIBUTE_RULES: list[AttributeRule] = []


def add_attribute_rule(rule: AttributeRule) -> None:
    """Add an attribute-based rule every later authorization consults (idempotent)."""
    if rule not in _ATTRIBUTE_RULES:
        _ATTRIBUTE_RULES.append(rule)


def remove_attribute_rule(rule: AttributeRule) -> None:
    """Stop consulting `rule` (tests, and governance when a policy is withdrawn)."""
    if rule in _ATTRIBUTE_RULES:
        _ATTRIBUTE_RULES.remove(rule)


def attribute_rules() -> tuple[AttributeRule, ...]:
    return tuple(_ATTRIBUTE_RULES)


def authorize(principal: Principal, permission: str, resource: object | None = None) -> None:
    """Raise PermissionDenied (AUTH_002) unless `principal` may do `permission` on `resource`."""
    if not principal.can(permission):
        raise PermissionDenied(permission)
    for rule in (*domains.hooks("attribute_rule"), *_ATTRIBUTE_RULES):
        reason = rule(principal, permission, resource)
        if reason:
            raise PermissionDenied(permission, reason=reason)


def is_authorized(principal: Principal, permission: str, resource: object | None = None) -> bool:
    """Whether `authorize` would let `principal` do `permission` on `resource` (for filtering lists)."""
    try:
        authorize(principal, permission, resource)
    except PermissionDenied:
        return False
    return True
