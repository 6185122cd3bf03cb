"""Capability ``backtests``: start a backtest run, read its status and results; and the
backtest state machine's tasks (validate, ensure_data, run, store).

Routes:

* ``POST /v1/backtests`` (:class:`BacktestRequest`) -> 202 :class:`RunAccepted` with a
  ``Location`` header; an ``Idempotency-Key`` header makes a repeat return the same run;
  data the store does not hold is refused at once (404, or 400 for an inverted range);
* ``GET /v1/backtests?limit=N`` -> :class:`BacktestList`, newest first;
* ``GET /v1/backtests/{id}`` -> :class:`BacktestView`: status, and when SUCCEEDED the
  metrics, the trades (inline, or a pre-signed URL when large) and pre-signed links to
  result.json, trades.csv, equity.csv and report.html.

The logic is the library's (:mod:`tradpal.platform.backtest_runs`); this module translates.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from tradpal.platform import backtest_runs
from tradpal.platform.http import json_response, make_app
from tradpal.platform.market_data import require_stored_data
from tradpal.platform.observability import for_capability
from tradpal.platform.run_api import (
    NO_DATA_TEXT,
    DataRef,
    RunAccepted,
    RunError,
    checked,
    get_run,
    handle,
    idempotency_key,
    page_cursor,
    read_cursor,
    responses,
    run_fields,
    runs,
    start,
)
from tradpal.platform.run_starts import reconcile

PATH = "/v1/backtests"
MAX_LIST = 200

router = APIGatewayHttpRouter()
obs = for_capability("backtests")


class BacktestRequest(BaseModel):
    """A backtest to run."""

    model_config = ConfigDict(extra="forbid")
    strategy: str = Field(
        min_length=1, description='e.g. "ema_crossover", "regime@4h", "confluence+atr"'
    )
    params: dict[str, Any] = Field(default_factory=dict, description="strategy params")
    data: DataRef
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="BacktestConfig overrides: capital, fees, slippage, fill, sizing, "
        "stop_loss, take_profit, trailing_stop, time_stop_bars, max_leverage, ...",
    )


class Offloaded(BaseModel):
    """A value given inline, or (when large) as a pre-signed URL to its JSON."""

    inline: Any = None
    url: str | None = None
    key: str | None = None
    bytes: int | None = None
    expires_in_s: int | None = None


class BacktestView(BaseModel):
    """A backtest run: status, and the results once SUCCEEDED."""

    run_id: str
    kind: Literal["backtest"]
    status: Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED"]
    created_at: str | None
    updated_at: str | None
    request: dict[str, Any]
    error: RunError | None = None
    metrics: dict[str, Any] | None = None
    period: dict[str, Any] | None = None
    trades: Offloaded | None = None
    links: dict[str, str] = Field(
        description="self; when SUCCEEDED pre-signed result, trades, equity and report URLs"
    )


class BacktestSummary(BaseModel):
    run_id: str
    status: str
    created_at: str | None
    strategy: str | None
    data: dict[str, Any] | None
    links: dict[str, str]


class BacktestList(BaseModel):
    """A page of runs, newest first; ``next`` continues the list (null on the last page)."""

    runs: list[BacktestSummary]
    next: str | None = Field(
        None, description="cursor of the next page: pass it as ?after=; null on the last page"
    )


@router.post(
    PATH,
    summary="Start a backtest",
    responses=responses(RunAccepted, 202, (400, 404, 409, 422), {404: NO_DATA_TEXT}),
)
def start_backtest(body: BacktestRequest):
    posted = body.model_dump(mode="json", exclude_none=True)  # unset optional fields: absent
    request = checked(backtest_runs.check_request, posted)
    # refused now, not failed later in the state machine
    require_stored_data(request["data"])
    key = idempotency_key(router.current_event.headers)
    response = start("backtest", "backtest", PATH, key, posted, request, app.lambda_context)
    obs.metrics.add_metric(name="BacktestsStarted", unit=MetricUnit.Count, value=1)
    return response


@router.get(
    PATH,
    summary="List backtest runs, newest first",
    responses=responses(BacktestList, 200, (400, 422)),
)
def list_backtests(
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="runs per page")] = 50,
    status: Annotated[
        Literal["RUNNING", "SUCCEEDED", "FAILED", "ABORTED"] | None,
        Query(description="only runs in this status"),
    ] = None,
    after: Annotated[
        str | None, Query(max_length=512, description="the previous page's next cursor")
    ] = None,
):
    position = read_cursor(after) if after is not None else None
    # one more than asked: whether another page follows
    page = runs().list("backtest", limit=limit + 1, status=status, after=position)
    more = len(page) > limit
    page = page[:limit]
    out = []
    for record in page:
        record = reconcile(record)
        if status is not None and record.status != status:
            continue  # its execution ended without the state machine recording it
        out.append(
            {
                "run_id": record.run_id,
                "status": record.status,
                "created_at": record.created_at or None,
                "strategy": record.request.get("strategy"),
                "data": record.request.get("data"),
                "links": {"self": f"{PATH}/{record.run_id}"},
            }
        )
    return json_response(200, {"runs": out, "next": page_cursor(page[-1]) if more else None})


@router.get(
    f"{PATH}/<id>",
    summary="A backtest run's status and results",
    responses=responses(BacktestView, 200, (404,)),
)
def get_backtest(id: str):
    record = get_run("backtest", id)
    view = run_fields(record, PATH)
    if record.status == "SUCCEEDED":
        view |= backtest_runs.result_view(record.run_id, record.result_key)
        view["links"] |= backtest_runs.result_links(record.run_id)
    return json_response(200, view)


app = make_app()
app.include_router(router)  # after the routes: include_router copies them


@obs.logger.inject_lambda_context
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> Any:
    """API requests (HTTP API v2) and the backtest state machine's tasks."""
    return handle(event, context, app=app, tasks=backtest_runs.TASKS, logger=obs.logger)
