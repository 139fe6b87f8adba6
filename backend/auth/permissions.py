"""RBAC exactly as the design's table, plus `admin` (everything) and what every signed-in user may do.

A grant `resource:*` covers every action on the resource; `resource:action` covers that one action.
"""

from __future__ import annotations

ROLE_GRANTS: dict[str, tuple[str, ...]] = {
    "admin": ("*",),
    "ml_engineer": ("model:*", "dataset:*", "experiment:*"),
    "data_scientist": ("model:read", "dataset:*", "experiment:write"),
    "ml_ops": ("endpoint:*", "deployment:*", "monitoring:*"),
    "data_engineer": ("dataset:*", "feature:*", "pipeline:*"),
    "business_user": ("model:read", "endpoint:read", "report:*"),
}

# Granted to every signed-in user: their own account and keys, marketplace browsing, their own jobs
# (reading and cancelling them; services limit non-admins to jobs they started).
BASE_GRANTS: tuple[str, ...] = ("account:*", "marketplace:read", "job:read", "job:write")

ROLES: tuple[str, ...] = tuple(ROLE_GRANTS)


def has_permission(role: str, permission: str) -> bool:
    """Whether `role` holds `permission` (e.g. `model:read`)."""
    resource, _, _action = permission.partition(":")
    for grant in ROLE_GRANTS.get(role, ()) + BASE_GRANTS:
        if grant in ("*", permission, f"{resource}:*"):
            return True
    return False


def grants_of(role: str) -> list[str]:
    return list(ROLE_GRANTS.get(role, ()) + BASE_GRANTS)
