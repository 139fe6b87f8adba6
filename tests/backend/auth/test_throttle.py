"""The login throttle cannot be turned against a user (issue 12, item 7): a stranger's failed logins lock
out the stranger, not the account; past the account-wide limit only clients that signed in before
may still try."""

from __future__ import annotations

import pytest

from backend.auth import service
from backend.core.config import reset_settings
from backend.core.db import session_scope
from backend.core.errors import TooManyAttempts
from tests.conftest import DEMO_PASSWORD

HOME = "198.51.100.1"


def attempt(username: str, password: str, client_ip: str) -> bool:
    with session_scope() as session:
        return service.attempt_login(session=session, username=username, password=password,
                                     client_ip=client_ip).user is not None


@pytest.fixture
def limits(monkeypatch, demo_users):  # noqa: ARG001
    monkeypatch.setenv("AISYSTEM_LOGIN_MAX_FAILURES_PER_USER", "5")
    monkeypatch.setenv("AISYSTEM_LOGIN_MAX_FAILURES_PER_IP", "50")
    monkeypatch.setenv("AISYSTEM_LOGIN_MAX_FAILURES_PER_ACCOUNT", "12")
    reset_settings()
    yield
    reset_settings()


def test_a_stranger_cannot_lock_out_the_admin(limits):
    assert attempt("admin", DEMO_PASSWORD, HOME)
    for _ in range(5):
        assert not attempt("admin", "guess", "203.0.113.5")
    with pytest.raises(TooManyAttempts):  # the stranger is throttled, even with the right password
        attempt("admin", DEMO_PASSWORD, "203.0.113.5")
    assert attempt("admin", DEMO_PASSWORD, HOME)
    assert attempt("admin", DEMO_PASSWORD, "192.0.2.7")  # a new client too: the account is not locked


def test_past_the_account_limit_only_known_clients_may_try(limits):
    assert attempt("admin", DEMO_PASSWORD, HOME)
    for stranger in ("203.0.113.5", "203.0.113.6", "203.0.113.7"):
        for _ in range(4):
            assert not attempt("admin", "guess", stranger)
    with pytest.raises(TooManyAttempts):  # 12 failures on the account: a client never seen is refused
        attempt("admin", DEMO_PASSWORD, "192.0.2.8")
    assert attempt("admin", DEMO_PASSWORD, HOME)  # the user's own client still signs in
    assert attempt("ml_ops", DEMO_PASSWORD, "192.0.2.8")  # other accounts are unaffected
