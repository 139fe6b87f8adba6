"""The background jobs' batched encoding: progress per batch, one row per text, a cancel ends it."""

from __future__ import annotations

import numpy as np
import pytest

from backend.core import semantic


class Ctx:
    """What `encode_for_job` uses of a job's context; cancelled once `cancel_after` batches are encoded."""

    def __init__(self, cancel_after: int | None = None) -> None:
        self.cancel_after, self.batches, self.progresses, self.ended = cancel_after, 0, [], False

    def stop_if_cancelled(self) -> bool:
        self.ended = self.cancel_after is not None and self.batches >= self.cancel_after
        return self.ended

    def progress(self, fraction: float, message: str) -> None:
        self.batches += 1
        self.progresses.append((round(fraction, 3), message))


@pytest.fixture
def counting_encoder(monkeypatch):
    calls: list[int] = []

    def encoder(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.full((len(texts), semantic.DIMENSIONS), float(len(calls)), dtype=np.float32)

    monkeypatch.setattr(semantic, "ENCODE_BATCH", 2)
    semantic.set_encoder(encoder)
    yield calls
    semantic.set_encoder(None)


def test_texts_are_encoded_in_batches_with_progress(counting_encoder):
    ctx = Ctx()
    vectors = semantic.encode_for_job(ctx, ["a", "b", "c", "d", "e"], what="notes")
    assert counting_encoder == [2, 2, 1] and vectors.shape == (5, semantic.DIMENSIONS)
    assert vectors[:, 0].tolist() == [1, 1, 2, 2, 3]
    assert ctx.progresses == [(0.42, "encoded 2 of 5 notes"), (0.74, "encoded 4 of 5 notes"),
                              (0.9, "encoded 5 of 5 notes")]


def test_nothing_to_encode_is_an_empty_matrix(counting_encoder):
    vectors = semantic.encode_for_job(Ctx(), [], what="notes")
    assert vectors.shape == (0, semantic.DIMENSIONS) and counting_encoder == []


def test_a_cancel_stops_before_the_next_batch(counting_encoder):
    ctx = Ctx(cancel_after=1)
    assert semantic.encode_for_job(ctx, ["a", "b", "c", "d", "e"], what="notes") is None
    assert counting_encoder == [2] and ctx.ended
