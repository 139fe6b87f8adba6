"""Demo policies: the four examples of the governance issue, in `audit` mode (they record violations and let
the demo's actions through; switch one to `enforce` in the Policies console to see it block)."""

from __future__ import annotations

from sqlmodel import Session, select

from backend.auth.principal import SYSTEM
from backend.governance import service
from backend.governance.models import Policy

DEMO_POLICIES: list[dict] = [
    {
        "name": "Production release bar",
        "description": "A model version promoted to production has an accuracy of at least 0.9 and its model "
                       "declares a licence.",
        "kind": "model_release", "targetTypes": ["model_version"], "actions": ["model.promote", "model.rollback"],
        "severity": "high", "enforcement": "audit",
        "appliesWhen": 'action.toStage == "production" || entity.stage == "production"',
        "rules": [
            {"name": "Accuracy at least 0.9", "expression": "entity.metrics.accuracy >= 0.9",
             "message": "Production versions need an accuracy of at least 0.9"},
            {"name": "Has a licence",
             "expression": 'entity.model.metadata.license != null && entity.model.metadata.license != ""',
             "message": "Set the model's licence before releasing it"},
        ],
    },
    {
        "name": "PII anonymized before training",
        "description": "A dataset that contains personal data is anonymized before anyone trains on it.",
        "kind": "data_governance", "targetTypes": ["dataset"], "actions": ["dataset.train"],
        "severity": "critical", "enforcement": "audit",
        "rules": [
            {"name": "Anonymized if it has PII",
             "expression": "entity.privacy.containsPII != true || entity.privacy.anonymized",
             "message": "Mask the personal data (a mask_pii transformation) before training on it"},
        ],
    },
    {
        "name": "Deploy within the model's department",
        "description": "Only users of the department that owns a model deploy it (admins excepted).",
        "kind": "access", "targetTypes": ["endpoint"], "actions": ["endpoint.deploy"],
        "severity": "medium", "enforcement": "audit",
        "rules": [
            {"name": "Same department",
             "expression": 'user.role == "admin" || entity.model == null || entity.model.owner.department == null '
                           "|| entity.model.owner.department == user.department",
             "message": "Ask someone in the model's department to deploy it"},
        ],
    },
    {
        "name": "PII models behind model keys",
        "description": "An endpoint that serves a model trained on personal data that was not anonymized "
                       "requires model keys (X-Model-Key) for its callers.",
        "kind": "compliance", "targetTypes": ["endpoint"], "actions": ["endpoint.deploy"],
        "severity": "high", "enforcement": "audit",
        "rules": [
            {"name": "Model key if PII",
             "expression": "entity.modelVersion == null || "
                           "!entity.modelVersion.trainingData.exists(d, d.containsPII == true && !d.anonymized) "
                           "|| entity.modelKeys > 0",
             "message": "Create a model key for this endpoint before serving a model trained on personal data"},
        ],
    },
]


def seed_policies(session: Session) -> str:
    created = 0
    for data in DEMO_POLICIES:
        if session.exec(select(Policy).where(Policy.name == data["name"])).first() is not None:
            continue
        service.create_policy(session=session, actor=SYSTEM, data=data)
        created += 1
    return f"{created} demo policies created (audit mode)" if created else "demo policies present"
