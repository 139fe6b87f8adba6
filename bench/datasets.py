"""Dataset benchmark: upload a 1,000,000-row × 20-column CSV through the REST API of a real server,
then time profile + statistics; compare with a plain polars pass, pandas `describe` and (when it is
installed) ydata-profiling in minimal mode, in the same run.

    .venv/bin/python bench/datasets.py [--rows 1000000] [--keep] [--readme bench/README.md]

Peak RSS is the kernel's high-water mark (VmHWM) of the server's processes; it is reset between the
upload and the profile phase (`/proc/<pid>/clear_refs`), so each phase reports its own peak.
Targets (issue 4): upload peak RSS < 500 MB; profile + statistics < 5 s with peak RSS < 1 GB.
Issue 11: the upload (body streamed once, sniffed, parsed and written to Parquet by polars' streaming
engine) reaches >= 50 MB/s end to end; it is printed beside plain polars reading the same file.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import psutil
from harness import api_server, login, write_readme_section

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"
SEED = 20261126


def generate_csv(path: Path, rows: int) -> None:
    """ints, floats with 5 % nulls, categoricals of cardinality 5…1,000, a datetime and a text column."""
    rng = np.random.default_rng(SEED)
    cols: dict[str, object] = {}
    for i in range(5):
        cols[f"int_{i}"] = rng.integers(-1_000_000, 1_000_000, rows)
    for i in range(5):
        values = rng.normal(50 + i, 10, rows)
        values[rng.random(rows) < 0.05] = np.nan
        cols[f"float_{i}"] = values
    for i, card in enumerate([5, 10, 50, 100, 500, 1000, 20]):
        cols[f"cat_{i}"] = np.array([f"c{card}_{j}" for j in range(card)])[rng.integers(0, card, rows)]
    start = np.datetime64("2024-01-01T00:00:00", "ms")
    cols["ts"] = start + (rng.integers(0, 365 * 24 * 3600, rows) * 1000).astype("timedelta64[ms]")
    words = np.array(["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "good", "bad", "service", "product", "fast", "slow", "price"])
    picks = words[rng.integers(0, len(words), (rows, 8))]
    cols["text"] = [" ".join(row) for row in picks]
    cols["label"] = np.array(["positive", "negative", "neutral"])[rng.integers(0, 3, rows)]
    frame = pl.DataFrame(cols).with_columns([pl.col(f"float_{i}").fill_nan(None) for i in range(5)])
    frame.write_csv(path)


def hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def server_pids(proc: subprocess.Popen) -> list[int]:
    parent = psutil.Process(proc.pid)
    return [parent.pid, *[c.pid for c in parent.children(recursive=True)]]


def reset_peaks(pids: list[int]) -> bool:
    ok = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            ok = False
    return ok


def peak(pids: list[int]) -> float:
    return max(hwm_mb(pid) for pid in pids)


def run(rows: int, keep: bool) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="aisystem-bench-"))
    env = {**os.environ, "AISYSTEM_DATA_DIR": str(work / "data"), "AISYSTEM_ENV": "development",
           "AISYSTEM_SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789", "AISYSTEM_DEMO_PASSWORD": PASSWORD,
           "AISYSTEM_ARGON2_TIME_COST": "1", "AISYSTEM_ARGON2_MEMORY_KIB": "1024", "POLARS_MAX_THREADS": "2"}
    env.pop("AISYSTEM_DATABASE_URL", None)
    figures: dict[str, object] = {"rows": rows}
    csv = work / "bench.csv"
    started = time.perf_counter()
    generate_csv(csv, rows)
    figures["generateSeconds"] = round(time.perf_counter() - started, 2)
    figures["csvMB"] = round(csv.stat().st_size / 1e6, 1)
    subprocess.run([sys.executable, "-m", "backend.cli", "migrate"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-c", "from backend.core.db import session_scope\n"
                    "from backend.auth import service\n"
                    "with session_scope() as s: service.ensure_demo_users(session=s)"],
                   cwd=ROOT, env=env, check=True)
    with api_server(env, work / "server.log") as (server, base), \
            httpx.Client(base_url=base, timeout=600) as client:
        headers = login(client, "data_scientist", PASSWORD)
        created = client.post("/catalog/datasets", json={"name": "bench 1M", "type": "tabular",
                                                         "labelColumn": "label"}, headers=headers)
        created.raise_for_status()
        dataset_id = created.json()["id"]
        pids = server_pids(server)
        figures["serverIdleMB"] = round(max(psutil.Process(p).memory_info().rss for p in pids) / 1e6, 1)
        reset_peaks(pids)
        started = time.perf_counter()
        with open(csv, "rb") as f:
            response = client.post(f"/catalog/datasets/{dataset_id}/upload", headers=headers,
                                   files={"file": ("bench.csv", f, "text/csv")})
        response.raise_for_status()
        figures["uploadSeconds"] = round(time.perf_counter() - started, 2)
        figures["uploadMBps"] = round(figures["csvMB"] / figures["uploadSeconds"], 1)
        figures["uploadPeakRssMB"] = round(peak(pids), 1)
        version = response.json()["version"]
        figures["parquetMB"] = round(version["size"] / 1e6, 1)
        reset_peaks(pids)
        started = time.perf_counter()
        prof = client.get(f"/catalog/datasets/{dataset_id}/profile", headers=headers)
        prof.raise_for_status()
        stats = client.get(f"/catalog/datasets/{dataset_id}/statistics", headers=headers)
        stats.raise_for_status()
        figures["profileAndStatisticsSeconds"] = round(time.perf_counter() - started, 2)
        figures["profileComputeSeconds"] = prof.json()["profile"]["computeSeconds"]
        figures["profilePeakRssMB"] = round(peak(pids), 1)
        started = time.perf_counter()
        client.get(f"/catalog/datasets/{dataset_id}/quality", headers=headers).raise_for_status()
        figures["qualityCachedSeconds"] = round(time.perf_counter() - started, 3)
    figures.update(side_by_side(csv))
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        figures["workDir"] = str(work)
    return figures


def _timed_child(code: str, csv: Path) -> tuple[float, float] | None:
    """(seconds, peak RSS MB) of `code` run in a fresh interpreter (so peaks do not mix)."""
    # VmHWM, not ru_maxrss: the latter keeps the peak of the (large) parent across fork + exec.
    script = ("import sys, time\ncsv = sys.argv[1]\nt = time.perf_counter()\n" + code +
              "\nhwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]"
              "\nprint(time.perf_counter() - t, int(hwm) / 1024)")
    result = subprocess.run([sys.executable, "-c", script, str(csv)], capture_output=True, text=True,
                            env={**os.environ, "POLARS_MAX_THREADS": "2"}, timeout=1800)
    if result.returncode != 0:
        return None
    seconds, rss = result.stdout.strip().splitlines()[-1].split()
    return round(float(seconds), 2), round(float(rss), 1)


def side_by_side(csv: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    read = _timed_child("import polars as pl\npl.read_csv(csv, try_parse_dates=True)", csv)
    out["polarsRead"] = read
    out["polarsReadMBps"] = round(csv.stat().st_size / 1e6 / read[0], 1) if read else None
    polars_pass = _timed_child("import polars as pl\npl.read_csv(csv, try_parse_dates=True).describe()", csv)
    pandas_pass = _timed_child("import pandas as pd\npd.read_csv(csv).describe(include='all')", csv)
    out["polarsDescribe"] = polars_pass
    out["pandasDescribe"] = pandas_pass
    try:
        import ydata_profiling  # noqa: F401

        out["ydataProfilingMinimal"] = _timed_child(
            "import pandas as pd\nfrom ydata_profiling import ProfileReport\n"
            "ProfileReport(pd.read_csv(csv), minimal=True, progress_bar=False).to_json()", csv)
    except ImportError:
        out["ydataProfilingMinimal"] = "not installed"
    return out


def markdown(figures: dict[str, object]) -> str:
    def pair(value: object) -> str:
        return f"{value[0]} s, {value[1]} MB" if isinstance(value, tuple) else str(value)

    upload_ok = figures["uploadPeakRssMB"] < 500
    speed_ok = figures["uploadMBps"] >= 50
    profile_ok = figures["profileAndStatisticsSeconds"] < 5 and figures["profilePeakRssMB"] < 1000
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, polars {pl.__version__}; SQLite; one granian worker.",
        "",
        "| figure | value | target |",
        "| --- | --- | --- |",
        f"| CSV size ({figures['rows']:,} rows × 20 columns) | {figures['csvMB']} MB | |",
        f"| upload through the API (body streamed once → sniffed → polars streaming parse → Parquet zstd → schema) "
        f"| {figures['uploadSeconds']} s ({figures['uploadMBps']} MB/s) | ≥ 50 MB/s {'✅' if speed_ok else '❌'} |",
        f"| plain polars `read_csv` of the same file (separate process, in memory) | {pair(figures['polarsRead'])}"
        f" ({figures['polarsReadMBps']} MB/s) | |",
        f"| server peak RSS during the upload | {figures['uploadPeakRssMB']} MB | < 500 MB "
        f"{'✅' if upload_ok else '❌'} |",
        f"| stored Parquet (zstd) | {figures['parquetMB']} MB | |",
        f"| `GET profile` (cold, computed) + `GET statistics` (cached) | {figures['profileAndStatisticsSeconds']} s "
        f"(compute {figures['profileComputeSeconds']} s) | < 5 s {'✅' if profile_ok else '❌'} |",
        f"| server peak RSS during profile + statistics | {figures['profilePeakRssMB']} MB | < 1 GB |",
        f"| `GET quality` afterwards (cached) | {figures['qualityCachedSeconds']} s | |",
        f"| plain polars `read_csv` + `describe` (separate process) | {pair(figures['polarsDescribe'])} | |",
        f"| pandas `read_csv` + `describe(include='all')` | {pair(figures['pandasDescribe'])} | |",
        f"| ydata-profiling, minimal mode | {pair(figures['ydataProfilingMinimal'])} | ≥ 20× slower |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (CSV, data dir, server log)")
    parser.add_argument("--readme", type=Path, help="write the figures into this README's datasets section")
    args = parser.parse_args()
    figures = run(args.rows, args.keep)
    text = markdown(figures)
    print(text)
    print(figures)
    if args.readme:
        write_readme_section("datasets-bench", "Datasets (`bench/datasets.py`)", text, args.readme)


if __name__ == "__main__":
    main()
