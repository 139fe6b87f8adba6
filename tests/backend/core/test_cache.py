"""Results cached until their generation moves: hits, retirement by a committed write from any
session, bounded size, a database recreated under the cache, and a write racing a computation."""

from __future__ import annotations

from sqlmodel import delete

from backend.core.cache import Generation, GenerationCache, bump_generation, current_generation
from backend.core.db import session_scope

NAME = "test.things"


class Counter:
    """A computation that says how often it ran and returns a new object each time."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[int]:
        self.calls += 1
        return (self.calls,)


def cached(cache: GenerationCache, key, compute):  # noqa: ANN001, ANN201
    with session_scope(write=False) as s:
        return cache.get_or_compute(s, key, compute)


def bump() -> None:
    with session_scope() as s:
        bump_generation(s, NAME)


def test_a_value_is_computed_once_per_generation_and_key(db_backend):
    cache, compute = GenerationCache(NAME, max_entries=10), Counter()
    bump()
    assert cached(cache, "a", compute) == cached(cache, "a", compute) == (1,)
    assert cached(cache, "b", compute) == (2,)
    bump()
    assert cached(cache, "a", compute) == (3,)
    assert cached(cache, "a", compute) == (3,)
    assert len(cache) == 1  # entries of the older generation were dropped


def test_the_generation_counts_committed_bumps_only(db_backend):
    with session_scope(write=False) as s:
        epoch, value = current_generation(s, NAME)
    assert (epoch, value) == ("", 0)
    bump()
    bump()
    with session_scope() as s:
        bump_generation(s, NAME)
        s.rollback()
    with session_scope(write=False) as s:
        epoch, value = current_generation(s, NAME)
    assert value == 2 and len(epoch) == 32


def test_the_least_recently_used_entry_goes_first(db_backend):
    cache, compute = GenerationCache(NAME, max_entries=2), Counter()
    bump()
    cached(cache, "a", compute)
    cached(cache, "b", compute)
    cached(cache, "a", compute)  # a is now the most recent
    cached(cache, "c", compute)  # evicts b
    assert len(cache) == 2
    assert cached(cache, "a", compute) == (1,)
    assert cached(cache, "b", compute) == (4,)


def test_no_entries_means_no_cache(db_backend):
    cache, compute = GenerationCache(NAME, max_entries=0), Counter()
    bump()
    assert [cached(cache, "a", compute) for _ in range(3)] == [(1,), (2,), (3,)]
    assert len(cache) == 0


def test_a_recreated_counter_never_returns_an_older_entry(db_backend):
    cache, compute = GenerationCache(NAME, max_entries=10), Counter()
    bump()
    assert cached(cache, "a", compute) == (1,)
    with session_scope() as s:  # as if the database were created again: the counter restarts at 1
        s.exec(delete(Generation))
    bump()
    assert cached(cache, "a", compute) == (2,)


def test_nothing_is_cached_before_the_first_tracked_write(db_backend):
    cache, compute = GenerationCache(NAME, max_entries=10), Counter()
    assert [cached(cache, "a", compute) for _ in range(2)] == [(1,), (2,)]


def test_a_value_computed_while_a_write_committed_is_computed_again(db_backend):
    cache = GenerationCache(NAME, max_entries=10)
    bump()
    calls = []

    def compute_while_writing() -> tuple[str]:
        calls.append(1)
        if len(calls) == 1:
            bump()  # another request commits a change while this one computes...
            assert cached(cache, "other", Counter()) == (1,)  # ...and a third caches under the new generation
        return ("computed",)

    for _ in range(3):
        cached(cache, "a", compute_while_writing)
    assert len(calls) == 2  # the first result was never served again
    assert len(cache) == 2  # "other" and the second "a"; the stale "a" was not stored


def test_a_transaction_moves_a_tracked_generation_once_however_often_it_flushes(principals):
    from backend.catalog.model_registry import service as registry
    from backend.catalog.model_registry.models import MODELS_GENERATION
    from backend.catalog.model_registry.schemas import ModelCreate, VersionCreate

    actor = principals["ml_engineer"]
    with session_scope() as s:
        model = registry.create_model(session=s, actor=actor, data=ModelCreate(
            name="Flushes", type="NLP", category="classification", framework="PyTorch"))
    with session_scope(write=False) as s:
        before = current_generation(s, MODELS_GENERATION)
    with session_scope() as s:  # a version and a rename: the model's row and labels flush several times
        registry.create_version(session=s, actor=actor, model_id=model.id, data=VersionCreate(version="1.0.0"))
        s.flush()
        registry.create_version(session=s, actor=actor, model_id=model.id, data=VersionCreate(version="1.1.0"))
    with session_scope(write=False) as s:
        after = current_generation(s, MODELS_GENERATION)
    assert after == (before[0], before[1] + 1)
    with session_scope() as s:  # the next transaction moves it again
        registry.create_version(session=s, actor=actor, model_id=model.id, data=VersionCreate(version="1.2.0"))
    with session_scope(write=False) as s:
        assert current_generation(s, MODELS_GENERATION)[1] == before[1] + 2
