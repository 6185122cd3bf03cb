"""Capability ``backtests``: start a backtest run, read its status and results; and the
backtest state machine's tasks (:data:`tradpal.runs.backtest.TASKS`).

* ``POST /v1/backtests`` (:class:`~tradpal.runs.requests.BacktestRequest`): 202 with the
  run id; data the store does not hold is refused at once (404);
* ``GET /v1/backtests``: a page of runs, newest first (``?status=``, ``?after=``);
* ``GET /v1/backtests/{id}``: status and, when SUCCEEDED, metrics, trades and file links.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from tradpal.platform.api_fields import CURSOR_PATTERN, IdempotencyKey, RunId
from tradpal.platform.entry import lambda_handler
from tradpal.platform.http import json_response, make_app, responses
from tradpal.platform.market_data import require_stored_data
from tradpal.platform.observability import for_capability
from tradpal.runs import backtest
from tradpal.runs.api import (
    NO_DATA_TEXT,
    RunAccepted,
    Status,
    cancel_response,
    get_run,
    run_view,
    start_response,
)
from tradpal.runs.requests import BacktestRequest

PATH = "/v1/backtests"
obs = for_capability("backtests")
router = APIGatewayHttpRouter()


@router.post(
    PATH,
    summary="Start a backtest",
    responses=responses(RunAccepted, (400, 404, 409, 422), texts={404: NO_DATA_TEXT}, status=202),
)
def start_backtest(body: BacktestRequest, idempotency_key: IdempotencyKey = None):
    # idempotency_key is checked and documented here; start_response reads it from the headers
    request = body.pinned()
    require_stored_data(request.data.to_json())  # refused now, not in the state machine
    obs.metrics.add_metric(name="BacktestsStarted", unit="Count", value=1)
    return start_response(
        "backtest",
        PATH,
        router.current_event.headers,
        body.to_json(),
        request.to_json(),
        app.lambda_context,
    )


@router.get(
    PATH,
    summary="List backtest runs, newest first",
    responses=responses(backtest.BacktestList, (400, 422)),
)
def list_backtests(
    limit: Annotated[int, Query(ge=1, le=backtest.MAX_LIST, description="per page")] = 50,
    status: Annotated[Status | None, Query(description="only runs in this status")] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="the next of the previous page, unchanged (a cursor this API made; "
            "any other is a 400)",
        ),
    ] = None,
):
    return json_response(200, backtest.list_page(PATH, limit, status, after))


@router.get(
    f"{PATH}/<id>",
    summary="A backtest run's status and results",
    responses=responses(backtest.BacktestView, (404,)),
)
def get_backtest(id: RunId):
    record = get_run("backtest", id, "list the runs with GET /v1/backtests")
    view = run_view(record, PATH)
    return json_response(200, view | backtest.result_view(record, view["links"]))


@router.delete(
    f"{PATH}/<id>",
    summary="Cancel a running backtest",
    responses=responses(backtest.BacktestView, (404, 409), texts={409: "the run is not running"}),
)
def cancel_backtest(id: RunId):
    return cancel_response("backtest", id, PATH, "list the runs with GET /v1/backtests")


app = make_app()
app.include_router(router)  # after the routes: include_router copies them
handler = lambda_handler(obs, http=app, tasks=backtest.TASKS)
