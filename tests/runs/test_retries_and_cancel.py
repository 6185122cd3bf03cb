"""A repeated Idempotency-Key after an abort starts the run again (once per repeat, linked
from the aborted one); a run can be cancelled while it runs (its execution stopped, the run
CANCELLED even when a task finishes afterwards) and not after it ended."""

from __future__ import annotations

import time

import pytest
from fakes.lambda_events import LambdaContext, http_event, json_body, load_handler

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.runs.store import RunStore

module = load_handler("backtests")
REQUEST = {"strategy": "ema_crossover", "data": {"symbol": "SYN/USD", "timeframe": "1h"}}


def call(method, path, body=None, headers=None):
    out = module.handler(http_event(method, path, body=body, headers=headers), LambdaContext())
    return out["statusCode"], json_body(out)


def wait(run_id: str) -> dict:
    for _ in range(2400):  # bounded
        _, view = call("GET", f"/v1/backtests/{run_id}")
        if view["status"] != "RUNNING":
            return view
        time.sleep(0.025)
    raise AssertionError(f"{run_id} still RUNNING")


@pytest.fixture
def stored(machines):
    machines.env.market_store().write(generate_ohlcv(500, "1h", seed=4, symbol="SYN/USD"))
    return machines


def test_a_repeat_after_an_abort_starts_the_run_again(stored):
    key = {"Idempotency-Key": "again-1"}
    status, first = call("POST", "/v1/backtests", REQUEST, key)
    assert status == 202 and wait(first["run_id"])["status"] == "SUCCEEDED"
    runs = RunStore()
    runs.update(first["run_id"], status="ABORTED", error="PlatformRestarted", cause="restart")
    status, retry = call("POST", "/v1/backtests", REQUEST, key)
    assert status == 202 and retry["status"] == "RUNNING"
    assert retry["run_id"] != first["run_id"]
    assert runs.get(first["run_id"]).retried_by == retry["run_id"]
    assert wait(retry["run_id"])["status"] == "SUCCEEDED"
    status, again = call("POST", "/v1/backtests", REQUEST, key)  # the newest run, as it is
    assert status == 202 and again == {**retry, "status": "SUCCEEDED"}


def test_a_failed_or_cancelled_run_is_answered_as_it_is(stored):
    key = {"Idempotency-Key": "again-2"}
    _, first = call("POST", "/v1/backtests", REQUEST, key)
    wait(first["run_id"])
    RunStore().update(first["run_id"], status="CANCELLED")
    status, again = call("POST", "/v1/backtests", REQUEST, key)
    assert status == 202 and again["run_id"] == first["run_id"]
    assert again["status"] == "CANCELLED"


def test_a_running_run_is_cancelled_and_stays_so(stored):
    runs = RunStore()
    _, accepted = call("POST", "/v1/backtests", REQUEST)
    run_id = accepted["run_id"]
    status, view = call("DELETE", f"/v1/backtests/{run_id}")
    if status == 409:  # it finished first: cancelling an ended run is refused
        assert view["error"]["code"] == "not_running"
        pytest.skip("the run ended before it could be cancelled")
    assert status == 200 and view["status"] == "CANCELLED"
    assert view["error"] == {"error": "Cancelled", "cause": "cancelled by its user"}
    # a task that finishes after the stop does not turn it SUCCEEDED
    assert runs.succeed(run_id, "backtest", "backtests/x/result.json") is False
    assert runs.get(run_id).status == "CANCELLED"
    status, again = call("DELETE", f"/v1/backtests/{run_id}")
    assert status == 409 and "is CANCELLED, not RUNNING" in again["error"]["message"]


def test_an_ended_or_unknown_run_cannot_be_cancelled(stored):
    _, accepted = call("POST", "/v1/backtests", REQUEST)
    assert wait(accepted["run_id"])["status"] == "SUCCEEDED"
    status, body = call("DELETE", f"/v1/backtests/{accepted['run_id']}")
    assert status == 409 and body["error"]["details"]["hint"]
    status, body = call("DELETE", "/v1/backtests/00000000-0000-4000-8000-000000000000")
    assert status == 404
    status, body = call("DELETE", "/v1/backtests/nope")  # not a run id: its pattern refuses it
    assert status == 422 and body["error"]["details"][0]["field"] == "path.id"
