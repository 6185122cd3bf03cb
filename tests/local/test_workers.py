"""Heavy tasks in worker processes (tradpal.local.workers): a task runs in another process
with the function's own environment, what it raises comes back by class name and message (as
Lambda reports it to Step Functions), light events stay in the platform's process and are not
held up by a running task, and a worker ends when the platform's process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tradpal.local.workers import WorkerPool, tasks_in_workers

PROBE = """
import os, time


class ProbeFailed(Exception):
    pass


def handler(event, context):
    if event.get("fail"):
        raise ProbeFailed(f"failed as asked, in {os.getpid()}")
    time.sleep(event.get("sleep_s", 0))
    return {
        "pid": os.getpid(),
        "bucket": os.environ.get("TRADPAL_RESULTS_BUCKET"),
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A project root whose ``functions.probe.handler`` reports where and how it ran."""
    root = tmp_path_factory.mktemp("workers-root")
    (root / "functions" / "probe").mkdir(parents=True)
    (root / "functions" / "__init__.py").write_text("")
    (root / "functions" / "probe" / "__init__.py").write_text("")
    (root / "functions" / "probe" / "handler.py").write_text(PROBE)
    return root


@pytest.fixture(scope="module")
def pool(root):
    pool = WorkerPool(str(root), 1)
    pool.warm(("probe",))
    yield pool
    pool.shutdown()


class Context:
    function_name = "probe"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


TASK = {"task": "probe", "run_id": "r"}


def test_a_task_runs_in_another_process_with_the_functions_own_environment(pool):
    granted = {"TRADPAL_RESULTS_BUCKET": "results-of-probe"}
    answer = pool.run("probe", TASK, Context(), granted)
    assert answer["pid"] != os.getpid()
    assert answer["bucket"] == "results-of-probe" and answer["request_id"] == "req-1"
    assert 0 < answer["remaining_ms"] <= 60_000
    # another function's resources do not leak into the next invocation
    assert pool.run("probe", TASK, Context(), {})["bucket"] is None


def test_what_a_task_raises_comes_back_by_class_name_and_message(pool):
    with pytest.raises(Exception, match="failed as asked") as caught:
        pool.run("probe", {**TASK, "fail": True}, Context(), {})
    assert type(caught.value).__name__ == "ProbeFailed"  # what a Catch on it matches
    assert pool.run("probe", TASK, Context(), {})["pid"]  # the worker lives on


def test_only_tasks_go_to_the_workers_and_a_running_task_holds_nothing_here(pool):
    here = []

    def handler(event, context):
        here.append(event)
        return {"pid": os.getpid()}

    wrapped = tasks_in_workers(handler, "probe", pool, lambda: {})
    assert getattr(wrapped, "serialises_itself", False)
    task_answer: dict = {}
    slow = threading.Thread(
        target=lambda: task_answer.update(wrapped({**TASK, "sleep_s": 2.0}, Context()))
    )
    slow.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    http = wrapped({"requestContext": {}, "rawPath": "/v1/backtests/x"}, Context())
    answered_in = time.monotonic() - t0
    slow.join(30)
    assert http == {"pid": os.getpid()} and here == [
        {"requestContext": {}, "rawPath": "/v1/backtests/x"}
    ]
    assert answered_in < 1.0, "the HTTP request waited for the running task"
    assert task_answer["pid"] != os.getpid()


PLATFORM = """
import sys, time
from tradpal.local.workers import WorkerPool

class Context:
    aws_request_id = "req"
    def get_remaining_time_in_millis(self):
        return 1000

if __name__ == "__main__":  # spawned workers import this module again
    pool = WorkerPool(sys.argv[1], 1)
    print(pool.run("probe", {"task": "probe"}, Context(), {})["pid"], flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_worker_ends_when_the_platform_is_killed(root, tmp_path):
    script = tmp_path / "platform.py"
    script.write_text(textwrap.dedent(PLATFORM))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        worker = int(proc.stdout.readline())
        assert _alive(worker)
    finally:
        proc.send_signal(signal.SIGKILL)  # no clean-up runs
        proc.wait(30)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(worker), "an orphaned worker outlived the platform"
