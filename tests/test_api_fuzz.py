"""Property-based fuzzing of every operation in /api/v1/openapi.json (schemathesis), as admin.

Routes that later issues add are fuzzed with no extra work. Fixed seed, bounded examples.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from backend.core.db import session_scope

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture
def admin_key(sqlite_db) -> str:
    """An API key, not a token: a fuzzed `POST /auth/logout` must not sign the fuzzer out."""
    from backend.auth import service
    from backend.auth.principal import Principal

    with session_scope() as s:
        service.ensure_demo_users(session=s)
        admin = service.find_user_by_username(session=s, username="admin")
        _row, key = service.create_api_key(
            session=s, actor=Principal(user_id=admin.id, username="admin", role="admin"), name="fuzzer"
        )
    return key


def _schema():
    from backend.api import create_api

    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_api())


schema = _schema()


@schema.parametrize()
@settings(max_examples=20, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_every_operation_survives_fuzzing(case, admin_key):
    case.call_and_validate(headers={"X-API-Key": admin_key}, checks=CHECKS)
