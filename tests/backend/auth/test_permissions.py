"""RBAC: the design's role table, and a walk over every route of the app (routes added later included)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from backend.api import create_rest_api
from backend.auth.deps import route_inventory
from backend.auth.permissions import ROLES, has_permission
from tests.conftest import Auth, fresh_database, root_app, use_database

PUBLIC_ROUTES = {
    ("POST", "/auth/login"),
    ("GET", "/health"),
    ("GET", "/version"),
    ("GET", "/docs/errors"),
}
# FastAPI's own documentation routes (not APIRoutes): openapi.json and the Swagger UI.
DOC_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect"}


ROUTES = route_inventory(create_rest_api())


def test_the_only_other_routes_are_the_docs():
    from fastapi.routing import APIRoute, iter_route_contexts

    others = {c.path for c in iter_route_contexts(create_rest_api().routes) if not isinstance(c.original_route, APIRoute)}
    assert others == DOC_ROUTES


@pytest.mark.parametrize(
    "role,permission,allowed",
    [
        ("ml_engineer", "model:delete", True),
        ("ml_engineer", "dataset:write", True),
        ("ml_engineer", "experiment:read", True),
        ("ml_engineer", "endpoint:read", False),
        ("data_scientist", "model:read", True),
        ("data_scientist", "model:write", False),
        ("data_scientist", "dataset:delete", True),
        ("data_scientist", "experiment:write", True),
        ("data_scientist", "experiment:delete", False),
        ("ml_ops", "endpoint:create", True),
        ("ml_ops", "deployment:write", True),
        ("ml_ops", "monitoring:read", True),
        ("ml_ops", "model:read", False),
        ("data_engineer", "feature:write", True),
        ("data_engineer", "pipeline:run", True),
        ("data_engineer", "model:read", False),
        ("business_user", "model:read", True),
        ("business_user", "endpoint:read", True),
        ("business_user", "endpoint:create", False),
        ("business_user", "report:export", True),
        ("business_user", "audit:read", False),
        ("admin", "anything:at_all", True),
        ("nobody", "model:read", False),
    ],
)
def test_role_table_matches_the_design(role, permission, allowed):
    assert has_permission(role, permission) is allowed


@pytest.mark.parametrize("role", ROLES)
def test_every_role_manages_its_own_account(role):
    assert has_permission(role, "account:write") and has_permission(role, "marketplace:read")


def test_every_route_declares_a_permission_or_is_public():
    missing = [f"{m} {p}" for m, p, perm in ROUTES if perm is None]
    assert not missing, f"routes without a permission: {missing}"
    public = {(m, p) for m, p, perm in ROUTES if perm == "public"}
    assert public == PUBLIC_ROUTES


def test_no_proxy_or_passthrough_route_exists():
    assert not [p for _, p, _ in ROUTES if re.search(r"proxy|passthrough|fetch-url", p, re.I)]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_does_not_exist", path)


PROTECTED = [(m, p, perm) for m, p, perm in ROUTES if perm != "public"]
# Routes that end the caller's own session: the walk signs in again after them.
SESSION_ENDING = {("POST", "/auth/logout")}


@pytest.fixture(scope="module")
def walk(migrated_backends) -> Iterator[Auth]:
    """One SQLite database and one sign-in per role for the whole walk over the routes (per test process).
    Every route is decided before its handler reads anything, so the routes need no fresh database each (a
    fresh one, a fresh app and six sign-ins per route took 9 of the suite's 60 minutes of test time). The
    decision's SQL (the signed-in user's row) runs on both databases in the auth package's other tests."""
    from fastapi.testclient import TestClient

    from backend.auth import service as auth_service
    from backend.core.db import session_scope

    fresh_database("sqlite", migrated_backends)
    with session_scope() as session:
        auth_service.ensure_demo_users(session=session)
    with TestClient(root_app(), raise_server_exceptions=False) as client:
        yield Auth(client)
    use_database(None)


def _walk_request(walk: Auth, method: str, path: str, headers: dict[str, str] | None = None):  # noqa: ANN202
    response = walk.client.request(method, "/api/v1" + _concrete(path), json={}, headers=headers)
    if (method, path) in SESSION_ENDING:
        walk.forget_sign_ins()
    return response


@pytest.mark.parametrize("method,path,permission", PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_protected_routes_refuse_anonymous_callers(walk, method, path, permission):
    response = _walk_request(walk, method, path)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "AUTH_001"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("method,path,permission", PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED])
def test_each_role_gets_exactly_what_the_policy_grants(walk, method, path, permission):
    for role in ROLES:
        response = _walk_request(walk, method, path, walk.headers(role))
        if has_permission(role, permission):
            assert response.status_code not in (401, 403), f"{role} refused {method} {path}: {response.text}"
        else:
            assert response.status_code == 403, f"{role} allowed {method} {path}"
            assert response.json()["error"]["code"] == "AUTH_002"
            assert response.json()["error"]["details"]["permission"] == permission


def test_denials_are_audited(api, auth):
    api.get("/api/v1/governance/audit")  # anonymous
    api.get("/api/v1/governance/audit", headers=auth.headers("business_user"))
    denied = api.get("/api/v1/governance/audit?action=auth.denied", headers=auth.headers("admin")).json()["items"]
    actors = {(r["actorName"], r["summary"]["code"]) for r in denied}
    assert (None, "AUTH_001") in actors and ("business_user", "AUTH_002") in actors
    assert all(r["outcome"] == "denied" for r in denied)
