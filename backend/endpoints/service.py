"""Model endpoints: create, deploy (a version, or a stage the endpoint follows), traffic (canary, shadow,
blue-green switch), scale, keys, predict, explain, test, export, batch prediction, logs and metrics.

Every function is keyword-only with the session first and the acting principal explicit; it authorizes,
flushes and audits, and the edge commits. Predictions go through `serving` (the per-process model cache
and batchers) and are logged through `predlog` (batched, after the response)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from backend.audit import service as audit
from backend.auth import service as auth_service
from backend.auth.models import ApiKey
from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry
from backend.core.actions import check_action
from backend.core.authorization import authorize
from backend.core.config import get_settings
from backend.core.errors import AISystemError, InvalidRequest
from backend.core.ids import new_id
from backend.core.pagination import PageParams, paginate
from backend.core.timeutil import utcnow
from backend.core.unit_of_work import after_commit
from backend.endpoints import fastlane, metering, predlog, ratelimit, serving
from backend.endpoints.models import Endpoint, PredictionLog
from backend.endpoints.schemas import (
    DeployRequest,
    EndpointCreate,
    EndpointUpdate,
    KeyCreate,
    ScaleRequest,
    TrafficRequest,
)
from backend.lineage import service as lineage

BATCH_PREDICT_JOB = "endpoints.batch_predict"
MODEL_KEY = "model"


# --- records -----------------------------------------------------------------------------------------


def not_found(endpoint_id: str) -> AISystemError:
    return AISystemError("ENDPOINT_001", "Endpoint not found", {"endpointId": endpoint_id})


def conflict(message: str, **details: Any) -> AISystemError:
    return AISystemError("ENDPOINT_002", message, details)


def _audit(session: Session, actor: Principal, endpoint: Endpoint, action: str, **summary: Any) -> None:
    audit.record(session=session, actor=actor, action=f"endpoint.{action}", entity_type="endpoint",
                 entity_id=endpoint.id, summary={"name": endpoint.name, **summary})


def _find(session: Session, endpoint_id: str, *, for_update: bool = False) -> Endpoint:
    endpoint = session.get(Endpoint, endpoint_id, with_for_update=for_update)
    if endpoint is None:
        raise not_found(endpoint_id)
    if for_update:
        _changing(session, endpoint_id)
    return endpoint


def _changing(session: Session, endpoint_id: str) -> None:
    """An endpoint (or one of its keys) is about to change: its fast-lane passes go now, and again once
    the change commits (a request that read the old row meanwhile may have left a new one)."""
    fastlane.forget(endpoint_id)
    after_commit(session, lambda: fastlane.forget(endpoint_id))


def get_endpoint(*, session: Session, actor: Principal, endpoint_id: str, need: str = "read",
                 lock: bool | None = None) -> Endpoint:
    """The endpoint, for an actor holding `endpoint:<need>`; locked for changes (`lock`, by default for
    every need but read and invoke)."""
    authorize(actor, f"endpoint:{need}")
    endpoint = _find(session, endpoint_id, for_update=need not in ("read", "invoke") if lock is None else lock)
    authorize(actor, f"endpoint:{need}", endpoint)
    return endpoint


def list_endpoints(*, session: Session, actor: Principal, params: PageParams,
                   status: str | None = None) -> tuple[list[Endpoint], str | None]:
    authorize(actor, "endpoint:read")
    query = select(Endpoint)
    if status:
        query = query.where(Endpoint.status == status)
    return paginate(session, query, params=params, order=[Endpoint.name, Endpoint.id], descending=False)


def _name_free(session: Session, name: str, endpoint_id: str | None = None) -> None:
    other = session.exec(select(Endpoint.id).where(Endpoint.name == name)).first()
    if other is not None and other != endpoint_id:
        raise conflict(f"An endpoint named '{name}' exists", name=name)


def create_endpoint(*, session: Session, actor: Principal, data: EndpointCreate | dict) -> Endpoint:
    authorize(actor, "endpoint:create")
    data = data if isinstance(data, EndpointCreate) else EndpointCreate.model_validate(data)
    name = data.name.strip()
    if not name:
        raise InvalidRequest("The name is empty", {"name": "required"})
    _name_free(session, name)
    endpoint = Endpoint(id=new_id("endpoint"), name=name, description=data.description,
                        rate_limit_per_minute=data.rate_limit_per_minute, burst=data.burst,
                        timeout_ms=data.timeout_ms or get_settings().endpoint_timeout_ms,
                        examples=[e.model_dump(by_alias=True) for e in data.examples], traffic={"mode": "single"},
                        autoscaling={"autoScaling": False}, created_by=actor.user_id)
    session.add(endpoint)
    session.flush()
    _audit(session, actor, endpoint, "create")
    return endpoint


def update_endpoint(*, session: Session, actor: Principal, endpoint_id: str, data: EndpointUpdate | dict) -> Endpoint:
    data = data if isinstance(data, EndpointUpdate) else EndpointUpdate.model_validate(data)
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    fields = data.model_dump(exclude_unset=True)
    if "name" in fields:
        if data.name is None or not data.name.strip():
            raise InvalidRequest("The name is empty", {"name": "required"})
        _name_free(session, data.name.strip(), endpoint.id)
        endpoint.name = data.name.strip()
    for name in ("description", "rate_limit_per_minute", "burst", "timeout_ms"):
        if name in fields and (fields[name] is not None or name == "description"):
            setattr(endpoint, name, fields[name])
    if data.examples is not None:
        endpoint.examples = [e.model_dump(by_alias=True) for e in data.examples]
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    session.flush()
    _audit(session, actor, endpoint, "update", fields=sorted(fields))
    return endpoint


def delete_endpoint(*, session: Session, actor: Principal, endpoint_id: str) -> None:
    """Delete an undeployed endpoint; its keys are revoked, its prediction log stays for monitoring."""
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="delete")
    if endpoint.status == "running":
        raise conflict("Undeploy the endpoint before deleting it", status=endpoint.status)
    for key in session.exec(select(ApiKey).where(ApiKey.endpoint_id == endpoint.id, ApiKey.kind == MODEL_KEY,
                                                 col(ApiKey.revoked_at).is_(None))).all():
        key.revoked_at = utcnow()
        session.add(key)
    _audit(session, actor, endpoint, "delete")
    session.delete(endpoint)
    session.flush()


# --- deployment --------------------------------------------------------------------------------------


def _stage_version(session: Session, model_id: str, stage: str) -> str | None:
    row = session.exec(select(registry.ModelVersion.version)
                       .where(registry.ModelVersion.model_id == model_id, registry.ModelVersion.stage == stage)
                       .order_by(col(registry.ModelVersion.stage_changed_at).desc())).first()
    return row


def _scaling(endpoint: Endpoint) -> serving.Scaling:
    """The endpoint's replicas and autoscaling block as its versions' inference threads."""
    policy = endpoint.autoscaling or {}
    target = policy.get("targetUtilization", 70) if policy.get("autoScaling") else None
    return serving.Scaling(endpoint.replicas, endpoint.min_replicas, endpoint.max_replicas, target)


@dataclass(frozen=True)
class EndpointView:
    """What a prediction reads of its endpoint: a plain copy, valid after the session that read it
    has ended (the fast lane keeps it for a second, `backend.endpoints.fastlane`)."""

    id: str
    model_id: str
    status: str
    version: str | None
    traffic: dict[str, Any]
    rate_limit_per_minute: int
    burst: int
    timeout_ms: int
    scaling: serving.Scaling

    @classmethod
    def of(cls, endpoint: Endpoint) -> EndpointView:
        return cls(endpoint.id, endpoint.model_id, endpoint.status, endpoint.version, dict(endpoint.traffic or {}),
                   endpoint.rate_limit_per_minute, endpoint.burst, endpoint.timeout_ms, _scaling(endpoint))


def _servable(session: Session, actor: Principal, model_id: str, version: str,
              replicas: serving.Scaling) -> serving.Served:
    """Load the version (warming this process's cache); ENDPOINT_002 when it cannot be served."""
    row = registry.find_version(session=session, model_id=model_id, version=version)
    if row is None:
        raise registry.not_found(model_id, version)
    if serving.package_config(row) is None:
        raise conflict(f"Version {version} has no platform model package (safetensors weights and their "
                       "config) to serve", modelId=model_id, version=version)
    return serving.CACHE.get(session=session, actor=actor, model_id=model_id, version=version, replicas=replicas)


def deploy(*, session: Session, actor: Principal, endpoint_id: str, data: DeployRequest | dict) -> Endpoint:
    """Serve a version (or the version in a stage, followed when `followStage`); loads it first, so a
    version that cannot be served is refused here rather than at the first prediction."""
    data = data if isinstance(data, DeployRequest) else DeployRequest.model_validate(data)
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    # endpoint:write is what deploys: the design gives ml_ops no model:read, so the model is looked up, not read.
    if registry.find_model(session=session, model_id=data.model_id) is None:
        raise registry.not_found(data.model_id)
    version = data.version
    if data.stage is not None:
        version = _stage_version(session, data.model_id, data.stage)
        if version is None:
            raise conflict(f"Model {data.model_id} has no version in stage '{data.stage}'",
                           modelId=data.model_id, stage=data.stage)
    # Governance: policies on deployments (GOV_003 refuses; see backend/core/actions.py).
    check_action(session=session, actor=actor, action="endpoint.deploy", entity=endpoint,
                 details={"modelId": data.model_id, "version": version, "stage": data.stage})
    _servable(session, actor, data.model_id, version, _scaling(endpoint))
    previous = (endpoint.model_id, endpoint.version)
    endpoint.model_id, endpoint.version = data.model_id, version
    endpoint.follow_stage = data.stage if data.stage is not None and data.follow_stage else None
    if previous[0] != data.model_id:
        endpoint.traffic = {"mode": "single"}
    endpoint.status, endpoint.deployed_at, endpoint.updated_at = "running", utcnow(), utcnow()
    session.add(endpoint)
    session.flush()
    _record_deployment(session, actor, endpoint, version)
    _audit(session, actor, endpoint, "deploy", modelId=data.model_id, version=version, stage=data.stage,
           followStage=endpoint.follow_stage, previous=f"{previous[0]}@{previous[1]}" if previous[0] else None)
    return endpoint


def _record_deployment(session: Session, actor: Principal, endpoint: Endpoint, version: str) -> None:
    lineage.record_deployment(session=session, actor=actor,
                              model_version=lineage.model_version_ref(endpoint.model_id, version),
                              endpoint=lineage.Ref("endpoint", endpoint.id, endpoint.name))


def undeploy(*, session: Session, actor: Principal, endpoint_id: str) -> Endpoint:
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    if endpoint.status != "running":
        raise conflict("The endpoint is not deployed", status=endpoint.status)
    endpoint.status, endpoint.updated_at = "undeployed", utcnow()
    session.add(endpoint)
    session.flush()
    _audit(session, actor, endpoint, "undeploy", modelId=endpoint.model_id, version=endpoint.version)
    return endpoint


def scale(*, session: Session, actor: Principal, endpoint_id: str, data: ScaleRequest | dict) -> Endpoint:
    """Replicas within [min, max]; each replica is one inference thread of the version's batcher in every
    web process. The autoscaling policy is recorded (the design's deployment block)."""
    data = data if isinstance(data, ScaleRequest) else ScaleRequest.model_validate(data)
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    low = data.min_replicas if data.min_replicas is not None else endpoint.min_replicas
    high = data.max_replicas if data.max_replicas is not None else endpoint.max_replicas
    if low > high:
        raise InvalidRequest("minReplicas is above maxReplicas", {"minReplicas": f"at most {high}"})
    if not low <= data.replicas <= high:
        raise InvalidRequest(f"replicas must lie within [{low}, {high}]", {"replicas": f"between {low} and {high}"})
    endpoint.replicas, endpoint.min_replicas, endpoint.max_replicas = data.replicas, low, high
    policy = dict(endpoint.autoscaling or {})
    if data.auto_scaling is not None:
        policy["autoScaling"] = data.auto_scaling
    if data.target_utilization is not None:
        policy["targetUtilization"] = data.target_utilization
    endpoint.autoscaling, endpoint.updated_at = policy, utcnow()
    session.add(endpoint)
    session.flush()
    _audit(session, actor, endpoint, "scale", replicas=data.replicas, minReplicas=low, maxReplicas=high,
           autoscaling=policy)
    return endpoint


def set_traffic(*, session: Session, actor: Principal, endpoint_id: str, data: TrafficRequest | dict) -> Endpoint:
    """Canary (a share of requests to a candidate version), shadow (a copy to the candidate, its answers
    only logged) or single. The candidate is loaded first (ENDPOINT_002 when it cannot be served)."""
    data = data if isinstance(data, TrafficRequest) else TrafficRequest.model_validate(data)
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    if endpoint.model_id is None:
        raise conflict("Deploy a model before splitting its traffic")
    if data.mode == "single":
        traffic = {"mode": "single"}
    else:
        if data.candidate_version is None:
            raise InvalidRequest("Name the candidate version", {"candidateVersion": "required for canary and shadow"})
        if data.candidate_version == endpoint.version:
            raise InvalidRequest("The candidate is the primary version", {"candidateVersion": "another version"})
        _servable(session, actor, endpoint.model_id, data.candidate_version, _scaling(endpoint))
        traffic = {"mode": data.mode, "candidateVersion": data.candidate_version,
                   "candidatePercent": data.candidate_percent if data.mode == "canary" else 0}
    endpoint.traffic, endpoint.updated_at = traffic, utcnow()
    session.add(endpoint)
    session.flush()
    _audit(session, actor, endpoint, "traffic", **traffic)
    return endpoint


def switch(*, session: Session, actor: Principal, endpoint_id: str) -> Endpoint:
    """Blue-green: the candidate becomes the primary and the old primary the candidate at 0 %, so a
    second switch puts it back. The endpoint stops following a stage (the switch chose a version)."""
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    candidate = (endpoint.traffic or {}).get("candidateVersion")
    if not candidate:
        raise conflict("The endpoint has no candidate version to switch to; set one with canary or shadow traffic")
    old = endpoint.version
    endpoint.version, endpoint.follow_stage = candidate, None
    endpoint.traffic = {"mode": "canary", "candidateVersion": old, "candidatePercent": 0}
    endpoint.updated_at = utcnow()
    session.add(endpoint)
    session.flush()
    _record_deployment(session, actor, endpoint, candidate)
    _audit(session, actor, endpoint, "switch", version=candidate, previous=old)
    return endpoint


def follow_promotion(ctx: Any) -> None:
    """The registry's promotion hook: an endpoint that follows a stage serves the version moving into it.
    It refuses the move when such a running endpoint could not serve that version."""
    if ctx.stage not in ("production", "staging"):
        return
    followers = ctx.session.exec(select(Endpoint).where(Endpoint.model_id == ctx.model.id,
                                                        Endpoint.follow_stage == ctx.stage)).all()
    if not followers:
        return
    if any(e.status == "running" for e in followers) and serving.package_config(ctx.version) is None:
        raise AISystemError("MODEL_003", f"Endpoints follow the '{ctx.stage}' stage and cannot serve version "
                            f"{ctx.version.version}: it has no platform model package",
                            {"version": ctx.version.version, "endpoints": [e.id for e in followers]})
    for endpoint in followers:
        _changing(ctx.session, endpoint.id)
        previous = endpoint.version
        endpoint.version, endpoint.updated_at = ctx.version.version, utcnow()
        if (endpoint.traffic or {}).get("candidateVersion") == ctx.version.version:
            endpoint.traffic = {"mode": "single"}
        ctx.session.add(endpoint)
        ctx.session.flush()
        if endpoint.status == "running":
            _record_deployment(ctx.session, ctx.actor, endpoint, ctx.version.version)
        _audit(ctx.session, ctx.actor, endpoint, "follow", version=ctx.version.version, previous=previous,
               stage=ctx.stage, move=ctx.action)


# --- status and health -------------------------------------------------------------------------------


def _shares(endpoint: Endpoint) -> list[dict[str, Any]]:
    traffic = endpoint.traffic or {}
    mode, candidate = traffic.get("mode", "single"), traffic.get("candidateVersion")
    if endpoint.version is None:
        return []
    if mode == "canary" and candidate:
        percent = float(traffic.get("candidatePercent", 0))
        return [{"version": endpoint.version, "role": "primary", "percent": 100 - percent},
                {"version": candidate, "role": "canary", "percent": percent}]
    shares = [{"version": endpoint.version, "role": "primary", "percent": 100.0}]
    if mode == "shadow" and candidate:
        shares.append({"version": candidate, "role": "shadow", "percent": 0.0})
    return shares


def status(*, session: Session, actor: Principal, endpoint_id: str) -> dict[str, Any]:
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id)
    config = None
    if endpoint.model_id and endpoint.version:
        row = registry.find_version(session=session, model_id=endpoint.model_id, version=endpoint.version)
        config = serving.package_config(row) if row is not None else None
    loaded = [v for m, v in serving.CACHE.loaded_versions() if m == endpoint.model_id]
    return {"id": endpoint.id, "status": endpoint.status, "model_id": endpoint.model_id,
            "versions": _shares(endpoint), "input_schema": config["inputSchema"] if config else None,
            "task": config["task"] if config else None, "label_names": config.get("labelNames") if config else None,
            "loaded_here": loaded}


def health(*, session: Session, actor: Principal, endpoint_id: str) -> dict[str, Any]:
    """Each serving version loads (hash verified) and answers its first stored example, or a row of
    nulls when the endpoint stores none (numeric and categorical inputs accept null)."""
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id)
    if endpoint.status != "running":
        return {"status": "undeployed", "checks": []}
    checks = []
    for share in _shares(endpoint):
        check = {"version": share["version"], "role": share["role"]}
        started = time.perf_counter()
        try:
            served = serving.CACHE.get(session=session, actor=actor, model_id=endpoint.model_id,
                                       version=share["version"], replicas=_scaling(endpoint))
            row = endpoint.examples[0]["input"] if endpoint.examples else {
                c["name"]: None for c in served.config["inputSchema"]["columns"]}
            serving.run(served, serving.check_instances(served.config, [row]), timeout_s=endpoint.timeout_ms / 1000)
            check.update(ok=True)
        except AISystemError as exc:
            check.update(ok=False, error={"code": exc.code, "message": exc.message})
        check["latencyMs"] = round((time.perf_counter() - started) * 1000, 3)
        checks.append(check)
    return {"status": "healthy" if checks and all(c["ok"] for c in checks) else "unhealthy", "checks": checks}


# --- prediction --------------------------------------------------------------------------------------


def _bucket_key(actor: Principal) -> str:
    if actor.credential_type in ("model_key", "api_key") and actor.credential_id:
        return f"key:{actor.credential_id}"
    return f"user:{actor.user_id}"


def _choose(endpoint: EndpointView) -> tuple[str, str, str | None]:
    """(version answering, its role, shadow version or None) for one request."""
    traffic = endpoint.traffic
    mode, candidate = traffic.get("mode", "single"), traffic.get("candidateVersion")
    if mode == "canary" and candidate and random.random() * 100 < float(traffic.get("candidatePercent", 0)):
        return candidate, "canary", None
    return endpoint.version, "primary", candidate if mode == "shadow" else None


def _log(endpoint: EndpointView, actor: Principal, *, version: str | None, role: str, instances: Sequence[Any],
         outputs: Sequence[Any] = (), latency_ms: float, error: AISystemError | None = None) -> None:
    predlog.record(endpoint_id=endpoint.id, model_id=endpoint.model_id, version=version, role=role,
                   key_id=actor.credential_id if actor.credential_type in ("model_key", "api_key") else None,
                   user_id=actor.user_id, status="error" if error else "ok",
                   error_code=error.code if error else None, instances=len(instances), inputs=list(instances),
                   outputs=list(outputs), latency_ms=latency_ms)


def _shadow(endpoint: EndpointView, actor: Principal, served: serving.Served, instances: list, rows: list) -> None:
    """Queue a copy of the request to the shadow version; its answer (or error) is only logged."""
    started = time.perf_counter()
    future = served.batcher.submit(rows)

    def done(f: Any) -> None:
        latency = (time.perf_counter() - started) * 1000
        error = f.exception()
        if error is not None and not isinstance(error, AISystemError):
            error = AISystemError("INFER_001", str(error)[:200])
        _log(endpoint, actor, version=served.version, role="shadow", instances=instances,
             outputs=[] if error else f.result(), latency_ms=latency, error=error)

    future.add_done_callback(done)


@dataclass
class _Call:
    """One prediction request between its checks and its answer."""

    endpoint: EndpointView
    actor: Principal
    instances: list[dict[str, Any]]
    started: float
    version: str
    role: str
    shadow: str | None
    served: serving.Served | None = None
    checked: list[dict[str, Any]] | None = None

    @classmethod
    def start(cls, endpoint: EndpointView, actor: Principal, instances: list[dict[str, Any]],
              started: float) -> _Call:
        """The call of a deployed endpoint, its answering version picked by the traffic split."""
        _check_deployed(endpoint)
        return cls(endpoint, actor, instances, started, *_choose(endpoint))

    @property
    def timeout_s(self) -> float:
        return self.endpoint.timeout_ms / 1000

    def peek(self, version: str) -> serving.Served | None:
        return serving.CACHE.peek(model_id=self.endpoint.model_id, version=version, replicas=self.endpoint.scaling)

    def fail(self, error: AISystemError) -> AISystemError:
        _log(self.endpoint, self.actor, version=self.version, role=self.role, instances=self.instances,
             latency_ms=(time.perf_counter() - self.started) * 1000, error=error)
        return error

    def answer(self, outputs: list[dict[str, Any]]) -> dict[str, Any]:
        latency = (time.perf_counter() - self.started) * 1000
        _log(self.endpoint, self.actor, version=self.version, role=self.role, instances=self.instances,
             outputs=outputs, latency_ms=latency)
        return {"predictions": outputs, "model_id": self.endpoint.model_id, "version": self.version,
                "role": self.role, "latency_ms": round(latency, 3)}


def _check_deployed(endpoint: EndpointView | Endpoint) -> None:
    """INFER_005 unless the endpoint is running a version."""
    if endpoint.status != "running" or endpoint.version is None:
        raise serving.unavailable("The endpoint is not deployed", endpointId=endpoint.id, status=endpoint.status)


def _take_token(actor: Principal, endpoint: EndpointView | Endpoint) -> None:
    """Admit one request: the caller's marketplace quota for the model, then the key's token bucket."""
    metering.check(endpoint.model_id, actor.user_id)
    ratelimit.take(_bucket_key(actor), rate_per_minute=endpoint.rate_limit_per_minute, burst=endpoint.burst)


def _begin(session: Session, actor: Principal, endpoint_id: str, instances: list[dict[str, Any]], *,
           load: bool, limit: bool = True) -> _Call:
    """Find the endpoint, take a token, pick the version; with the version loaded in this process (or
    `load`), check the instances and queue the shadow copy."""
    started = time.perf_counter()
    endpoint = EndpointView.of(get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="invoke"))
    call = _Call.start(endpoint, actor, instances, started)
    if limit:
        _take_token(actor, endpoint)
    call.served = call.peek(call.version)
    if call.served is not None or load:
        _prepare(session, call)
    return call


def _prepare(session: Session, call: _Call) -> _Call:
    """Load the answering version when needed, check the instances, queue the shadow copy."""
    endpoint, actor = call.endpoint, call.actor
    try:
        if call.served is None:
            call.served = serving.CACHE.get(session=session, actor=actor, model_id=endpoint.model_id,
                                            version=call.version, replicas=endpoint.scaling)
        call.checked = serving.check_instances(call.served.config, call.instances)
    except AISystemError as exc:
        raise call.fail(exc) from None
    if call.shadow is not None:
        try:
            shadow_served = serving.CACHE.get(session=session, actor=actor, model_id=endpoint.model_id,
                                              version=call.shadow, replicas=endpoint.scaling)
            _shadow(endpoint, actor, shadow_served, call.instances, call.checked)
        except AISystemError as exc:  # the shadow never fails the request; its failure is logged
            _log(endpoint, actor, version=call.shadow, role="shadow", instances=call.instances, latency_ms=0,
                 error=exc)
    return call


def predict(*, session: Session, actor: Principal, endpoint_id: str, instances: list[dict[str, Any]],
            limit: bool = True) -> dict[str, Any]:
    """Predictions of the version the traffic split picks (logged with its version and role); INFER_002
    names a bad input field, INFER_003 after the endpoint's timeout, INFER_004 when the caller's bucket
    is empty, INFER_005 when the endpoint is not deployed."""
    call = _begin(session, actor, endpoint_id, instances, load=True, limit=limit)
    try:
        outputs = serving.run(call.served, call.checked, timeout_s=call.timeout_s)
    except AISystemError as exc:
        raise call.fail(exc) from None
    return call.answer(outputs)


def answer_document(answer: dict[str, Any]) -> dict[str, Any]:
    """The predict route's wire document of an answer."""
    return {"predictions": answer["predictions"], "modelId": answer["model_id"], "version": answer["version"],
            "role": answer["role"], "latencyMs": answer["latency_ms"]}


async def predict_async(*, session: Session, actor: Principal, endpoint_id: str, instances: list[dict[str, Any]],
                        seen: Callable[[EndpointView], None] | None = None) -> dict[str, Any]:
    """`predict` for an async route: the short reads run inline on a SQLite read session (the thread pool
    only when the version must be loaded first or the database is networked), and the request awaits its
    batch on the event loop instead of holding a thread. `seen(endpoint)` is told the endpoint as this
    request read it, once answered (the fast lane remembers it)."""
    from starlette.concurrency import run_in_threadpool

    from backend.core.http import run_short_read

    call = await run_short_read(session, lambda: _begin(session, actor, endpoint_id, instances, load=False))
    if call.checked is None:
        call = await run_in_threadpool(_prepare, session, call)
    answer = await _answered(call)
    if seen is not None:
        seen(call.endpoint)
    return answer


async def predict_known(*, actor: Principal, endpoint: EndpointView,
                        instances: list[dict[str, Any]]) -> dict[str, Any] | None:
    """`predict_async` for a caller and an endpoint read by a request a moment ago (the fast lane,
    `backend.endpoints.fastlane`): no database at all. None, before any token is taken, when the
    versions it needs are not loaded in this process or an instance does not fit: the full route then
    answers (and logs the failure)."""
    call = _Call.start(endpoint, actor, instances, time.perf_counter())
    call.served = call.peek(call.version)
    shadow = call.peek(call.shadow) if call.shadow is not None else None
    if call.served is None or (call.shadow is not None and shadow is None):
        return None
    try:
        call.checked = serving.check_instances(call.served.config, instances)
    except AISystemError:
        return None
    _take_token(actor, endpoint)
    if shadow is not None:
        _shadow(endpoint, actor, shadow, instances, call.checked)
    return await _answered(call)


async def _answered(call: _Call) -> dict[str, Any]:
    """Queue the checked rows in the version's micro-batcher and await their answer (INFER_003 after the
    endpoint's timeout)."""
    import asyncio

    future = call.served.batcher.submit_async(call.checked)
    # A timer that fails the future, rather than asyncio.wait_for's waiter and callbacks: the batcher
    # then sees the request is done and leaves it out.
    timer = asyncio.get_running_loop().call_later(call.timeout_s, _time_out, future)
    try:
        outputs = await future
    except _TimedOut:
        raise call.fail(AISystemError("INFER_003", f"The model did not answer within {call.endpoint.timeout_ms} ms",
                                      {"timeoutMs": call.endpoint.timeout_ms})) from None
    except AISystemError as exc:
        raise call.fail(exc) from None
    finally:
        timer.cancel()
    return call.answer(outputs)


class _TimedOut(Exception):
    pass


def _time_out(future: Any) -> None:
    if not future.done():
        future.set_exception(_TimedOut())


def _served_primary(session: Session, actor: Principal, endpoint: Endpoint) -> serving.Served:
    _check_deployed(endpoint)
    return serving.CACHE.get(session=session, actor=actor, model_id=endpoint.model_id, version=endpoint.version,
                             replicas=_scaling(endpoint))


def explain(*, session: Session, actor: Principal, endpoint_id: str, instances: list[dict[str, Any]],
            steps: int = 32, target: str | None = None) -> dict[str, Any]:
    """Integrated Gradients attributions of the primary version's predictions, per input column."""
    from backend.endpoints import explain as explainers

    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="invoke")
    served = _served_primary(session, actor, endpoint)
    _take_token(actor, endpoint)
    frame = serving.check_rows(served.config, instances)
    predictions = serving.run(served, instances, timeout_s=endpoint.timeout_ms / 1000)
    explanations = explainers.integrated_gradients(served.loaded, frame, steps=steps, target=target)
    return {"method": "integrated_gradients", "model_id": endpoint.model_id, "version": endpoint.version,
            "predictions": predictions, "explanations": explanations}


def importance(*, session: Session, actor: Principal, endpoint_id: str, dataset_id: str,
               dataset_version: int | None = None, rows: int = 1000, repeats: int = 3) -> dict[str, Any]:
    """Permutation importance of the primary version on (a sample of) a dataset version."""
    import polars as pl

    from backend.catalog.datasets import service as datasets
    from backend.endpoints import explain as explainers

    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="invoke")
    served = _served_primary(session, actor, endpoint)
    _take_token(actor, endpoint)
    _dataset, version_row = datasets.get_version(session=session, actor=actor, dataset_id=dataset_id,
                                                 version=dataset_version)
    lazy = datasets.open_frame(session=session, actor=actor, dataset_id=dataset_id, version=version_row.number)
    frame = lazy.head(rows).collect() if isinstance(lazy, pl.LazyFrame) else lazy.head(rows)
    report = explainers.permutation_importance(served.loaded, frame, repeats=repeats)
    return {"method": "permutation_importance", "model_id": endpoint.model_id, "version": endpoint.version,
            "dataset_id": dataset_id, "dataset_version": version_row.number, **report}


def _matches(expected: dict[str, Any], output: dict[str, Any]) -> bool:
    if "label" in expected:
        return str(expected["label"]) == str(output.get("label"))
    if "value" in expected and "value" in output:
        tolerance = float(expected.get("tolerance", 1e-6))
        return abs(float(expected["value"]) - float(output["value"])) <= tolerance
    return False


def run_examples(*, session: Session, actor: Principal, endpoint_id: str) -> dict[str, Any]:
    """Predict every stored example with the primary version and compare with its expected output."""
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write", lock=False)
    if not endpoint.examples:
        raise conflict("The endpoint stores no examples; add some with PUT /catalog/endpoints/{id}")
    served = _served_primary(session, actor, endpoint)
    results, passed = [], 0
    for i, example in enumerate(endpoint.examples):
        result: dict[str, Any] = {"index": i, "input": example["input"], "expected": example.get("expected")}
        try:
            output = serving.run(served, serving.check_instances(served.config, [example["input"]]),
                                 timeout_s=endpoint.timeout_ms / 1000)[0]
            result["output"] = output
            result["passed"] = example.get("expected") is None or _matches(example["expected"], output)
        except AISystemError as exc:
            result.update(passed=False, error={"code": exc.code, "message": exc.message})
        passed += bool(result["passed"])
        results.append(result)
    return {"passed": passed, "failed": len(results) - passed, "results": results}


# --- keys --------------------------------------------------------------------------------------------


def create_key(*, session: Session, actor: Principal, endpoint_id: str, data: KeyCreate | dict) -> tuple[ApiKey, str]:
    """A model key for this endpoint only (its predict, batch-predict and explain routes); the key is
    returned once, only its HMAC is stored."""
    data = data if isinstance(data, KeyCreate) else KeyCreate.model_validate(data)
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    return auth_service.create_api_key(session=session, actor=actor, name=data.name,
                                       expires_in_days=data.expires_in_days, kind=MODEL_KEY, endpoint_id=endpoint.id)


def list_keys(*, session: Session, actor: Principal, endpoint_id: str, params: PageParams) -> tuple[list[ApiKey], str | None]:
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write", lock=False)
    query = select(ApiKey).where(ApiKey.endpoint_id == endpoint.id, ApiKey.kind == MODEL_KEY)
    return paginate(session, query, params=params, order=[ApiKey.id], descending=True)


def revoke_key(*, session: Session, actor: Principal, endpoint_id: str, key_id: str) -> ApiKey:
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    row = session.get(ApiKey, key_id)
    if row is None or row.endpoint_id != endpoint.id or row.kind != MODEL_KEY:
        raise AISystemError("ENDPOINT_001", "No such key for this endpoint", {"keyId": key_id})
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
        audit.record(session=session, actor=actor, action="apikey.revoke", entity_type="api_key", entity_id=row.id,
                     summary={"name": row.name, "endpointId": endpoint.id})
    return row


# --- prediction log ----------------------------------------------------------------------------------


def logs(*, session: Session, actor: Principal, endpoint_id: str, params: PageParams,
         status: str | None = None, version: str | None = None) -> tuple[list[PredictionLog], str | None]:
    """The prediction log, newest first (this process's queued rows are written first: call it on a session
    that holds no write lock yet, a read session in a web process)."""
    predlog.flush()
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id)
    query = select(PredictionLog).where(PredictionLog.endpoint_id == endpoint.id)
    if status:
        query = query.where(PredictionLog.status == status)
    if version:
        query = query.where(PredictionLog.version == version)
    return paginate(session, query, params=params, order=[PredictionLog.id], descending=True, parse=[int])


def _percentile(values: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values.size else None


def metrics(*, session: Session, actor: Principal, endpoint_id: str, minutes: int = 60) -> dict[str, Any]:
    """Latency percentiles, throughput and error rate over the last `minutes`, from the prediction log
    (shadow copies excluded: nobody waited for them), overall, per version and per minute."""
    predlog.flush()
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id)
    since = utcnow() - timedelta(minutes=minutes)
    rows = session.exec(select(PredictionLog.version, PredictionLog.role, PredictionLog.status,
                               PredictionLog.latency_ms, PredictionLog.instances, PredictionLog.created_at)
                        .where(PredictionLog.endpoint_id == endpoint.id, PredictionLog.created_at >= since)
                        .order_by(col(PredictionLog.id).desc()).limit(200_000)).all()
    answered = [r for r in rows if r.role != "shadow"]
    latencies = np.array([r.latency_ms for r in answered if r.status == "ok"], dtype=float)
    errors = sum(r.status == "error" for r in answered)
    by_version: dict[tuple[str, str], list] = {}
    for r in rows:
        by_version.setdefault((r.version or "", r.role), []).append(r)
    series: dict[str, list] = {}
    for r in answered:
        series.setdefault(r.created_at.strftime("%Y-%m-%dT%H:%M:00Z"), []).append(r)
    return {
        "window_minutes": minutes, "requests": len(answered), "errors": errors,
        "error_rate": errors / len(answered) if answered else 0.0,
        "throughput_per_second": len(answered) / (minutes * 60),
        "predictions": sum(r.instances for r in answered if r.status == "ok"),
        "latency_ms": {"p50": _percentile(latencies, 50), "p95": _percentile(latencies, 95),
                       "p99": _percentile(latencies, 99)},
        "by_version": [{"version": v, "role": role, "requests": len(group),
                        "errors": sum(g.status == "error" for g in group),
                        "p95": _percentile(np.array([g.latency_ms for g in group if g.status == "ok"]), 95)}
                       for (v, role), group in sorted(by_version.items())],
        "series": [{"minute": minute, "requests": len(group), "errors": sum(g.status == "error" for g in group),
                    "p95": _percentile(np.array([g.latency_ms for g in group if g.status == "ok"]), 95)}
                   for minute, group in sorted(series.items())],
    }


DRIFT_MAX_REQUESTS, DRIFT_MAX_INSTANCES = 20_000, 50_000


def drift(*, session: Session, actor: Principal, endpoint_id: str, minutes: int = 60,
          version: str | None = None) -> dict[str, Any]:
    """Input drift of one version (default: the primary) over the last `minutes`: the inputs it answered,
    from the prediction log, against its package's training statistics (`backend.endpoints.drift`)."""
    from backend.endpoints import drift as drift_report

    predlog.flush()
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id)
    version = version or endpoint.version
    if version is None:
        raise serving.unavailable("The endpoint is not deployed", endpointId=endpoint.id, status=endpoint.status)
    row = registry.find_version(session=session, model_id=endpoint.model_id, version=version)
    config = serving.package_config(row) if row is not None else None
    if config is None:
        raise conflict(f"Version {version} has no platform model package to compare with", version=version)
    since = utcnow() - timedelta(minutes=minutes)
    logged = session.exec(select(PredictionLog.inputs)
                          .where(PredictionLog.endpoint_id == endpoint.id, PredictionLog.version == version,
                                 PredictionLog.status == "ok", PredictionLog.role != "shadow",
                                 PredictionLog.created_at >= since)
                          .order_by(col(PredictionLog.id).desc()).limit(DRIFT_MAX_REQUESTS)).all()
    instances = [row for inputs in logged for row in (inputs or [])][:DRIFT_MAX_INSTANCES]
    return {"window_minutes": minutes, "version": version, **drift_report.report(config, instances)}


# --- batch prediction and export ---------------------------------------------------------------------


def batch_predict(*, session: Session, actor: Principal, endpoint_id: str, dataset_id: str,
                  dataset_version: int | None = None, batch_size: int | None = None, limit: bool = True) -> Any:
    """Queue a job on the `inference` queue that predicts a dataset version with the primary version and
    stores the rows with their predictions as a new dataset."""
    from backend.catalog.datasets import service as datasets
    from backend.jobs import service as jobs_service

    endpoint = _batch_endpoint(session, actor, endpoint_id, limit=limit)
    _dataset, row = datasets.get_version(session=session, actor=actor, dataset_id=dataset_id, version=dataset_version)
    cap = get_settings().endpoint_batch_predict_chunk
    job = jobs_service.create_job(session=session, actor=actor, type=BATCH_PREDICT_JOB, payload={
        "endpointId": endpoint.id, "modelId": endpoint.model_id, "version": endpoint.version,
        "datasetId": dataset_id, "datasetVersion": row.number, "batchSize": min(batch_size or cap, cap)})
    _audit(session, actor, endpoint, "batch_predict", jobId=job.id, datasetId=dataset_id, datasetVersion=row.number)
    return job


def _batch_endpoint(session: Session, actor: Principal, endpoint_id: str, *, limit: bool = True) -> Endpoint:
    """The deployed endpoint a batch prediction runs on, after taking the caller's token."""
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="invoke")
    _check_deployed(endpoint)
    if limit:
        _take_token(actor, endpoint)
    return endpoint


def batch_predict_upload(*, session: Session, actor: Principal, endpoint_id: str, source: Any,
                         filename: str | None = None, batch_size: int | None = None,
                         options: Any = None) -> tuple[Any, str]:
    """`batch_predict` of an uploaded file: it becomes version 1 of a new tabular dataset of the caller's
    through the datasets upload path (the same format detection, limits and sandboxed parsing as any
    upload), then the job is queued on it. (job, the new dataset's id); nothing is kept when the file
    cannot be read (the caller's transaction is not committed)."""
    import secrets

    from backend.catalog.datasets import service as datasets

    endpoint = _batch_endpoint(session, actor, endpoint_id)  # refuse (INFER_004/005) before storing anything
    stamp = f"{utcnow():%Y-%m-%d %H:%M:%S} {secrets.token_hex(2)}"
    dataset = datasets.create_dataset(session=session, actor=actor, data={
        "name": f"{endpoint.name} batch input {stamp}"[:200], "type": "tabular",
        "description": f"Uploaded for a batch prediction of endpoint {endpoint.name} ({filename or 'file'})"})
    outcome = datasets.upload(session=session, actor=actor, dataset_id=dataset.id, source=source,
                              filename=filename, options=options)
    job = batch_predict(session=session, actor=actor, endpoint_id=endpoint_id, dataset_id=dataset.id,
                        dataset_version=outcome.version.number, batch_size=batch_size, limit=False)
    return job, dataset.id


def export_onnx(*, session: Session, actor: Principal, endpoint_id: str, version: str | None = None) -> tuple[bytes, str]:
    """The primary (or a named deployed) version as an ONNX file; its package config (input schema,
    preprocessing, label names) travels in the model's metadata as `aisystem.config`."""
    from backend.endpoints import onnx_export

    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id, need="write")
    deployed = {s["version"] for s in _shares(endpoint)}
    version = version or endpoint.version
    if version is None or version not in deployed:
        raise conflict("Only a version the endpoint serves is exported", version=version, serving=sorted(deployed))
    served = serving.CACHE.get(session=session, actor=actor, model_id=endpoint.model_id, version=version,
                               replicas=_scaling(endpoint))
    data = onnx_export.export(served.loaded)
    _audit(session, actor, endpoint, "export", version=version, format="onnx")
    return data, f"{endpoint.name[:60]}-{version}.onnx"


def count_endpoints(session: Session) -> int:
    from sqlalchemy import func

    return int(session.exec(select(func.count()).select_from(Endpoint)).one())



# --- what the UI offers ------------------------------------------------------------------------------


def traffic_shares(endpoint: Endpoint) -> list[dict[str, Any]]:
    """The versions an endpoint serves with each one's role and share of requests (as `status` reports)."""
    return _shares(endpoint)


def deployable_versions(*, session: Session, actor: Principal) -> list[dict[str, Any]]:
    """The live models with at least one version this platform can serve (a safetensors package), each
    with those versions newest first and their stages: what the deploy form offers. Needs endpoint:write
    (deploying looks models up without model:read, as `deploy` does)."""
    authorize(actor, "endpoint:write")
    rows = session.exec(select(registry.ModelVersion, registry.RegisteredModel.name)
                        .join(registry.RegisteredModel, registry.RegisteredModel.id == registry.ModelVersion.model_id)
                        .where(registry.ModelVersion.artifact_format == "safetensors",
                               col(registry.RegisteredModel.deleted_at).is_(None))
                        .order_by(registry.RegisteredModel.name, col(registry.ModelVersion.major).desc(),
                                  col(registry.ModelVersion.minor).desc(), col(registry.ModelVersion.patch).desc())
                        .limit(2000)).all()
    models: dict[str, dict[str, Any]] = {}
    for version, name in rows:
        if serving.package_config(version) is None:
            continue
        entry = models.setdefault(version.model_id, {"model_id": version.model_id, "name": name, "versions": []})
        entry["versions"].append({"version": version.version, "stage": version.stage})
    return list(models.values())


def input_form(*, session: Session, actor: Principal, endpoint_id: str) -> dict[str, Any] | None:
    """The primary version's input columns as a form needs them (name, kind, the categories a categorical
    column learnt), its task and label names; None when nothing servable is deployed."""
    endpoint = get_endpoint(session=session, actor=actor, endpoint_id=endpoint_id)
    if endpoint.model_id is None or endpoint.version is None:
        return None
    row = registry.find_version(session=session, model_id=endpoint.model_id, version=endpoint.version)
    config = serving.package_config(row) if row is not None else None
    if config is None:
        return None
    categories = {c["name"]: [str(v) for v in c.get("categories", [])]
                  for c in (config.get("preprocessing") or {}).get("categorical", [])}
    columns = [{"name": c["name"], "kind": c["kind"], "options": categories.get(c["name"], [])}
               for c in config["inputSchema"]["columns"]]
    return {"columns": columns, "task": config["task"], "label_names": config.get("labelNames") or [],
            "label": (config.get("label") or {}).get("name", "")}
