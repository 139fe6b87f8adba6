"""The automated checks: each reads the platform's real state (tables, settings, routes, stored files) and
says whether a control holds, with the evidence it looked at. A check is `fn(session) -> CheckResult`,
named in `CHECKS`; the frameworks' controls refer to them by name (`backend.compliance.frameworks`).

Checks look at the whole platform, whoever runs the assessment (an assessment is platform-wide; running
one needs `compliance:assess`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth.models import ApiKey
from backend.auth.principal import SYSTEM
from backend.catalog.datasets.models import Dataset, DatasetAccess, DatasetVersion
from backend.catalog.model_registry.models import ModelVersion, RegisteredModel
from backend.core.config import get_settings
from backend.core.timeutil import isoformat_z, to_utc, utcnow

KEY_MAX_AGE_DAYS = 90
MODEL_CARD_MIN_CHARS = 50  # a description this long, or a documentation link, counts as a model card
MAX_ITEMS = 25  # evidence items kept per check (the counts cover all)


@dataclass
class CheckResult:
    """`passed`, a one-line finding, and the evidence: what was measured and the offending items."""

    passed: bool
    summary: str
    measured: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"passed": self.passed, "summary": self.summary, "measured": self.measured,
                "items": self.items[:MAX_ITEMS], "itemsTotal": len(self.items)}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _live_datasets(session: Session) -> list[Dataset]:
    return list(session.exec(select(Dataset).where(col(Dataset.deleted_at).is_(None)).order_by(col(Dataset.name))))


def _current_versions(session: Session, datasets: list[Dataset]) -> dict[str, DatasetVersion]:
    pairs = {(d.id, d.current_version) for d in datasets if d.current_version is not None}
    if not pairs:
        return {}
    rows = session.exec(select(DatasetVersion).where(col(DatasetVersion.dataset_id).in_({d for d, _ in pairs}))).all()
    return {r.dataset_id: r for r in rows if (r.dataset_id, r.number) in pairs}


def pii_datasets_anonymized(session: Session) -> CheckResult:
    """Every live dataset's current version has been scanned for PII, and those with PII are anonymized."""
    datasets = _live_datasets(session)
    versions = _current_versions(session, datasets)
    items = []
    for d in datasets:
        v = versions.get(d.id)
        if v is None:
            continue
        if v.contains_pii is None:
            items.append({"dataset": d.name, "id": d.id, "version": v.number, "problem": "never scanned for PII"})
        elif v.contains_pii and not v.anonymized:
            items.append({"dataset": d.name, "id": d.id, "version": v.number, "problem": "contains PII, not anonymized"})
    pii = sum(1 for v in versions.values() if v.contains_pii)
    measured = {"datasetsWithData": len(versions), "containPii": pii,
                "anonymized": sum(1 for v in versions.values() if v.contains_pii and v.anonymized),
                "notScanned": sum(1 for v in versions.values() if v.contains_pii is None)}
    if items:
        return CheckResult(False, f"{_plural(len(items), 'dataset')} not shown to be free of raw PII "
                           f"({measured['notScanned']} never scanned)", measured, items)
    return CheckResult(True, f"All {len(versions)} datasets scanned; {pii} with PII, all anonymized", measured)


def pii_datasets_restricted(session: Session) -> CheckResult:
    """Datasets whose current version contains (or was never scanned for) PII grant no role-wide access:
    only their owner, named users and departments may read them."""
    datasets = _live_datasets(session)
    versions = _current_versions(session, datasets)
    sensitive = {d.id: d for d in datasets if d.id in versions and versions[d.id].contains_pii is not False}
    grants = session.exec(select(DatasetAccess).where(col(DatasetAccess.dataset_id).in_(list(sensitive)),
                                                      DatasetAccess.subject_type == "role")).all() if sensitive else []
    items = [{"dataset": sensitive[g.dataset_id].name, "id": g.dataset_id, "grant": f"role {g.subject} ({g.permission})"}
             for g in grants]
    measured = {"sensitiveDatasets": len(sensitive), "roleWideGrants": len(grants)}
    if items:
        return CheckResult(False, f"{_plural(len({i['id'] for i in items}), 'dataset')} with possible PII "
                           f"shared with whole roles ({_plural(len(grants), 'grant')})", measured, items)
    return CheckResult(True, f"{_plural(len(sensitive), 'dataset')} with possible PII, none shared role-wide", measured)


def audit_chain_intact(session: Session) -> CheckResult:
    """The audit trail's hash chain verifies from the first record to the head (and the signed checkpoint)."""
    result = audit.verify(session=session, actor=SYSTEM)
    measured = {"recordsChecked": result.checked}
    if result.valid:
        return CheckResult(True, f"Audit chain intact: {result.checked} records verified", measured)
    measured["firstBrokenSeq"] = result.first_broken_seq
    return CheckResult(False, f"Audit chain broken: {result.reason}", measured,
                       [{"record": result.first_broken_seq, "problem": result.reason}])


def api_keys_rotated(session: Session) -> CheckResult:
    """No active API or model key is older than 90 days."""
    now = utcnow()
    keys = session.exec(select(ApiKey).where(col(ApiKey.revoked_at).is_(None))).all()
    active = [k for k in keys if k.expires_at is None or to_utc(k.expires_at) > now]
    stale = [k for k in active if now - to_utc(k.created_at) > timedelta(days=KEY_MAX_AGE_DAYS)]
    items = [{"key": f"{k.prefix}…", "name": k.name, "kind": k.kind, "createdAt": isoformat_z(k.created_at),
              "ageDays": (now - to_utc(k.created_at)).days} for k in stale]
    measured = {"activeKeys": len(active), "olderThan90Days": len(stale), "maxAgeDays": KEY_MAX_AGE_DAYS}
    if stale:
        return CheckResult(False, f"{_plural(len(stale), 'active key')} older than {KEY_MAX_AGE_DAYS} days", measured, items)
    return CheckResult(True, f"All {_plural(len(active), 'active key')} created within {KEY_MAX_AGE_DAYS} days", measured)


def _production(session: Session) -> list[tuple[RegisteredModel, ModelVersion]]:
    rows = session.exec(select(RegisteredModel, ModelVersion).where(
        ModelVersion.model_id == RegisteredModel.id, ModelVersion.stage == "production",
        col(RegisteredModel.deleted_at).is_(None)).order_by(col(RegisteredModel.name))).all()
    return [(m, v) for m, v in rows]


def _production_check(session: Session, what: str, ok: Callable[[RegisteredModel, ModelVersion], bool],
                      problem: str) -> CheckResult:
    rows = _production(session)
    items = [{"model": m.name, "id": m.id, "version": v.version, "problem": problem} for m, v in rows if not ok(m, v)]
    measured = {"productionVersions": len(rows), f"with{what}": len(rows) - len(items)}
    if items:
        return CheckResult(False, f"{len(items)} of {_plural(len(rows), 'production version')} with {problem}",
                           measured, items)
    return CheckResult(True, f"All {_plural(len(rows), 'production version')} have {what.lower()}", measured)


def production_models_licensed(session: Session) -> CheckResult:
    """Every model with a version in production names its licence."""
    return _production_check(session, "Licence", lambda m, v: bool((m.license or "").strip()), "no licence")


def production_models_have_card(session: Session) -> CheckResult:
    """Every model in production has a model card: a documentation link, or a description of at least
    MODEL_CARD_MIN_CHARS characters saying what it does."""
    return _production_check(
        session, "ModelCard",
        lambda m, v: bool(m.documentation) or len((m.description or "").strip()) >= MODEL_CARD_MIN_CHARS,
        "no model card")


def production_models_evaluated(session: Session) -> CheckResult:
    """Every production version has recorded evaluation metrics."""
    return _production_check(session, "Evaluation", lambda m, v: bool(v.metrics), "no recorded evaluation")


def endpoints_require_authentication(session: Session) -> CheckResult:
    """Every route of the serving endpoints (predict, batch-predict, explain included) requires a signed-in
    principal holding a permission: none is public. Read from the running API's route table."""
    from backend.auth.deps import route_permission
    from backend.endpoints.api import router
    from backend.endpoints.models import Endpoint

    routes = [r for r in router.routes if hasattr(r, "dependant")]
    open_routes = [{"route": f"{','.join(sorted(r.methods))} {r.path}"} for r in routes if not route_permission(r)]
    running = session.exec(select(Endpoint.name).where(Endpoint.status == "running")).all()
    measured = {"routes": len(routes), "publicRoutes": len(open_routes), "runningEndpoints": len(running),
                "predictPermission": "endpoint:invoke (or the endpoint's own model key)"}
    if open_routes:
        return CheckResult(False, f"{_plural(len(open_routes), 'endpoint route')} open without authentication",
                           measured, open_routes)
    return CheckResult(True, f"All {len(routes)} endpoint routes require authentication "
                       f"({_plural(len(running), 'running endpoint')})", measured,
                       [{"endpoint": name} for name in running])


def dataset_retention_set(session: Session) -> CheckResult:
    """Every live dataset declares a retention period."""
    datasets = _live_datasets(session)
    items = [{"dataset": d.name, "id": d.id, "problem": "no retention period"} for d in datasets
             if not (d.retention or "").strip()]
    measured = {"datasets": len(datasets), "withRetention": len(datasets) - len(items)}
    if items:
        return CheckResult(False, f"{len(items)} of {_plural(len(datasets), 'dataset')} have no retention period",
                           measured, items)
    return CheckResult(True, f"All {_plural(len(datasets), 'dataset')} declare a retention period", measured)


def login_throttling_on(session: Session) -> CheckResult:
    """Failed sign-ins are throttled: per account and client, per client and per account, over a window."""
    s = get_settings()
    measured = {"windowSeconds": s.login_window_seconds, "maxFailuresPerUser": s.login_max_failures_per_user,
                "maxFailuresPerIp": s.login_max_failures_per_ip,
                "maxFailuresPerAccount": s.login_max_failures_per_account}
    on = s.login_window_seconds > 0 and all(v > 0 for k, v in measured.items() if k.startswith("max"))
    if on:
        return CheckResult(True, f"Sign-in throttled after {s.login_max_failures_per_user} failures per account and "
                           f"client within {s.login_window_seconds // 60} minutes", measured)
    return CheckResult(False, "Failed-login throttling is switched off by the settings", measured)


def training_data_intact(session: Session) -> CheckResult:
    """The dataset files model versions were trained from still hash to what the lineage recorded."""
    from backend.lineage import provenance

    report = provenance.training_data_integrity(session=session, actor=SYSTEM)
    bad = [f for f in report.findings if f.status != "ok"]
    items = [{"modelVersion": f.model_version.label, "dataset": f.dataset_version.label, "status": f.status}
             for f in bad]
    measured = {"trainingInputs": len(report.findings), "filesRehashed": report.files_checked, "problems": len(bad)}
    if bad:
        return CheckResult(False, f"{_plural(len(bad), 'training input')} changed or missing since training",
                           measured, items)
    return CheckResult(True, f"All {_plural(len(report.findings), 'training input')} match their recorded hash",
                       measured)


CHECKS: dict[str, tuple[str, Callable[[Session], CheckResult]]] = {
    "pii_datasets_anonymized": ("Datasets with PII are scanned and anonymized", pii_datasets_anonymized),
    "pii_datasets_restricted": ("Datasets with possible PII are not shared role-wide", pii_datasets_restricted),
    "audit_chain_intact": ("The audit trail's hash chain verifies", audit_chain_intact),
    "api_keys_rotated": ("Active API keys are under 90 days old", api_keys_rotated),
    "production_models_licensed": ("Production models name a licence", production_models_licensed),
    "production_models_have_card": ("Production models have a model card", production_models_have_card),
    "production_models_evaluated": ("Production versions have an evaluation", production_models_evaluated),
    "endpoints_require_authentication": ("Serving endpoints require authentication", endpoints_require_authentication),
    "dataset_retention_set": ("Datasets declare a retention period", dataset_retention_set),
    "login_throttling_on": ("Failed sign-ins are throttled", login_throttling_on),
    "training_data_intact": ("Training data still matches its recorded hash", training_data_intact),
}
