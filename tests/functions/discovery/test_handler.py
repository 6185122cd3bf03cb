"""The discovery function through HTTP API v2 events, with the discovery state machine (its
Distributed Map included) executing under moto and its tasks running the real handlers: the
run finds what the library's own loop finds; GET shows progress, the best and links."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from fakes.lambda_events import LambdaContext, http_event, json_body, load_handler

from tradpal.discovery import run_discovery

module = load_handler("discovery")
DATA = {
    "source": "sample",
    "symbol": "SYN/USD",
    "timeframe": "1h",
    "start": "2024-01-01T00:00:00+00:00",
    "end": "2024-02-15T00:00:00+00:00",
}
REQUEST = {
    "strategy": "ema_crossover",
    "method": "genetic",
    "risk": False,
    "population": 4,
    "generations": 2,
    "elitism": 1,
    "seed": 11,
    "min_trades": 0,
    "data": DATA,
    "validation": {"holdout": 0.25, "folds": 2},
}


def call(method: str, path: str, **kw) -> tuple[int, dict, dict]:
    out = module.handler(http_event(method, path, **kw), LambdaContext())
    return out["statusCode"], json_body(out), out.get("headers") or {}


def get(run_id: str) -> tuple[int, dict]:
    status, body, _ = call("GET", f"/v1/discovery/{run_id}", route="GET /v1/discovery/{id}")
    return status, body


def test_post_runs_the_discovery_and_get_reports_the_library_result(machines):
    status, body, headers = call("POST", "/v1/discovery", body=REQUEST)
    assert status == 202, body
    run_id = body["run_id"]
    assert headers["Location"] == f"/v1/discovery/{run_id}" == body["links"]["self"]
    for _ in range(2400):  # bounded
        status, view = get(run_id)
        assert status == 200 and view["status"] in ("RUNNING", "SUCCEEDED"), view
        if view["status"] != "RUNNING":
            break
        time.sleep(0.025)
    reference = run_discovery(REQUEST, workers=1, batch_size=2)
    want = json.loads(json.dumps(reference["best"]))
    assert view["best"] == {k: v for k, v in want.items() if k != "oos_equity"}
    assert view["progress"]["done"] and view["progress"]["generations"] == 2
    assert view["progress"]["summary"] == json.loads(json.dumps(reference["summary"]))
    assert view["result"]["evaluated"] == len(reference["history"])
    assert view["result"]["top"][0]["id"] == reference["best"]["id"]
    with urllib.request.urlopen(view["links"]["final"], timeout=10) as answer:
        final = json.loads(answer.read())
    assert final["best"] == want and final["history"] == json.loads(
        json.dumps(reference["history"])
    )


def test_idempotency_key_returns_the_same_run(machines):
    key = {"Idempotency-Key": "disc-1"}
    first = call("POST", "/v1/discovery", body=REQUEST, headers=key)
    again = call("POST", "/v1/discovery", body=REQUEST, headers=key)
    assert first[0] == again[0] == 202 and first[1] == again[1]
    status, body, _ = call("POST", "/v1/discovery", body={**REQUEST, "seed": 1}, headers=key)
    assert status == 409 and body["error"]["code"] == "idempotency_conflict"
    arn = machines.env.state_machine_arn("discovery")
    runs = machines.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in runs] == [first[1]["run_id"]]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"strategy": "no_such"}, "unknown strategy"),
        ({"elitism": 4}, "elitism"),
        ({"objectives": ["nope"]}, "'sharpe', 'sortino'"),
        ({"validation": {"holdout": 1.5}}, "holdout"),
        ({"config": {"feez": 1}}, "feez"),
    ],
)
def test_refused_requests_answer_422_with_the_library_message(change, said):
    status, body, _ = call("POST", "/v1/discovery", body={**REQUEST, **change})
    assert status == 422, body
    assert body["error"]["code"] == "validation_error"
    assert said in body["error"]["message"] + body["error"]["details"][0]["message"]


def test_store_data_needs_a_symbol_and_a_platform_source():
    status, body, _ = call("POST", "/v1/discovery", body={**REQUEST, "data": {"source": "store"}})
    assert status == 422 and body["error"]["details"][0]["field"] == "body.data.symbol"
    # the model knows the platform's sources (as for backtests)
    status, body, _ = call("POST", "/v1/discovery", body={**REQUEST, "data": {"source": "x.csv"}})
    assert status == 422 and body["error"]["details"][0]["field"] == "body.data.source"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"method": "genetic"}, "body.strategy"),
        ({**REQUEST, "population": 1}, "body.population"),
        ({**REQUEST, "method": "annealing"}, "body.method"),
        ({**REQUEST, "unknown": 1}, "body.unknown"),
    ],
)
def test_invalid_bodies_answer_422_naming_the_field(body, field):
    status, answer, _ = call("POST", "/v1/discovery", body=body)
    assert status == 422, answer
    assert field in [d["field"] for d in answer["error"]["details"]]


def test_unknown_run_is_404(aws):
    status, body = get("00000000-0000-4000-8000-000000000000")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, body = get("nope")  # not a run id: its pattern refuses it
    assert status == 422 and body["error"]["details"][0]["field"] == "path.id"


SAMPLE_REQUEST = {"strategy": "ema_crossover", "data": {"source": "sample", "symbol": "SYN/USD"}}


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"population": 100_000_000, "generations": 100_000_000}, ["population", "generations"]),
        ({"population": 1001}, ["population"]),
        ({"generations": 501}, ["generations"]),
        ({"elitism": 1000}, ["elitism"]),
        ({"method": "random", "n_candidates": 20_001}, ["n_candidates"]),
        ({"data": {"source": "sample", "symbol": "SYN/USD", "bogus": 1}}, ["data.bogus"]),
        ({"validation": {"folds": 2, "bogus": 1}}, ["validation.bogus"]),
    ],
)
def test_oversized_requests_and_unknown_keys_answer_422_naming_the_field(change, fields):
    status, answer, _ = call("POST", "/v1/discovery", body={**SAMPLE_REQUEST, **change})
    assert status == 422, answer
    assert [d["field"] for d in answer["error"]["details"]] == [f"body.{f}" for f in fields]
    assert all(
        d["type"] in ("less_than_equal", "extra_forbidden") for d in answer["error"]["details"]
    )


@pytest.mark.parametrize(
    ("change", "field", "said"),
    [
        ({"population": 1000, "generations": 500}, "generations", "above the limit of 20000"),
        ({"method": "grid", "n_candidates": 4}, "n_candidates", "more than n_candidates 4"),
        ({"method": "grid", "population": 4}, "population", "method grid does not use"),
        ({"method": "tpe", "elitism": 1}, "elitism", "used by: genetic"),
        ({"config": {"bogus": 1}}, "config.bogus", "unknown field"),
    ],
)
def test_too_much_work_and_unused_fields_answer_422_before_any_run_starts(
    machines, change, field, said
):
    status, answer, _ = call("POST", "/v1/discovery", body={**SAMPLE_REQUEST, **change})
    assert status == 422, answer
    (detail,) = answer["error"]["details"]
    assert detail["field"] == f"body.{field}" and said in detail["message"] and detail["hint"]
    arn = machines.env.state_machine_arn("discovery")
    runs = machines.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    assert runs == []


def test_a_population_of_two_is_accepted_without_an_elitism(monkeypatch):
    started = []
    monkeypatch.setattr(
        module, "start_response", lambda *args: started.append(args[4]) or {"ok": 1}
    )
    status, _, _ = call(
        "POST", "/v1/discovery", body={**SAMPLE_REQUEST, "population": 2, "generations": 3}
    )
    assert status == 200 and started[0]["population"] == 2 and started[0]["elitism"] == 1


def wait_for(run_id: str) -> dict:
    for _ in range(2400):  # bounded
        status, view = get(run_id)
        assert status == 200, view
        if view["status"] != "RUNNING":
            return view
        time.sleep(0.025)
    raise AssertionError(f"run {run_id} still RUNNING")


def test_a_batch_the_library_refuses_fails_the_run_with_its_own_message(machines, monkeypatch):
    import tradpal.discovery
    from tradpal.errors import StoreError

    real = tradpal.discovery.evaluate

    def evaluate(batch, *, frame=None):
        if any(c["id"] == "g0-1" for c in batch["candidates"]):
            raise StoreError("the bars of SYN/USD 1h cannot be read", hint="ingest them first")
        return real(batch, frame=frame)

    monkeypatch.setattr(tradpal.discovery, "evaluate", evaluate)
    status, body, _ = call("POST", "/v1/discovery", body=REQUEST)
    assert status == 202, body
    view = wait_for(body["run_id"])
    assert view["status"] == "FAILED", view
    said = f"{view['error']['error']} {view['error']['cause']}"
    assert "StoreError: the bars of SYN/USD 1h cannot be read" in said, said
    assert "ingest them first" in said and "do not match" not in said


def test_data_too_short_for_the_folds_fails_at_plan_with_the_reason(machines):
    from tradpal.local.machines import function_name

    data = {**DATA, "end": "2024-01-03T00:00:00+00:00"}  # 48 bars
    body = {**REQUEST, "data": data, "validation": {"holdout": 0.25, "folds": 30}}
    status, accepted, _ = call("POST", "/v1/discovery", body=body)
    assert status == 202, accepted
    view = wait_for(accepted["run_id"])
    assert view["status"] == "FAILED", view
    assert "too few for 30 folds" in view["error"]["cause"], view["error"]
    assert not machines.local.calls_to(function_name(machines.env, "discovery_evaluate"))


@pytest.mark.parametrize(
    ("data", "field", "said"),
    [
        ({"symbol": "NOPE/USD", "timeframe": "1h"}, "body.data.symbol", "NOPE/USD"),
        ({"symbol": "BTC/USDT", "timeframe": "4h"}, "body.data.timeframe", "stored at 1h"),
    ],
    ids=["unknown-symbol", "unstored-timeframe"],
)
def test_data_the_store_does_not_hold_is_404_before_any_run_starts(machines, data, field, said):
    from tradpal.data.sources.synthetic import generate_ohlcv

    frame = generate_ohlcv(24 * 30, "1h", seed=3, start="2024-01-01", symbol="BTC/USDT")
    machines.env.market_store().write(frame)
    body = {**REQUEST, "data": {"source": "store", **data}}
    status, answer, _ = call("POST", "/v1/discovery", body=body)
    assert status == 404 and answer["error"]["code"] == "not_found", answer
    [detail] = answer["error"]["details"]
    assert detail["field"] == field and said in detail["message"], detail
    arn = machines.env.state_machine_arn("discovery")
    runs = machines.client("stepfunctions").list_executions(stateMachineArn=arn)["executions"]
    assert runs == []
