"""The comparison's bootstrap confidence on rankings: 10 models × 10,000 benchmark rows × 1,000 resamples.

    .venv/bin/python bench/comparison_bootstrap.py [--models 10] [--rows 10000] [--repeat 3] [--readme]

Synthetic per-row samples (no database, no model): for each kind of sample-based metric, the time to
resample (`bootstrap.plan`: paired draws, the metrics of every resample as matrix products) and the time
to re-rank those resamples through the engine (`engine.evaluate` with the bootstrap, what a slider move on
the comparison page costs). Prints the median of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from backend.benchmarks.samples import Samples
from backend.comparison import bootstrap, engine
from backend.comparison.engine import MetricDef, Subject
from backend.comparison.metrics import BUILTIN_METRICS

CASES = (("accuracy (3 classes)", "classification", "accuracy", 3),
         ("macro F1 (3 classes)", "classification", "f1_macro", 3),
         ("ROC-AUC (binary)", "classification", "roc_auc", 2),
         ("R² (regression)", "regression", "r2", 0))


def world(task: str, key: str, classes: int, models: int, rows: int):
    rng = np.random.default_rng(0)
    metric = MetricDef("quality", "Quality", (f"benchmark.{key}",), normalization="minmax")
    cost = BUILTIN_METRICS[1]
    subjects, measured = [], {}
    truth = rng.integers(0, classes, rows).astype(np.int32) if task == "classification" else rng.normal(0, 1, rows)
    for j in range(models):
        if task == "classification":
            right = rng.random(rows) < 0.75 + 0.01 * j
            predicted = np.where(right, truth, rng.integers(0, classes, rows)).astype(np.int32)
            score = np.clip(np.where(predicted == 1, 0.7, 0.3) + rng.normal(0, 0.2, rows), 0, 1) if classes == 2 else None
            kept = Samples(task, truth, predicted, tuple("abc"[:classes]), score, 1 if classes == 2 else None)
        else:
            kept = Samples(task, truth, truth + rng.normal(0, 0.5 + 0.02 * j, rows))
        x = Subject(id=f"m{j}", name=f"Model {j}", kind="version")
        x.raw = {"quality": 0.8, "cost_efficiency": float(j)}
        x.sources = {"quality": f"benchmark.{key}", "cost_efficiency": "derived.costPer1kPredictionsUsd"}
        subjects.append(x)
        measured[x.id] = bootstrap.Measured(f"bres_{j}", "dataset", 1, "test", samples=kept)
    return [metric, cost], subjects, measured


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--readme", action="store_true", help="write the figures into bench/README.md")
    args = parser.parse_args()
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, numpy {np.__version__}; load average {os.getloadavg()[0]:.1f} at the start. "
             f"{args.models} models × {args.rows:,} rows × {bootstrap.RESAMPLES:,} resamples (median of {args.repeat}).",
             "", "| metric | resample s | re-rank s | total s |", "| --- | ---: | ---: | ---: |"]
    print("\n".join(lines))
    for label, task, key, classes in CASES:
        metrics, subjects, measured = world(task, key, classes, args.models, args.rows)
        sampled, ranked = [], []
        for _ in range(args.repeat):
            began = time.perf_counter()
            boot = bootstrap.plan(subjects=subjects, metrics=metrics, measured=measured)
            middle = time.perf_counter()
            for x in subjects:
                x.raw["quality"] = float(np.mean(boot.values["quality"][x.id]))
            scores = {m.key: engine.normalise(m, {x.id: x.raw[m.key] for x in subjects}) for m in metrics}
            engine.evaluate(metrics=metrics, subjects=subjects, scores=scores,
                            weights={"quality": 0.7, "cost_efficiency": 0.3}, bootstrap=boot)
            sampled.append(middle - began)
            ranked.append(time.perf_counter() - middle)
        a, b = statistics.median(sampled), statistics.median(ranked)
        lines.append(f"| {label} | {a:.3f} | {b:.3f} | {a + b:.3f} |")
        print(lines[-1])
    if args.readme:
        from harness import write_readme_section

        write_readme_section("comparison-bootstrap-bench", "Comparison: bootstrap rank confidence "
                             "(`bench/comparison_bootstrap.py`)", "\n".join(lines))


if __name__ == "__main__":
    main()
