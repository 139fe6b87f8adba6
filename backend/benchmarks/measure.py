"""The measurements themselves, on a loaded package (`backend.ml.packaging.LoadedModel`) and a typed
frame of its inputs (`backend.endpoints.serving.typed_frame`); no database here.

Quality: the test rows predicted in one pass (`family.predict_frame`, as batch prediction does) and
scored with scikit-learn. Speed: `family.predict_frame` timed with `time.perf_counter_ns` — the whole
call a served prediction makes (encoding the typed rows, the forward pass on the module's device, the
copy back and the softmax / de-standardising), not the HTTP layer. Each timing starts after `warmup`
untimed calls of the same shape; on CUDA the copy of the outputs back to the host inside
`predict_frame` waits for the kernels, so the timer sees finished work.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

BATCH_SIZES = (1, 8, 64)
DEFAULT_REPETITIONS = 100
DEFAULT_WARMUP = 5
# A throughput figure runs at least this many calls and at least this long (whichever is later), up to
# `repetitions` calls or MAX_SECONDS per batch size.
MIN_CALLS, MIN_SECONDS, MAX_SECONDS = 5, 0.2, 5.0

CLASSIFICATION_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc")
REGRESSION_METRICS = ("rmse", "mae", "r2")
SPEED_METRICS = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "throughput_b1", "throughput_b8",
                 "throughput_b64")
# The primary metric of each task and whether higher is better (leaderboards sort by it).
PRIMARY = {"classification": ("accuracy", True), "regression": ("rmse", False)}
LOWER_IS_BETTER = {"rmse", "mae", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms"}


@dataclass(frozen=True)
class Device:
    kind: str  # cpu | cuda
    name: str


def worker_device() -> Device:
    """The device this process benchmarks on: the first CUDA GPU when PyTorch sees one, else the CPU."""
    import torch

    if torch.cuda.is_available():
        return Device("cuda", torch.cuda.get_device_name(0)[:200])
    return Device("cpu", _cpu_name())


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()[:200]
    except OSError:
        pass
    return (platform.processor() or platform.machine() or "CPU")[:200]


def place(loaded: Any, device: Device) -> None:
    """Move a freshly loaded package's module to the device (predict_frame follows the module)."""
    if device.kind == "cuda":
        loaded.module.to("cuda")


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def quality(config: dict[str, Any], outputs: Sequence[dict[str, Any]], truth: pl.Series) -> tuple[dict[str, float | None], list[dict[str, Any]]]:
    """(metrics, per-class rows) of predictions against the true labels."""
    from sklearn import metrics as skm

    if config["task"] == "classification":
        y_true = truth.cast(pl.String).to_list()
        y_pred = [o["label"] for o in outputs]
        names = list(config.get("labelNames") or [])
        labels = sorted(set(names) | set(y_true), key=lambda v: (names.index(v) if v in names else len(names), v))
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, average=None, zero_division=0)
        present = [i for i, s in enumerate(support) if s > 0]  # macro over the classes the split holds
        result: dict[str, float | None] = {
            "accuracy": _finite(skm.accuracy_score(y_true, y_pred)),
            "precision_macro": _finite(np.mean(precision[present])) if present else None,
            "recall_macro": _finite(np.mean(recall[present])) if present else None,
            "f1_macro": _finite(np.mean(f1[present])) if present else None,
            "roc_auc": None,
        }
        if len(names) == 2 and len(set(y_true) & set(names)) == 2:
            positive = names[1]
            scores = [o["probabilities"][positive] for o in outputs]
            result["roc_auc"] = _finite(skm.roc_auc_score([v == positive for v in y_true], scores))
        per_class = [{"label": label, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                     for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)]
        return result, per_class
    y = truth.cast(pl.Float64).to_numpy()
    pred = np.asarray([o["value"] for o in outputs], dtype=np.float64)
    return {"rmse": _finite(math.sqrt(skm.mean_squared_error(y, pred))),
            "mae": _finite(skm.mean_absolute_error(y, pred)),
            "r2": _finite(skm.r2_score(y, pred)) if len(y) > 1 else None}, []


def _rows(frame: pl.DataFrame, start: int, size: int) -> pl.DataFrame:
    """`size` rows from `start`, wrapping around (a split smaller than the batch repeats its rows)."""
    n = frame.height
    indices = [(start + i) % n for i in range(size)]
    return frame[indices]


def latency(loaded: Any, frame: pl.DataFrame, *, repetitions: int = DEFAULT_REPETITIONS,
            warmup: int = DEFAULT_WARMUP) -> dict[str, float | None]:
    """Single-row predictions, one call each, over successive rows: p50/p95/p99 in milliseconds."""
    family, module, config = loaded.family, loaded.module, loaded.config
    singles = [_rows(frame, i, 1) for i in range(min(repetitions, max(frame.height, 1)))]
    for i in range(warmup):
        family.predict_frame(module, config, singles[i % len(singles)])
    times = []
    for i in range(repetitions):
        row = singles[i % len(singles)]
        began = time.perf_counter_ns()
        family.predict_frame(module, config, row)
        times.append((time.perf_counter_ns() - began) / 1e6)
    p50, p95, p99 = np.percentile(np.asarray(times), [50, 95, 99])
    return {"latency_p50_ms": float(p50), "latency_p95_ms": float(p95), "latency_p99_ms": float(p99)}


def throughput(loaded: Any, frame: pl.DataFrame, batch_size: int, *, repetitions: int = DEFAULT_REPETITIONS,
               warmup: int = DEFAULT_WARMUP) -> float:
    """Predictions per second predicting `batch_size` rows per call, calls back to back."""
    family, module, config = loaded.family, loaded.module, loaded.config
    batches = [_rows(frame, i * batch_size, batch_size) for i in range(max(1, min(8, repetitions)))]
    for i in range(warmup):
        family.predict_frame(module, config, batches[i % len(batches)])
    calls, began = 0, time.perf_counter_ns()
    while True:
        family.predict_frame(module, config, batches[calls % len(batches)])
        calls += 1
        elapsed = (time.perf_counter_ns() - began) / 1e9
        if calls >= repetitions or elapsed >= MAX_SECONDS or (calls >= MIN_CALLS and elapsed >= MIN_SECONDS):
            break
    return calls * batch_size / elapsed


def speed(loaded: Any, frame: pl.DataFrame, *, batch_sizes: Sequence[int] = BATCH_SIZES,
          repetitions: int = DEFAULT_REPETITIONS, warmup: int = DEFAULT_WARMUP,
          on_step: Any = None) -> dict[str, float | None]:
    """Latency percentiles and the throughput at each batch size (`throughput_b<size>`)."""
    out = latency(loaded, frame, repetitions=repetitions, warmup=warmup)
    for i, size in enumerate(batch_sizes):
        if on_step is not None:  # (share of the sweep done, what now)
            on_step(i / len(batch_sizes), f"throughput at batch size {size}")
        out[f"throughput_b{size}"] = throughput(loaded, frame, size, repetitions=repetitions, warmup=warmup)
    return out
