"""The paired bootstrap behind a comparison's `rankConfidence`: no database, no I/O (the service reads the
benchmark results and their per-row samples and hands them in).

Which values are resampled: a subject's metric whose raw value came from its newest benchmark result
(`benchmark.accuracy`, `benchmark.f1_macro`, `benchmark.r2`...; quality metrics only, speed is not per row)
when that result kept its per-row samples. The resampled subjects must have been scored on the same rows:
the same dataset version and split, and the same true labels in the same order. Where subjects were
measured on different datasets, the largest group that shares its rows is resampled and the others stay
fixed, each with its reason in `unsampled`.

A resample draws the rows with replacement; every subject gets the same drawn rows (paired), so a model
that is better on most rows stays ahead on most resamples. The draws are counts per row (how often each row
was drawn), so the metrics of a block of resamples are matrix products
(`backend.benchmarks.samples.RowMetrics`, every subject side by side) rather than a loop; blocks keep memory at a few tens of
MB whatever the row count. The seed fixes the draws: the same comparison gives the same confidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from backend.benchmarks.samples import RESAMPLABLE, RowMetrics, Samples
from backend.comparison.engine import Bootstrap, MetricDef, Subject

RESAMPLES = 1000
SEED = 20261206
BLOCK_CELLS = 500_000  # resamples × rows per block (4 MB of float64 counts: the draws stay in cache)
BENCHMARK = "benchmark."


@dataclass(frozen=True)
class Measured:
    """A subject's newest benchmark result as the bootstrap needs it; `samples` None with `problem` saying why."""

    result_id: str
    dataset_id: str
    dataset_version: int
    split: str
    samples: Samples | None = None
    problem: str | None = None


def paired_counts(rows: int, *, resamples: int = RESAMPLES, seed: int = SEED,
                  block_cells: int = BLOCK_CELLS) -> Iterator[np.ndarray]:
    """Blocks of resamples (block × rows): how often each row was drawn in `rows` draws with replacement."""
    rng = np.random.default_rng(seed)
    per_block = max(1, block_cells // max(rows, 1))
    done = 0
    while done < resamples:
        size = min(per_block, resamples - done)
        drawn = rng.integers(0, rows, size=(size, rows))
        drawn += rows * np.arange(size)[:, None]  # one bincount over the whole block
        yield np.bincount(drawn.ravel(), minlength=size * rows).reshape(size, rows).astype(np.float64)
        done += size


def resample(samples: Mapping[str, Samples], keys: Mapping[str, Sequence[str]], *, resamples: int = RESAMPLES,
             seed: int = SEED) -> dict[str, dict[str, np.ndarray]]:
    """Subject id -> benchmark metric key -> its value on each resample, the same rows drawn for every
    subject (all samples must hold the same number of rows)."""
    sizes = {s.rows for s in samples.values()}
    if len(sizes) != 1:
        raise ValueError("paired resampling needs samples of the same rows")
    prepared = {i: RowMetrics(kept, keys.get(i, ())) for i, kept in samples.items()}
    # Every subject's per-row terms side by side: one matrix product per block of resamples.
    edges = np.cumsum([0, *(p.matrix.shape[1] for p in prepared.values())])
    stacked = np.hstack([p.matrix for p in prepared.values()])
    out: dict[str, dict[str, list[np.ndarray]]] = {i: {} for i in samples}
    ranked = any(p.ranking is not None for p in prepared.values())
    for counts in paired_counts(sizes.pop(), resamples=resamples, seed=seed):
        sums = counts @ stacked
        columns = np.ascontiguousarray(counts.T) if ranked else None  # ROC-AUC gathers rows: once per block
        for (i, p), low, high in zip(prepared.items(), edges[:-1], edges[1:], strict=True):
            for key, values in p.finish(sums[:, low:high], counts, columns).items():
                out[i].setdefault(key, []).append(values)
    return {i: {k: np.concatenate(v) for k, v in per.items()} for i, per in out.items()}


def _where(m: Measured) -> str:
    return f"{m.dataset_id} v{m.dataset_version} ({m.split})"


def plan(*, subjects: Sequence[Subject], metrics: Sequence[MetricDef], measured: Mapping[str, Measured],
         resamples: int = RESAMPLES, seed: int = SEED) -> Bootstrap:
    """The bootstrap of a comparison: which subjects' metrics are resampled, their values per resample, and
    in words what could not be (subjects keep their measured value there)."""
    # (subject, metric key) -> the benchmark metric its raw value came from.
    wanted: dict[str, dict[str, str]] = {}
    for x in subjects:
        for m in metrics:
            path = x.sources.get(m.key) or ""
            if path.startswith(BENCHMARK) and x.raw.get(m.key) is not None:
                wanted.setdefault(x.id, {})[m.key] = path[len(BENCHMARK):]
    if not wanted:
        return Bootstrap(resamples, seed, note="No compared metric takes its value from a benchmark result, so there "
                                               "are no benchmark rows to resample")
    names = {x.id: x.name for x in subjects}
    unsampled: dict[str, str] = {}
    usable: dict[str, Measured] = {}
    for i in wanted:
        m = measured.get(i)
        if m is None or m.samples is None:
            unsampled[i] = (m.problem if m is not None and m.problem else
                            "its benchmark result was measured before per-row samples were kept")
            continue
        keys = {k: b for k, b in wanted[i].items() if b in RESAMPLABLE.get(m.samples.task, ())}
        if not keys:
            unsampled[i] = "its benchmark metrics here are not recomputable per row (speed figures)"
            continue
        wanted[i] = keys
        usable[i] = m
    # The largest group scored on one dataset version and split (first subject first on a tie).
    groups: dict[tuple[str, int, str], list[str]] = {}
    for i, m in usable.items():
        groups.setdefault((m.dataset_id, m.dataset_version, m.split), []).append(i)
    chosen: list[str] = []
    if groups:
        chosen = max(groups.values(), key=len)
        reference = usable[chosen[0]]
        for i in list(chosen[1:]):
            if not usable[i].samples.same_rows(reference.samples):
                chosen.remove(i)
                unsampled[i] = f"its benchmark rows on {_where(usable[i])} differ from {names[chosen[0]]}'s"
        for i, m in usable.items():
            if i not in chosen:
                unsampled.setdefault(i, f"it was benchmarked on {_where(m)}, the others on {_where(reference)}: "
                                        "rows of different datasets cannot be paired")
    about = {"unsampled": {i: unsampled[i] for i in names if i in unsampled}}
    if not chosen:
        return Bootstrap(resamples, seed, about=about,
                         note="No compared model's benchmark result has per-row samples (results measured before "
                              "they were kept have none): rerun the benchmark to get a confidence on the ranking")
    first = usable[chosen[0]]
    drawn = resample({i: usable[i].samples for i in chosen}, {i: list(wanted[i].values()) for i in chosen},
                     resamples=resamples, seed=seed)
    values: dict[str, dict[str, list[float]]] = {}
    sources: dict[str, dict[str, str]] = {}
    for i in chosen:
        for key, bench in wanted[i].items():
            values.setdefault(key, {})[i] = drawn[i][bench]
            sources.setdefault(key, {})[i] = BENCHMARK + bench
    about |= {"dataset": {"datasetId": first.dataset_id, "datasetVersion": first.dataset_version,
                          "split": first.split, "rows": first.samples.rows},
              "sources": sources}
    return Bootstrap(resamples, seed, values=values, about=about)
