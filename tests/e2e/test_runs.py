"""Over real HTTP against the local platform: a token, then a backtest and a discovery run
through their state machines, with results equal to the library's own."""

from __future__ import annotations

import csv
import io
import json

from fakes.api_client import fetch

from tradpal.backtest.strategy_run import backtest_strategy, config_for
from tradpal.discovery import run_discovery
from tradpal.serialize import to_jsonable

SAMPLE = {"symbol": "SYN/USD", "timeframe": "1h"}


def test_a_backtest_over_http_equals_the_librarys_result(platform):
    p, api = platform.platform, platform.client
    store = p.env.market_store()
    first, last = store.range("SYN/USD", "1h")
    data = {**SAMPLE, "start": first.isoformat(), "end": last.isoformat()}
    status, accepted, headers = api.call(
        "POST", "/v1/backtests", {"strategy": "ema_crossover", "data": data}
    )
    assert status == 202 and accepted["status"] == "RUNNING"
    assert headers["location"].endswith(accepted["run_id"])
    done = api.wait(f"/v1/backtests/{accepted['run_id']}")
    assert done["status"] == "SUCCEEDED", done

    frame = store.read("SYN/USD", "1h", first, last)
    expected = backtest_strategy(frame, "ema_crossover", {}, config_for("1h")).result
    assert done["metrics"] == json.loads(json.dumps(to_jsonable(expected.metrics.to_dict())))
    trades = list(csv.DictReader(io.StringIO(fetch(done["links"]["trades"]).decode())))
    assert len(trades) == expected.metrics.num_trades > 0
    report = fetch(done["links"]["report"]).decode()
    assert report.startswith("<!DOCTYPE html>") or "<html" in report[:500]

    status, listed, _ = api.call("GET", "/v1/backtests?limit=5")
    assert status == 200 and accepted["run_id"] in json.dumps(listed)


def test_a_discovery_over_http_runs_through_the_distributed_map_and_equals_run_discovery(
    platform,
):
    api = platform.client
    request = {
        "strategy": "ema_crossover",
        "method": "genetic",
        "risk": False,
        "population": 4,
        "generations": 2,
        "elitism": 1,
        "seed": 7,
        "min_trades": 0,
        "data": {
            "source": "sample",
            "symbol": "SYN/USD",
            "timeframe": "1h",
            "start": "2024-01-01T00:00:00+00:00",
            "end": "2024-02-15T00:00:00+00:00",
        },
        "validation": {"holdout": 0.25, "folds": 2},
    }
    status, accepted, _ = api.call("POST", "/v1/discovery", request)
    assert status == 202, accepted
    done = api.wait(f"/v1/discovery/{accepted['run_id']}", timeout_s=300)
    assert done["status"] == "SUCCEEDED", done
    reference = run_discovery(request, workers=1, batch_size=2)
    assert done["best"]["id"] == reference["best"]["id"]
    assert done["best"]["params"] == json.loads(json.dumps(reference["best"]["params"]))
    final = json.loads(fetch(done["links"]["final"]))
    assert json.dumps(final["history"], sort_keys=True) == json.dumps(
        json.loads(json.dumps(reference["history"])), sort_keys=True
    )
    # the Map ran one child per batch of candidates: the evaluate function was invoked
    evaluated = platform.platform.local.calls_to(
        platform.platform.function_name("discovery_evaluate")
    )
    assert evaluated and all(c.outcome == "ok" for c in evaluated)


def test_requests_without_a_token_or_the_scope_are_refused(platform):
    p, api = platform.platform, platform.client
    body = {"strategy": "ema_crossover", "data": SAMPLE}
    status, refused, headers = api.call("POST", "/v1/backtests", body, token="")
    assert status == 401 and refused["error"]["code"] == "unauthorized"
    assert headers["www-authenticate"].startswith("Bearer")
    read_only = p.token(("read",))
    status, refused, _ = api.call("POST", "/v1/backtests", body, token=read_only)
    assert status == 403 and refused["error"]["code"] == "forbidden"
    status, ok, _ = api.call("GET", "/v1/health", token="")
    assert status == 200 and ok["status"] == "ok"


def test_an_idempotency_key_gives_the_same_run_and_a_different_body_conflicts(platform):
    api = platform.client
    body = {"strategy": "ema_crossover", "data": {**SAMPLE, "start": "2026-06-01T00:00:00Z"}}
    key = {"idempotency-key": "e2e-key-1"}
    first = api.call("POST", "/v1/backtests", body, headers=key)
    again = api.call("POST", "/v1/backtests", body, headers=key)
    assert first[0] == again[0] == 202 and first[1]["run_id"] == again[1]["run_id"]
    other = api.call("POST", "/v1/backtests", {**body, "params": {"fast": 5}}, headers=key)
    assert other[0] == 409 and other[1]["error"]["code"].startswith("idempotency")
    done = api.wait(f"/v1/backtests/{first[1]['run_id']}")
    # a repeat after the run ended answers the same run with its status now, not RUNNING
    status, repeat, _ = api.call("POST", "/v1/backtests", body, headers=key)
    assert status == 202 and repeat["run_id"] == first[1]["run_id"]
    assert repeat["status"] == done["status"] == "SUCCEEDED"
