"""Training attempts forked from the worker's warm process: they train as a fresh process would, are killed
with their process group, and a warm process that dies is replaced by the next attempt."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from backend.core.config import reset_settings
from backend.training import service, tasks, warm
from tests.backend.training.conftest import body, read_training_job


@pytest.fixture
def no_fresh_process(monkeypatch):
    """Fail any attempt that would start a fresh runner process instead of forking one."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("a fresh runner process was started")

    monkeypatch.setattr(tasks, "subprocess", SimpleNamespace(
        Popen=refuse, TimeoutExpired=subprocess.TimeoutExpired, STDOUT=subprocess.STDOUT, DEVNULL=subprocess.DEVNULL))


def test_attempts_are_forked_from_one_warm_process_and_train(session, scientist, dataset, cpu_worker,
                                                             no_fresh_process):
    first = service.create_training_job(session=session, actor=scientist, data=body(dataset))
    second = service.create_training_job(session=session, actor=scientist, data={**body(dataset), "modelName": "b"})
    session.commit()
    cpu_worker(first.job_id)
    warm_pid = _warm_pid()
    cpu_worker(second.job_id)
    assert _warm_pid() == warm_pid  # the same warm process served both
    for job in (first, second):
        done = read_training_job(job.id)
        assert done.status == "succeeded" and done.model_version == "1.0.0" and len(done.checkpoints) == 2


def test_a_forked_runner_is_followed_and_killed_with_its_process_group(session, scientist, dataset, tmp_path,
                                                                      monkeypatch):
    output = tmp_path / "runner.log"
    # An attempt for a job that does not exist: the runner exits at once, having said why.
    runner = warm.launch(["no-such-job", str(tmp_path / "outcome.json"), "-"], output)
    assert runner is not None and runner.wait(timeout=60) == 0 and runner.poll() == 0
    assert "no training job no-such-job" in output.read_text()

    # A slow attempt (a second per step) is still running after a short wait, and ends with its group.
    job = service.create_training_job(session=session, actor=scientist, data=body(dataset))
    session.commit()
    monkeypatch.setenv("AISYSTEM_TRAINING_STEP_DELAY_SECONDS", "1")
    runner = warm.launch([job.id, str(tmp_path / "outcome.json"), "-"], output)
    with pytest.raises(subprocess.TimeoutExpired):
        runner.wait(timeout=0.5)
    assert runner.poll() is None and os.getpgid(runner.pid) == runner.pid  # its own session and group
    tasks._kill(runner)
    assert runner.poll() == 0 and not (tmp_path / "outcome.json").exists()


def test_a_dead_warm_process_is_replaced_by_the_next_attempt(tmp_path):
    assert warm.launch(["no-such-job", str(tmp_path / "o.json"), "-"], tmp_path / "a.log").wait(timeout=60) == 0
    os.kill(_warm_pid(), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not warm._warm._gone.is_set() and time.monotonic() < deadline:
        time.sleep(0.05)
    runner = warm.launch(["no-such-job", str(tmp_path / "o.json"), "-"], tmp_path / "b.log")
    assert runner is not None and runner.wait(timeout=60) == 0
    assert "no training job no-such-job" in (tmp_path / "b.log").read_text()


def test_with_the_warm_runner_off_attempts_start_a_fresh_process(monkeypatch, tmp_path):
    monkeypatch.setenv("AISYSTEM_TRAINING_WARM_RUNNER", "false")
    reset_settings()
    assert warm.launch(["no-such-job", str(tmp_path / "o.json"), "-"], tmp_path / "a.log") is None


def _warm_pid() -> int:
    """The warm process of this test process (the child running `backend.training.warm`)."""
    children = []
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            children += Path(f"/proc/{os.getpid()}/task/{task}/children").read_text().split()
        except FileNotFoundError:  # a thread that ended since the listing (the suite's own helpers come and go)
            continue
    for pid in children:
        try:
            if b"backend.training.warm" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return int(pid)
        except OSError:
            continue
    raise AssertionError("no warm process")


def test_a_worker_serving_the_training_queue_warms_up_when_it_starts(monkeypatch):
    from backend import domains

    started = []
    monkeypatch.setattr(warm, "warm_up", lambda: started.append(True))
    assert warm.worker_started in domains.hooks("worker_started")
    warm.worker_started(["default", "inference"])
    assert started == []
    warm.worker_started(["default", "training"])
    assert started == [True]
