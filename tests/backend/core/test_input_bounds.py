"""Inputs that gave 500s (issue 12, item 5): integers of 2^63 and more, instants with no UTC equivalent,
round() with a bad second argument, a signed token with exp = 1e20. A property test covers every integer
and datetime field of every input model the routes accept, so a new model is covered with no extra work."""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from backend.core.config import get_settings
from backend.core.schemas import INT64_MAX, INT64_MIN, InputModel
from tests.backend.catalog.datasets.conftest import API as DATASETS
from tests.backend.catalog.datasets.conftest import FEEDBACK_CSV, create, upload

EDGE_INSTANTS = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00"]
# JSON bodies that are not input models, and why they are bounded anyway.
RAW_BODIES = {
    ("post", "/catalog/models/filter"): "the condition tree's values are checked by filters.py (|n| <= 1e18)",
    ("put", "/training/jobs/{jobId}/hyperparameters"): "validated against the job's search space",
}
HUGE = st.one_of(st.integers(min_value=INT64_MAX + 1, max_value=2**200),
                 st.integers(min_value=-(2**200), max_value=INT64_MIN - 1))


def _subclasses(cls: type) -> list[type]:
    return [c for sub in cls.__subclasses__() for c in (sub, *_subclasses(sub))]


def route_input_models() -> list[type[InputModel]]:
    """Every input model, after the API (every domain) is assembled; each JSON body a route accepts
    must be one of them (or listed in RAW_BODIES)."""
    from backend.api import create_rest_api

    spec = create_rest_api().openapi()
    models = [m for m in _subclasses(InputModel) if not m.__name__.startswith("_")
              and "[" not in m.__name__ and m.__module__.startswith("backend.")]
    names = {m.__name__ for m in models}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if not schema:
                continue
            refs = [s["$ref"] for s in [schema, *schema.get("anyOf", [])] if "$ref" in s]
            if not refs:
                assert (method, path) in RAW_BODIES, f"{method} {path} takes a JSON body that is no input model"
            for ref in refs:
                assert ref.rsplit("/", 1)[-1].split("__")[-1] in names, f"{method} {path}: {ref} is no InputModel"
    return models


def shaped(annotation: Any, leaf: Any, kind: type) -> Any:
    """A value of the annotation's shape holding `leaf` where a `kind` goes, or None if none can."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return shaped(get_args(annotation)[0], leaf, kind)
    if origin in (Union, types.UnionType):
        return next((v for a in get_args(annotation) if a is not type(None)
                     for v in [shaped(a, leaf, kind)] if v is not None), None)
    if origin is Literal or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return None
    if origin in (list, set, frozenset, tuple, typing.Sequence):
        inner = shaped(get_args(annotation)[0], leaf, kind) if get_args(annotation) else None
        return None if inner is None else [inner]
    if origin is dict:
        inner = shaped(get_args(annotation)[1], leaf, kind)
        return None if inner is None else {"k": inner}
    if annotation is Any and kind is int:
        return leaf
    if annotation is kind and not (kind is int and annotation is bool):
        return leaf
    return None


def fields_of(kind: type) -> list[tuple[type[InputModel], str, Any]]:
    found = []
    for model in route_input_models():
        for name, info in model.model_fields.items():
            if shaped(info.annotation, 0, kind) is not None:
                found.append((model, info.alias or name, info.annotation))
    return found


INT_FIELDS = fields_of(int)
DATETIME_FIELDS = fields_of(datetime)


def test_the_property_test_sees_the_fields_that_gave_500s():
    seen = {(m.__name__, alias) for m, alias, _ in INT_FIELDS}
    assert {("VersionCreate", "fromVersion"), ("AnalyzeRequest", "baselineVersion"),
            ("TransformRequest", "version")} <= seen
    assert ("AuditSearch", "since") in {(m.__name__, alias) for m, alias, _ in DATETIME_FIELDS}
    assert len(INT_FIELDS) > 30


def _errors_at(model: type[InputModel], alias: str, value: Any) -> list[dict]:
    try:
        model.model_validate({alias: value})
    except ValidationError as exc:  # any other exception (OverflowError...) fails the test
        return [e for e in exc.errors() if e["loc"] and e["loc"][0] == alias]
    return []


@settings(max_examples=25, deadline=None, database=None)
@given(value=HUGE)
def test_every_integer_field_refuses_integers_outside_64_bits(value):
    for model, alias, annotation in INT_FIELDS:
        assert _errors_at(model, alias, shaped(annotation, value, int)), f"{model.__name__}.{alias} took {value}"


@pytest.mark.parametrize("instant", EDGE_INSTANTS)
def test_every_datetime_field_refuses_instants_without_a_utc_equivalent(instant):
    for model, alias, annotation in DATETIME_FIELDS:
        errors = _errors_at(model, alias, shaped(annotation, instant, datetime))
        assert errors, f"{model.__name__}.{alias} took {instant}"
    ok = "2026-01-01T00:00:00+14:00"
    for model, alias, annotation in DATETIME_FIELDS:
        assert not [e for e in _errors_at(model, alias, shaped(annotation, ok, datetime))
                    if "UTC" in e["msg"]]


# --- the same inputs through the API --------------------------------------------------------------


@pytest.fixture
def dataset(api, auth) -> tuple[str, dict]:
    h = auth.headers("data_scientist")
    dataset_id = create(api, h)
    assert upload(api, h, dataset_id, FEEDBACK_CSV).status_code == 201
    return dataset_id, h


@pytest.mark.parametrize("route,body", [
    ("versions", {"fromVersion": 2**63}),
    ("transform", {"steps": [{"op": "drop", "columns": ["email"]}], "version": 2**64}),
    ("analyze", {"baselineVersion": 2**63}),
    ("split", {"train": 0.8, "test": 0.2, "version": 2**63}),
    ("validate", {"rules": [{"column": "rating", "check": "not_null"}], "version": 10**30}),
])
def test_huge_integers_in_json_bodies_are_refused(api, dataset, route, body):
    dataset_id, h = dataset
    response = api.post(f"{DATASETS}/{dataset_id}/{route}", json=body, headers=h)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "REQ_001" and "64" not in response.json()["error"]["message"]
    fields = response.json()["error"]["details"]["fields"]
    assert any("integers must lie between" in f["message"] for f in fields), fields


@pytest.mark.parametrize("expression", ["round(rating, rating) > 1", "round(rating, 99999999999999999999) > 1",
                                        "round(rating, -3) > 1", "round(rating, 2.5) > 1"])
def test_round_with_a_bad_second_argument_is_a_clear_error(api, dataset, expression):
    dataset_id, h = dataset
    step = api.post(f"{DATASETS}/{dataset_id}/transform",
                    json={"steps": [{"op": "filter", "expression": expression}]}, headers=h)
    assert step.status_code == 422 and step.json()["error"]["code"] == "DATA_003", step.text
    assert "round()" in step.json()["error"]["message"]
    rule = api.post(f"{DATASETS}/{dataset_id}/validate",
                    json={"rules": [{"name": "r", "expression": expression}]}, headers=h)
    assert rule.status_code in (400, 422), rule.text


@pytest.mark.parametrize("instant", EDGE_INSTANTS)
def test_edge_instants_are_client_errors_everywhere(api, auth, instant):
    admin = auth.headers("admin")
    for url in ("/api/v1/governance/audit", "/api/v1/governance/audit/report"):
        for name in ("since", "until"):
            response = api.get(url, params={name: instant}, headers=admin)
            assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001", response.text
    search = api.post("/api/v1/governance/audit/search", json={"since": instant}, headers=admin)
    assert search.status_code == 422, search.text
    engineer = auth.headers("ml_engineer")
    model_id = api.post("/api/v1/catalog/models", json=_model_body(), headers=engineer).json()["id"]
    history = api.get(f"/api/v1/catalog/models/{model_id}/versions/history", params={"at": instant},
                      headers=engineer)
    assert history.status_code == 422, history.text
    for op in ("gt", "lte", "eq"):
        filtered = api.post("/api/v1/catalog/models/filter", headers=engineer,
                            json={"field": "createdAt", "op": op, "value": instant})
        assert filtered.status_code in (400, 422), filtered.text
        assert "UTC" in filtered.text


def _model_body() -> dict:
    from tests.backend.catalog.model_registry.conftest import model_body

    return model_body()


@pytest.mark.parametrize("claims", [{"exp": 1e20}, {"exp": 2**70}, {"iat": 1e20}, {"exp": float("inf")}])
def test_a_validly_signed_token_with_an_absurd_time_is_not_authenticated(api, demo_users, claims):
    now = datetime.now(UTC)
    payload = {"sub": demo_users["admin"], "jti": "x", "typ": "access", "iat": int(now.timestamp()),
               "exp": int((now + timedelta(hours=1)).timestamp()), **claims}
    try:
        token = jwt.encode(payload, get_settings().jwt_secret(), algorithm="HS256")
    except (ValueError, OverflowError, TypeError):
        pytest.skip("the JWT library cannot even encode it")
    response = api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "AUTH_001", response.text


def test_a_service_that_validates_a_free_form_body_answers_422(api, auth):
    """PUT /training/jobs/{id}/hyperparameters takes a free-form object and builds its input model in the
    service: the bound's ValidationError is the client's REQ_001 there too, not a 500 (found by fuzzing)."""
    response = api.put("/api/v1/training/jobs/job_x/hyperparameters", json={"lr": 0.1, "epochs": 2**63},
                       headers=auth.headers("ml_engineer"))
    assert response.status_code == 422 and response.json()["error"]["code"] == "REQ_001", response.text
    assert "integers must lie between" in response.text
