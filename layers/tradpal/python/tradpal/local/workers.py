"""Heavy invocations in worker processes, so the local platform keeps answering.

On AWS every invocation has an execution environment of its own; in one local process a
backtest of millions of bars or a discovery's Distributed Map held the interpreter, and
``/v1/health`` timed out while it ran. State-machine tasks (the heavy part of every run) are
therefore run in a pool of worker processes: each imports the capability's real handler
once, gets the function's own environment (its granted resources, the moto endpoint) with
every invocation, and talks to the local AWS services over HTTP, as the in-process handlers
do. HTTP requests, stream batches and events stay in the platform's process: they are light,
and their answers are needed at once.

What a task raises reaches the caller as an exception of the same class name and message,
which is what Lambda reports to Step Functions (``errorType``, ``errorMessage``) and what
its Retry and Catch match.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from tradpal.platform.entry import event_kind

_HANDLERS: dict[str, Callable[[Any, Any], Any]] = {}


def default_workers() -> int:
    """One worker per core but one (the platform's own process keeps a core), at least one."""
    return max(1, (os.cpu_count() or 2) - 1)


def _start_worker(root: str, platform_pid: int) -> None:
    if root not in sys.path:
        sys.path.insert(0, root)  # handlers import as functions.<capability>.handler
    threading.Thread(target=_exit_with, args=(platform_pid,), daemon=True).start()


def _exit_with(platform_pid: int, every_s: float = 0.5) -> None:
    """End this worker when the platform's process has gone (``kill -9`` runs no clean-up,
    and the pool's queues hold both ends of their pipes, so no end of file ever comes): an
    orphaned worker would go on holding memory and a core, and finish tasks for no one."""
    import time

    while os.getppid() == platform_pid:
        time.sleep(every_s)
    os._exit(0)


class _Context:
    """The parts of Lambda's context a handler reads, rebuilt in the worker."""

    def __init__(self, fields: Mapping[str, Any], remaining_ms: int) -> None:
        import time

        self.__dict__.update(fields)
        self._deadline = time.monotonic() + remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _run(
    capability: str, event: Any, environ: Mapping[str, str], context: Mapping[str, Any]
) -> tuple[str, str, str]:
    """In a worker: the invocation, answered as ``("ok", payload JSON, "")`` or ``("error",
    exception class name, message)``."""
    from tradpal.platform.aws import reset_clients
    from tradpal.platform.environment import PLATFORM_ENV_VARS, platform_env

    stale = [k for k in PLATFORM_ENV_VARS if k in os.environ and k not in environ]
    if stale or any(os.environ.get(k) != v for k, v in environ.items()):
        for k in stale:  # another function's resources: not this one's
            del os.environ[k]
        os.environ.update(environ)
        reset_clients()
        platform_env.cache_clear()
    handler = _HANDLERS.get(capability)
    if handler is None:
        handler = importlib.import_module(f"functions.{capability}.handler").handler
        _HANDLERS[capability] = handler
    try:
        result = handler(event, _Context(context["fields"], context["remaining_ms"]))
    except Exception as exc:
        return "error", type(exc).__name__, str(exc)
    finally:
        from aws_lambda_powertools import Metrics

        Metrics().clear_metrics()  # never flushed locally (no CloudWatch): do not pile up
    return "ok", json.dumps(result), ""


def _load(capabilities: tuple[str, ...]) -> int:
    """In a worker: import the handlers ahead of their first task (a cold start at the
    platform's start, not in the middle of someone's run)."""
    for capability in capabilities:
        if capability not in _HANDLERS:
            module = importlib.import_module(f"functions.{capability}.handler")
            _HANDLERS[capability] = module.handler
    return os.getpid()


def _raise_as(name: str, message: str) -> None:
    """Raise an exception named ``name`` (the worker's class name) with ``message``."""
    raise type(name, (Exception,), {"__module__": "tradpal.local.workers"})(message)


class WorkerPool:
    """A pool of ``workers`` processes running capabilities' handlers (module docstring)."""

    def __init__(self, root: str, workers: int | None = None) -> None:
        # spawn: a fork of a process with moto's server threads and locks is not safe
        context = multiprocessing.get_context("spawn")
        self.size = workers or default_workers()
        self._pool = ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=context,
            initializer=_start_worker,
            initargs=(root, os.getpid()),
        )

    def warm(self, capabilities: tuple[str, ...]) -> None:
        """Start the workers and import ``capabilities``' handlers in them, in the
        background (the processes start now instead of at the first task)."""
        for _ in range(self.size):
            self._pool.submit(_load, capabilities)

    def run(self, capability: str, event: Any, context: Any, environ: Mapping[str, str]) -> Any:
        """``capability``'s handler on ``event`` in a worker; its result, or its exception."""
        fields = {
            k: getattr(context, k)
            for k in (
                "function_name",
                "invoked_function_arn",
                "aws_request_id",
                "memory_limit_in_mb",
                "function_version",
            )
            if hasattr(context, k)
        }
        remaining = getattr(context, "get_remaining_time_in_millis", lambda: 900_000)()
        job = {"fields": fields, "remaining_ms": remaining}
        status, first, second = self._pool.submit(
            _run, capability, json.loads(json.dumps(event)), dict(environ), job
        ).result()
        if status == "error":
            _raise_as(first, second)
        return json.loads(first)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def tasks_in_workers(
    handler: Callable[[Any, Any], Any],
    capability: str,
    pool: WorkerPool,
    environ: Callable[[], Mapping[str, str]],
) -> Callable[[Any, Any], Any]:
    """``handler``, with state-machine task invocations run in ``pool`` (``environ()``: the
    function's environment, read per invocation) and everything else here, one at a time.
    A task in a worker holds no lock here: the function's HTTP requests (a run's status, a
    cancel) are answered while its tasks run."""
    lock = threading.Lock()

    def run(event: Any, context: Any) -> Any:
        if event_kind(event) == "task":
            return pool.run(capability, event, context, environ())
        with lock:
            return handler(event, context)

    run.serialises_itself = True  # type: ignore[attr-defined]
    return run
