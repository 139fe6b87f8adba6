"""The one check every governed action makes before it acts: `check_action(...)`.

A service about to promote a model version, deploy an endpoint, train on a dataset, share a dataset or
publish to the marketplace calls `check_action` once, after its own checks and before it writes. Every
domain's "action_check" hook (backend/domains.py) is asked in turn; a hook refuses the action by raising
an `AISystemError` (governance raises GOV_003 naming the policy and the failing condition). Because the
call sits in the service, REST, the UI, workers and MCP tools are governed alike.

It lives in core so that any domain may call it without importing governance (which reads the catalog).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backend import domains

# The governed actions: action name -> the entity type it acts on (the entity a policy's rules see).
ACTIONS: dict[str, str] = {
    "model.promote": "model_version",
    "model.rollback": "model_version",
    "endpoint.deploy": "endpoint",
    "dataset.train": "dataset",
    "dataset.share": "dataset",
    "model.publish": "model",
    "marketplace.publish": "marketplace_listing",
}


def check_action(*, session: Any, actor: Any, action: str, entity: Any, details: Mapping[str, Any] | None = None,
                 entity_type: str | None = None) -> None:
    """Ask every "action_check" hook whether `actor` may do `action` on `entity` (an ORM row or a wire
    document); a hook refuses by raising. `details` are the action's own facts (the target stage, the
    grant being shared, the endpoint a version goes to), shown to policies as `action.*`."""
    kind = entity_type or ACTIONS[action]
    for hook in domains.hooks("action_check"):
        hook(session, actor, action, kind, entity, dict(details or {}))
