"""Who is acting: the signed-in user (or API key owner) as services see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backend.auth.permissions import has_permission


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    role: str
    credential_id: str | None = None
    credential_type: str = "token"  # token | api_key | model_key | session | system
    model_scope: str | None = None  # endpoint id a model key is limited to
    attributes: dict[str, Any] = field(default_factory=dict)

    def can(self, permission: str) -> bool:
        return has_permission(self.role, permission)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SYSTEM = Principal(user_id="system", username="system", role="admin", credential_type="system")
