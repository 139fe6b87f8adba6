"""Per-row outcomes of a benchmark result, kept so that its quality metrics can be recomputed on resampled
rows (the comparison's bootstrap confidence on rankings).

A result's samples are the rows it was scored on, in the split's order: classification keeps the true and
predicted label of each row as codes into `labels` (and, for a binary model, the positive class's
probability, for ROC-AUC); regression keeps the true and predicted values. They are one small `.npz`
(`np.savez_compressed`, no pickles) in the artifact store under `benchmarks/<run>/<result>.npz`; the
result row keeps its key, sha256 and size in `BenchmarkResult.samples` and a read checks the hash.

`weighted_metrics` recomputes the quality metrics of `measure.quality` with a weight per row: a bootstrap
resample is the number of times each row was drawn, so a matrix of resamples (one per matrix row) turns
into a few matrix products rather than a loop over resamples. With every weight 1 it gives
`measure.quality`'s figures (the tests hold the two together).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from backend.benchmarks import measure
from backend.core import artifacts
from backend.core.errors import AISystemError

FORMAT = "npz-v1"
# The metrics a resample can recompute (speed is not per row).
RESAMPLABLE = {"classification": ("accuracy", "precision_macro", "recall_macro", "f1_macro", "roc_auc"),
               "regression": measure.REGRESSION_METRICS}


class SamplesUnavailable(Exception):
    """The samples a result references cannot be read: the file is gone or its content changed."""


@dataclass(frozen=True)
class Samples:
    """The per-row outcomes of one result. Classification: `truth` and `predicted` are int codes into
    `labels`, `score` the positive class's probability (binary models only; `positive` its code).
    Regression: `truth` and `predicted` are the values."""

    task: str
    truth: np.ndarray
    predicted: np.ndarray
    labels: tuple[str, ...] = ()
    score: np.ndarray | None = None
    positive: int | None = None

    @property
    def rows(self) -> int:
        return int(self.truth.shape[0])

    def same_rows(self, other: Samples) -> bool:
        """Whether two results were scored on the same rows in the same order (so a resample pairs them)."""
        if self.task != other.task or self.rows != other.rows:
            return False
        if self.task == "regression":
            return bool(np.array_equal(self.truth, other.truth))
        mine = np.asarray(self.labels, dtype=object)[self.truth]
        theirs = np.asarray(other.labels, dtype=object)[other.truth]
        return bool(np.array_equal(mine, theirs))


def from_outputs(config: dict[str, Any], outputs: Sequence[dict[str, Any]], truth: Sequence[Any]) -> Samples:
    """The samples of predictions (`family.predict_frame` outputs) against the true labels or values, read
    as `measure.quality` reads them."""
    if config["task"] == "classification":
        y_true = ["" if v is None else str(v) for v in truth]
        y_pred = [str(o["label"]) for o in outputs]
        names = [str(n) for n in (config.get("labelNames") or [])]
        labels = list(dict.fromkeys([*names, *sorted(set(y_true) - set(names)), *sorted(set(y_pred) - set(names))]))
        code = {label: i for i, label in enumerate(labels)}
        score = positive = None
        if len(names) == 2:  # measure.quality's ROC-AUC: binary models, the second name is positive
            positive = code[names[1]]
            score = np.asarray([o["probabilities"][names[1]] for o in outputs], dtype=np.float64)
        return Samples("classification", np.asarray([code[v] for v in y_true], dtype=np.int32),
                       np.asarray([code[v] for v in y_pred], dtype=np.int32), tuple(labels), score, positive)
    return Samples("regression", np.asarray(list(truth), dtype=np.float64),
                   np.asarray([o["value"] for o in outputs], dtype=np.float64))


def to_bytes(samples: Samples) -> bytes:
    arrays: dict[str, np.ndarray] = {"task": np.asarray(samples.task), "truth": samples.truth,
                                     "predicted": samples.predicted}
    if samples.task == "classification":
        arrays["labels"] = np.asarray(samples.labels, dtype=np.str_)
        if samples.score is not None:
            arrays["score"] = samples.score
            arrays["positive"] = np.asarray(samples.positive, dtype=np.int32)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def from_bytes(data: bytes) -> Samples:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        task = str(z["task"])
        if task == "classification":
            return Samples(task, z["truth"].astype(np.int32), z["predicted"].astype(np.int32),
                           tuple(str(v) for v in z["labels"]), z.get("score"),
                           int(z["positive"]) if "positive" in z else None)
        return Samples(task, z["truth"].astype(np.float64), z["predicted"].astype(np.float64))


def key_of(run_id: str, result_id: str) -> str:
    return f"benchmarks/{run_id}/{result_id}.npz"


def store(samples: Samples, *, run_id: str, result_id: str) -> dict[str, Any]:
    """Write the samples to the artifact store: the reference `BenchmarkResult.samples` keeps."""
    stored = artifacts.get_store().put(key_of(run_id, result_id), to_bytes(samples))
    return {"key": stored.key, "sha256": stored.sha256, "size": stored.size, "rows": samples.rows, "format": FORMAT}


def load(reference: dict[str, Any]) -> Samples:
    """The samples a result references; SamplesUnavailable when the file is gone or its content changed."""
    key = reference.get("key") or ""
    try:
        with artifacts.get_store().open(key) as stream:
            data = stream.read()
    except AISystemError as exc:
        raise SamplesUnavailable(f"the per-row samples {key[:300]} are missing from the artifact store") from exc
    if hashlib.sha256(data).hexdigest() != reference.get("sha256"):
        raise SamplesUnavailable(f"the per-row samples {key[:300]} do not match their recorded hash")
    return from_bytes(data)


# --- metrics under row weights ---------------------------------------------------------------------------------


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(np.broadcast_shapes(num.shape, den.shape))
    np.divide(num, den, out=out, where=den > 0)
    return out


class RowMetrics:
    """The asked quality metrics of one result as sums over its rows: `matrix` (rows × columns) holds the
    per-row terms, so `weights @ matrix` gives the sums of a block of resamples at once (and the comparison
    stacks several results' matrices into one product); `finish` turns those sums into the metrics."""

    def __init__(self, samples: Samples, keys: Sequence[str]):
        self.samples = samples
        self.keys = set(keys) & set(RESAMPLABLE.get(samples.task, ()))
        n = samples.rows
        if samples.task == "classification":
            c = len(samples.labels)
            rows, truth, predicted = np.arange(n), samples.truth, samples.predicted
            hit = truth == predicted
            self.per_class = bool(self.keys & {"precision_macro", "recall_macro", "f1_macro"})
            if self.per_class:  # per class: support, predicted count and true positives
                self.matrix = np.zeros((n, 3 * c))
                self.matrix[rows, truth] = 1.0
                self.matrix[rows, c + predicted] = 1.0
                self.matrix[rows[hit], 2 * c + truth[hit]] = 1.0
            else:  # accuracy alone needs the hits only
                self.matrix = hit.astype(np.float64)[:, None]
        else:
            error = samples.predicted - samples.truth
            centred = samples.truth - samples.truth.mean()  # keeps the sum of squares away from cancellation
            self.matrix = np.stack([error * error, np.abs(error), centred, centred * centred], axis=1)
        self.ranking = (_Ranking(samples) if "roc_auc" in self.keys and samples.score is not None
                        and samples.positive is not None and samples.rows else None)

    def _auc(self, weights: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
        if self.ranking is None:
            return np.full(weights.shape[0], np.nan)
        return self.ranking.auc(np.ascontiguousarray(weights.T) if columns is None else columns)

    def finish(self, sums: np.ndarray, weights: np.ndarray, columns: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Metric key -> one value per resample, from `weights @ self.matrix` and the weights themselves
        (`columns`: the weights transposed and contiguous, when the caller has them for several results)."""
        total = weights.sum(axis=1)
        if self.samples.task == "classification":
            return self._classification(sums, total, weights, columns)
        return self._regression(sums, total)

    def _classification(self, sums: np.ndarray, total: np.ndarray, weights: np.ndarray,
                        columns: np.ndarray | None) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if not self.per_class:
            if "accuracy" in self.keys:
                out["accuracy"] = _safe_divide(sums[:, 0], total)
            if "roc_auc" in self.keys:
                out["roc_auc"] = self._auc(weights, columns)
            return out
        c = len(self.samples.labels)
        support, guessed, tp = sums[:, :c], sums[:, c:2 * c], sums[:, 2 * c:]
        if "accuracy" in self.keys:
            out["accuracy"] = _safe_divide(tp.sum(axis=1), total)
        present = support > 0  # macro over the classes the (resampled) rows hold, as measure.quality
        n_present = present.sum(axis=1)
        per_class = {"precision_macro": (tp, guessed), "recall_macro": (tp, support),
                     "f1_macro": (2 * tp, support + guessed)}
        for key, (num, den) in per_class.items():
            if key in self.keys:
                mean = np.where(present, _safe_divide(num, den), 0.0).sum(axis=1) / np.maximum(n_present, 1)
                out[key] = np.where(n_present > 0, mean, np.nan)
        if "roc_auc" in self.keys:
            out["roc_auc"] = self._auc(weights, columns)
        return out

    def _regression(self, sums: np.ndarray, total: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if "rmse" in self.keys:
            out["rmse"] = np.sqrt(_safe_divide(sums[:, 0], total))
        if "mae" in self.keys:
            out["mae"] = _safe_divide(sums[:, 1], total)
        if "r2" in self.keys:
            total_ss = sums[:, 3] - _safe_divide(sums[:, 2] ** 2, total)
            # scikit-learn's r2_score on constant truth: 1 for a perfect fit, else 0.
            perfect = np.where(sums[:, 0] <= 0, 1.0, 0.0)
            r2 = np.where(total_ss > 1e-12 * np.maximum(sums[:, 3], 1e-300),
                          1 - _safe_divide(sums[:, 0], total_ss), perfect)
            out["r2"] = np.where(total >= 2, r2, np.nan)
        return out


class _Ranking:
    """A binary result's rows ranked by score, for the weighted Mann-Whitney count of ROC-AUC.

    Sorted by score with negatives before positives on equal scores, each positive row counts the negative
    weight ranked before it (a cumulative sum over the negatives); tied negatives were counted whole, so half
    of each tie group's positive × negative weight is taken off again."""

    def __init__(self, samples: Samples):
        positive = samples.truth == samples.positive
        order = np.lexsort((positive, samples.score))
        score, label = samples.score[order], positive[order]
        self.negatives, self.positives = order[~label], order[label]
        self.before = np.searchsorted(np.flatnonzero(~label), np.flatnonzero(label))
        group = np.cumsum(np.r_[True, score[1:] != score[:-1]]) - 1
        both = np.zeros(int(group[-1]) + 1, dtype=bool)
        both[group[label]] = True
        has_negative = np.zeros_like(both)
        has_negative[group[~label]] = True
        tied = (both & has_negative)[group]
        # In a group holding both classes its negatives come first, then its positives: runs pair up.
        self.tied = order[tied]
        g, lab = group[tied], label[tied]
        self.runs = np.flatnonzero(np.r_[True, (g[1:] != g[:-1]) | (lab[1:] != lab[:-1])]) if tied.any() else None

    def auc(self, columns: np.ndarray) -> np.ndarray:
        """ROC-AUC under each column of `columns` (rows × resamples: the weights transposed)."""
        negative = np.cumsum(columns[self.negatives], axis=0)
        negative = np.vstack([np.zeros((1, columns.shape[1])), negative])
        positive = columns[self.positives]
        count = np.einsum("ij,ij->j", negative[self.before], positive)
        if self.runs is not None:
            runs = np.add.reduceat(columns[self.tied], self.runs, axis=0)
            count -= 0.5 * (runs[0::2] * runs[1::2]).sum(axis=0)
        pairs = negative[-1] * positive.sum(axis=0)
        auc = np.full(columns.shape[1], np.nan)
        np.divide(count, pairs, out=auc, where=pairs > 0)
        return auc


def weighted_metrics(samples: Samples, weights: np.ndarray, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Each asked quality metric under each row of `weights` (shape resamples × rows, how often each row
    counts): metric key -> one value per resample (NaN where it is undefined, e.g. ROC-AUC of one class)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    prepared = RowMetrics(samples, keys)
    if not prepared.keys:
        return {}
    return prepared.finish(weights @ prepared.matrix, weights)
