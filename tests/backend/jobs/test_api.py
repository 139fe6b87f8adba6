"""REST routes of jobs (/api/v1/jobs) on SQLite and PostgreSQL: permissions, visibility, errors, paging."""

from __future__ import annotations

import pytest

from backend.core.db import session_scope
from backend.jobs import service
from tests.backend.jobs.conftest import audit_actions, read_job

JOBS = "/api/v1/jobs"


def error_code(response) -> str:
    return response.json()["error"]["code"]


def field_names(response) -> list[str]:
    return [f["field"] for f in response.json()["error"]["details"]["fields"]]


def create_as(principal, type="platform.selftest", payload=None) -> str:  # noqa: A002
    """A job started through the service (non-admins cannot start one over the API)."""
    with session_scope() as session:
        return service.create_job(session=session, actor=principal, type=type, payload=payload or {}).id


def finish(job_id: str, status: str = "succeeded") -> None:
    with session_scope() as session:
        service.claim_job(session=session, job_id=job_id, worker="test:1")
    with session_scope() as session:
        service.finish_job(session=session, job_id=job_id, worker="test:1", status=status)


def test_admin_starts_a_job_and_gets_202(api, auth, sent):
    response = api.post(JOBS, json={"type": "platform.selftest", "payload": {"durationSeconds": 3}},
                        headers=auth.headers("admin"))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["type"] == "platform.selftest"
    assert (body["status"], body["attempts"], body["progress"]) == ("queued", 0, 0.0)
    assert body["payload"] == {"durationSeconds": 3.0}
    assert body["maxAttempts"] >= 1 and body["cancelRequested"] is False
    assert body["createdAt"].endswith("Z")
    assert sent == [body["id"]], "the route must hand the job to the broker once, after its commit"
    assert read_job(body["id"]).status == "queued"
    assert audit_actions(body["id"]) == ["job.create"]


def test_a_business_user_may_not_start_a_job(api, auth, sent):
    response = api.post(JOBS, json={"type": "platform.statistics"}, headers=auth.headers("business_user"))
    assert response.status_code == 403
    assert error_code(response) == "AUTH_002"
    assert response.json()["error"]["details"]["permission"] == "job:create"
    assert sent == []
    listed = api.get(JOBS, headers=auth.headers("admin")).json()
    assert listed["items"] == []


def test_starting_a_job_needs_authentication(api, sent):
    response = api.post(JOBS, json={"type": "platform.statistics"})
    assert response.status_code == 401
    assert error_code(response) == "AUTH_001"
    assert sent == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "platform.selftest", "payload": {"durationSeconds": 10**9}}, "payload.durationSeconds"),
        ({"type": "platform.selftest", "payload": {"durationSeconds": 1, "shell": "id"}}, "payload.shell"),
        ({"type": "platform.format_disk"}, "body.type"),
        ({"type": "platform.statistics", "priority": 9}, "body.priority"),
    ],
)
def test_a_bad_request_is_422_req_001_naming_the_field(api, auth, sent, body, field):
    response = api.post(JOBS, json=body, headers=auth.headers("admin"))
    assert response.status_code == 422, response.text
    assert error_code(response) == "REQ_001"
    assert field in field_names(response)
    assert sent == []


def test_a_user_reads_own_jobs_and_not_other_users_jobs(api, auth, principals, sent):
    mine = create_as(principals["business_user"])
    theirs = create_as(principals["ml_engineer"])
    own = api.get(f"{JOBS}/{mine}", headers=auth.headers("business_user"))
    assert own.status_code == 200
    assert (own.json()["id"], own.json()["createdBy"]) == (mine, principals["business_user"].user_id)

    other = api.get(f"{JOBS}/{theirs}", headers=auth.headers("business_user"))
    assert other.status_code == 404
    assert error_code(other) == "JOB_001"
    missing = api.get(f"{JOBS}/job_doesnotexist", headers=auth.headers("business_user"))
    assert (missing.status_code, error_code(missing)) == (404, "JOB_001")
    # Same answer for "not yours" and "does not exist": ids of other users' jobs are not confirmed.
    assert other.json()["error"]["message"] == missing.json()["error"]["message"]

    assert api.get(f"{JOBS}/{theirs}", headers=auth.headers("admin")).status_code == 200


def test_list_filters_by_status_and_type_and_pages_with_a_cursor(api, auth, principals, sent):
    admin = principals["admin"]
    selftests = [create_as(admin) for _ in range(5)]
    statistics = create_as(admin, type="platform.statistics")
    finish(selftests[0])
    users_job = create_as(principals["business_user"])
    headers = auth.headers("admin")

    everything = api.get(JOBS, headers=headers).json()
    assert len(everything["items"]) == 7 and everything["nextCursor"] is None

    by_type = api.get(JOBS, params={"type": "platform.statistics"}, headers=headers).json()
    assert [j["id"] for j in by_type["items"]] == [statistics]
    succeeded = api.get(JOBS, params={"status": "succeeded"}, headers=headers).json()
    assert [j["id"] for j in succeeded["items"]] == [selftests[0]]

    pages, cursor = [], None
    while True:
        params = {"type": "platform.selftest", "status": "queued", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.get(JOBS, params=params, headers=headers)
        assert page.status_code == 200, page.text
        pages.append([j["id"] for j in page.json()["items"]])
        cursor = page.json()["nextCursor"]
        if cursor is None:
            break
    queued_selftests = sorted([*selftests[1:], users_job], reverse=True)  # newest first
    assert pages == [queued_selftests[0:2], queued_selftests[2:4], queued_selftests[4:]]

    user_view = api.get(JOBS, headers=auth.headers("business_user")).json()["items"]
    assert {j["createdBy"] for j in user_view} == {principals["business_user"].user_id}


@pytest.mark.parametrize(
    ("params", "field"),
    [({"status": "exploded"}, "query.status"), ({"limit": 0}, "query.limit"), ({"limit": 501}, "query.limit"),
     ({"cursor": "not-a-cursor"}, "cursor")],
)
def test_list_refuses_bad_parameters(api, auth, sent, params, field):
    response = api.get(JOBS, params=params, headers=auth.headers("admin"))
    assert response.status_code == 422, response.text
    assert error_code(response) == "REQ_001"
    assert field in field_names(response)


def test_cancel_a_queued_job(api, auth, principals, sent):
    job_id = create_as(principals["business_user"])
    response = api.post(f"{JOBS}/{job_id}/cancel", headers=auth.headers("business_user"))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert read_job(job_id).status == "cancelled"
    assert audit_actions(job_id)[-1] == "job.cancel"


def test_cancel_a_running_job_requests_it(api, auth, principals, sent):
    job_id = create_as(principals["admin"])
    with session_scope() as session:
        service.claim_job(session=session, job_id=job_id, worker="test:1")
    response = api.post(f"{JOBS}/{job_id}/cancel", headers=auth.headers("admin"))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancelRequested"]) == ("running", True)


def test_cancel_a_finished_job_is_409_job_002(api, auth, principals, sent):
    job_id = create_as(principals["admin"])
    finish(job_id)
    response = api.post(f"{JOBS}/{job_id}/cancel", headers=auth.headers("admin"))
    assert response.status_code == 409
    assert error_code(response) == "JOB_002"
    assert response.json()["error"]["details"] == {"status": "succeeded"}
    assert read_job(job_id).status == "succeeded"


def test_cancel_another_users_job_is_404(api, auth, principals, sent):
    job_id = create_as(principals["ml_engineer"])
    response = api.post(f"{JOBS}/{job_id}/cancel", headers=auth.headers("business_user"))
    assert (response.status_code, error_code(response)) == (404, "JOB_001")
    assert read_job(job_id).status == "queued"
