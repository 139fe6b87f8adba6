"""Training runners forked from a warm process, so that an attempt does not begin by importing for seconds.

A training attempt runs in its own process (`backend.training.runner`). Started fresh, that process spent
most of a short trial importing: torch, Lightning (which pulls in torchmetrics and through it transformers)
and the platform's services took ~21 s of a 29 s hyperparameter-optimisation trial on a loaded 2-core
machine, and a study is dozens of trials. So each worker process keeps one *warm* process that imports all
of that once and forks a runner for each attempt (`AISYSTEM_TRAINING_WARM_RUNNER`, on by default):

- the warm process is started by a thread that lives as long as the worker, and dies with the worker
  (PR_SET_PDEATHSIG); each runner it forks starts its own session (the handler kills its process group) and
  dies with the warm process, so a lost worker still takes its training with it;
- the warm process only imports: it never runs torch (a thread pool would not survive the fork), opens a
  database connection or keeps settings. A runner gets the handler's environment with its request and starts
  from fresh settings, engines and stores, as a fresh `python -m backend.training.runner` would;
- the warm process opens a pidfd for each runner it forks and passes it to the handler over their socket,
  so the handler follows a process that is not its own child (no pid can be reused under it) and reads the
  outcome from the outcome file as before;
- DDP (`devices` > 1) keeps the fresh process, since Lightning starts the other ranks by running the
  command line again; so does any attempt when the warm process cannot be started.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1
# What a runner imports, imported once by the warm process.
PRELOAD = ["torch", "lightning", "polars", "numpy", "safetensors.torch", "backend.ml.training", "backend.ml.packaging",
           "backend.ml.families", "backend.catalog.experiments.service", "backend.training.service",
           "backend.training.runner"]
READY_SECONDS = 300  # how long an attempt waits for a warm process that is still importing
MESSAGE_BYTES = 1 << 20


def die_with_parent() -> None:
    """SIGKILL this process when the thread that started it ends (a lost worker takes its training with it)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


# --- the handler's side ------------------------------------------------------------------------------


class ForkedRunner:
    """A runner forked by the warm process, followed through its pidfd: enough of `subprocess.Popen` for
    the training handler (`pid`, `poll`, `wait`). The exit status stays with the warm process; the
    handler reads the attempt's outcome from its outcome file, so `returncode` is 0 once it has ended."""

    def __init__(self, pid: int, pidfd: int):
        self.pid, self._pidfd = pid, pidfd
        self.returncode: int | None = None

    def _ended(self, timeout: float) -> bool:
        if self.returncode is None:
            readable, _w, _x = select.select([self._pidfd], [], [], max(timeout, 0))
            if readable:
                self.returncode = 0
                os.close(self._pidfd)
        return self.returncode is not None

    def poll(self) -> int | None:
        self._ended(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended(60 if deadline is None else deadline - time.monotonic()):
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired("training runner", timeout)
        return 0


class WarmProcess:
    """The worker's warm process: started on first use (or by `warm_up`), restarted if it dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one request at a time on the socket
        self._starting = threading.Lock()
        self._ready = threading.Event()
        self._gone = threading.Event()
        self._sock: socket.socket | None = None

    def start(self) -> None:
        with self._starting:
            if self._sock is not None and not self._gone.is_set():
                return
            if self._sock is not None:
                self._sock.close()
            self._ready.clear()
            self._gone.clear()
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self._sock = ours
            # The thread that starts the process must outlive it (PR_SET_PDEATHSIG follows the thread).
            threading.Thread(target=self._own, args=(theirs,), name="training-warm-process", daemon=True).start()

    def _own(self, theirs: socket.socket) -> None:
        command = [sys.executable, "-m", "backend.training.warm", str(theirs.fileno())]
        try:
            proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, pass_fds=[theirs.fileno()],
                                    preexec_fn=die_with_parent)  # noqa: PLW1509
        except Exception:  # noqa: BLE001 - attempts then start fresh processes
            log.exception("the warm training process could not be started")
            self._gone.set()
            return
        finally:
            theirs.close()
        threading.Thread(target=self._await_ready, name="training-warm-ready", daemon=True).start()
        proc.wait()
        log.warning("the warm training process ended (exit %s); the next attempt starts another", proc.returncode)
        self._gone.set()

    def _await_ready(self) -> None:
        sock = self._sock
        with contextlib.suppress(OSError, ValueError):
            if sock is not None and json.loads(sock.recv(MESSAGE_BYTES) or b"{}").get("ready"):
                self._ready.set()
                return
        self._gone.set()

    def launch(self, argv: list[str], output: Path) -> ForkedRunner | None:
        """Fork a runner for `argv` writing to `output`; None when no warm process can serve it (the caller
        starts a fresh process instead)."""
        self.start()
        deadline = time.monotonic() + READY_SECONDS
        while not self._ready.wait(0.2):
            if self._gone.is_set() or time.monotonic() > deadline:
                return None
        request = json.dumps({"argv": argv, "output": str(output), "cwd": str(ROOT), "env": dict(os.environ)})
        with self._lock:
            try:
                self._sock.sendall(request.encode())
                message, fds, _flags, _addr = socket.recv_fds(self._sock, MESSAGE_BYTES, 1)
            except OSError:
                log.exception("the warm training process did not answer")
                return None
        reply = json.loads(message or b"{}")
        if "pid" not in reply or not fds:
            for fd in fds:
                os.close(fd)
            log.error("the warm training process could not fork a runner: %s", reply.get("error"))
            return None
        return ForkedRunner(int(reply["pid"]), fds[0])


_warm = WarmProcess()


def enabled() -> bool:
    from backend.core.config import get_settings

    return get_settings().training_warm_runner and hasattr(os, "pidfd_open") and hasattr(socket, "send_fds")


def warm_up() -> None:
    """Start the warm process now (a worker that serves the training queue calls this when it starts)."""
    if enabled():
        _warm.start()


def worker_started(queues: list[str]) -> None:
    """The `worker_started` hook: a worker that serves the training queue warms up at once, so that its
    first attempt does not wait for the imports either."""
    if "training" in queues:
        warm_up()


def launch(argv: list[str], output: Path) -> ForkedRunner | None:
    return _warm.launch(argv, output) if enabled() else None


# --- the warm process --------------------------------------------------------------------------------


def _fresh_state(env: dict[str, str]) -> None:
    """What a fresh interpreter would have: the handler's environment, no cached settings, engines or stores."""
    os.environ.clear()
    os.environ.update(env)
    from backend.core import artifacts, db
    from backend.core.config import reset_settings

    reset_settings()
    db.engine_for.cache_clear()
    artifacts.reset_store_cache()


def _run_runner(request: dict[str, Any]) -> None:
    """In the forked child: become the runner, then leave without running the warm process's cleanup."""
    code = 1
    try:
        os.setsid()
        die_with_parent()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        os.close(null)
        os.chdir(request["cwd"])
        _fresh_state(request["env"])
        sys.argv = [str(ROOT / "backend" / "training" / "runner.py"), *request["argv"]]
        from backend.training import runner

        code = runner.main(request["argv"])
    except SystemExit as exc:  # as the interpreter would: a message goes to stderr, exit status 1
        if isinstance(exc.code, int):
            code = exc.code
        elif exc.code is not None:
            print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the runner's own log gets the trace
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def serve(sock: socket.socket) -> None:
    """Import once, then fork a runner per request until the worker closes the socket."""
    die_with_parent()
    for name in PRELOAD:
        importlib.import_module(name)
    sock.sendall(b'{"ready": true}')
    while True:
        readable, _w, _x = select.select([sock], [], [], 1.0)
        _reap()
        if not readable:
            continue
        message = sock.recv(MESSAGE_BYTES)
        if not message:
            return  # the worker is gone
        try:
            request = json.loads(message)
            pid = os.fork()
        except (OSError, ValueError) as exc:
            sock.sendall(json.dumps({"error": str(exc)[:500]}).encode())
            continue
        if pid == 0:
            sock.close()
            _run_runner(request)
        # Opened before the child can be reaped (only this loop reaps), so it names this child.
        pidfd = os.pidfd_open(pid)
        try:
            socket.send_fds(sock, [json.dumps({"pid": pid}).encode()], [pidfd])
        finally:
            os.close(pidfd)


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
