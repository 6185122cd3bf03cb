"""Running a backtest or discovery on the state machines: the run id, the RUNNING record
written before the execution starts, and the record reconciled with an execution that ended
without recording it.

The run id is the Step Functions execution name. With an ``Idempotency-Key`` it is derived
from the key (:func:`run_id_for`), so even past the idempotency record's expiry a repeat
cannot start a second execution: Step Functions refuses a second execution of that name.
The RUNNING item is written *before* the execution starts: a fast execution's tasks update
the item to SUCCEEDED, and a later whole-item write would wipe that.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping
from typing import Any

from tradpal.errors import TradPalError
from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env
from tradpal.runs.store import RunRecord, RunStore
from tradpal.serialize import now_iso

_KEY_NAMESPACE = uuid.UUID("6f1d3c52-8f0e-4d55-9a3e-3b1f9b0a7c21")

# Execution states that ended without the run item saying so (the Catch never ran).
_ENDED = {"FAILED": "FAILED", "TIMED_OUT": "FAILED", "ABORTED": "ABORTED"}


class RunConflictError(TradPalError):
    """A run of that id exists with another request (an Idempotency-Key reused)."""


def run_id_for(kind: str, idempotency_key: str | None, attempt: int = 1) -> str:
    """A fresh uuid, or the uuid5 of ``kind``, the key and the ``attempt`` (after the first:
    the retries of an aborted run): the same key, the same run id."""
    if idempotency_key is None:
        return str(uuid.uuid4())
    suffix = "" if attempt == 1 else f":{attempt}"
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{kind}:{idempotency_key}{suffix}"))


def latest_attempt(record: RunRecord) -> tuple[RunRecord, int]:
    """The newest retry of ``record`` (following ``retried_by``) and its attempt number."""
    runs, attempt = RunStore(), 1
    while record.retried_by:
        following = runs.get(record.retried_by)
        if following is None:
            break
        record, attempt = following, attempt + 1
    return record, attempt


def cancel_run(record: RunRecord) -> bool:
    """Stop a RUNNING run's execution and mark it CANCELLED; False when it was no longer
    running (it finished meanwhile). A task still at work when the execution stops finds
    the run CANCELLED and leaves it so (:meth:`RunStore.succeed`)."""
    runs = RunStore()
    if not runs.update(record.run_id, only_if={"status": "RUNNING"}, status="CANCELLED",
                       error="Cancelled", cause="cancelled by its user"):  # fmt: skip
        return False
    if record.execution_arn:
        sfn = client("stepfunctions")
        # an execution that never started: the record alone said RUNNING
        with contextlib.suppress(sfn.exceptions.ExecutionDoesNotExist):
            sfn.stop_execution(
                executionArn=record.execution_arn, error="Cancelled", cause="cancelled by its user"
            )
    return True


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution ``name`` of ``state_machine_arn``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{name}"


def start_run(kind: str, machine: str, run_id: str, request: Mapping[str, Any]) -> RunRecord:
    """Write the RUNNING record of ``run_id``, then start ``machine`` with ``request`` as
    its input and ``run_id`` as its name. If the start fails the record says FAILED."""
    import json

    arn = platform_env().state_machine_arn(machine)
    runs = RunStore()
    record = RunRecord(
        run_id=run_id,
        kind=kind,
        status="RUNNING",
        created_at=now_iso(),
        request=dict(request),
        execution_arn=execution_arn(arn, run_id),
    )
    runs.put(record)
    sfn = client("stepfunctions")
    try:
        sfn.start_execution(stateMachineArn=arn, name=run_id, input=json.dumps(record.request))
    except sfn.exceptions.ExecutionAlreadyExists:
        raise RunConflictError(
            f"run {run_id} already exists with another request",
            hint="use a new Idempotency-Key for a new request",
        ) from None
    except Exception as exc:
        runs.update(run_id, status="FAILED", error=type(exc).__name__, cause=str(exc))
        raise
    return record


def reconcile(record: RunRecord) -> RunRecord:
    """``record``, with the execution's end when it is RUNNING in the table but its execution
    failed, timed out or was aborted without the state machine recording it."""
    if record.status != "RUNNING" or not record.execution_arn:
        return record
    sfn = client("stepfunctions")
    try:
        desc = sfn.describe_execution(executionArn=record.execution_arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        return record
    status = _ENDED.get(desc["status"])
    if status is None:
        return record
    fields = record.to_dict() | {
        "status": status,
        "error": desc.get("error") or f"States.{desc['status']}",
        "cause": desc.get("cause") or f"the execution ended {desc['status']}",
        "updated_at": (desc.get("stopDate") or "").isoformat()
        if hasattr(desc.get("stopDate"), "isoformat")
        else record.updated_at,
    }
    return RunRecord(**fields)
