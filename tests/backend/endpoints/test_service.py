"""The endpoint service: deploy, predict, traffic, stage following, scale, rate limits, cache, integrity,
log and metrics, examples, explanations, batch prediction and ONNX export — with real packaged models."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import torch
from sqlmodel import select

from backend.catalog.model_registry import artifacts as registry_artifacts
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.schemas import VersionCreate
from backend.core.config import get_settings
from backend.core.errors import AISystemError
from backend.core.pagination import PageParams
from backend.endpoints import predlog, service, serving
from backend.endpoints.models import PredictionLog
from tests.backend.endpoints.conftest import iris_frame, rows

PAGE = PageParams(limit=200, cursor=None)


@pytest.fixture
def ops(principals):
    return principals["ml_ops"]


def make_endpoint(session, actor, **extra):
    endpoint = service.create_endpoint(session=session, actor=actor, data={"name": "iris", **extra})
    session.commit()
    return endpoint


def deployed(session, actor, model_id, version="1.0.0", **extra):
    endpoint = make_endpoint(session, actor, **extra)
    service.deploy(session=session, actor=actor, endpoint_id=endpoint.id, data={"modelId": model_id, "version": version})
    session.commit()
    return endpoint


def code_of(fn, *args, **kwargs) -> AISystemError:
    with pytest.raises(AISystemError) as err:
        fn(*args, **kwargs)
    return err.value


def logged(session, actor, endpoint_id):
    session.commit()
    page, _ = service.logs(session=session, actor=actor, endpoint_id=endpoint_id, params=PAGE)
    return page


# --- deploy and predict ----------------------------------------------------------------------------


def test_deploy_and_predict(session, ops, iris_model):
    endpoint = make_endpoint(session, ops)
    assert code_of(service.predict, session=session, actor=ops, endpoint_id=endpoint.id,
                   instances=rows(1)).code == "INFER_005"
    service.deploy(session=session, actor=ops, endpoint_id=endpoint.id, data={"modelId": iris_model, "version": "1.0.0"})
    session.commit()
    out = service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(3))
    assert out["version"] == "1.0.0" and out["role"] == "primary"
    assert [p["label"] for p in out["predictions"]] == ["setosa"] * 3
    assert abs(sum(out["predictions"][0]["probabilities"].values()) - 1) < 1e-5
    # Rows of the other classes: the model learnt something.
    frame = iris_frame()
    labels = frame["species"].to_list()
    out = service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=frame.drop("species").to_dicts())
    assert np.mean([p["label"] == y for p, y in zip(out["predictions"], labels, strict=True)]) > 0.9
    from backend.lineage import service as lineage

    assert lineage.derived_owners(session=session, kind="model_version", ref=f"{iris_model}@1.0.0",
                                  derived_kind="endpoint") == [endpoint.id]
    page = logged(session, ops, endpoint.id)
    assert page[-1].version == "1.0.0" and page[-1].instances == 3 and page[-1].outputs[0]["label"] == "setosa"
    assert page[-1].inputs == rows(3) and page[-1].latency_ms > 0 and page[-1].user_id == ops.user_id

    service.undeploy(session=session, actor=ops, endpoint_id=endpoint.id)
    session.commit()
    assert code_of(service.predict, session=session, actor=ops, endpoint_id=endpoint.id,
                   instances=rows(1)).code == "INFER_005"
    assert code_of(service.undeploy, session=session, actor=ops, endpoint_id=endpoint.id).code == "ENDPOINT_002"


def test_input_is_checked_against_the_schema(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model)
    row = rows(1)[0]
    missing = {k: v for k, v in row.items() if k != "petal_width"}
    err = code_of(service.predict, session=session, actor=ops, endpoint_id=endpoint.id, instances=[missing])
    assert err.code == "INFER_002" and err.details["missing"] == ["petal_width"]
    err = code_of(service.predict, session=session, actor=ops, endpoint_id=endpoint.id,
                  instances=[{**row, "sepal_length": "long"}])
    assert err.code == "INFER_002" and err.details["field"] == "sepal_length"
    errors = [r for r in logged(session, ops, endpoint.id) if r.status == "error"]
    assert {r.error_code for r in errors} == {"INFER_002"} and len(errors) == 2


def test_deploy_refuses_what_cannot_be_served(session, ops, principals, iris_model):
    endpoint = make_endpoint(session, ops)
    registry.create_version(session=session, actor=principals["ml_engineer"], model_id=iris_model,
                            data=VersionCreate(version="2.0.0"))
    session.commit()
    err = code_of(service.deploy, session=session, actor=ops, endpoint_id=endpoint.id,
                  data={"modelId": iris_model, "version": "2.0.0"})
    assert err.code == "ENDPOINT_002"
    assert code_of(service.deploy, session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"modelId": iris_model, "version": "9.9.9"}).code == "MODEL_001"
    assert code_of(service.deploy, session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"modelId": iris_model, "stage": "production"}).code == "ENDPOINT_002"
    assert code_of(service.deploy, session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"modelId": "model_nope", "version": "1.0.0"}).code == "MODEL_001"
    assert session.get(service.Endpoint, endpoint.id).status == "undeployed"


def test_an_artifact_that_fails_its_hash_is_not_served(session, ops, iris_model):
    """INTEG-01: the stored file is re-hashed against the registry's sha256 before it is loaded."""
    row = registry.find_version(session=session, model_id=iris_model, version="1.0.0")
    path = registry_artifacts.artifact_path(row.artifact_id)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    endpoint = make_endpoint(session, ops)
    err = code_of(service.deploy, session=session, actor=ops, endpoint_id=endpoint.id,
                  data={"modelId": iris_model, "version": "1.0.0"})
    assert err.code == "MODEL_004" and err.details["integrity"] == "mismatch"


def test_only_platform_packages_load(session, ops, iris_model):
    """DESER-01/02: a version whose artifact is not a safetensors platform package is refused before any
    byte of it is read as a model; nothing is unpickled."""
    row = registry.find_version(session=session, model_id=iris_model, version="1.0.0")
    assert serving.package_config(row) is not None
    row.artifact_format = "opaque"
    assert serving.package_config(row) is None
    err = code_of(serving.load_version, session=session, actor=ops, row=row)
    assert err.code == "ENDPOINT_002"


def test_the_cache_is_bounded_and_reused(session, ops, iris_model, monkeypatch):
    monkeypatch.setattr(get_settings(), "endpoint_model_cache_size", 1)
    first = serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0")
    assert serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0") is first
    serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.1")
    assert serving.CACHE.loaded_versions() == [(iris_model, "1.0.1")]
    assert serving.CACHE.loads == 2
    assert serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0") is not first


def test_timeout_is_infer_003(session, ops, iris_model, monkeypatch):
    endpoint = deployed(session, ops, iris_model, timeoutMs=50)
    served = serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0")
    real = served.loaded.family.predict_frame

    def slow(module, config, frame):
        time.sleep(0.3)
        return real(module, config, frame)

    monkeypatch.setattr(served.loaded.family, "predict_frame", slow)
    err = code_of(service.predict, session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))
    assert err.code == "INFER_003" and err.details["timeoutMs"] == 50
    assert [r.error_code for r in logged(session, ops, endpoint.id)] == ["INFER_003"]


def test_an_awaited_prediction_times_out_with_infer_003_and_the_next_one_is_answered(session, ops, iris_model,
                                                                                     monkeypatch):
    import asyncio

    endpoint = deployed(session, ops, iris_model, timeoutMs=50)
    served = serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0")
    real, delays = served.loaded.family.predict_frame, [0.3]

    def slow_once(module, config, frame):
        time.sleep(delays.pop() if delays else 0)
        return real(module, config, frame)

    monkeypatch.setattr(served.loaded.family, "predict_frame", slow_once)

    async def twice():  # one event loop, as a web process has
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(await service.predict_async(session=session, actor=ops, endpoint_id=endpoint.id,
                                                            instances=rows(1)))
            except AISystemError as exc:
                outcomes.append(exc)
            await asyncio.sleep(0.4)  # the slow batch ends meanwhile: its late answer goes nowhere
        return outcomes

    timed_out, answered = asyncio.run(twice())
    assert isinstance(timed_out, AISystemError) and timed_out.code == "INFER_003"
    assert answered["predictions"][0]["label"] == "setosa"
    assert [r.error_code for r in logged(session, ops, endpoint.id)] == [None, "INFER_003"]


def test_concurrent_requests_are_batched(session, ops, iris_model, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    served = serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0")
    real = served.loaded.family.predict_frame
    sizes = []

    def counting(module, config, frame):
        sizes.append(frame.height)
        time.sleep(0.02)  # while one batch runs, the next requests queue up
        return real(module, config, frame)

    monkeypatch.setattr(served.loaded.family, "predict_frame", counting)
    frames = [serving.check_instances(served.config, rows(i + 1)) for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(lambda f: serving.run(served, f, timeout_s=5), frames))
    assert [len(r) for r in results] == [i + 1 for i in range(12)]
    assert sum(sizes) == sum(range(1, 13)) and len(sizes) < 12  # fewer model calls than requests
    single = serving.run(served, frames[2], timeout_s=5)
    # A row's answer does not depend on what it was batched with (up to float rounding).
    assert [p["label"] for p in single] == [p["label"] for p in results[2]]
    assert single[0]["probabilities"] == pytest.approx(results[2][0]["probabilities"], abs=1e-6)


# --- traffic -------------------------------------------------------------------------------------------


def test_canary_split_and_blue_green_switch(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model, rateLimitPerMinute=100_000, burst=1000)
    service.set_traffic(session=session, actor=ops, endpoint_id=endpoint.id,
                        data={"mode": "canary", "candidateVersion": "1.0.1", "candidatePercent": 100})
    session.commit()
    out = service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))
    assert (out["version"], out["role"]) == ("1.0.1", "canary")
    service.set_traffic(session=session, actor=ops, endpoint_id=endpoint.id,
                        data={"mode": "canary", "candidateVersion": "1.0.1", "candidatePercent": 30})
    session.commit()
    roles = [service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))["role"]
             for _ in range(300)]
    assert 45 < roles.count("canary") < 135  # 30 % of 300 (binomial: ~ ±8 sd)
    by_version = {r.version for r in logged(session, ops, endpoint.id)}
    assert by_version == {"1.0.0", "1.0.1"}
    status = service.status(session=session, actor=ops, endpoint_id=endpoint.id)
    assert [(v["version"], v["percent"]) for v in status["versions"]] == [("1.0.0", 70.0), ("1.0.1", 30.0)]

    service.switch(session=session, actor=ops, endpoint_id=endpoint.id)
    session.commit()
    row = session.get(service.Endpoint, endpoint.id)
    assert row.version == "1.0.1" and row.traffic == {"mode": "canary", "candidateVersion": "1.0.0",
                                                      "candidatePercent": 0}
    assert service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))["version"] == "1.0.1"
    service.switch(session=session, actor=ops, endpoint_id=endpoint.id)  # and back
    session.commit()
    assert session.get(service.Endpoint, endpoint.id).version == "1.0.0"


def test_traffic_errors(session, ops, iris_model):
    endpoint = make_endpoint(session, ops)
    assert code_of(service.set_traffic, session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"mode": "single"}).code == "ENDPOINT_002"
    assert code_of(service.switch, session=session, actor=ops, endpoint_id=endpoint.id).code == "ENDPOINT_002"
    service.deploy(session=session, actor=ops, endpoint_id=endpoint.id, data={"modelId": iris_model, "version": "1.0.0"})
    assert code_of(service.set_traffic, session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"mode": "canary", "candidatePercent": 10}).code == "REQ_001"
    assert code_of(service.set_traffic, session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"mode": "canary", "candidateVersion": "1.0.0"}).code == "REQ_001"
    assert code_of(service.set_traffic, session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"mode": "shadow", "candidateVersion": "3.0.0"}).code == "MODEL_001"


def test_shadow_answers_are_logged_not_returned(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model)
    service.set_traffic(session=session, actor=ops, endpoint_id=endpoint.id,
                        data={"mode": "shadow", "candidateVersion": "1.0.1"})
    session.commit()
    out = service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(2))
    assert (out["version"], out["role"]) == ("1.0.0", "primary")
    deadline = time.monotonic() + 5
    while predlog.pending() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    page = logged(session, ops, endpoint.id)
    assert sorted((r.version, r.role) for r in page) == [("1.0.0", "primary"), ("1.0.1", "shadow")]
    shadow = next(r for r in page if r.role == "shadow")
    assert len(shadow.outputs) == 2 and shadow.status == "ok"
    metrics = service.metrics(session=session, actor=ops, endpoint_id=endpoint.id)
    assert metrics["requests"] == 1  # nobody waited for the shadow copy


def test_an_endpoint_follows_its_stage(session, ops, principals, iris_model):
    engineer = principals["ml_engineer"]
    registry.promote_version(session=session, actor=engineer, model_id=iris_model, version="1.0.0", stage="production")
    session.commit()
    endpoint = make_endpoint(session, ops)
    service.deploy(session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"modelId": iris_model, "stage": "production"})
    session.commit()
    assert session.get(service.Endpoint, endpoint.id).follow_stage == "production"
    registry.promote_version(session=session, actor=engineer, model_id=iris_model, version="1.0.1", stage="production")
    session.commit()
    assert service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))["version"] == "1.0.1"
    registry.rollback(session=session, actor=engineer, model_id=iris_model)
    session.commit()
    assert service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))["version"] == "1.0.0"
    # A version a running follower could not serve may not take the stage it follows.
    registry.create_version(session=session, actor=engineer, model_id=iris_model,
                            data=VersionCreate(version="1.1.0", metrics={"accuracy": 0.99}))
    row = session.get(service.Endpoint, endpoint.id)
    row.follow_stage = "staging"
    session.add(row)
    session.commit()
    err = code_of(registry.promote_version, session=session, actor=engineer, model_id=iris_model, version="1.1.0",
                  stage="staging")
    assert err.code == "MODEL_003" and err.details["endpoints"] == [endpoint.id]
    session.rollback()
    assert session.get(service.Endpoint, endpoint.id).version == "1.0.0"


def test_a_pinned_endpoint_ignores_promotions(session, ops, principals, iris_model):
    endpoint = make_endpoint(session, ops)
    service.deploy(session=session, actor=ops, endpoint_id=endpoint.id,
                   data={"modelId": iris_model, "version": "1.0.0"})
    registry.promote_version(session=session, actor=principals["ml_engineer"], model_id=iris_model, version="1.0.1",
                             stage="production")
    session.commit()
    assert session.get(service.Endpoint, endpoint.id).version == "1.0.0"


# --- scale, rate limits, keys --------------------------------------------------------------------------


def test_scale(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model)
    service.scale(session=session, actor=ops, endpoint_id=endpoint.id,
                  data={"replicas": 3, "minReplicas": 1, "maxReplicas": 4})
    session.commit()
    row = session.get(service.Endpoint, endpoint.id)
    assert (row.replicas, row.min_replicas, row.max_replicas) == (3, 1, 4)
    service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))
    served = serving.CACHE.peek(model_id=iris_model, version="1.0.0", replicas=service._scaling(row))
    assert served.batcher.threads == 3  # each replica is an inference thread of the version
    service.scale(session=session, actor=ops, endpoint_id=endpoint.id,
                  data={"replicas": 2, "autoScaling": True, "targetUtilization": 70})
    session.commit()
    assert session.get(service.Endpoint, endpoint.id).autoscaling == {"autoScaling": True, "targetUtilization": 70}
    service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))
    assert served.batcher.scaling == serving.Scaling(2, 1, 4, 70) and served.batcher.threads == 3
    err = code_of(service.scale, session=session, actor=ops, endpoint_id=endpoint.id, data={"replicas": 5})
    assert err.code == "REQ_001"
    err = code_of(service.scale, session=session, actor=ops, endpoint_id=endpoint.id,
                  data={"replicas": 2, "minReplicas": 3, "maxReplicas": 2})
    assert err.code == "REQ_001"


def test_autoscaling_follows_utilization(session, ops, iris_model):
    served = serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0")
    batcher = served.batcher
    batcher.apply(serving.Scaling(1, 1, 3, target=50))
    assert batcher.threads == 1
    batcher._window_start -= 2.0
    batcher._adapt(1.8)  # busy 90 % of the last 2 s: above the target, one more thread
    assert batcher.threads == 2
    batcher._window_start -= 2.0
    batcher._adapt(0.2)  # 5 % per thread: under half the target, one fewer
    assert batcher.threads == 1
    batcher._window_start -= 2.0
    batcher._adapt(0.0)  # never under the minimum
    assert batcher.threads == 1
    assert serving.run(served, rows(2), timeout_s=5)[0]["label"] == "setosa"


def test_rate_limit_per_key(session, ops, principals, iris_model):
    endpoint = deployed(session, ops, iris_model, rateLimitPerMinute=60, burst=2)
    for _ in range(2):
        service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))
    err = code_of(service.predict, session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))
    assert err.code == "INFER_004" and err.retry_after == 1 and err.details["limitPerMinute"] == 60
    # Another caller has a bucket of its own.
    service.predict(session=session, actor=principals["business_user"], endpoint_id=endpoint.id, instances=rows(1))


def test_redis_token_bucket(monkeypatch):
    import os

    import redis

    from backend.endpoints import ratelimit

    url = os.environ["AISYSTEM_TEST_REDIS_URL"]
    try:
        redis.Redis.from_url(url, socket_timeout=0.5).flushdb()
    except redis.RedisError:
        pytest.skip("no Redis server")
    monkeypatch.setattr(get_settings(), "redis_url", url)
    ratelimit.take("k1", rate_per_minute=60, burst=2)
    ratelimit.take("k1", rate_per_minute=60, burst=2)
    with pytest.raises(ratelimit.RateLimited) as err:
        ratelimit.take("k1", rate_per_minute=60, burst=2)
    assert err.value.retry_after == 1
    assert ratelimit.LOCAL._buckets == {}  # it was Redis that counted
    ratelimit.take("k2", rate_per_minute=60, burst=2)


def test_local_bucket_refills():
    from backend.endpoints.ratelimit import LocalBuckets

    buckets = LocalBuckets()
    assert buckets.take("k", 60, 1, now=0.0) == 0
    assert buckets.take("k", 60, 1, now=0.5) == pytest.approx(0.5)
    assert buckets.take("k", 60, 1, now=1.0) == 0


def test_model_keys(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model)
    row, key = service.create_key(session=session, actor=ops, endpoint_id=endpoint.id, data={"name": "app"})
    session.commit()
    assert key.startswith("aisk_model_") or key and row.key_hash != key and key not in json.dumps(row.model_dump(mode="json"))
    keys, _ = service.list_keys(session=session, actor=ops, endpoint_id=endpoint.id, params=PAGE)
    assert [k.id for k in keys] == [row.id]
    service.revoke_key(session=session, actor=ops, endpoint_id=endpoint.id, key_id=row.id)
    session.commit()
    assert session.get(service.ApiKey, row.id).revoked_at is not None
    assert code_of(service.revoke_key, session=session, actor=ops, endpoint_id=endpoint.id,
                   key_id="apikey_nope").code == "ENDPOINT_001"


# --- log, metrics, examples ----------------------------------------------------------------------------


def test_metrics_from_the_log(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model)
    for n in (1, 2, 3):
        service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(n))
    code_of(service.predict, session=session, actor=ops, endpoint_id=endpoint.id, instances=[{"x": 1}])
    session.commit()
    metrics = service.metrics(session=session, actor=ops, endpoint_id=endpoint.id, minutes=5)
    assert metrics["requests"] == 4 and metrics["errors"] == 1 and metrics["error_rate"] == 0.25
    assert metrics["predictions"] == 6
    assert 0 < metrics["latency_ms"]["p50"] <= metrics["latency_ms"]["p95"] <= metrics["latency_ms"]["p99"]
    assert metrics["throughput_per_second"] == pytest.approx(4 / 300)
    assert metrics["by_version"] == [{"version": "1.0.0", "role": "primary", "requests": 4, "errors": 1,
                                      "p95": metrics["by_version"][0]["p95"]}]
    assert sum(m["requests"] for m in metrics["series"]) == 4


def test_log_rows_survive_a_failed_write(session, ops, iris_model, monkeypatch):
    endpoint = deployed(session, ops, iris_model)
    service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1))
    session.commit()
    import backend.core.db as db

    real = db.session_scope

    def broken(*args, **kwargs):
        raise RuntimeError("database away")

    monkeypatch.setattr(db, "session_scope", broken)
    assert predlog.flush() == 0 and predlog.pending() >= 1  # kept for the next try
    monkeypatch.setattr(db, "session_scope", real)
    assert [r.instances for r in logged(session, ops, endpoint.id)] == [1]


def test_a_flush_of_many_slices_is_written_whole_or_not_at_all(session, monkeypatch):
    monkeypatch.setattr(predlog, "_pending", [])  # this test's rows only
    for i in range(2 * predlog.SLICE_ROWS + 50):
        predlog.record(endpoint_id="ep_slices", role="primary", instances=1, inputs=[{"i": i}], outputs=[],
                       latency_ms=1.0)
    predlog._pending[2 * predlog.SLICE_ROWS + 10]["status"] = None  # the third slice fails
    assert predlog.flush() == 0 and predlog.pending() == 2 * predlog.SLICE_ROWS + 50
    stored = select(PredictionLog).where(PredictionLog.endpoint_id == "ep_slices")
    assert session.exec(stored).all() == []  # the first two slices went back with the third
    session.commit()  # the test's session is a writer: its turn ends before the flush's
    predlog._pending[2 * predlog.SLICE_ROWS + 10]["status"] = "ok"
    assert predlog.flush() == 2 * predlog.SLICE_ROWS + 50
    assert [row.inputs[0]["i"] for row in session.exec(stored.order_by(PredictionLog.id))] == list(
        range(2 * predlog.SLICE_ROWS + 50))


def test_logged_inputs_and_outputs_read_back_as_written(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model)
    sent = rows(2)
    answer = service.predict(session=session, actor=ops, endpoint_id=endpoint.id, instances=sent)
    (entry,) = logged(session, ops, endpoint.id)
    assert entry.inputs == sent and entry.outputs == answer["predictions"]


def test_values_beyond_json_are_logged_readably_and_hold_back_no_row(session, ops):
    from datetime import UTC, datetime

    at = datetime(2026, 12, 6, 12, 30, tzinfo=UTC)
    predlog.record(endpoint_id="ep_odd", role="primary", instances=1, inputs=[{"when": at}],
                   outputs=[{"score": np.float32(0.5)}], latency_ms=1.0)
    predlog.record(endpoint_id="ep_odd", role="primary", instances=1, inputs=[{"x": 1}], outputs=[], latency_ms=1.0)
    assert predlog.flush() == 2 and predlog.pending() == 0
    stored = session.exec(select(PredictionLog).where(PredictionLog.endpoint_id == "ep_odd")
                          .order_by(PredictionLog.id)).all()
    assert [row.inputs for row in stored] == [[{"when": "2026-12-06T12:30:00+00:00"}], [{"x": 1}]]
    assert stored[0].outputs == [{"score": 0.5}]


def test_a_web_process_loads_the_serving_libraries_as_it_starts_unless_told_not_to(monkeypatch):
    from backend.core.config import Settings

    loads = []
    monkeypatch.setattr(serving, "_preload", lambda: loads.append("preloaded"))
    monkeypatch.setattr(serving, "_WEB_PROCESS", False)
    for preload in (False, True):
        monkeypatch.setattr(serving, "get_settings", lambda preload=preload: Settings(endpoint_preload=preload))
        serving.mark_web_process()
        assert serving._WEB_PROCESS  # served batches take one torch thread either way
    assert loads == ["preloaded"]  # only with the setting on


def test_stored_examples(session, ops, iris_model):
    row = rows(1)[0]
    endpoint = deployed(session, ops, iris_model, examples=[
        {"input": row, "expected": {"label": "setosa"}},
        {"input": row, "expected": {"label": "virginica"}},
        {"input": {"sepal_length": 1}, "expected": {"label": "setosa"}}])
    report = service.run_examples(session=session, actor=ops, endpoint_id=endpoint.id)
    assert (report["passed"], report["failed"]) == (1, 2)
    assert report["results"][2]["error"]["code"] == "INFER_002"
    empty = service.create_endpoint(session=session, actor=ops, data={"name": "empty"})
    assert code_of(service.run_examples, session=session, actor=ops, endpoint_id=empty.id).code == "ENDPOINT_002"


def test_health(session, ops, iris_model):
    endpoint = make_endpoint(session, ops)
    assert service.health(session=session, actor=ops, endpoint_id=endpoint.id)["status"] == "undeployed"
    service.deploy(session=session, actor=ops, endpoint_id=endpoint.id, data={"modelId": iris_model, "version": "1.0.0"})
    report = service.health(session=session, actor=ops, endpoint_id=endpoint.id)
    assert report["status"] == "healthy" and report["checks"][0]["ok"] is True


# --- explanations ----------------------------------------------------------------------------------------


def test_integrated_gradients(session, ops, iris_model):
    endpoint = deployed(session, ops, iris_model)
    out = service.explain(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(2), steps=64)
    assert out["method"] == "integrated_gradients"
    columns = {"sepal_length", "sepal_width", "petal_length", "petal_width", "petal_band"}
    for prediction, explanation in zip(out["predictions"], out["explanations"], strict=True):
        assert set(explanation["attributions"]) == columns
        assert explanation["target"] == prediction["label"]
        total = abs(sum(explanation["attributions"].values()))
        assert explanation["delta"] < 0.05 * max(total, 1.0)  # completeness: they add up to the output change
    other = service.explain(session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1), target="virginica")
    assert other["explanations"][0]["target"] == "virginica"
    assert code_of(service.explain, session=session, actor=ops, endpoint_id=endpoint.id, instances=rows(1),
                   target="oak").code == "INFER_002"


def test_permutation_importance(session, ops, principals, iris_model):
    from backend.catalog.datasets import service as datasets

    scientist = principals["data_scientist"]
    buffer = io.BytesIO()
    iris_frame().write_csv(buffer)
    dataset = datasets.create_dataset(session=session, actor=scientist, data={"name": "iris", "type": "tabular"})
    session.commit()
    datasets.upload(session=session, actor=scientist, dataset_id=dataset.id, source=io.BytesIO(buffer.getvalue()),
                    filename="iris.csv")
    session.commit()
    endpoint = deployed(session, ops, iris_model)
    report = service.importance(session=session, actor=scientist, endpoint_id=endpoint.id, dataset_id=dataset.id,
                                rows=150, repeats=2)
    assert report["rows"] == 150 and report["metric"] == "accuracy" and report["baseline"] > 0.9
    top = next(iter(report["importances"]))
    assert top.startswith("petal") and report["importances"][top]["mean"] > 0.1
    no_label = datasets.transform(session=session, actor=scientist, dataset_id=dataset.id,
                                  steps=[{"op": "drop", "columns": ["species"]}])
    session.commit()
    err = code_of(service.importance, session=session, actor=scientist, endpoint_id=endpoint.id,
                  dataset_id=dataset.id, dataset_version=no_label.number)
    assert err.code == "INFER_002" and err.details["field"] == "species"


# --- batch prediction and export -------------------------------------------------------------------------


def test_batch_predict(session, ops, principals, iris_model, sent, monkeypatch):
    from backend.catalog.datasets import service as datasets
    from backend.jobs import tasks as job_tasks
    from backend.jobs.models import Job

    scientist = principals["data_scientist"]
    buffer = io.BytesIO()
    iris_frame().drop("species").write_csv(buffer)
    dataset = datasets.create_dataset(session=session, actor=scientist, data={"name": "to score", "type": "tabular"})
    session.commit()
    datasets.upload(session=session, actor=scientist, dataset_id=dataset.id, source=io.BytesIO(buffer.getvalue()),
                    filename="iris.csv")
    session.commit()
    endpoint = deployed(session, ops, iris_model)
    job = service.batch_predict(session=session, actor=scientist, endpoint_id=endpoint.id, dataset_id=dataset.id,
                                batch_size=40)
    session.commit()
    assert sent.routes[job.id][0] == "inference" and job.payload["batchSize"] == 40
    job_tasks.run_job(job.id)
    session.expire_all()
    done = session.get(Job, job.id)
    assert done.status == "succeeded", done.error
    out = datasets.open_frame(session=session, actor=scientist, dataset_id=done.result["datasetId"]).collect()
    assert out.height == 150 and "prediction" in out.columns and "probability_setosa" in out.columns
    online = service.predict(session=session, actor=scientist, endpoint_id=endpoint.id, instances=rows(3))
    assert out["prediction"].head(3).to_list() == [p["label"] for p in online["predictions"]]
    from backend.lineage import service as lineage

    produced = lineage.derived_owners(session=session, kind="model_version", ref=f"{iris_model}@1.0.0",
                                      derived_kind="dataset_version")
    assert produced == [done.result["datasetId"]]
    monkeypatch.setattr(get_settings(), "endpoint_batch_predict_chunk", 10)
    capped = service.batch_predict(session=session, actor=scientist, endpoint_id=endpoint.id, dataset_id=dataset.id,
                                   batch_size=1000)
    assert capped.payload["batchSize"] == 10


def test_onnx_export(session, ops, iris_model):
    import onnx
    from onnx.reference import ReferenceEvaluator

    endpoint = deployed(session, ops, iris_model)
    data, name = service.export_onnx(session=session, actor=ops, endpoint_id=endpoint.id)
    assert name == "iris-1.0.0.onnx"
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model)
    config = json.loads({p.key: p.value for p in model.metadata_props}["aisystem.config"])
    assert config["inputSchema"]["columns"][0]["name"] == "sepal_length"
    served = serving.CACHE.get(session=session, actor=ops, model_id=iris_model, version="1.0.0")
    encoded = served.loaded.family.encode(config, serving.check_rows(config, rows(4)))
    (logits,) = ReferenceEvaluator(model).run(None, {"numeric": encoded.numeric.numpy(),
                                                     "categorical": encoded.categorical.numpy()})
    with torch.no_grad():
        expected = served.loaded.module((encoded.numeric, encoded.categorical)).numpy()
    assert np.allclose(logits, expected, atol=1e-4)
    assert code_of(service.export_onnx, session=session, actor=ops, endpoint_id=endpoint.id,
                   version="1.0.1").code == "ENDPOINT_002"


# --- records -----------------------------------------------------------------------------------------------


def test_crud(session, ops, principals, iris_model):
    endpoint = make_endpoint(session, ops)
    assert code_of(service.create_endpoint, session=session, actor=ops, data={"name": "iris"}).code == "ENDPOINT_002"
    assert code_of(service.create_endpoint, session=session, actor=principals["business_user"],
                   data={"name": "x"}).code == "AUTH_002"
    service.update_endpoint(session=session, actor=ops, endpoint_id=endpoint.id, data={"name": "iris 2", "burst": 5})
    session.commit()
    row = session.get(service.Endpoint, endpoint.id)
    assert (row.name, row.burst) == ("iris 2", 5)
    rows_, _ = service.list_endpoints(session=session, actor=principals["business_user"], params=PAGE)
    assert [r.id for r in rows_] == [endpoint.id]
    service.deploy(session=session, actor=ops, endpoint_id=endpoint.id, data={"modelId": iris_model, "version": "1.0.0"})
    assert code_of(service.delete_endpoint, session=session, actor=ops, endpoint_id=endpoint.id).code == "ENDPOINT_002"
    service.undeploy(session=session, actor=ops, endpoint_id=endpoint.id)
    key, _secret = service.create_key(session=session, actor=ops, endpoint_id=endpoint.id, data={"name": "k"})
    service.delete_endpoint(session=session, actor=ops, endpoint_id=endpoint.id)
    session.commit()
    assert session.get(service.Endpoint, endpoint.id) is None
    assert session.get(service.ApiKey, key.id).revoked_at is not None
    assert code_of(service.get_endpoint, session=session, actor=ops, endpoint_id=endpoint.id).code == "ENDPOINT_001"
    assert service.count_endpoints(session) == 0


@pytest.mark.parametrize("instances", [
    [],
    ["not an object"],
    [{"sepal_length": 1.0}],
    [{**rows(1)[0], "sepal_width": "wide"}],
    [{**rows(1)[0], "sepal_width": {"a": 1}}],
    [{**rows(1)[0], "petal_band": 3}],
    [{**rows(1)[0], "sepal_width": None}],
    [{**rows(1)[0], "sepal_width": True}],
])
def test_fast_checks_agree_with_the_package(instances):
    """The per-request check refuses exactly what the package's own `rows_frame` refuses, with the same details."""
    from backend.ml.base import rows_frame
    from tests.backend.endpoints.conftest import iris_package

    config = iris_package(0)[1]
    try:
        rows_frame(config, instances)
        expected = None
    except AISystemError as exc:
        expected = (exc.code, exc.details)
    try:
        serving.check_instances(config, instances)
        got = None
    except AISystemError as exc:
        got = (exc.code, exc.details)
    assert got == expected
