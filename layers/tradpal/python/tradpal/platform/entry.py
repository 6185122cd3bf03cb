"""The entry point of every function: what invoked it, and which of its parts answers.

A capability's function is invoked by API Gateway (HTTP API v2 events), by a state machine
(task payloads ``{"task", "run_id", "state"}`` or a Distributed Map batch ``{"Items",
"BatchInput": {"task", ...}}``), by a Kinesis event source mapping (``{"Records": [...]}``
from ``aws:kinesis``), by a schedule (its constant input, ``{"action": ...}``) or by an
EventBridge rule (an event envelope). :func:`lambda_handler` builds the handler from the parts
a capability has, with Powertools' logger (correlated by request id, run id or event id),
metrics and tracer around it; an event no part takes is refused with a ConfigError saying what
the function takes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from tradpal.errors import ConfigError, TradPalError
from tradpal.platform.observability import Observability, tracing_enabled

EventKind = Literal["http", "task", "stream", "schedule", "event"]
Task = Callable[[Any, Any], Any]
"""A state-machine task: ``task(run_id, state)``, or ``task(run_id, event)`` for a Map batch."""

_log = logging.getLogger(__name__)


def event_kind(event: Any) -> EventKind | None:
    """What sent ``event``, or None when it is none of the kinds above."""
    if not isinstance(event, Mapping):
        return None
    if "requestContext" in event:
        return "http"
    if "task" in event or "BatchInput" in event:
        return "task"
    records = event.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:kinesis":
        return "stream"
    if "action" in event or event.get("detail-type") == "Scheduled Event":
        return "schedule"
    if "detail-type" in event and "source" in event:
        return "event"
    return None


class TaskError(TradPalError):
    """A state-machine task failed for a reason that is not the request's (a bug)."""


def dispatch_task(tasks: Mapping[str, Task], event: Mapping[str, Any]) -> Any:
    """Run the task a state machine's payload names: ``{"task", "run_id", "state"}`` calls
    ``tasks[task](run_id, state)``; a Map batch ``{"Items", "BatchInput": {"task", "run_id",
    ...}}`` calls ``tasks[task](run_id, event)``. A :class:`TradPalError` (a refusal the user
    can act on) propagates as it is: its message becomes the run's cause. Anything else is a
    fault of ours: logged with its traceback, it reaches the run as a :class:`TaskError` that
    says where to look, without internals."""
    batch = event.get("BatchInput")
    source = batch if isinstance(batch, Mapping) else event
    name = source.get("task")
    task = tasks.get(name) if isinstance(name, str) else None
    if task is None:
        raise ConfigError(
            f"this function has no state-machine task {name!r}",
            hint=f"its tasks: {', '.join(sorted(tasks))}; check the state machine's Payload",
        )
    run_id = source.get("run_id")
    try:
        return task(run_id, event if isinstance(batch, Mapping) else event.get("state"))
    except TradPalError:
        raise
    except Exception:
        _log.exception("task %s of run %s failed", name, run_id)
        raise TaskError(
            f"the {name} task failed unexpectedly",
            hint="this is a bug in TradPal: the function's logs have the traceback "
            f"(search for run {run_id})",
        ) from None


def _correlation_id(kind: EventKind, event: Mapping[str, Any]) -> str | None:
    if kind == "http":
        return (event.get("requestContext") or {}).get("requestId")
    if kind == "task":
        return (event.get("BatchInput") or event).get("run_id")
    if kind == "event":
        return event.get("id")
    return None


def lambda_handler(
    obs: Observability,
    *,
    http: Any = None,
    tasks: Mapping[str, Task] | None = None,
    stream: Callable[[Any, Any], Any] | None = None,
    schedule: Callable[[Mapping[str, Any]], Any] | None = None,
    events: Callable[[Mapping[str, Any], Any], Any] | None = None,
) -> Callable[[Any, Any], Any]:
    """The Lambda handler of a capability with these parts: ``http`` a Powertools resolver
    (``resolve(event, context)``), ``tasks`` state-machine tasks by name, ``stream(event,
    context)`` a Kinesis batch, ``schedule(event)`` a scheduled invocation, ``events(event,
    context)`` an EventBridge event."""
    parts: dict[EventKind, Callable[[Any, Any], Any]] = {}
    if http is not None:
        parts["http"] = http.resolve
    if tasks is not None:
        parts["task"] = lambda event, context: dispatch_task(tasks, event)
    if stream is not None:
        parts["stream"] = stream
    if schedule is not None:
        parts["schedule"] = lambda event, context: schedule(event)
    if events is not None:
        parts["event"] = events
    takes = ", ".join(
        {
            "http": "HTTP API events",
            "task": "state-machine tasks",
            "stream": "Kinesis batches",
            "schedule": "its schedules",
            "event": "EventBridge events",
        }[k]
        for k in parts
    )

    def handler(event: Any, context: Any) -> Any:
        # A function that takes EventBridge events gets what it cannot place too: the event
        # part checks it against the schemas and says what is wrong with it.
        kind = event_kind(event) or ("event" if events is not None else None)
        part = parts.get(kind) if kind is not None else None
        if part is None:
            raise ConfigError(
                f"the {obs.name} function cannot handle this event "
                f"({kind or type(event).__name__})",
                hint=f"it takes {takes}",
            )
        obs.logger.set_correlation_id(_correlation_id(kind, event))
        return part(event, context)

    metered = obs.metrics.log_metrics(handler)

    @functools.wraps(metered)  # X-Ray names the subsegment after it: "## handler"
    def measured(event: Any, context: Any) -> Any:
        try:
            return metered(event, context)
        finally:
            # Disabled metrics (the local platform) are never flushed, so Powertools keeps
            # them: every invocation would add its values to one growing list, formatted into
            # a debug message on each add and printed as EMF at the 100th value anyway.
            if is_metrics_disabled():
                obs.metrics.clear_metrics()

    # Where tracing is off the tracer would only pass the call through; it is not made.
    traced = obs.tracer.capture_lambda_handler(measured) if tracing_enabled() else measured
    return obs.logger.inject_lambda_context(traced)


def partial_batch_response(
    event: Mapping[str, Any], failed: Mapping[str, BaseException], context: Any = None
) -> dict[str, Any]:
    """A Kinesis batch's answer, ``{"batchItemFailures": [{"itemIdentifier": seq}]}``, for
    the records in ``failed`` (by sequence number), through Powertools' batch processor (so
    the records are retried, bisected and then sent to the on-failure queue as the event
    source mapping is configured)."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    def record_handler(record: Any) -> None:
        exc = failed.get(record.kinesis.sequence_number)
        if exc is not None:
            raise exc

    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.KinesisDataStreams),
        context=context,
    )
