"""Reading untrusted files in a child process under limits, so that a parser's crash or hang fails one
upload and nothing else.

polars (native code) reads every uploaded file. A 6 KB JSON Lines file nested 1,000 levels deep made it
overflow its stack and take the web process down with it; a file built to make a reader loop or
allocate without end would do the same. So uploads, previews and profiles run `fn(*args)` in a fresh
child process with

- an address-space limit (`AISYSTEM_PARSER_MEMORY_MB`), a CPU-time limit (`AISYSTEM_PARSER_CPU_SECONDS`,
  summed over the parser's threads), a stack limit (`STACK_BYTES`) and a wall-clock limit
  (`AISYSTEM_PARSER_TIMEOUT_SECONDS`, after which the child is killed);
- the outcome sent back over a pipe: the return value, or the AISystemError the reader raised;
- a child that dies (a signal, a Rust panic that aborts, the CPU limit) or runs out of time mapped to
  DATA_002 naming the cause (from the signal and the last lines the child wrote to its stderr).

The children come from a fork server that has already imported polars and the readers
(multiprocessing's "forkserver" start method), so a child starts in a few tens of milliseconds, not
the second a fresh interpreter needs to import polars; each child serves one call and exits, so no
state, memory growth or CPU-time count carries over from one upload to the next. The fork server is
started on first use, with this process's AISYSTEM_* settings passed on every call (tests change them).
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import multiprocessing.context
import os
import resource
import signal
import threading
import traceback
from collections.abc import Callable
from multiprocessing import forkserver, popen_forkserver, reduction, spawn, util
from multiprocessing.connection import Connection
from multiprocessing.context import set_spawning_popen
from pathlib import Path
from typing import Any

from backend.core import artifacts
from backend.core.config import get_settings, reset_settings
from backend.core.errors import AISystemError

log = logging.getLogger(__name__)
STACK_BYTES = 64 * 1024 * 1024
# Imported once by the fork server, so no child pays for them (clevercsv alone is ~0.3 s). Nothing may
# *run* polars there: its thread pool would not survive the fork.
PRELOAD = ["polars", "numpy", "clevercsv", "charset_normalizer", "zstandard", "backend.catalog.datasets.ingest",
           "backend.catalog.datasets.profiling"]
_lock = threading.Lock()
_context: Any = None

SIGNAL_CAUSES = {
    signal.SIGSEGV: "it crashed (segmentation fault: usually a stack overflow on deeply nested data)",
    signal.SIGBUS: "it crashed (bus error)",
    signal.SIGABRT: "it aborted",
    signal.SIGILL: "it crashed (illegal instruction)",
    signal.SIGFPE: "it crashed (arithmetic error)",
    signal.SIGXCPU: "it used more than its CPU-time limit",
    signal.SIGKILL: "it was killed (out of memory, or its CPU-time limit)",
}


def _forkserver() -> Any:
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _context = context
        return _context


class _Popen(popen_forkserver.Popen):
    """The fork server's Popen, except that the child does not import the parent's `__main__` again:
    multiprocessing does that so a child can find functions defined there, but the web process's main
    module is the UI server (`aisystem_app.serve`), whose import costs seconds, and the parser needs
    nothing from it. (The body is the standard library's `_launch` with that one step left out.)"""

    def _launch(self, process_obj: Any) -> None:
        prep_data = {k: v for k, v in spawn.get_preparation_data(process_obj._name).items()
                     if k not in ("init_main_from_name", "init_main_from_path")}
        buf = io.BytesIO()
        set_spawning_popen(self)
        try:
            reduction.dump(prep_data, buf)
            reduction.dump(process_obj, buf)
        finally:
            set_spawning_popen(None)
        self.sentinel, w = forkserver.connect_to_new_process(self._fds)
        parent_w = os.dup(w)
        self.finalizer = util.Finalize(self, util.close_fds, (parent_w, self.sentinel))
        with open(w, "wb", closefd=True) as f:
            f.write(buf.getbuffer())
        self.pid = forkserver.read_signed(self.sentinel)


class _Process(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> _Popen:  # noqa: N802  (the name multiprocessing calls)
        return _Popen(process_obj)


def run(fn: Callable[..., Any], *args: Any, what: str = "file", **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a child process under the parser limits; its return value, or the
    AISystemError it raised, raised here. `fn` and its arguments must be picklable (module-level
    functions, dataclasses, paths); `what` names the input in errors ("The file ... could not be read")."""
    settings = get_settings()
    env = {k: v for k, v in os.environ.items() if k.startswith(("AISYSTEM_", "POLARS_"))}
    limits = (settings.parser_memory_mb * 1024 * 1024, settings.parser_cpu_seconds)
    context = _forkserver()
    with artifacts.scratch("tmp") as folder:
        stderr = folder / "parser.log"
        receive, send = context.Pipe(duplex=False)
        child = _Process(target=_child, args=(send, fn, args, kwargs, env, limits, str(stderr)),
                         name="aisystem-parser", daemon=True)
        child.start()
        send.close()
        try:
            outcome = _wait(receive, child, settings.parser_timeout_seconds)
        finally:
            receive.close()
            if child.is_alive():
                child.kill()
            child.join(5)
        if outcome is None:
            raise _died(child.exitcode, _tail(stderr), what)
    kind, value = outcome
    if kind == "ok":
        return value
    if kind == "error":
        code, message, details = value
        raise AISystemError(code, message, details)
    if kind == "timeout":
        raise AISystemError("DATA_002", f"The {what} could not be read: reading it took longer than "
                            f"{settings.parser_timeout_seconds} s, so it was stopped",
                            {"cause": "timeout", "limitSeconds": settings.parser_timeout_seconds})
    if kind == "memory":
        raise AISystemError("DATA_002", f"The {what} could not be read: it needs more memory than the "
                            f"{settings.parser_memory_mb} MB a reader may use",
                            {"cause": "memory", "limitMb": settings.parser_memory_mb})
    raise RuntimeError(f"the parser process failed: {value}")


def _wait(receive: Connection, child: Any, timeout: float) -> tuple[str, Any] | None:
    """The child's message, ("timeout", None) when it does not answer in time, None when it died."""
    if not receive.poll(timeout):
        child.kill()
        return "timeout", None
    try:
        return receive.recv()
    except (EOFError, OSError):
        return None


def _died(exitcode: int | None, stderr: str, what: str) -> AISystemError:
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else f"signal {number}"
        cause = SIGNAL_CAUSES.get(number, f"it was stopped by {name}")
    else:
        name, cause = None, f"it stopped unexpectedly (exit status {exitcode})"
    if "overflowed its stack" in stderr or "stack overflow" in stderr:
        cause = "it overflowed its stack (data nested too deeply)"
    elif "memory allocation" in stderr and "failed" in stderr:
        cause = "it could not allocate memory (its memory limit, or a stack overflow on deeply nested data)"
    log.warning("parser process died (%s, exit %s): %s", cause, exitcode, stderr[-500:])
    return AISystemError("DATA_002", f"The {what} could not be read: the reader stopped because {cause}. "
                         "The file was refused and nothing was stored.",
                         {"cause": "crash", "signal": name, "exitCode": exitcode})


def _tail(path: Path, size: int = 4096) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - size))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _child(send: Connection, fn: Callable[..., Any], args: tuple, kwargs: dict, env: dict[str, str],
           limits: tuple[int, int], stderr: str) -> None:
    """The child's body: limits, the caller's settings, stderr to a file, then `fn`; one message back."""
    memory, cpu = limits
    _limit(resource.RLIMIT_AS, memory)
    _limit(resource.RLIMIT_CPU, cpu, hard=cpu + 5)  # SIGXCPU at the soft limit, SIGKILL a little later
    _limit(resource.RLIMIT_STACK, STACK_BYTES)
    _limit(resource.RLIMIT_CORE, 0)
    fd = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 2)
    os.close(fd)
    for key in [k for k in os.environ if k.startswith(("AISYSTEM_", "POLARS_"))]:
        del os.environ[key]
    os.environ.update(env)
    reset_settings()
    try:
        message: tuple[str, Any] = ("ok", fn(*args, **kwargs))
    except AISystemError as exc:
        message = ("error", (exc.code, exc.message, exc.details))
    except MemoryError:
        message = ("memory", None)
    except BaseException as exc:  # noqa: BLE001  (a Rust panic arrives as a BaseException)
        message = _unexpected(exc)
    send.send(message)
    send.close()


def _unexpected(exc: BaseException) -> tuple[str, Any]:
    """A reader's own failure (polars, the OS, a value it cannot take) is the file's problem: DATA_002;
    anything else is a bug and goes back as one (a 500 with the traceback logged)."""
    import polars as pl

    from backend.catalog.datasets.ingest import _short

    text = str(exc)
    if "could not spawn threads" in text or "memory allocation" in text:
        return "memory", None
    if isinstance(exc, pl.exceptions.PolarsError | OSError | ValueError) or type(exc).__name__ == "PanicException":
        return "error", ("DATA_002", f"The file could not be read: {_short(exc)}", {"cause": "reader"})
    return "bug", "".join(traceback.format_exception(exc))[-4000:]


def _limit(kind: int, soft: int, *, hard: int | None = None) -> None:
    """Lower a resource limit (never above the hard limit already in force)."""
    current_soft, current_hard = resource.getrlimit(kind)
    ceiling = current_hard if current_hard != resource.RLIM_INFINITY else None
    hard = soft if hard is None else hard
    if ceiling is not None:
        soft, hard = min(soft, ceiling), min(hard, ceiling)
    resource.setrlimit(kind, (soft, hard))
