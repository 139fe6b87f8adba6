"""The predict fast lane: a model key's repeated calls skip the full route, answer the same, and stop
at once when the key or the endpoint changes in this process."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from backend.core.config import reset_settings
from backend.endpoints import fastlane, predlog, service
from tests.backend.endpoints.conftest import rows
from tests.backend.endpoints.test_api import BASE, error


@pytest.fixture
def ops(auth):
    return auth.headers("ml_ops")


@pytest.fixture
def endpoint(api, ops, iris_model):
    made = api.post(BASE, json={"name": "iris"}, headers=ops).json()
    deployed = api.post(f"{BASE}/{made['id']}/deploy", json={"modelId": iris_model, "version": "1.0.0"}, headers=ops)
    assert deployed.status_code == 200, deployed.text
    fastlane.clear()
    yield deployed.json()
    fastlane.clear()


@pytest.fixture
def key(api, ops, endpoint):
    return api.post(f"{BASE}/{endpoint['id']}/keys", json={"name": "shop"}, headers=ops).json()


@pytest.fixture
def endpoint_reads(monkeypatch):
    """How many times a prediction read its endpoint from the database."""
    reads = []
    original = service.get_endpoint

    def counted(**kwargs):
        reads.append(kwargs["endpoint_id"])
        return original(**kwargs)

    monkeypatch.setattr(service, "get_endpoint", counted)
    return reads


def predict(api, endpoint, key, instances=None, **extra):
    return api.post(f"{BASE}/{endpoint['id']}/predict", json={"instances": instances or rows(2)},
                    headers={"X-Model-Key": key["key"], **extra})


def test_repeated_calls_skip_the_database_and_answer_the_same(api, ops, endpoint, key, endpoint_reads):
    first = predict(api, endpoint, key)
    second = predict(api, endpoint, key)
    assert first.status_code == second.status_code == 200
    assert endpoint_reads == [endpoint["id"]]  # the second came through the lane
    assert second.headers["x-request-id"] and second.headers["x-content-type-options"] == "nosniff"
    one, two = first.json(), second.json()
    assert one["predictions"] == two["predictions"] and len(two["predictions"]) == 2
    assert (two["modelId"], two["version"], two["role"]) == (one["modelId"], "1.0.0", "primary")
    predlog.flush()
    logged = api.get(f"{BASE}/{endpoint['id']}/logs", headers=ops).json()["items"]
    assert [row["keyId"] for row in logged] == [key["id"], key["id"]]


def test_one_request_renews_a_pass_before_it_runs_out_while_the_others_stay_in_the_lane(api, endpoint, key,
                                                                                       endpoint_reads):
    assert predict(api, endpoint, key).status_code == 200
    ((entry, lane_pass),) = fastlane._passes.items()
    fastlane._passes[entry] = replace(lane_pass, renew_from=time.monotonic() - 0.01)  # in its last quarter

    assert fastlane._pass_for(entry, may_renew=True) is None  # this one renews it
    assert fastlane._pass_for(entry, may_renew=True) is not None  # the ones beside it keep the lane
    assert predict(api, endpoint, key).status_code == 200
    assert endpoint_reads == [endpoint["id"]]  # through the lane: nobody has renewed it yet

    fastlane._passes[entry] = replace(lane_pass, renew_from=time.monotonic() - 0.01)
    assert predict(api, endpoint, key).status_code == 200  # renews it through the full route
    assert predict(api, endpoint, key).status_code == 200  # the fresh pass
    assert endpoint_reads == [endpoint["id"]] * 2
    assert fastlane._passes[entry].renew_from > time.monotonic()


def test_a_revoked_key_or_undeployed_endpoint_stops_at_once(api, ops, endpoint, key):
    assert predict(api, endpoint, key).status_code == 200
    api.delete(f"{BASE}/{endpoint['id']}/keys/{key['id']}", headers=ops)
    error(predict(api, endpoint, key), 401, "AUTH_001")

    other = api.post(f"{BASE}/{endpoint['id']}/keys", json={"name": "other"}, headers=ops).json()
    assert predict(api, endpoint, other).status_code == 200
    api.post(f"{BASE}/{endpoint['id']}/undeploy", headers=ops)
    error(predict(api, endpoint, other), 503, "INFER_005")


def test_a_traffic_change_reaches_the_next_call(api, ops, endpoint, key):
    assert predict(api, endpoint, key).json()["version"] == "1.0.0"
    moved = api.put(f"{BASE}/{endpoint['id']}/traffic", headers=ops,
                    json={"mode": "canary", "candidateVersion": "1.0.1", "candidatePercent": 100})
    assert moved.status_code == 200, moved.text
    assert {predict(api, endpoint, key).json()["role"] for _ in range(3)} == {"canary"}


def test_errors_in_the_lane_keep_the_api_format(api, ops, endpoint, key, endpoint_reads):
    api.put(f"{BASE}/{endpoint['id']}", json={"rateLimitPerMinute": 60, "burst": 2}, headers=ops)
    endpoint_reads.clear()
    assert predict(api, endpoint, key).status_code == 200
    bad = predict(api, endpoint, key, instances=[{**rows(1)[0], "sepal_length": "long"}])
    assert error(bad, 422, "INFER_002")["details"]["field"] == "sepal_length"  # the full route named it
    limited = predict(api, endpoint, key)
    assert error(limited, 429, "INFER_004") and limited.headers["Retry-After"] == "1"
    assert len(endpoint_reads) == 2  # the first call and the bad instance's full route; not the limited one


def test_bodies_the_lane_does_not_take_get_the_full_routes_answer(api, endpoint, key):
    assert predict(api, endpoint, key).status_code == 200
    url, headers = f"{BASE}/{endpoint['id']}/predict", {"X-Model-Key": key["key"]}
    malformed = api.post(url, content=b"{not json", headers={**headers, "Content-Type": "application/json"})
    error(malformed, 400, "REQ_001")
    extra = api.post(url, json={"instances": rows(1), "debug": True}, headers=headers)
    assert error(extra, 422, "REQ_001")["details"]["fields"][0]["field"] == "body.debug"
    error(api.post(url, json={"instances": []}, headers=headers), 422, "REQ_001")


def test_the_lane_can_be_turned_off(api, endpoint, key, endpoint_reads, monkeypatch):
    monkeypatch.setenv("AISYSTEM_ENDPOINT_FAST_LANE_SECONDS", "0")
    reset_settings()
    try:
        for _ in range(3):
            assert predict(api, endpoint, key).status_code == 200
    finally:
        monkeypatch.delenv("AISYSTEM_ENDPOINT_FAST_LANE_SECONDS")
        reset_settings()
    assert len(endpoint_reads) == 3
