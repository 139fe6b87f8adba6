"""RBAC exactly as the design's table, plus `admin` (everything) and what every signed-in user may do.

A grant `resource:*` covers every action on the resource; `resource:action` covers that one action.
"""

from __future__ import annotations

from backend import domains

# The design's roles; what each may do is declared by the domains (`backend/domains.py` grants).
ROLES: tuple[str, ...] = ("admin", "ml_engineer", "data_scientist", "ml_ops", "data_engineer", "business_user")

ROLE_GRANTS: dict[str, tuple[str, ...]] = {role: domains.role_grants(role) for role in ROLES}

# Granted to every signed-in user: their own account and keys, marketplace browsing, their own jobs.
BASE_GRANTS: tuple[str, ...] = domains.role_grants(domains.EVERYONE)


def has_permission(role: str, permission: str) -> bool:
    """Whether `role` holds `permission` (e.g. `model:read`)."""
    resource, _, _action = permission.partition(":")
    for grant in ROLE_GRANTS.get(role, ()) + BASE_GRANTS:
        if grant in ("*", permission, f"{resource}:*"):
            return True
    return False


def grants_of(role: str) -> list[str]:
    return list(ROLE_GRANTS.get(role, ()) + BASE_GRANTS)
