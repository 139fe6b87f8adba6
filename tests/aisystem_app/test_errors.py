"""Error codes become the sentences users see, in one place."""

from __future__ import annotations

import pytest

from aisystem_app.errors import UNEXPECTED, field_errors, message_for
from backend.core.errors import (
    ERROR_CATALOGUE,
    AISystemError,
    InvalidRequest,
    PermissionDenied,
    TooManyAttempts,
)


def test_permission_denied_reads_as_a_sentence() -> None:
    assert message_for(PermissionDenied("audit:read")) == "You don't have permission to do that"


def test_throttled_sign_in_says_to_wait() -> None:
    assert "wait" in message_for(TooManyAttempts(900))


@pytest.mark.parametrize("code", sorted(ERROR_CATALOGUE))
def test_every_code_has_text(code: str) -> None:
    assert message_for(AISystemError(code)).strip()


def test_unexpected_errors_reveal_nothing() -> None:
    assert message_for(RuntimeError("/etc/passwd: secret detail")) == UNEXPECTED


def test_field_errors_come_from_details() -> None:
    error = InvalidRequest("bad", {"username": "already exists"})
    assert field_errors(error) == {"username": "already exists"}


def test_domain_errors_show_the_services_own_words():
    error = AISystemError("MARKET_002", "You already reviewed SmartVision AI")
    assert message_for(error) == "You already reviewed SmartVision AI"
    assert message_for(AISystemError("AUTH_002", "needs model:write")) == "You don't have permission to do that"
