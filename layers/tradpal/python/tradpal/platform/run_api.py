"""What the backtests and discovery APIs share: the 202 answer of a started run, its models,
the run or a 404, and the dispatch of state-machine task events to task functions."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tradpal.errors import ConfigError, TradPalError
from tradpal.platform.environment import platform_env
from tradpal.platform.http import (
    ApiError,
    ErrorResponse,
    field_error,
    json_response,
    not_found,
)
from tradpal.platform.run_starts import (
    RunConflictError,
    idempotent,
    reconcile,
    run_id_for,
    start_run,
)
from tradpal.platform.runs import RunRecord, RunStore, page_position

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class RunAccepted(BaseModel):
    """202: the run was started (or, for a repeated Idempotency-Key, had been)."""

    run_id: str = Field(description="the run's id (its state machine execution's name)")
    status: str = Field(description="RUNNING when started")
    links: dict[str, str] = Field(description='{"self": "/v1/<kind>/<run_id>"}')


class DataRef(BaseModel):
    """Where a run's candles come from (the same reference for backtests and discoveries)."""

    model_config = ConfigDict(extra="forbid")
    source: Literal["store", "sample"] = Field(
        "store", description="store: the platform's market data; sample: the seeded sample"
    )
    symbol: str | None = Field(None, description="e.g. BTC/USDT (required for store)")
    timeframe: str = Field("1h", description="1m 5m 15m 30m 1h 4h 1d 1w")
    start: str | None = Field(None, description="first bar open time, ISO 8601 (UTC if naive)")
    end: str | None = Field(None, description="end, exclusive; default: now, pinned at start")
    seed: int | None = Field(None, ge=0, description="sample only: the synthetic market's seed")
    bars: int | None = Field(None, ge=1, description="sample only: how many bars")


class RunError(BaseModel):
    """Why a run failed: the Step Functions error name and its cause."""

    error: str
    cause: str = ""


_ERROR_TEXT = {
    400: "refused by the library (message and hint say why)",
    404: "no such run",
    409: "Idempotency-Key reused with another request",
    422: "invalid request (details name the fields)",
}


NO_DATA_TEXT = "the dataset is not stored, or holds no bars in the range (details say what is)"
"""The 404 of a run start whose data the store does not hold."""


def responses(
    model: type[BaseModel],
    status: int = 200,
    errors: tuple[int, ...] = (),
    texts: Mapping[int, str] | None = None,
) -> dict:
    """OpenAPI ``responses=`` of a route: ``model`` at ``status`` and the error shape at
    each status of ``errors`` (described by ``texts``, else the usual meaning)."""

    def content(m: type[BaseModel]) -> dict[str, Any]:
        return {"application/json": {"model": m}}

    out: dict[int, Any] = {status: {"description": model.__doc__ or "", "content": content(model)}}
    for code in errors:
        text = (texts or {}).get(code, _ERROR_TEXT[code])
        out[code] = {"description": text, "content": content(ErrorResponse)}
    return out


def checked(check: Callable[[Mapping[str, Any]], dict[str, Any]], body: Mapping) -> dict:
    """``check(body)``; a field the library refuses answers 400 naming it (``details``:
    ``[{"field", "message", "hint"}]``), other library errors 400 with their hint."""
    from tradpal.platform.backtest_runs import RequestError

    try:
        return check(body)
    except RequestError as exc:
        raise ApiError(400, "bad_request", exc.message, exc.details()) from None


def idempotency_key(headers: Mapping[str, str] | None) -> str | None:
    """The request's Idempotency-Key (header names are case-insensitive), or None."""
    for name, value in (headers or {}).items():
        if name.lower() == IDEMPOTENCY_HEADER.lower():
            if not value or len(value) > MAX_KEY_LENGTH:
                raise ApiError(
                    400,
                    "bad_request",
                    f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_KEY_LENGTH} characters",
                    [{"field": f"header.{IDEMPOTENCY_HEADER}", "message": "invalid length"}],
                )
            return value
    return None


def start(
    kind: str,
    machine: str,
    path: str,
    key: str | None,
    body: Mapping[str, Any],
    request: Mapping[str, Any],
    context: Any = None,
) -> Any:
    """Start run ``kind`` on ``machine`` once per Idempotency-Key and answer 202 with the
    run id and a Location header. ``body`` is the request as posted (what a repeated key
    must match); ``request`` is the checked request the execution gets; ``context`` is the
    invocation's Lambda context (it bounds an in-progress idempotency record)."""

    def start_once() -> dict[str, Any]:
        run_id = run_id_for(kind, key)
        try:
            record = start_run(kind, machine, run_id, request)
        except RunConflictError as exc:
            raise ApiError(409, "idempotency_conflict", exc.message, {"hint": exc.hint}) from None
        return RunAccepted(
            run_id=record.run_id, status=record.status, links={"self": f"{path}/{run_id}"}
        ).model_dump()

    answer = idempotent(kind, key, body, start_once, context)
    if key is not None:  # a repeat replays the first answer: give the run's status now
        record = runs().get(answer["run_id"])
        if record is not None:
            answer = {**answer, "status": reconcile(record).status}
    return json_response(202, answer, {"Location": answer["links"]["self"]})


def page_cursor(record: RunRecord) -> str:
    """An opaque cursor for the page after ``record`` (base64url of its list position)."""
    raw = json.dumps(list(page_position(record)), separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def read_cursor(cursor: str) -> tuple[str, str]:
    """The list position in ``cursor``; 400 naming ``query.after`` when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, run_id = json.loads(raw)
        if not isinstance(created_at, str) or not isinstance(run_id, str):
            raise ValueError
    except (ValueError, TypeError):
        raise field_error(
            "query.after",
            "not a cursor this API returned",
            "pass the value of `next` from the previous page, unchanged",
        ) from None
    return created_at, run_id


def runs() -> RunStore:
    return RunStore(platform_env().require("runs_table"))


def get_run(kind: str, run_id: str) -> RunRecord:
    """The run ``run_id`` of ``kind``, reconciled with its execution; 404 when unknown."""
    record = runs().get(run_id)
    if record is None or record.kind != kind:
        hint = (
            "list the runs with GET /v1/backtests"
            if kind == "backtest"
            else "use the run_id that POST /v1/discovery answered"
        )
        raise not_found(f"{kind} run {run_id!r}", hint)
    return reconcile(record)


def run_fields(record: RunRecord, path: str) -> dict[str, Any]:
    """The fields every run view has: id, status, times, request, error, links."""
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
    if record.status in ("FAILED", "ABORTED"):
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


Task = Callable[[str, Any], Any]
_log = logging.getLogger(__name__)


class TaskError(TradPalError):
    """A state-machine task failed for a reason that is not the request's (a bug)."""


def dispatch_task(tasks: Mapping[str, Task], event: Mapping[str, Any]) -> Any:
    """Run the task a state machine's Lambda payload names: ``{"task", "run_id", "state"}``
    calls ``tasks[task](run_id, state)``; a Map batch ``{"Items", "BatchInput": {"task",
    ...}}`` calls ``tasks[task](run_id, event)``."""
    batch = event.get("BatchInput")
    name = batch.get("task") if isinstance(batch, Mapping) else event.get("task")
    task = tasks.get(name) if isinstance(name, str) else None
    if task is None:
        raise ConfigError(
            f"this function has no state-machine task {name!r}",
            hint=f"its tasks: {', '.join(sorted(tasks))}; check the state machine's Payload",
        )
    run_id = batch.get("run_id") if isinstance(batch, Mapping) else event.get("run_id")
    try:
        if isinstance(batch, Mapping):
            return task(run_id, event)
        return task(run_id, event.get("state"))
    except TradPalError:
        raise  # a refusal the user can act on: its message is the run's cause
    except Exception:
        # Anything else is a fault of ours: the traceback goes to the logs, and the run's
        # cause says where to look instead of showing internals.
        _log.exception("task %s of run %s failed", name, run_id)
        raise TaskError(
            f"the {name} task failed unexpectedly",
            hint="this is a bug in TradPal: the function's logs have the traceback "
            f"(search for run {run_id})",
        ) from None


def is_task_event(event: Any) -> bool:
    """Whether ``event`` is a state machine's task payload (not an API request)."""
    return isinstance(event, Mapping) and ("task" in event or "BatchInput" in event)


def handle(event: Any, context: Any, *, app: Any, tasks: Mapping[str, Task], logger: Any) -> Any:
    """A run capability's Lambda entry: state-machine tasks go to ``tasks`` (correlated by
    run id), everything else is an API request for ``app`` (correlated by request id)."""
    if is_task_event(event):
        logger.set_correlation_id(event.get("run_id"))
        return dispatch_task(tasks, event)
    logger.set_correlation_id((event.get("requestContext") or {}).get("requestId"))
    return app.resolve(event, context)
