"""Experiment-tracking benchmark: log 100,000 metric points in batches of 1,000 into one run, through the
service (in process, one transaction per batch) and through the REST route of a real server (an API key, as
a script on a laptop would), and print points/s.

    .venv/bin/python bench/tracking.py [--points 100000] [--batch 1000] [--readme]

The points look like a training loop's: four keys (loss, accuracy, learning rate, samples/s) per step.
Each phase logs into a fresh run and then checks that every point was stored. Target (issue 13):
≥ 50,000 points/s through the service on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
from harness import api_server, login, write_readme_section

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"
KEYS = ("loss", "accuracy", "lr", "samples_per_second")


def make_points(count: int, start_step: int = 0) -> list[dict]:
    """`count` points, four keys per step, as a client sends them."""
    now = int(time.time() * 1000)
    return [{"key": KEYS[i % 4], "value": 1.0 / (1 + i), "timestamp": now + i, "step": start_step + i // 4}
            for i in range(count)]


def service_phase(points: int, batch: int, shape: str) -> dict:
    from sqlmodel import func, select

    from backend.auth import service as auth_service
    from backend.catalog.experiments import service
    from backend.catalog.experiments.models import Metric
    from backend.core.db import session_scope

    with session_scope() as s:
        auth_service.ensure_demo_users(session=s)
        user = auth_service.find_user_by_username(session=s, username="data_scientist")
        actor = auth_service.principal_for(user, credential_id=None, credential_type="session")
        experiment = service.create_experiment(session=s, actor=actor, data={"name": f"bench service {shape}"})
        run = service.start_run(session=s, actor=actor, experiment_id=experiment.id, data={})
        run_id = run.id
    batches = []
    for b in range(points // batch):
        rows = make_points(batch, start_step=b * batch // 4)
        batches.append(rows if shape == "dicts" else [(p["key"], p["value"], p["timestamp"], p["step"]) for p in rows])
    durations = []
    started = time.perf_counter()
    for rows in batches:
        t = time.perf_counter()
        with session_scope() as s:
            service.log_metrics(session=s, actor=actor, run_id=run_id, metrics=rows)
        durations.append(time.perf_counter() - t)
    seconds = time.perf_counter() - started
    with session_scope(write=False) as s:
        stored = s.exec(select(func.count()).select_from(Metric).where(Metric.run_id == run_id)).one()
    assert stored == len(batches) * batch, (stored, points)
    return {"points": stored, "seconds": seconds, "durations": durations}


def rest_phase(env: dict[str, str], work: Path, points: int, batch: int) -> dict:
    with api_server(env, work / "server.log", workers=1, quiet=True, wait_tries=600) as (_server, base), \
            httpx.Client(base_url=base, timeout=120) as client:
        key = client.post("/auth/api-keys", json={"name": "bench"},
                          headers=login(client, "data_scientist", PASSWORD)).json()["key"]
        headers = {"X-API-Key": key}
        experiment = client.post("/catalog/experiments", json={"name": "bench rest"}, headers=headers).json()
        run_id = client.post(f"/catalog/experiments/{experiment['id']}/runs", json={}, headers=headers).json()["id"]
        # Bodies are encoded beforehand: the client shares the 2 cores with the server and is not what is measured.
        bodies = [json.dumps({"metrics": make_points(batch, start_step=b * batch // 4)}).encode()
                  for b in range(points // batch)]
        headers = {**headers, "Content-Type": "application/json"}
        url = f"/catalog/experiments/runs/{run_id}/metrics"
        durations = []
        started = time.perf_counter()
        for body in bodies:
            t = time.perf_counter()
            response = client.post(url, content=body, headers=headers)
            durations.append(time.perf_counter() - t)
            response.raise_for_status()
        seconds = time.perf_counter() - started
        summary = client.get(f"/catalog/experiments/runs/{run_id}/metrics", headers=headers).json()
        stored = sum(m["count"] for m in summary["metrics"])
        assert stored == len(bodies) * batch, (stored, points)
        body_kb = statistics.mean(len(b) for b in bodies) / 1024
    return {"points": stored, "seconds": seconds, "durations": durations, "bodyKb": body_kb}


def row(name: str, result: dict, target: str = "") -> str:
    rate = result["points"] / result["seconds"]
    ms = sorted(d * 1000 for d in result["durations"])
    p50, p95 = ms[len(ms) // 2], ms[int(len(ms) * 0.95) - 1]
    verdict = f"{target} {'✅' if target and rate >= 50_000 else ''}".strip()
    return (f"| {name} | {result['points']:,} | {result['seconds']:.2f} | {rate:,.0f} | {p50:.1f} | {p95:.1f} "
            f"| {verdict} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--readme", action="store_true", help="write the figures into bench/README.md")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="aisystem-bench-tracking-"))
    env = dict(os.environ, AISYSTEM_DATA_DIR=str(work), AISYSTEM_ENV="development", AISYSTEM_DEMO_PASSWORD=PASSWORD,
               AISYSTEM_SECRET_KEY="bench-secret-key-0123456789-abcdefghijklmnop", AISYSTEM_LOG_LEVEL="WARNING")
    env.pop("AISYSTEM_DATABASE_URL", None)
    os.environ.update(env)
    try:
        subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        service_dicts = service_phase(args.points, args.batch, "dicts")
        service_tuples = service_phase(args.points, args.batch, "tuples")
        rest = rest_phase(env, work, args.points, args.batch)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load = os.getloadavg()[0]
    report = "\n".join([
        f"Measured {date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; SQLite (WAL); {args.points:,} points in batches of {args.batch:,} (four keys "
        f"per step) into one run, one transaction per batch. Load average at the end: {load:.1f}.",
        "",
        "| path | points | seconds | points/s | p50 ms / batch | p95 ms / batch | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        row("service, `log_metrics` with dict points", service_dicts, "≥ 50,000"),
        row("service, `log_metrics` with tuples (the training worker's form)", service_tuples),
        row(f"REST `POST /runs/{{id}}/metrics` with an API key ({rest['bodyKb']:.0f} KB bodies, one granian worker)",
            rest),
        "",
        "Each batch is one executemany INSERT of its points plus one upsert per key into the latest-metric summary; "
        "the REST figure adds JSON parsing, request validation, the API-key check and the HTTP round trip, with "
        "client and server on the same cores.",
    ])
    print(report)
    if args.readme:
        write_readme_section("tracking-bench", "Experiment tracking (`bench/tracking.py`)", report)


if __name__ == "__main__":
    main()
