"""Fixtures of the model registry tests: principals, a model factory, real artifact files."""

from __future__ import annotations

import hashlib
import json
import zlib

import numpy as np
import pytest

from backend.auth.principal import Principal
from backend.catalog.model_registry import search, service
from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate
from backend.core.db import session_scope


@pytest.fixture(autouse=True)
def no_broker(sent) -> list[str]:
    """Jobs are recorded, not sent: these tests run no worker."""
    return sent


@pytest.fixture
def engineer(principals) -> Principal:
    return principals["ml_engineer"]


def model_body(name: str = "Customer Sentiment Analyzer", **overrides) -> dict:
    body = {
        "name": name, "type": "NLP", "category": "Natural Language Processing", "framework": "PyTorch",
        "architecture": "Transformer-based", "deploymentType": "cloud", "parameters": 125000000,
        "contextLength": 8192, "capabilities": ["sentiment_analysis", "emotion_detection"],
        "metadata": {"description": "Advanced sentiment analysis model for customer feedback",
                     "tags": ["nlp", "sentiment", "customer"], "documentation": "https://docs.example.com/m",
                     "paper": "https://arxiv.org/abs/example", "license": "Apache-2.0"},
        "training": {"dataset": "dataset_789", "epochs": 50, "batchSize": 32, "learningRate": 0.001,
                     "optimizer": "Adam", "loss": "CrossEntropy", "trainingTime": "48 hours",
                     "computeResources": {"gpu": "4x NVIDIA A100", "memory": "320GB", "storage": "2TB"}},
        "performance": {"accuracy": 0.945, "precision": 0.932, "recall": 0.928, "f1Score": 0.93,
                        "latency": {"p50": 45, "p95": 120, "p99": 250}, "throughput": 1000},
        "pricing": {"model": "per_request", "inputTokens": 0.000002, "outputTokens": 0.000004, "fixedCost": 0,
                    "currency": "USD"},
        "deployment": {"endpoints": [], "replicas": 3, "autoScaling": True, "minReplicas": 1, "maxReplicas": 10,
                       "targetUtilization": 70},
    }
    body.update(overrides)
    return body


@pytest.fixture
def make_model(engineer):
    """Create a model (committed) and return its id."""

    def make(name: str = "Customer Sentiment Analyzer", actor: Principal | None = None, **overrides) -> str:
        with session_scope() as s:
            model = service.create_model(session=s, actor=actor or engineer,
                                         data=ModelCreate.model_validate(model_body(name, **overrides)))
            return model.id

    return make


def safetensors_bytes(seed: int = 0, with_config: bool = True) -> bytes:
    from safetensors.numpy import save

    rng = np.random.default_rng(seed)
    metadata = {"config": json.dumps({"arch": "mlp", "hidden": 8})} if with_config else None
    return save({"w": rng.standard_normal((8, 8)).astype(np.float32), "b": np.zeros(8, dtype=np.float32)},
                metadata=metadata)


def onnx_bytes() -> bytes:
    """A minimal but well-formed ONNX ModelProto (ir_version 8, opset 17, an empty graph named g)."""

    def varint(n: int) -> bytes:
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    graph = field(2, b"g")
    opset = varint(2 << 3) + varint(17)
    return varint(1 << 3) + varint(8) + field(2, b"pytest") + field(7, graph) + field(8, opset)


def add_version(model_id: str, actor: Principal, version: str, *, metrics: dict | None = None,
                artifact: bool = True, **extra) -> None:
    with session_scope() as s:
        service.create_version(session=s, actor=actor, model_id=model_id, data=VersionCreate.model_validate(
            {"version": version, "metrics": metrics if metrics is not None else {"accuracy": 0.9}} | extra))
    if artifact:
        with session_scope() as s:
            service.store_artifact(session=s, actor=actor, model_id=model_id, version=version,
                                   chunks=[safetensors_bytes(hash(version) % 1000)], file_name="model.safetensors")


def fake_encoder(texts: list[str]) -> np.ndarray:
    """A deterministic bag-of-words encoder (hashing trick) for tests that need no real model."""
    out = np.zeros((len(texts), search.DIMENSIONS), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in search.words(text):
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % search.DIMENSIONS] += 1
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


# The bag-of-words encoder's scale: a query sharing one word with a model's text scores about 0.2, one
# sharing none exactly 0; so its cut-off keeps every model that shares a word.
WORD_OVERLAP = search.RelevanceCutoff(min_score=0.05, relative_to_best=0.0, max_results=50)


def use_fake_encoder(monkeypatch) -> None:  # noqa: ANN001
    """Semantic search with `fake_encoder` and a relevance cut-off on its scale (undo with set_encoder(None))."""
    monkeypatch.setattr(search, "SEMANTIC_CUTOFF", WORD_OVERLAP)
    search.set_encoder(fake_encoder)


def compressed_pickle(data: bytes) -> bytes:
    return zlib.compress(data)



@pytest.fixture(autouse=True)
def empty_artifact_store():
    """The data dir outlives a test; the model artifact store starts empty for each one."""
    import shutil

    from backend.catalog.model_registry import artifacts
    from backend.core.artifacts import get_store

    store = get_store()
    for key in list(store.list(f"{artifacts.PREFIX}/")):
        store.delete(key)
    shutil.rmtree(artifacts.temp_root(), ignore_errors=True)
    yield
