"""REST routes of governance: policies CRUD with validation, dry-runs, enforce, violations, and the done-means
flow — a policy blocks a real promotion, the violation appears, a waiver lets it through, both audited."""

from __future__ import annotations

from tests.backend.governance.conftest import release_policy

P = "/api/v1/governance"


def create(api, auth, body=None, role="admin"):
    return api.post(f"{P}/policies", json=body or release_policy(), headers=auth.headers(role))


def test_policy_crud(api, auth):
    created = create(api, auth)
    assert created.status_code == 201, created.text
    policy = created.json()
    assert policy["revision"] == 1 and policy["enforcement"] == "enforce" and policy["openViolations"] == 0
    pid = policy["id"]
    listed = api.get(f"{P}/policies", params={"targetType": "model_version"}, headers=auth.headers("ml_engineer"))
    assert [p["id"] for p in listed.json()["items"]] == [pid]
    assert api.get(f"{P}/policies/{pid}", headers=auth.headers("data_scientist")).json()["name"] == policy["name"]
    renamed = api.put(f"{P}/policies/{pid}", json={"name": "Release bar"}, headers=auth.headers("admin")).json()
    assert renamed["name"] == "Release bar" and renamed["revision"] == 1  # a name is not what it checks
    ruled = api.put(f"{P}/policies/{pid}", json={"rules": [{"name": "r", "expression": "entity.stage != \"x\""}]},
                    headers=auth.headers("admin")).json()
    assert ruled["revision"] == 2
    assert api.delete(f"{P}/policies/{pid}", headers=auth.headers("admin")).status_code == 204
    missing = api.get(f"{P}/policies/{pid}", headers=auth.headers("admin"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "GOV_001"


def test_policy_routes_refuse_the_unauthenticated_and_non_admins(api, auth):
    assert api.get(f"{P}/policies").status_code == 401
    refused = create(api, auth, role="ml_engineer")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "AUTH_002"
    pid = create(api, auth).json()["id"]
    for method, path in (("put", f"/policies/{pid}"), ("delete", f"/policies/{pid}"),
                         ("post", f"/policies/{pid}/enforce")):
        kwargs = {"json": {"name": "x"}} if method == "put" else {}
        response = getattr(api, method)(f"{P}{path}", headers=auth.headers("ml_ops"), **kwargs)
        assert response.status_code == 403, (method, path)


def test_saving_reports_syntax_errors_and_unknown_attributes_with_positions(api, auth):
    body = release_policy(rules=[{"name": "Broken", "expression": "entity.metrics.accuracy >=\n 0.9 &&& true"},
                                 {"name": "Typo", "expression": "entity.metrix.accuracy >= 0.9"}])
    response = create(api, auth, body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "GOV_002"
    errors = error["details"]["errors"]
    assert {(e["where"], e["line"], e["column"]) for e in errors} == {("rules[0]", 2, 8), ("rules[1]", 1, 8)}
    assert "entity.metrix" in errors[1]["message"]
    checked = api.post(f"{P}/policies/validate", json=body, headers=auth.headers("ml_engineer")).json()
    assert checked["valid"] is False and len(checked["errors"]) == 2
    schema_error = create(api, auth, release_policy(enforcement="maybe"))
    assert schema_error.status_code == 422 and schema_error.json()["error"]["code"] == "REQ_001"


def test_evaluate_dry_runs_saved_and_unsaved_policies(api, auth, model_with_versions):
    pid = create(api, auth).json()["id"]
    body = {"entityType": "model_version", "entityId": f"{model_with_versions}@1.1.0", "action": "model.promote",
            "actionDetails": {"toStage": "production"}}
    result = api.post(f"{P}/policies/{pid}/evaluate", json=body, headers=auth.headers("ml_engineer")).json()
    assert result["applies"] and not result["compliant"] and result["wouldBlock"]
    assert [(r["name"], r["passed"]) for r in result["rules"]] == [("Accuracy at least 0.9", False),
                                                                  ("Has a licence", True)]
    assert result["entityName"] == "Churn Scorer 1.1.0"
    staging = api.post(f"{P}/policies/{pid}/evaluate", json={**body, "actionDetails": {"toStage": "staging"}},
                       headers=auth.headers("ml_engineer")).json()
    assert staging["applies"] is False and staging["compliant"]
    draft = api.post(f"{P}/policies/evaluate", headers=auth.headers("ml_engineer"), json={
        **body, "policy": release_policy(rules=[{"name": "High bar", "expression": "entity.metrics.accuracy > 0.5"}])})
    assert draft.status_code == 200 and draft.json()["compliant"] and draft.json()["policyId"] is None
    wrong_type = api.post(f"{P}/policies/{pid}/evaluate", json={**body, "entityType": "dataset"},
                          headers=auth.headers("ml_engineer"))
    assert wrong_type.status_code == 422
    absent = api.post(f"{P}/policies/{pid}/evaluate", json={**body, "entityId": "modelver_nope"},
                      headers=auth.headers("ml_engineer"))
    assert absent.status_code == 422
    assert api.get(f"{P}/violations", headers=auth.headers("admin")).json()["items"] == []  # nothing recorded


def promote(api, auth, model_id, version, role="ml_engineer"):
    return api.post(f"/api/v1/catalog/models/{model_id}/versions/{version}/promote",
                    json={"stage": "production"}, headers=auth.headers(role))


def test_a_policy_blocks_a_real_promotion_and_a_waiver_lets_it_through(api, auth, model_with_versions):
    create(api, auth)
    assert promote(api, auth, model_with_versions, "1.0.0").status_code == 200  # accuracy 0.95: passes
    blocked = promote(api, auth, model_with_versions, "1.1.0")
    assert blocked.status_code == 403, blocked.text
    error = blocked.json()["error"]
    assert error["code"] == "GOV_003"
    assert "Production release bar" in error["message"] and "entity.metrics.accuracy >= 0.9" in error["message"]
    assert error["details"]["rule"] == "Accuracy at least 0.9"
    versions = api.get(f"/api/v1/catalog/models/{model_with_versions}/versions", headers=auth.headers("admin"))
    assert {v["version"]: v["stage"] for v in versions.json()["items"]}["1.1.0"] != "production"

    # The violation persisted although the promotion was rolled back; the engineer sees the ones they caused.
    mine = api.get(f"{P}/violations", headers=auth.headers("ml_engineer")).json()["items"]
    assert [v["id"] for v in mine] == [error["details"]["violationId"]]
    violation = mine[0]
    assert violation["status"] == "open" and violation["blocked"] and violation["action"] == "model.promote"
    assert violation["entityName"] == "Churn Scorer 1.1.0" and violation["rule"] == "Accuracy at least 0.9"
    assert api.get(f"{P}/violations", headers=auth.headers("data_scientist")).json()["items"] == []
    again = promote(api, auth, model_with_versions, "1.1.0")
    assert again.json()["error"]["details"]["violationId"] == violation["id"]
    assert api.get(f"{P}/violations/{violation['id']}", headers=auth.headers("admin")).json()["occurrences"] == 2

    # Only admins waive; a waiver needs a reason.
    assert api.post(f"{P}/violations/{violation['id']}/waive", json={"reason": "accepted"},
                    headers=auth.headers("ml_engineer")).status_code == 403
    assert api.post(f"{P}/violations/{violation['id']}/waive", json={"reason": ""},
                    headers=auth.headers("admin")).status_code == 422
    waived = api.post(f"{P}/violations/{violation['id']}/waive", json={"reason": "Pilot customer accepts 0.8"},
                      headers=auth.headers("admin"))
    assert waived.status_code == 200 and waived.json()["status"] == "waived"
    conflict = api.post(f"{P}/violations/{violation['id']}/resolve", json={"reason": "fixed"},
                        headers=auth.headers("admin"))
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "GOV_005"

    through = promote(api, auth, model_with_versions, "1.1.0")
    assert through.status_code == 200, through.text

    trail = api.get("/api/v1/governance/audit", params={"limit": 100}, headers=auth.headers("admin")).json()["items"]
    actions = [r["action"] for r in trail]
    assert {"governance.violation.record", "governance.violation.waive", "governance.waiver.apply",
            "model.version.promote"} <= set(actions)


def test_a_changed_policy_revision_ends_the_waiver(api, auth, model_with_versions):
    pid = create(api, auth).json()["id"]
    vid = promote(api, auth, model_with_versions, "1.1.0").json()["error"]["details"]["violationId"]
    api.post(f"{P}/violations/{vid}/waive", json={"reason": "accepted for now"}, headers=auth.headers("admin"))
    api.put(f"{P}/policies/{pid}", json={"rules": [{"name": "Accuracy at least 0.85",
                                                    "expression": "entity.metrics.accuracy >= 0.85"}]},
            headers=auth.headers("admin"))
    blocked = promote(api, auth, model_with_versions, "1.1.0")
    assert blocked.status_code == 403 and blocked.json()["error"]["details"]["rule"] == "Accuracy at least 0.85"


def test_audit_mode_records_and_lets_the_action_through(api, auth, model_with_versions):
    create(api, auth, release_policy(enforcement="audit"))
    assert promote(api, auth, model_with_versions, "1.1.0").status_code == 200
    items = api.get(f"{P}/violations", params={"status": "open"}, headers=auth.headers("admin")).json()["items"]
    assert [(v["rule"], v["blocked"], v["enforcement"]) for v in items] == [("Accuracy at least 0.9", False, "audit")]


def test_enforce_applies_a_policy_to_existing_entities_and_resolve(api, auth, model_with_versions):
    promote(api, auth, model_with_versions, "1.0.0")
    pid = create(api, auth, release_policy(
        appliesWhen=None, rules=[{"name": "Accuracy at least 0.9", "expression": "entity.metrics.accuracy >= 0.9"}]
    )).json()["id"]
    report = api.post(f"{P}/policies/{pid}/enforce", headers=auth.headers("admin"))
    assert report.status_code == 200, report.text
    assert report.json() | {"policyId": None} == {"policyId": None, "evaluated": 2, "compliant": 1,
                                                  "violationsOpened": 1, "violationsSeenAgain": 0,
                                                  "violationsResolved": 0, "notApplicable": 0}
    listed = api.get(f"{P}/policies/{pid}/violations", headers=auth.headers("admin")).json()["items"]
    assert len(listed) == 1 and listed[0]["action"] == "policy.enforce" and not listed[0]["blocked"]
    assert api.get(f"{P}/policies/{pid}", headers=auth.headers("admin")).json()["openViolations"] == 1
    resolved = api.post(f"{P}/violations/{listed[0]['id']}/resolve", json={"reason": "retrained"},
                        headers=auth.headers("admin")).json()
    assert resolved["status"] == "resolved" and resolved["decisionNote"] == "retrained"
    filtered = api.get(f"{P}/violations", params={"status": "open"}, headers=auth.headers("admin")).json()
    assert filtered["items"] == []
    assert api.post(f"{P}/violations/violation_nope/resolve", json={"reason": "xyz"},
                    headers=auth.headers("admin")).json()["error"]["code"] == "GOV_004"
