"""Registry write benchmark, side by side with MLflow: register N models × 2 versions through each public
REST API with 1 and with 4 clients, and report models/s and p50/p99 of every write route.

    .venv/bin/python bench/registry_writes.py                       # N = 1,000 per phase
    .venv/bin/python bench/registry_writes.py --models 200 --readme  # smaller; write bench/README.md
    .venv/bin/python bench/registry_writes.py --mlflow /tmp/mlflow-venv   # where MLflow is installed
    .venv/bin/python bench/registry_writes.py --profile /tmp/prof    # py-spy flame graph of the 4-client phase

Both servers run on SQLite with 2 worker processes and are started and stopped here: the platform with
granian (`bench/harness.py`), MLflow with `mlflow server` from its own virtual environment (`--mlflow`: a
venv directory or the `mlflow` executable; MLflow is skipped with a note when it is not there). One
registration is three requests: create the model, then versions 1.0.0 and 1.1.0 (MLflow: create the
registered model, then two model versions). The platform also times updating a model's description.
No job worker runs (the platform queues embedding jobs; computing them is not part of a write).
The load generator (`bench/loadgen.py`) is the same for both. Both servers run throughout and each phase
is split into rounds (`--rounds`, 3) in which the two take turns, so that a slower spell of a shared
machine (this one's speed varied by 1.5× within minutes) falls on both. Not a timed test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from harness import api_server, demo_actor, free_port, login, platform_env, write_readme_section
from loadgen import Connection, build_request, summarise

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
Timings = dict[str, list[float]]


# --- one client's registrations --------------------------------------------------------------------


async def _timed(conn: Connection, timings: Timings, route: str, method: str, path: str,
                 body: object = None) -> dict:
    request = build_request(method, path, json_body=body)
    started = time.perf_counter()
    status, data = await conn.exchange(request)
    timings.setdefault(route, []).append(time.perf_counter() - started)
    if status not in (200, 201):
        raise RuntimeError(f"{method} {path}: HTTP {status} {data[:300]!r}")
    return json.loads(data) if data else {}


def platform_registration(prefix: str) -> Callable[[Connection, int, Timings], Awaitable[None]]:
    async def register(conn: Connection, i: int, timings: Timings) -> None:
        model = await _timed(conn, timings, "create model", "POST", f"{prefix}/catalog/models", {
            "name": f"bench model {i:06d}", "type": "NLP", "category": "text classification",
            "framework": "PyTorch", "metadata": {"description": f"Classifies support tickets, variant {i}",
                                                 "tags": ["bench", "nlp"]}})
        for version in ("1.0.0", "1.1.0"):
            await _timed(conn, timings, "create version", "POST", f"{prefix}/catalog/models/{model['id']}/versions",
                         {"version": version, "metrics": {"accuracy": 0.9}, "hyperparameters": {"lr": 0.001}})
    return register


def platform_update(prefix: str, ids: list[str]) -> Callable[[Connection, int, Timings], Awaitable[None]]:
    async def update(conn: Connection, i: int, timings: Timings) -> None:
        await _timed(conn, timings, "update model", "PUT", f"{prefix}/catalog/models/{ids[i % len(ids)]}",
                     {"metadata": {"description": f"Classifies support tickets, revision {i}", "tags": ["bench"]}})
    return update


def mlflow_registration(prefix: str) -> Callable[[Connection, int, Timings], Awaitable[None]]:
    async def register(conn: Connection, i: int, timings: Timings) -> None:
        name = f"bench model {i:06d}"
        await _timed(conn, timings, "create model", "POST", f"{prefix}/api/2.0/mlflow/registered-models/create",
                     {"name": name, "description": f"Classifies support tickets, variant {i}",
                      "tags": [{"key": "bench", "value": "nlp"}]})
        for _ in range(2):
            await _timed(conn, timings, "create version", "POST", f"{prefix}/api/2.0/mlflow/model-versions/create",
                         {"name": name, "source": f"s3://bench-bucket/models/{i}",
                          "tags": [{"key": "accuracy", "value": "0.9"}]})
    return register


async def _drive(base: str, headers: dict[str, str], work: Callable, *, clients: int, first: int,
                 total: int) -> tuple[float, Timings]:
    parts = urlsplit(base)
    numbers = iter(range(first, first + total))
    timings: Timings = {}

    async def client() -> None:
        conn = Connection(parts.hostname, parts.port, headers)
        try:
            for i in numbers:
                await work(conn, i, timings)
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, timings


def phase(base: str, headers: dict[str, str], work: Callable, *, clients: int, first: int, total: int) -> dict:
    """Run `total` units of `work` over `clients` connections: units/s and each route's latencies."""
    elapsed, timings = asyncio.run(_drive(base, headers, work, clients=clients, first=first, total=total))
    return {"perSecond": round(total / elapsed, 1),
            "routes": {route: summarise(values, 0, elapsed) for route, values in timings.items()}}


# --- the two servers -------------------------------------------------------------------------------


@dataclass
class Target:
    """A running server and how to register models on it."""

    system: str
    base: str
    headers: dict[str, str]
    work: Callable
    pid: int


@contextmanager
def platform_target(args: argparse.Namespace) -> Iterator[Target]:
    work = Path(tempfile.mkdtemp(prefix="aisystem-bench-writes-"))
    env = platform_env(work, AISYSTEM_RESULT_CACHE_ENTRIES="0", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    demo_actor()  # creates the demo users
    try:
        with api_server(env, work / "server.log", workers=args.workers, quiet=True) as (server, base):
            with httpx.Client(base_url=base, timeout=60) as client:
                headers = login(client, "ml_engineer", env["AISYSTEM_DEMO_PASSWORD"])
            prefix = urlsplit(base).path.rstrip("/")
            yield Target("platform", base, headers, platform_registration(prefix), server.pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_updates(target: Target, args: argparse.Namespace, results: dict) -> None:
    prefix = urlsplit(target.base).path.rstrip("/")
    with httpx.Client(base_url=target.base, timeout=60, headers=target.headers) as client:
        ids = [m["id"] for m in client.get("/catalog/models", params={"limit": 200}).json()["items"]]
    results["platform"]["update | 1"] = phase(target.base, target.headers, platform_update(prefix, ids), clients=1,
                                              first=0, total=min(args.models, 500))
    print_phase("platform", "update | 1", results["platform"]["update | 1"])


def mlflow_command(option: str) -> list[str] | None:
    """The `mlflow` executable from a venv directory or a path; None when it is not installed."""
    path = Path(option)
    executable = path / "bin" / "mlflow" if path.is_dir() else path
    return [str(executable)] if executable.is_file() and os.access(executable, os.X_OK) else None


@contextmanager
def mlflow_server(command: list[str], work: Path, workers: int):
    port = free_port()
    argv = [*command, "server", "--backend-store-uri", f"sqlite:///{work / 'mlflow.db'}",
            "--default-artifact-root", str(work / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers)]
    with open(work / "mlflow.log", "wb") as log:
        server = subprocess.Popen(argv, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, timeout=10) as client:
                for _ in range(1200):  # the first start creates and migrates its database
                    try:
                        if client.get("/health").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if server.poll() is not None:
                        raise RuntimeError(f"mlflow server exited; see {work / 'mlflow.log'}")
                    time.sleep(0.1)
            yield server, base
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


def mlflow_version(command: list[str]) -> str:
    python = Path(command[0]).with_name("python")
    out = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True,
                         text=True)
    return out.stdout.strip() or "?"


@contextmanager
def mlflow_target(args: argparse.Namespace, results: dict) -> Iterator[Target | str]:
    """MLflow's server, or a note saying why it was skipped."""
    command = mlflow_command(args.mlflow)
    if command is None:
        yield (f"MLflow skipped: no `mlflow` executable at {args.mlflow} (install it in its own venv: "
               "`python3.11 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install 'mlflow==3.17.*'`).")
        return
    results["mlflowVersion"] = mlflow_version(command)
    work = Path(tempfile.mkdtemp(prefix="mlflow-bench-writes-"))
    try:
        with mlflow_server(command, work, args.workers) as (server, base):
            yield Target("mlflow", base, {}, mlflow_registration(""), server.pid)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(targets: list[Target], args: argparse.Namespace, results: dict) -> None:
    """Each phase in `args.rounds` rounds, the systems taking turns within each round, so that a slower
    spell of a shared machine falls on both rather than on whichever ran then."""
    for target in targets:
        results[target.system] = {}
        phase(target.base, target.headers, target.work, clients=4, first=900_000, total=20)  # warm-up
    per_round = max(1, args.models // args.rounds)
    first = 0
    for clients in args.clients:
        runs: dict[str, list[tuple[float, Timings, float]]] = {t.system: [] for t in targets}
        for _round in range(args.rounds):
            for target in targets:
                profiler = start_profiler(args, target.system, clients, target.pid)
                before = cpu_seconds(target.pid)
                elapsed, timings = asyncio.run(_drive(target.base, target.headers, target.work, clients=clients,
                                                      first=first, total=per_round))
                runs[target.system].append((elapsed, timings, cpu_seconds(target.pid) - before))
                stop_profiler(profiler)
            first += per_round
        for system, done in runs.items():
            result = _combined(done, per_round)
            results[system][f"register | {clients}"] = result
            print_phase(system, f"register | {clients}", result)


def _combined(runs: list[tuple[float, Timings, float]], per_round: int) -> dict:
    """One phase's rounds as one: units/s over their whole time, latencies pooled, and each round's rate."""
    elapsed = sum(run[0] for run in runs)
    timings: Timings = {}
    for _elapsed, round_timings, _cpu in runs:
        for route, values in round_timings.items():
            timings.setdefault(route, []).extend(values)
    requests = 3 * per_round * len(runs)
    return {"perSecond": round(per_round * len(runs) / elapsed, 1),
            "rounds": [round(per_round / run[0], 1) for run in runs],
            "routes": {route: summarise(values, 0, elapsed) for route, values in timings.items()},
            # CPU per request, of the server's processes: what the machine's two cores can carry at most.
            "serverCpuMsPerRequest": round(sum(run[2] for run in runs) * 1000 / requests, 2)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants (a server's workers)."""
    import psutil

    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
    except psutil.Error:
        return 0.0
    return total


def start_profiler(args: argparse.Namespace, system: str, clients: int, pid: int) -> subprocess.Popen | None:
    if not args.profile or clients != max(args.clients):
        return None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    args.profile.mkdir(parents=True, exist_ok=True)
    out = args.profile / f"{system}-{clients}-clients.folded"  # collapsed stacks (flamegraph.pl, speedscope)
    return subprocess.Popen([py_spy, "record", "--subprocesses", "--idle", "--rate", "200", "--format", "raw", "-p", str(pid),
                             "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profiler(profiler: subprocess.Popen | None) -> None:
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)


def print_phase(system: str, key: str, result: dict) -> None:
    routes = "  ".join(f"{route}: p50 {r['p50']} ms p99 {r['p99']} ms" for route, r in result["routes"].items())
    cpu = f"  server CPU {result['serverCpuMsPerRequest']} ms/request" if "serverCpuMsPerRequest" in result else ""
    rounds = f"  rounds {result['rounds']}" if "rounds" in result else ""
    print(f"{system:8s} {key:14s} {result['perSecond']:7.1f}/s  {routes}{cpu}{rounds}", flush=True)


# --- report ----------------------------------------------------------------------------------------


def render(args: argparse.Namespace, results: dict, note: str | None, load_before: float) -> str:
    load = os.getloadavg()
    lines = [
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()}, {os.cpu_count()} cores (shared with "
        f"other work: load average {load_before:.1f} before, {load[0]:.1f} / {load[1]:.1f} (1 / 5 min) at the end), "
        f"Python {platform.python_version()}. Both on SQLite with {args.workers} server workers, no job worker; "
        f"N = {args.models:,} models × 2 versions per phase (3 requests each) in {args.rounds} rounds, the two systems "
        f"taking turns within each round; the same load generator.",
        "",
    ]
    if note:
        lines += [note, ""]
    lines += ["| phase | clients | system | models/s (updates/s) | create model p50 / p99 ms | "
              "create version p50 / p99 ms | update p50 / p99 ms | server CPU ms / request |",
              "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    systems = [("platform", "platform")]
    if "mlflow" in results:
        systems.append(("mlflow", f"MLflow {results.get('mlflowVersion', '')}".strip()))
    keys = [f"register | {c}" for c in args.clients] + ["update | 1"]
    for key in keys:
        for system, label in systems:
            result = results.get(system, {}).get(key)
            if not result:
                continue
            name, clients = key.split(" | ")
            cells = []
            for route in ("create model", "create version", "update model"):
                r = result["routes"].get(route)
                cells.append(f"{r['p50']} / {r['p99']}" if r else "–")
            cells.append(str(result.get("serverCpuMsPerRequest", "–")))
            lines.append(f"| {name} | {clients} | {label} | {result['perSecond']} | {' | '.join(cells)} |")
    lines += ["", "Server CPU: user + system CPU of all the server's processes during the phase, per request "
              "(MLflow's include its background job processes)."]
    if "mlflow" in results and "platform" in results:
        lines.append("")
        for clients in args.clients:
            ours = results["platform"][f"register | {clients}"]["perSecond"]
            theirs = results["mlflow"][f"register | {clients}"]["perSecond"]
            pairs = zip(results["platform"][f"register | {clients}"]["rounds"],
                        results["mlflow"][f"register | {clients}"]["rounds"], strict=True)
            each = ", ".join(f"{a / b:.2f}×" for a, b in pairs)
            lines.append(f"Registration with {clients} client(s): {ours / theirs:.2f}× MLflow's rate "
                         f"(round by round: {each}).  ")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=1000, help="models registered per phase")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (both systems)")
    parser.add_argument("--mlflow", default="/tmp/mlflow-venv",
                        help="MLflow's virtual environment (or its `mlflow` executable)")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-platform", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="rounds each phase is split into, systems alternating")
    parser.add_argument("--profile", type=Path, help="record py-spy flame graphs of the busiest phase here")
    parser.add_argument("--readme", action="store_true", help="write the figures into bench/README.md")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    results: dict = {}
    note = None
    with contextlib.ExitStack() as servers:
        targets = [] if args.skip_platform else [servers.enter_context(platform_target(args))]
        if not args.skip_mlflow:
            mlflow = servers.enter_context(mlflow_target(args, results))
            if isinstance(mlflow, str):
                note = mlflow
            else:
                targets.append(mlflow)
        measure(targets, args, results)
        if not args.skip_platform:
            measure_updates(targets[0], args, results)
    report = render(args, results, note, load_before)
    print(report)
    if args.readme:
        write_readme_section("registry-writes-bench", "Registry writes side by side with MLflow "
                             "(`bench/registry_writes.py`)", report)


if __name__ == "__main__":
    main()
