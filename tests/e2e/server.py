"""Start and stop the production build (UI, websocket and API on one port) for browser tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
# Separate from `.web/` so a `make run` serving at the same time keeps its build.
WEB_DIR = os.environ.get("AISYSTEM_E2E_WEB_DIR", ".web-test")
BUILD_TIMEOUT_S = float(os.environ.get("AISYSTEM_E2E_BUILD_TIMEOUT", "900"))
# The seed trains and measures demo models: minutes when other work shares the cores.
CLI_TIMEOUT_S = float(os.environ.get("AISYSTEM_E2E_CLI_TIMEOUT", "600"))
DEMO_PASSWORD = "e2e-demo-password-42"


@dataclass(frozen=True)
class Server:
    """A running server: where it answers and the environment it was started with."""

    base_url: str
    env: dict[str, str]
    log_path: Path

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run `python -m backend.cli ...` against this server's database."""
        return run_cli(self.env, *args, stdin=stdin)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(port: int, data_dir: Path, **overrides: str) -> dict[str, str]:
    """Environment for the CLI and `reflex run`: test settings, project-local Bun, separate web dir."""
    env = dict(os.environ)
    env.update({
        "AISYSTEM_ENV": "test",
        "AISYSTEM_PORT": str(port),
        "AISYSTEM_DATA_DIR": str(data_dir),
        "AISYSTEM_DEMO_PASSWORD": DEMO_PASSWORD,
        "AISYSTEM_ARGON2_MEMORY_KIB": "1024",
        "AISYSTEM_ARGON2_TIME_COST": "1",
        "PATH": f"{ROOT / '.tools' / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}",
        "REFLEX_USE_SYSTEM_BUN": "1",
        "REFLEX_WEB_WORKDIR": WEB_DIR,
        "REFLEX_STATES_WORKDIR": str(data_dir / "reflex-states"),
        "REFLEX_CHECK_LATEST_VERSION": "false",
        "REFLEX_TELEMETRY_ENABLED": "false",
    })
    env.pop("REDIS_URL", None)
    env.pop("AISYSTEM_DATABASE_URL", None)
    env.update(overrides)
    return env


def run_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run the backend CLI; fail loudly with its output."""
    result = subprocess.run([sys.executable, "-m", "backend.cli", *args], cwd=ROOT, env=env, input=stdin,
                            capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    if result.returncode != 0:
        raise RuntimeError(f"backend.cli {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_until_up(proc: subprocess.Popen, urls: list[str], log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"reflex exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        if all(_answers(url) for url in urls):
            return
        time.sleep(1)
    raise TimeoutError(f"the server did not answer within {timeout:.0f}s:\n{log_path.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the whole process group (reflex, its backend workers, bun)."""
    for sig, wait_s in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no child of the group outlives it.
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


@contextmanager
def serve(env: dict[str, str], *extra_args: str, timeout: float = BUILD_TIMEOUT_S) -> Iterator[Server]:
    """`reflex run --env prod <extra_args>` on the env's port in its own process group; stopped on exit.

    Ready once `/ping` answers and, unless `--backend-only`, the home page too.
    """
    port = env["AISYSTEM_PORT"]
    log_path = Path(env["AISYSTEM_DATA_DIR"]) / "reflex.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reflex", "run", "--env", "prod", *extra_args, "--backend-port", port,
             "--loglevel", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            urls = [f"{base_url}/ping"] + ([] if "--backend-only" in extra_args else [f"{base_url}/"])
            _wait_until_up(proc, urls, log_path, timeout)
            yield Server(base_url, env, log_path)
        finally:
            _stop(proc)
