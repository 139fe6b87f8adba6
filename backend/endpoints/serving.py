"""Serving in a web process: packaged model versions loaded from the registry (hash verified, safetensors
only) into a per-process LRU cache, each with a micro-batcher that answers concurrent requests together.

A request's rows are checked and typed against the model's input schema in the request's own thread
(INFER_002 names the field, so one bad request never fails a batch); the typed frame is queued to the
version's batcher. Each of its inference threads (one per replica) takes everything queued at that
moment (after waiting `endpoint_batch_wait_ms` for more, when set), predicts the rows as one frame and
hands each request its slice. Under load a batch forms while the previous one runs, so throughput grows
with concurrency without a fixed wait on a lone request (BentoML's adaptive batching, in short).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlmodel import Session

from backend.auth.principal import Principal
from backend.catalog.model_registry import service as registry
from backend.catalog.model_registry.artifacts import artifact_path
from backend.core.config import get_settings
from backend.core.errors import AISystemError
from backend.ml.base import rows_frame

if TYPE_CHECKING:  # packaging brings Lightning (seconds of CPU): imported when a version is loaded
    from backend.ml import packaging

log = logging.getLogger(__name__)
PACKAGE_FORMAT = "aisystem.ml/1"
MAX_BATCH_ROWS = 4096
RECHECK_SECONDS = 5.0
_STOP = object()


def unavailable(message: str, **details: Any) -> AISystemError:
    return AISystemError("INFER_005", message, details)


def package_config(row: Any) -> dict[str, Any] | None:
    """The platform package config of a registry version, or None when it is no servable package."""
    config = (row.artifact_details or {}).get("config") if row.artifact_format == "safetensors" else None
    if not isinstance(config, dict) or config.get("format") != PACKAGE_FORMAT or not row.artifact_id:
        return None
    return config


@dataclass
class _Request:
    """Rows waiting for a batch, and where their answer goes: a `concurrent.futures.Future` (a thread
    waits on it), or an asyncio future (a coroutine awaits it on that future's event loop)."""

    rows: list[Mapping[str, Any]]
    future: Future | asyncio.Future = field(default_factory=Future)

    def wanted(self) -> bool:
        """Whether anyone still waits for the answer (an asyncio future that timed out is already done)."""
        if isinstance(self.future, asyncio.Future):
            return not self.future.done()
        return self.future.set_running_or_notify_cancel()


def _settle(items: Sequence[_Request], outcomes: Sequence[tuple[bool, Any]]) -> None:
    """Give each request its outcome, (True, outputs) or (False, exception): a thread's future at once,
    and every asyncio future of one event loop in a single call into that loop. One wake-up of the loop
    per batch instead of one per request (each a write to the loop's self-pipe and a round of callbacks)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, bool, Any]]] = {}
    for item, (ok, value) in zip(items, outcomes, strict=True):
        if isinstance(item.future, asyncio.Future):
            by_loop.setdefault(item.future.get_loop(), []).append((item.future, ok, value))
        else:
            item.future.set_result(value) if ok else item.future.set_exception(value)
    for loop, settled in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_settle_on_loop, settled)


def _settle_on_loop(settled: list[tuple[Any, bool, Any]]) -> None:
    for future, ok, value in settled:
        if not future.done():  # not timed out meanwhile
            future.set_result(value) if ok else future.set_exception(value)


@dataclass(frozen=True)
class Scaling:
    """An endpoint's replicas as inference threads: fixed at `replicas`, or with `target` (autoscaling on)
    moved between `low` and `high` to keep the threads' busy share near `target` percent."""

    replicas: int = 1
    low: int = 1
    high: int = 1
    target: int | None = None


_WEB_PROCESS = False


def mark_web_process() -> None:
    """Called by the web app's factory: this process answers predictions, so `endpoint_torch_threads`
    applies once it serves. Workers keep torch's threads for batch predictions and training."""
    global _WEB_PROCESS
    _WEB_PROCESS = True
    if get_settings().endpoint_preload:
        _preload()


def _preload() -> None:
    from backend.ml import packaging  # noqa: F401  (now, not in the first prediction)


def _limit_torch_threads() -> None:
    """Apply `endpoint_torch_threads` (process-wide in torch) once a web process starts serving."""
    threads = get_settings().endpoint_torch_threads
    if threads and _WEB_PROCESS:
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


class Batcher:
    """Inference threads of one loaded version, sharing one queue of requests."""

    def __init__(self, loaded: packaging.LoadedModel, *, threads: int = 1):
        self.loaded = loaded
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.batches = 0
        self.rows = 0
        self.scaling = Scaling(threads, threads, threads)
        self._threads: list[threading.Thread] = []
        self._window_start, self._busy = time.monotonic(), 0.0
        self._lock = threading.Lock()
        self.resize(threads)

    @property
    def threads(self) -> int:
        return len(self._threads)

    def apply(self, scaling: Scaling | int) -> None:
        """Fixed replicas: exactly that many threads. Autoscaling: keep the count, within [low, high]."""
        scaling = scaling if isinstance(scaling, Scaling) else Scaling(scaling, scaling, scaling)
        if scaling == self.scaling:
            return
        with self._lock:
            self.scaling = scaling
            if scaling.target is None:
                self.resize(scaling.replicas)
            else:
                self.resize(min(max(self.threads, scaling.low), scaling.high))

    def _adapt(self, busy: float) -> None:
        """After a batch: every second, compare the threads' busy share with the autoscaling target; one
        more thread above it, one fewer under half of it (each replica is one inference thread)."""
        self._busy += busy
        scaling, now = self.scaling, time.monotonic()
        elapsed = now - self._window_start
        if scaling.target is None or elapsed < 1.0:
            return
        utilization = 100 * self._busy / (elapsed * max(self.threads, 1))
        self._window_start, self._busy = now, 0.0
        if utilization > scaling.target and self.threads < scaling.high:
            self.resize(self.threads + 1)
        elif utilization < scaling.target / 2 and self.threads > scaling.low:
            self.resize(self.threads - 1)

    def resize(self, threads: int) -> None:
        """Run `threads` inference threads (the endpoint's replicas in this process); extra ones stop."""
        threads = max(1, threads)
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < threads:
            thread = threading.Thread(target=self._run, name="endpoint-batcher", daemon=True)
            thread.start()
            self._threads.append(thread)
        for _ in range(len(self._threads) - threads):
            self.queue.put(_STOP)
        del self._threads[threads:]

    def stop(self) -> None:
        with self._lock:
            for _ in self._threads:
                self.queue.put(_STOP)
            self._threads = []

    def submit(self, rows: list[Mapping[str, Any]]) -> Future:
        """Queue rows checked by `check_instances`; the future's result is their predictions, in order."""
        request = _Request(rows)
        self.queue.put(request)
        return request.future

    def submit_async(self, rows: list[Mapping[str, Any]]) -> asyncio.Future:
        """`submit` from a coroutine: the answer arrives as a future of the running event loop. Setting an
        exception on it first (a timeout) tells the batcher nobody waits any more."""
        request = _Request(rows, asyncio.get_running_loop().create_future())
        self.queue.put(request)
        return request.future

    def _gather(self, first: _Request) -> list[_Request]:
        items, rows = [first], len(first.rows)
        wait = get_settings().endpoint_batch_wait_ms / 1000
        deadline = time.monotonic() + wait
        while rows < MAX_BATCH_ROWS:
            try:
                remaining = deadline - time.monotonic()
                item = self.queue.get(timeout=remaining) if remaining > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self.queue.put(_STOP)  # for this thread, after this batch
                break
            items.append(item)
            rows += len(item.rows)
        return items

    def _run(self) -> None:
        _limit_torch_threads()
        while True:
            first = self.queue.get()
            if first is _STOP:
                return
            items = [i for i in self._gather(first) if i.wanted()]
            if not items:
                continue
            began = time.monotonic()
            try:
                rows = items[0].rows if len(items) == 1 else [row for item in items for row in item.rows]
                # One typed frame and one forward pass for the whole batch: most of a small model's cost
                # is this fixed per-call work, not the rows.
                frame = rows_frame(self.loaded.config, rows)
                outputs = self.loaded.family.predict_frame(self.loaded.module, self.loaded.config, frame)
            except AISystemError as exc:
                _settle(items, [(False, exc)] * len(items))
                continue
            except Exception as exc:  # the model itself failed: INFER_001 for everyone in the batch
                log.exception("prediction failed")
                error = AISystemError("INFER_001", f"The model failed: {type(exc).__name__}: {str(exc)[:200]}")
                _settle(items, [(False, error)] * len(items))
                continue
            self.batches += 1
            self.rows += frame.height
            answers, start = [], 0
            for item in items:
                answers.append((True, outputs[start:start + len(item.rows)]))
                start += len(item.rows)
            _settle(items, answers)
            with self._lock:
                self._adapt(time.monotonic() - began)


@dataclass
class Served:
    """A loaded version with its batcher."""

    model_id: str
    version: str
    sha256: str
    loaded: packaging.LoadedModel
    batcher: Batcher

    @property
    def config(self) -> dict[str, Any]:
        return self.loaded.config


class ModelCache:
    """Loaded versions of this process, least recently used evicted beyond `capacity` (per process:
    every web process behind a load balancer loads what it serves, under the same rule)."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, str, str], Served] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, str, str], threading.Lock] = {}
        self._recent: dict[tuple[str, str], tuple[tuple[str, str, str], float]] = {}
        self.loads = 0

    def loaded_versions(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(k[0], k[1]) for k in self._items]

    def clear(self) -> None:
        with self._lock:
            for served in self._items.values():
                served.batcher.stop()
            self._items.clear()
            self._recent.clear()
            self.loads = 0

    def peek(self, *, model_id: str, version: str, replicas: int | Scaling = 1) -> Served | None:
        """The loaded version when it was checked against the registry within RECHECK_SECONDS (a version's
        artifact changes only while it has no stage, and a replaced one has a new hash), else None."""
        with self._lock:
            recent = self._recent.get((model_id, version))
            served = self._items.get(recent[0]) if recent and recent[1] > time.monotonic() else None
            if served is not None:
                self._items.move_to_end(recent[0])
                served.batcher.apply(replicas)
            return served

    def get(self, *, session: Session, actor: Principal, model_id: str, version: str,
            replicas: int | Scaling = 1) -> Served:
        served = self.peek(model_id=model_id, version=version, replicas=replicas)
        if served is not None:
            return served
        row = registry.find_version(session=session, model_id=model_id, version=version)
        if row is None:
            raise unavailable(f"Version {version} of model {model_id} no longer exists",
                              modelId=model_id, version=version)
        key = (model_id, version, row.artifact_sha256 or "")
        with self._lock:
            self._recent[(model_id, version)] = (key, time.monotonic() + RECHECK_SECONDS)
            served = self._items.get(key)
            if served is not None:
                self._items.move_to_end(key)
                served.batcher.apply(replicas)
                return served
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:  # one load per version at a time; the others wait for it
            with self._lock:
                served = self._items.get(key)
            if served is None:
                loaded = load_version(session=session, actor=actor, row=row)
                served = Served(model_id, version, key[2], loaded, Batcher(loaded))
                served.batcher.apply(replicas)
                self._put(key, served)
        return served

    def _put(self, key: tuple[str, str, str], served: Served) -> None:
        capacity = get_settings().endpoint_model_cache_size
        with self._lock:
            self._items[key] = served
            self._items.move_to_end(key)
            self.loads += 1
            self._loading.pop(key, None)
            while len(self._items) > capacity:
                _old, evicted = self._items.popitem(last=False)
                evicted.batcher.stop()


CACHE = ModelCache()


def load_version(*, session: Session, actor: Principal, row: Any) -> packaging.LoadedModel:
    """A registry version's package, loaded: only a platform package (safetensors weights + JSON config;
    nothing is ever unpickled), its stored file re-hashed against the registry's sha256 (MODEL_004 flags
    and refuses a mismatch) and its weights against the config's hash (TRAIN_004)."""
    config = package_config(row)
    if config is None:
        raise AISystemError("ENDPOINT_002", f"Version {row.version} has no platform model package (safetensors "
                            "weights and their config) to serve", {"modelId": row.model_id, "version": row.version})
    registry.verify_artifact(session=session, actor=actor, row=row)
    from backend.ml import packaging

    try:
        return packaging.load_package(artifact_path(row.artifact_id), config)
    except AISystemError as exc:
        _audit_rejection(session, actor, row, exc)
        raise


def _audit_rejection(session: Session, actor: Principal, row: Any, exc: AISystemError) -> None:
    """`model.load_rejected` in its own transaction once the caller's has ended (it fails, or is a read)."""
    from backend.audit import service as audit
    from backend.core.db import session_scope
    from backend.core.unit_of_work import after_commit, after_rollback

    model_id, version, done = row.model_id, row.version, []

    def record() -> None:
        if done:
            return
        done.append(True)
        try:
            with session_scope() as own:
                audit.record(session=own, actor=actor, action="model.load_rejected", entity_type="model",
                             entity_id=model_id, outcome="failure",
                             summary={"version": version, "code": exc.code, "reason": exc.message[:300]})
        except Exception:
            log.exception("could not audit a rejected model load")

    after_rollback(session, record)
    after_commit(session, record)


def _check_count(instances: Sequence[Any]) -> None:
    limit = get_settings().endpoint_max_instances
    if len(instances) > limit:
        raise AISystemError("INFER_002", f"At most {limit} instances per request", {"field": "instances",
                                                                                    "limit": limit})


def check_rows(config: Mapping[str, Any], instances: Sequence[Any]) -> pl.DataFrame:
    """The instances as a frame typed by the input schema; INFER_002 names what is wrong."""
    _check_count(instances)
    return rows_frame(config, instances)


def _is_number(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float):
        return True
    if isinstance(value, str | bytes | list | dict):
        return False
    try:
        float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def check_instances(config: Mapping[str, Any], instances: Sequence[Any]) -> list[Mapping[str, Any]]:
    """The instances checked against the input schema as `rows_frame` checks them (INFER_002 naming the
    field), in plain Python: building a typed frame costs about a millisecond whatever the row count, so
    the batcher builds one per batch, not one per request. Image inputs take `rows_frame` itself."""
    _check_count(instances)
    columns = config["inputSchema"]["columns"]
    if any(c["kind"] not in ("numeric", "categorical", "text") for c in columns):
        rows_frame(config, instances)
        return list(instances)
    if not instances:
        raise AISystemError("INFER_002", "No rows to predict")
    if not all(isinstance(r, Mapping) for r in instances):
        raise AISystemError("INFER_002", "Each row must be an object keyed by input column")
    missing = sorted({c["name"] for c in columns for r in instances if c["name"] not in r})
    if missing:
        raise AISystemError("INFER_002", f"Rows lack the input columns: {', '.join(missing[:10])}",
                            {"missing": missing[:50]})
    for c in columns:
        name, kind = c["name"], c["kind"]
        if kind == "numeric":
            ok = all(_is_number(r[name]) for r in instances)
        elif kind == "text":
            ok = all(r[name] is None or isinstance(r[name], str) for r in instances)
        else:
            ok = True  # categorical: any value is read as its text
        if not ok:
            raise AISystemError("INFER_002", f"'{name}' must be {kind} values", {"field": name})
    return list(instances)


def typed_frame(config: Mapping[str, Any], frame: pl.DataFrame) -> pl.DataFrame:
    """A stored frame's input columns typed by the input schema, column at a time (batch prediction);
    images and anything unusual take the row path of `rows_frame`."""
    columns = config["inputSchema"]["columns"]
    if any(c["kind"] not in ("numeric", "categorical", "text") for c in columns):
        return rows_frame(config, frame.select([c["name"] for c in columns]).to_dicts())
    exprs = []
    for c in columns:
        column = pl.col(c["name"])
        if c["kind"] == "numeric":
            if not (frame.schema[c["name"]].is_numeric() or frame.schema[c["name"]] in (pl.Boolean, pl.Null)):
                raise AISystemError("INFER_002", f"'{c['name']}' must be numeric values", {"field": c["name"]})
            exprs.append(column.cast(pl.Float64))
        elif c["kind"] == "categorical":
            exprs.append(column.cast(pl.String))
        else:
            exprs.append(column.cast(pl.String).fill_null(""))
    return frame.select(exprs)


def run(served: Served, rows: list[Mapping[str, Any]], *, timeout_s: float) -> list[dict[str, Any]]:
    """Predict rows checked by `check_instances` through the version's batcher; INFER_003 past `timeout_s`."""
    future = served.batcher.submit(rows)
    try:
        return future.result(timeout=timeout_s)
    except FutureTimeout:
        future.cancel()
        raise AISystemError("INFER_003", f"The model did not answer within {int(timeout_s * 1000)} ms",
                            {"timeoutMs": int(timeout_s * 1000)}) from None
