"""Signing in, tokens, API keys and model keys, including forged and revoked credentials."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest
from sqlmodel import select

from backend.auth.models import User
from backend.core.config import get_settings, reset_settings
from backend.core.db import session_scope
from backend.core.timeutil import utcnow
from tests.conftest import DEMO_PASSWORD

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


def login(api, username, password=DEMO_PASSWORD, **headers):
    return api.post(LOGIN, json={"username": username, "password": password}, headers=headers)


def test_login_returns_a_bearer_token_and_the_user(api, demo_users):
    response = login(api, "data_scientist")
    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "bearer" and body["expiresIn"] == get_settings().access_token_minutes * 60
    assert body["user"]["username"] == "data_scientist" and body["user"]["role"] == "data_scientist"
    assert "model:read" in body["user"]["permissions"] and "model:*" not in body["user"]["permissions"]
    assert "passwordHash" not in json.dumps(body)
    me = api.get(ME, headers={"Authorization": f"Bearer {body['accessToken']}"}).json()
    assert me["id"] == demo_users["data_scientist"]
    assert set(me) >= {"department", "project", "clearanceLevel", "costCenter"}


def test_token_carries_only_who_and_when(api, demo_users):
    token = login(api, "admin").json()["accessToken"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"sub", "jti", "iat", "exp", "typ"}


def test_wrong_password_and_unknown_user_look_the_same(api, demo_users):
    wrong = login(api, "admin", "not-the-password")
    unknown = login(api, "nobody-here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json()["error"].items() if k != "requestId"}  # noqa: E731
    assert strip(wrong) == strip(unknown)


def test_unknown_user_costs_a_password_verification(api, demo_users, monkeypatch):
    from backend.core import security

    calls = []
    real = security.verify_password
    monkeypatch.setattr(security, "verify_password", lambda h, p: calls.append(1) or real(h, p))
    login(api, "admin", "wrong")
    login(api, "ghost", "wrong")
    assert len(calls) == 2  # one argon2 verification each, user or not


def test_failed_logins_are_throttled_per_account(api, demo_users, monkeypatch):
    monkeypatch.setenv("AISYSTEM_LOGIN_MAX_FAILURES_PER_USER", "3")
    reset_settings()
    for _ in range(3):
        assert login(api, "ml_ops", "bad").status_code == 401
    blocked = login(api, "ml_ops")  # even the right password waits out the window
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "AUTH_003"
    assert int(blocked.headers["retry-after"]) > 0
    assert login(api, "ml_engineer").status_code == 200  # other accounts are unaffected


def test_rotating_forwarded_for_does_not_bypass_the_client_limit(api, demo_users, monkeypatch):
    monkeypatch.setenv("AISYSTEM_LOGIN_MAX_FAILURES_PER_IP", "4")
    monkeypatch.setenv("AISYSTEM_LOGIN_MAX_FAILURES_PER_USER", "100")
    reset_settings()
    names = ["admin", "ml_ops", "ml_engineer", "data_engineer"]
    for i, name in enumerate(names):
        assert login(api, name, "bad", **{"X-Forwarded-For": f"10.0.0.{i}"}).status_code == 401
    assert login(api, "business_user", "bad", **{"X-Forwarded-For": "10.9.9.9"}).status_code == 429


def test_forwarded_for_is_believed_behind_a_trusted_proxy(demo_users, monkeypatch):
    from starlette.requests import Request

    from backend.core.http import client_ip

    scope = {"type": "http", "client": ("127.0.0.1", 5000), "headers": [(b"x-forwarded-for", b"203.0.113.9, 127.0.0.1")]}
    assert client_ip(Request(scope)) == "127.0.0.1"
    monkeypatch.setenv("AISYSTEM_TRUSTED_PROXIES", "127.0.0.1/32")
    reset_settings()
    assert client_ip(Request(scope)) == "203.0.113.9"


def test_logout_revokes_the_token(api, demo_users):
    token = login(api, "ml_engineer").json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.post("/api/v1/auth/logout", headers=headers).status_code == 204
    response = api.get(ME, headers=headers)
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_001"


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _sign_hs256(claims: dict, key: bytes) -> str:
    """HS256 by hand (PyJWT refuses an empty key, an attacker doesn't)."""
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    signature = base64.urlsafe_b64encode(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())
    return f"{signing_input}.{signature.decode().rstrip('=')}"


FORGERIES = ["alg none", "empty key", "weak key", "HS512", "expired", "no exp", "other user", "huge", "garbage"]


def _forged_tokens(user_id: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": user_id, "jti": "x" * 32, "iat": now, "exp": now + 600, "typ": "access"}
    secret = get_settings().jwt_secret()
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "empty key": _sign_hs256(claims, b""),
        "weak key": jwt.encode(claims, "secret", algorithm="HS256"),
        "HS512": jwt.encode(claims, secret, algorithm="HS512"),
        "expired": jwt.encode({**claims, "exp": now - 10}, secret, algorithm="HS256"),
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, secret, algorithm="HS256"),
        "other user": jwt.encode({**claims, "sub": "user_doesnotexist"}, secret, algorithm="HS256"),
        "huge": jwt.encode({**claims, "pad": "x" * 50_000}, secret, algorithm="HS256"),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize("kind", FORGERIES)
def test_forged_or_expired_tokens_are_refused(api, demo_users, kind):
    token = _forged_tokens(demo_users["admin"])[kind]
    response = api.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_001"


def test_edited_role_claim_changes_nothing(api, demo_users):
    token = login(api, "business_user").json()["accessToken"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = f"{header}.{_b64({**claims, 'role': 'admin'})}.{signature}"
    assert api.get(ME, headers={"Authorization": f"Bearer {tampered}"}).status_code == 401


@pytest.mark.parametrize("how", ["query token", "query api_key", "basic scheme", "empty bearer"])
def test_credentials_outside_the_headers_are_ignored(api, demo_users, how):
    token = login(api, "admin").json()["accessToken"]
    requests = {
        "query token": lambda: api.get(f"{ME}?token={token}"),
        "query api_key": lambda: api.get(f"{ME}?api_key={token}"),
        "basic scheme": lambda: api.get(ME, headers={"Authorization": f"Basic {token}"}),
        "empty bearer": lambda: api.get(ME, headers={"Authorization": "Bearer "}),
    }
    assert requests[how]().status_code == 401


def test_disabled_user_and_password_change_end_sessions(api, demo_users):
    token = login(api, "data_engineer").json()["accessToken"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.get(ME, headers=headers).status_code == 200
    with session_scope() as s:
        from backend.audit import service as audit

        user = s.exec(select(User).where(User.username == "data_engineer")).one()
        user.password_changed_at = utcnow() + timedelta(seconds=2)
        s.add(user)
        audit.record(session=s, actor=None, action="user.password_change", entity_type="user", entity_id=user.id)
    assert api.get(ME, headers=headers).status_code == 401
    token = login(api, "ml_ops").json()["accessToken"]
    with session_scope() as s:
        from backend.audit import service as audit

        user = s.exec(select(User).where(User.username == "ml_ops")).one()
        user.is_active = False
        s.add(user)
        audit.record(session=s, actor=None, action="user.disable", entity_type="user", entity_id=user.id)
    assert api.get(ME, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(api, "ml_ops").status_code == 401


def test_api_key_lifecycle(api, auth):
    headers = auth.headers("ml_engineer")
    created = api.post("/api/v1/auth/api-keys", json={"name": "ci pipeline", "expiresInDays": 30}, headers=headers)
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("aisk_") and created.json()["expiresAt"]
    listed = api.get("/api/v1/auth/api-keys", headers=headers).json()["items"]
    assert [k["name"] for k in listed] == ["ci pipeline"]
    assert "key" not in listed[0] and "keyHash" not in listed[0]
    assert key not in json.dumps(listed)
    assert api.get(ME, headers={"X-API-Key": key}).json()["username"] == "ml_engineer"
    off_by_one = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert api.get(ME, headers={"X-API-Key": off_by_one}).status_code == 401
    revoked = api.delete(f"/api/v1/auth/api-keys/{created.json()['id']}", headers=headers)
    assert revoked.status_code == 200 and revoked.json()["revokedAt"]
    response = api.get(ME, headers={"X-API-Key": key})
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_001"


def test_someone_elses_key_cannot_be_revoked(api, auth):
    created = api.post("/api/v1/auth/api-keys", json={"name": "mine"}, headers=auth.headers("ml_engineer")).json()
    response = api.delete(f"/api/v1/auth/api-keys/{created['id']}", headers=auth.headers("data_scientist"))
    assert response.status_code == 404 and response.json()["error"]["code"] == "AUTH_004"
    assert api.get(ME, headers={"X-API-Key": created["key"]}).status_code == 200


def test_api_key_create_refuses_server_fields(api, auth):
    for field in ({"id": "apikey_mine"}, {"createdBy": "admin"}, {"createdAt": "2020-01-01T00:00:00Z"},
                  {"keyHash": "0" * 64}, {"userId": "someone"}):
        response = api.post("/api/v1/auth/api-keys", json={"name": "x", **field}, headers=auth.headers("admin"))
        assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001", field
    assert api.get("/api/v1/auth/api-keys", headers=auth.headers("admin")).json()["items"] == []


@pytest.mark.parametrize("name", ["Ünïcødé ключ 🔑", "'; DROP TABLE auth_user; --", "<b>bold</b>", "a" * 100])
def test_names_are_stored_and_returned_unchanged(api, auth, name):
    created = api.post("/api/v1/auth/api-keys", json={"name": name}, headers=auth.headers("admin"))
    assert created.status_code == 201 and created.json()["name"] == name
    listed = api.get("/api/v1/auth/api-keys", headers=auth.headers("admin")).json()["items"]
    assert listed[0]["name"] == name


def test_a_model_key_is_not_a_user_credential(api, auth, demo_users):
    from backend.auth import service
    from backend.auth.principal import Principal

    owner = Principal(user_id=demo_users["ml_ops"], username="ml_ops", role="ml_ops")
    with session_scope() as s:
        _row, key = service.create_api_key(session=s, actor=owner, name="serving", kind="model",
                                           endpoint_id="endpoint_a")
    assert key.startswith("aimk_")
    assert api.get(ME, headers={"X-Model-Key": key}).status_code == 401
    assert api.get(ME, headers={"X-API-Key": key}).status_code == 401  # a model key is not an API key


def test_no_self_signup(api, demo_users):
    response = api.post("/api/v1/users", json={"username": "mallory", "password": "x" * 12, "role": "admin"})
    assert response.status_code in (401, 404)
    with session_scope() as s:
        assert s.exec(select(User).where(User.username == "mallory")).first() is None
