"""Web UI sessions: opaque, revocable credentials that the browser keeps in a cookie."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.auth import service as auth_service
from backend.auth.models import ApiKey, User
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.core.timeutil import utcnow


def start(session, user_id: str) -> tuple[ApiKey, str]:
    row, token = auth_service.start_session(session=session, user=session.get(User, user_id))
    session.flush()
    return row, token


def test_a_started_session_is_found_by_its_token_only(session, demo_users) -> None:
    row, token = start(session, demo_users["admin"])
    assert token.startswith("aiss_") and row.key_hash not in token and demo_users["admin"] not in token
    assert auth_service.find_session(session=session, token=token).id == row.id
    assert auth_service.find_session(session=session, token=token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    auth_service.check_session(session=session, session_id=row.id, user_id=demo_users["admin"])


def test_a_session_token_is_no_api_key_and_an_api_key_no_session(session, demo_users) -> None:
    _row, token = start(session, demo_users["admin"])
    with pytest.raises(AISystemError) as refused:
        auth_service.principal_from_api_key(session=session, key=token, expected_kind="api")
    assert refused.value.code == "AUTH_001"
    actor = auth_service.principal_for(session.get(User, demo_users["admin"]), credential_id=None,
                                       credential_type="token")
    _key, api_key = auth_service.create_api_key(session=session, actor=actor, name="ci")
    assert auth_service.find_session(session=session, token=api_key) is None


def test_ending_a_session_revokes_it(session, demo_users) -> None:
    row, token = start(session, demo_users["ml_ops"])
    auth_service.end_session(session=session, session_id=row.id)
    assert auth_service.find_session(session=session, token=token) is None
    with pytest.raises(AISystemError) as refused:
        auth_service.check_session(session=session, session_id=row.id, user_id=demo_users["ml_ops"])
    assert refused.value.code == "AUTH_001"


def test_an_expired_session_is_dead(session, demo_users) -> None:
    row, token = start(session, demo_users["ml_ops"])
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.flush()
    assert auth_service.find_session(session=session, token=token) is None
    with pytest.raises(AISystemError):
        auth_service.check_session(session=session, session_id=row.id, user_id=demo_users["ml_ops"])


def test_a_session_belongs_to_its_user(session, demo_users) -> None:
    row, _token = start(session, demo_users["ml_ops"])
    with pytest.raises(AISystemError) as refused:
        auth_service.check_session(session=session, session_id=row.id, user_id=demo_users["admin"])
    assert refused.value.code == "AUTH_001"


def test_sessions_are_not_listed_as_api_keys(session, demo_users) -> None:
    start(session, demo_users["admin"])
    actor = auth_service.principal_for(session.get(User, demo_users["admin"]), credential_id=None,
                                       credential_type="token")
    key, _clear = auth_service.create_api_key(session=session, actor=actor, name="ci")
    rows, _cursor = auth_service.list_api_keys(session=session, actor=actor, params=PageParams(limit=50))
    assert [r.id for r in rows] == [key.id]
