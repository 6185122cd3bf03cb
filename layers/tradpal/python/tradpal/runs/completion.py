"""A finished run's ``backtest_complete``, derived from its record and its stored result.

The state machines publish it themselves, in their ``Publish`` and ``PublishFailure``
states (``state_machines/*.asl.json``), after the run is recorded SUCCEEDED or FAILED. On AWS
an execution outlives anything that happens to a function, so the event always follows the
record. The local platform keeps no execution across a restart: after a ``kill -9`` that
came between the record and the publish, :func:`publish_completion` puts on the bus the
event the state machine would have (the local platform does it at its next start, for the
runs it cannot tell published; :mod:`tradpal.local.outbox`). Its notification has the same
id as the original's (:mod:`tradpal.notify.format`: type, kind, run id and status), so a
receiver that got both keeps one.
"""

from __future__ import annotations

from typing import Any

from tradpal.runs.store import RunRecord

FINISHED = ("SUCCEEDED", "FAILED")
"""The statuses a state machine publishes ``backtest_complete`` for."""
CAPABILITY = {"backtest": "backtests", "discovery": "discovery"}
"""The capability whose state machine runs each kind (its events' source)."""


def completion_detail(record: RunRecord) -> dict[str, Any] | None:
    """The ``backtest_complete`` detail the run's state machine publishes for ``record``
    (read with the results bucket of the run's capability), or None when it publishes none
    (the run is not finished, or was cancelled or aborted)."""
    from tradpal.platform.results import ResultStore

    if record.status not in FINISHED or record.kind not in CAPABILITY:
        return None
    head = {"version": 1, "kind": record.kind, "run_id": record.run_id, "status": record.status}
    if record.status == "FAILED":  # PublishFailure: the Catch's error object
        return {**head, "error": {"Error": record.error or "Failed", "Cause": record.cause}}
    if not record.result_key:
        return None
    results = ResultStore()
    stored = results.get_json(record.result_key)
    if record.kind == "backtest":  # Publish: the run task's result
        result = {"bucket": results.bucket, "key": record.result_key, "metrics": stored["metrics"]}
        return {**head, "result": result}
    from tradpal.runs.discovery import BEST_FIELDS

    best = stored.get("best")  # Publish: validate_best's summary of the winner
    summary = None if best is None else {k: best.get(k) for k in BEST_FIELDS}
    return {**head, "best": summary, "state_key": record.result_key}


def publish_completion(record: RunRecord) -> str | None:
    """Publish the run's ``backtest_complete`` as its state machine does (the source of its
    capability); the event id, or None when the run has none (:func:`completion_detail`)."""
    from tradpal.events import EventPublisher

    detail = completion_detail(record)
    if detail is None:
        return None
    return EventPublisher(CAPABILITY[record.kind]).publish("backtest_complete", detail)
