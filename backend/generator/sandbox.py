"""The sandbox a generated application is installed, tested and run in.

- **Environment**: one virtual environment per data dir (`<data dir>/generator/sandbox-venv`, made once with
  `python -m venv --without-pip`) whose `platform-env.pth` puts the platform's site-packages on its path,
  so a generated project imports exactly the packages the platform installs, offline, and nothing it
  installs lands in the platform's environment. (`--system-site-packages` alone would expose the base
  interpreter's packages, not the platform venv's.)
- **Install**: `pip install --no-deps --no-index --no-build-isolation --target <work>/site <project>`: the
  project must build and install with what is here; its `requirements.txt` is checked against the installed
  versions.
- **Tests**: a runner script runs pytest in the project folder (plugin autoload off, no cache), traces
  every line of the project's package with `sys.settrace`/`threading.settrace` (the `coverage` package is not
  installed) and writes the results as JSON. Coverage = executed / executable lines, executable lines
  being those the compiled code objects name (`co_lines`), as the standard `trace` module counts them.
- **Limits** (`resource.setrlimit` in the child): address space `AISYSTEM_GENERATOR_SANDBOX_MEMORY_MB`, CPU
  time and wall clock `AISYSTEM_GENERATOR_SANDBOX_TIMEOUT_SECONDS`, files written at most 64 MB, no core
  files; its own session (the whole group is killed at the limit); an environment of its own (no AISYSTEM_*
  variables or credentials, HOME and TMPDIR in the work folder).
- **No network**: tests run in a new network namespace (`unshare --net`, only loopback, down) where the
  kernel allows it, and always under a socket guard that refuses internet connections and name lookups
  other than localhost. A local deployment (`start`) keeps loopback and the guard, to answer its port.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import shutil
import site
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.core.config import get_settings

FILE_LIMIT = 64 * 1024 * 1024
OUTPUT_KEPT = 6000
_venv_lock = threading.Lock()

GUARD = '''
import socket as _socket

_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0")
_connect, _connect_ex, _getaddrinfo = _socket.socket.connect, _socket.socket.connect_ex, _socket.getaddrinfo


def _check(address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host not in _LOCAL:
        raise PermissionError(f"network access is disabled in the sandbox ({host})")


def connect(self, address):
    if self.family in (_socket.AF_INET, _socket.AF_INET6):
        _check(address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (_socket.AF_INET, _socket.AF_INET6):
        _check(address)
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host not in _LOCAL and host is not None:
        raise _socket.gaierror(f"name lookups are disabled in the sandbox ({host})")
    return _getaddrinfo(host, *args, **kwargs)


_socket.socket.connect, _socket.socket.connect_ex, _socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''

RUNNER = '''
import json, os, sys, threading, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sitecustomize  # noqa: F401  (the socket guard)

project, package, out = sys.argv[1], sys.argv[2], sys.argv[3]
root = os.path.join(project, package) + os.sep
sys.path.insert(0, project)
os.chdir(project)
executed = set()


def _local(frame, event, arg):
    if event == "line":
        executed.add((frame.f_code.co_filename, frame.f_lineno))
    return _local


def _tracer(frame, event, arg):
    if not frame.f_code.co_filename.startswith(root):
        return None
    executed.add((frame.f_code.co_filename, frame.f_lineno))
    return _local


class Collector:
    def __init__(self):
        self.tests = {}

    def pytest_runtest_logreport(self, report):
        entry = self.tests.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "duration": 0.0})
        entry["duration"] = round(entry["duration"] + report.duration, 4)
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["message"] = str(report.longrepr)[-1500:]
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"


def _executable(path):
    lines, stack = set(), [compile(open(path, encoding="utf-8").read(), path, "exec")]
    while stack:
        code = stack.pop()
        lines.update(line for _, _, line in code.co_lines() if line is not None and line > 0)
        stack.extend(c for c in code.co_consts if hasattr(c, "co_lines"))
    return lines


import pytest  # noqa: E402

collector = Collector()
started = time.perf_counter()
sys.settrace(_tracer)
threading.settrace(_tracer)
code = pytest.main(["-q", "-p", "no:cacheprovider", "-o", "console_output_style=classic", "tests"],
                   plugins=[collector])
sys.settrace(None)
threading.settrace(None)
files, total, hit = {}, 0, 0
for folder, _, names in os.walk(root):
    for name in sorted(names):
        if name.endswith(".py"):
            path = os.path.join(folder, name)
            lines = _executable(path)
            done = {line for f, line in executed if f == path} & lines
            files[os.path.relpath(path, project)] = {"executable": len(lines), "executed": len(done),
                                                     "missing": sorted(lines - done)[:200]}
            total, hit = total + len(lines), hit + len(done)
tests = list(collector.tests.values())
count = lambda outcome: sum(1 for t in tests if t["outcome"] == outcome)  # noqa: E731
json.dump({"exitCode": int(code), "passed": count("passed"), "failed": count("failed"), "errors": count("error"),
           "skipped": count("skipped"), "total": len(tests), "tests": tests,
           "durationSeconds": round(time.perf_counter() - started, 3),
           "coverage": {"percent": round(100.0 * hit / total, 1) if total else 0.0, "executable": total,
                        "executed": hit, "files": files}}, open(out, "w"))
'''


def _venv_dir() -> Path:
    return get_settings().resolved_data_dir / "generator" / "sandbox-venv"


def _platform_site_packages() -> list[str]:
    return [p for p in site.getsitepackages() if Path(p).is_dir()]


def sandbox_python() -> Path:
    """The sandbox environment's interpreter, made on first use."""
    venv = _venv_dir()
    python = venv / "bin" / "python"
    with _venv_lock:
        marker = venv / ".platform"
        wanted = json.dumps(_platform_site_packages())
        if python.exists() and marker.exists() and marker.read_text() == wanted:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True, timeout=120)
        (site_dir,) = list((venv / "lib").glob("python*/site-packages"))
        (site_dir / "platform-env.pth").write_text("\n".join(json.loads(wanted)) + "\n")
        marker.write_text(wanted)
    return python


@functools.cache
def network_namespace_available() -> bool:
    unshare = shutil.which("unshare")
    if not unshare:
        return False
    try:
        return subprocess.run([unshare, "--net", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _limits(memory_mb: int, cpu_seconds: int):  # noqa: ANN202
    def apply() -> None:
        for kind, value in ((resource.RLIMIT_AS, memory_mb * 1024 * 1024), (resource.RLIMIT_CPU, cpu_seconds),
                            (resource.RLIMIT_FSIZE, FILE_LIMIT), (resource.RLIMIT_CORE, 0)):
            soft, hard = resource.getrlimit(kind)
            ceiling = hard if hard != resource.RLIM_INFINITY else None
            value = min(value, ceiling) if ceiling is not None else value
            resource.setrlimit(kind, (value, value if kind != resource.RLIMIT_CPU else value + 5))

    return apply


def _environment(work: Path, python: Path) -> dict[str, str]:
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": f"{python.parent}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home),
            "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0", "PYTHONNOUSERSITE": "1",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "NO_PROXY": "*", "PYTHONPATH": str(work / "guard")}


def _write_guard(work: Path) -> Path:
    guard = work / "guard"
    guard.mkdir(parents=True, exist_ok=True)
    (guard / "sitecustomize.py").write_text(GUARD)
    return guard


@dataclass
class Limits:
    memory_mb: int
    timeout_seconds: int

    @classmethod
    def from_settings(cls) -> Limits:
        s = get_settings()
        return cls(s.generator_sandbox_memory_mb, s.generator_sandbox_timeout_seconds)


def _run(command: list[str], *, cwd: Path, env: dict[str, str], limits: Limits, isolate_network: bool,
         deadline: float) -> tuple[int | None, str, bool]:
    """(exit code or None when killed at the limit, output tail, timed out)."""
    if isolate_network and network_namespace_available():
        command = [shutil.which("unshare") or "unshare", "--net", "--", *command]
    remaining = max(1.0, deadline - time.monotonic())
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True,
                               preexec_fn=_limits(limits.memory_mb, limits.timeout_seconds))  # noqa: PLW1509
    try:
        output, _ = process.communicate(timeout=remaining)
        return process.returncode, output.decode(errors="replace")[-OUTPUT_KEPT:], False
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        output, _ = process.communicate()
        return None, output.decode(errors="replace")[-OUTPUT_KEPT:], True


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, 9)


def install_and_test(project: Path, *, package: str = "app", limits: Limits | None = None) -> dict[str, Any]:
    """Install the project in a throw-away target of the sandbox and run its tests there; the result
    document (install, tests, coverage, limits, how the network was cut). Raises nothing for a failing
    project: the document says what failed."""
    limits = limits or Limits.from_settings()
    python = sandbox_python()
    deadline = time.monotonic() + limits.timeout_seconds
    with tempfile.TemporaryDirectory(prefix="gen-sandbox-") as tmp:
        work = Path(tmp)
        _write_guard(work)
        env = _environment(work, python)
        copy = work / "project"
        shutil.copytree(project, copy)
        started = time.perf_counter()
        code, output, timed_out = _run(
            [str(python), "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation", "--quiet",
             "--disable-pip-version-check", "--no-cache-dir", "--target", str(work / "site"), str(copy)],
            cwd=work, env=env, limits=limits, isolate_network=True, deadline=deadline)
        shutil.rmtree(copy / "build", ignore_errors=True)
        for egg in copy.glob("*.egg-info"):
            shutil.rmtree(egg, ignore_errors=True)
        install = {"ok": code == 0, "exitCode": code, "seconds": round(time.perf_counter() - started, 2),
                   "output": output[-2000:], "requirements": check_requirements(project / "requirements.txt")}
        result: dict[str, Any] = {"install": install, "limits": {"memoryMb": limits.memory_mb,
                                                                  "timeoutSeconds": limits.timeout_seconds},
                                  "network": "namespace" if network_namespace_available() else "socket guard"}
        if timed_out:
            return {**result, "timedOut": True, "exitCode": None, "output": output}
        runner = work / "guard" / "run_tests.py"
        runner.write_text(RUNNER)
        report = work / "report.json"
        code, output, timed_out = _run([str(python), "-s", str(runner), str(copy), package, str(report)],
                                       cwd=copy, env=env, limits=limits, isolate_network=True, deadline=deadline)
        result.update({"exitCode": code, "timedOut": timed_out, "output": output})
        if report.exists():
            result.update(json.loads(report.read_text()))
            result["exitCode"] = code
        return result


def check_requirements(path: Path) -> list[dict[str, Any]]:
    """Each pinned requirement against the version installed here."""
    from importlib import metadata

    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        name, _, version = line.strip().partition("==")
        if not name:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = None
        out.append({"name": name, "required": version or None, "installed": installed,
                    "ok": installed is not None and (not version or installed == version)})
    return out


# --- local deployments ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(project: Path, *, port: int, log_path: Path, env_extra: dict[str, str] | None = None,
          memory_mb: int | None = None) -> int:
    """Start `uvicorn app.main:app` of an extracted project on 127.0.0.1:`port` in its own session, under the
    memory limit and the socket guard; its pid. Output goes to `log_path`."""
    python = sandbox_python()
    work = project.parent
    _write_guard(work)
    env = _environment(work, python) | (env_extra or {})
    memory = memory_mb or get_settings().generator_sandbox_memory_mb
    log = log_path.open("ab")
    try:
        process = subprocess.Popen(
            [str(python), "-s", "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_limits(memory, 10**7))  # noqa: PLW1509
    finally:
        log.close()
    return process.pid


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


def stop(pid: int | None, *, wait_seconds: float = 5.0) -> None:
    if not pid or not alive(pid):
        return
    try:
        os.killpg(pid, 15)
    except (ProcessLookupError, PermissionError):
        return
    end = time.monotonic() + wait_seconds
    while time.monotonic() < end and alive(pid):
        time.sleep(0.05)
    if alive(pid):
        _kill_group(pid)
