"""The HTTP side of runs: the 202 of a started run, the views of a run, pages of runs.

``POST /v1/backtests`` and ``POST /v1/discovery`` answer :func:`start_response`: the run is
started once per ``Idempotency-Key`` (:func:`tradpal.platform.idempotency.run_once`; a repeat
gets the first answer with the run's status now) and answered 202 with a ``Location``.
``GET`` of a run answers :func:`run_view` (404 for an unknown id); lists page with an opaque
cursor (:func:`page_cursor`, :func:`read_cursor`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from tradpal.errors import FieldError
from tradpal.platform.http import ApiError, json_response, not_found
from tradpal.platform.idempotency import run_once
from tradpal.runs.orchestration import (
    RunConflictError,
    cancel_run,
    latest_attempt,
    reconcile,
    run_id_for,
    start_run,
)
from tradpal.runs.store import RunRecord, RunStore, page_position

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
IDEMPOTENCY_TTL_S = 24 * 3600
"""How long a repeated Idempotency-Key gets the first answer back (the usual 24 hours)."""
Status = Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED", "CANCELLED"]
NO_DATA_TEXT = "the dataset is not stored, or holds no bars in the range (details say what is)"
"""The 404 of a run start whose data the store does not hold."""


class RunAccepted(BaseModel):
    """202: the run was started (or, for a repeated Idempotency-Key, had been)."""

    run_id: str = Field(description="the run's id (its state machine execution's name)")
    status: Status = Field(description="RUNNING when started; a repeat: the status now")
    links: dict[str, str] = Field(description='{"self": "/v1/<kind>/<run_id>"}')


class RunError(BaseModel):
    """Why a run failed: the Step Functions error name and its cause."""

    error: str
    cause: str = ""


class RunView(BaseModel):
    """The fields every run view has."""

    run_id: str
    kind: str
    status: Status
    created_at: str | None
    updated_at: str | None
    request: dict[str, Any]
    error: RunError | None = None
    links: dict[str, str] = Field(description="self, and the result's links when SUCCEEDED")


def idempotency_key(headers: Mapping[str, str] | None) -> str | None:
    """The request's Idempotency-Key (header names are case-insensitive), or None."""
    for name, value in (headers or {}).items():
        if name.lower() == IDEMPOTENCY_HEADER.lower():
            if not value or len(value) > MAX_KEY_LENGTH:
                raise FieldError(
                    f"header.{IDEMPOTENCY_HEADER}",
                    f"must be 1 to {MAX_KEY_LENGTH} characters",
                    "use a short unique text per request, such as a UUID",
                )
            return value
    return None


def start_response(
    kind: str,
    path: str,
    headers: Mapping[str, str] | None,
    posted: Mapping[str, Any],
    request: Mapping[str, Any],
    context: Any = None,
) -> Any:
    """Start run ``kind`` once per Idempotency-Key of ``headers`` and answer 202 with the
    run id and a Location header. ``posted`` is the body as posted (what a repeated key must
    match: another body is 409), ``request`` the checked request the execution gets,
    ``context`` the invocation's Lambda context."""
    key = idempotency_key(headers)

    def start(attempt: int = 1) -> dict[str, Any]:
        run_id = run_id_for(kind, key, attempt)
        try:
            record = start_run(kind, kind, run_id, request)
        except RunConflictError as exc:
            raise ApiError(409, "idempotency_conflict", exc.message, {"hint": exc.hint}) from None
        links = {"self": f"{path}/{run_id}"}
        return RunAccepted(run_id=record.run_id, status="RUNNING", links=links).model_dump()

    if key is None:
        answer = start()
    else:
        identity = {"kind": kind, "key": key, "body": dict(posted)}
        answer = run_once(
            "runs.start", identity, start, ttl_s=IDEMPOTENCY_TTL_S, key="[kind, key]",
            validate="body", context=context,
        )  # fmt: skip
        answer = _repeated(answer, path, start)
    return json_response(202, answer, {"Location": answer["links"]["self"]})


def _repeated(answer: dict[str, Any], path: str, start: Any) -> dict[str, Any]:
    """A repeated Idempotency-Key's answer: its newest run with the status now; a run that
    was ABORTED (its execution stopped without finishing: the local platform restarted, a
    timeout) is retried once per repeat, the retry linked from it (``retried_by``). FAILED
    and CANCELLED runs are answered as they are: a failure says why, a cancel was meant."""
    runs = RunStore()
    record = runs.get(answer["run_id"])
    if record is None:
        return answer
    record, attempt = latest_attempt(record)
    record = reconcile(record)
    if record.status != "ABORTED":
        return {"run_id": record.run_id, "status": record.status,
                "links": {"self": f"{path}/{record.run_id}"}}  # fmt: skip
    retry = start(attempt + 1)
    # one retry per aborted run, even when two repeats race: the first link wins
    if not runs.update(record.run_id, only_if={"retried_by": ""}, retried_by=retry["run_id"]):
        return _repeated(answer, path, start)
    return retry


def cancel_response(kind: str, run_id: str, path: str, hint: str) -> Any:
    """Cancel a RUNNING run (:func:`tradpal.runs.orchestration.cancel_run`) and answer 200
    with its view; 404 for an unknown run, 409 for one that is not running."""
    record = get_run(kind, run_id, hint)
    if record.status != "RUNNING" or not cancel_run(record):
        now = get_run(kind, run_id, hint)
        raise ApiError(
            409, "not_running", f"{kind} run {run_id} is {now.status}, not RUNNING",
            {"hint": "only a running run can be cancelled"},
        )  # fmt: skip
    return json_response(200, run_view(get_run(kind, run_id, hint), path))


def page_cursor(record: RunRecord) -> str:
    """An opaque cursor for the page after ``record`` (base64url of its list position)."""
    raw = json.dumps(list(page_position(record)), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_cursor(cursor: str) -> tuple[str, str]:
    """The list position in ``cursor``; a 400 naming ``query.after`` when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, run_id = json.loads(raw)
        if not isinstance(created_at, str) or not isinstance(run_id, str):
            raise ValueError
    except (ValueError, TypeError):
        raise FieldError(
            "query.after",
            "not a cursor this API returned",
            "pass the value of `next` from the previous page, unchanged",
        ) from None
    return created_at, run_id


def get_run(kind: str, run_id: str, hint: str) -> RunRecord:
    """The run ``run_id`` of ``kind``, reconciled with its execution; 404 when unknown."""
    record = RunStore().get(run_id)
    if record is None or record.kind != kind:
        raise not_found(f"{kind} run {run_id!r}", hint)
    return reconcile(record)


def run_view(record: RunRecord, path: str) -> dict[str, Any]:
    """The fields every run view has (:class:`RunView`)."""
    out: dict[str, Any] = {
        "run_id": record.run_id,
        "kind": record.kind,
        "status": record.status,
        "created_at": record.created_at or None,
        "updated_at": record.updated_at or None,
        "request": record.request,
        "error": None,
        "links": {"self": f"{path}/{record.run_id}"},
    }
    if record.status in ("FAILED", "ABORTED", "CANCELLED"):
        out["error"] = {"error": record.error, "cause": public_cause(record.cause)}
    return out


def public_cause(cause: str | None) -> str:
    """What a user may read of a failed run's cause: a Lambda task's error payload
    (``{"errorMessage", "errorType", "stackTrace"}``, as Step Functions passes it on) is cut to
    its message; other causes (timeouts, aborts) are kept as they are."""
    text = cause or ""
    try:
        payload = json.loads(text)
    except ValueError:
        return text
    if isinstance(payload, dict) and isinstance(payload.get("errorMessage"), str):
        return payload["errorMessage"]
    return text
