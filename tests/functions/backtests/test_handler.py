"""The backtests function through HTTP API v2 events, with the backtest state machine
executing under moto and its tasks running the same handler: POST answers 202 with the run
id, GET gives the status and, when done, the library's metrics and trades bit for bit and
working pre-signed links; bad input names the field; Idempotency-Key repeats are one run."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request

import pytest
from fakes.lambda_events import LambdaContext, http_event, json_body, load_handler

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.errors import StoreError
from tradpal.events.schemas import BacktestComplete
from tradpal.local.machines import function_name
from tradpal.reports import result_document
from tradpal.runs.backtest import backtest, checked, output_files
from tradpal.runs.store import RunStore

module = load_handler("backtests")
DATA = {
    "source": "sample",
    "symbol": "SYN/USD",
    "timeframe": "1h",
    "start": "2024-01-01T00:00:00+00:00",
    "end": "2024-02-15T00:00:00+00:00",
}
REQUEST = {"strategy": "ema_crossover", "params": {"fast": 10}, "data": DATA, "config": {}}
NO_END = {k: v for k, v in DATA.items() if k != "end"}


def call(method: str, path: str, **kw) -> tuple[int, dict, dict]:
    out = module.handler(http_event(method, path, **kw), LambdaContext())
    return out["statusCode"], json_body(out), out.get("headers") or {}


def wait(run_id: str, path: str = "/v1/backtests") -> dict:
    for _ in range(2400):  # bounded
        status, body, _ = call("GET", f"{path}/{run_id}", route=f"GET {path}/{{id}}")
        assert status == 200, body
        if body["status"] != "RUNNING":
            return body
        time.sleep(0.025)
    raise AssertionError(f"run {run_id} still running")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def executions(world) -> list[dict]:
    sfn = world.client("stepfunctions")
    arn = world.env.state_machine_arn("backtest")
    return sfn.list_executions(stateMachineArn=arn)["executions"]


@pytest.fixture
def events(machines):
    """Collects backtest_complete events from the bus (an SQS target)."""
    sqs, ev = machines.client("sqs"), machines.client("events")
    bus = machines.env.event_bus
    queue = sqs.create_queue(QueueName=f"{bus}-bt")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    ev.put_rule(Name="bt", EventBusName=bus, EventPattern='{"detail-type": ["backtest_complete"]}')
    ev.put_targets(Rule="bt", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn["QueueArn"]}])

    def drain() -> list[dict]:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in got.get("Messages", ())]

    return drain


def test_post_runs_the_backtest_and_get_returns_the_library_result(machines, events):
    status, body, headers = call("POST", "/v1/backtests", body=REQUEST)
    assert status == 202, body
    run_id = body["run_id"]
    assert body == {
        "run_id": run_id,
        "status": "RUNNING",
        "links": {"self": f"/v1/backtests/{run_id}"},
    }
    assert headers["Location"] == f"/v1/backtests/{run_id}"
    view = wait(run_id)
    assert view["status"] == "SUCCEEDED", view
    expected, frame = backtest(checked(REQUEST))
    document = json.loads(json.dumps(result_document(expected.result, frame)))
    assert view["metrics"] == document["metrics"] and view["metrics"]["num_trades"] > 0
    assert view["trades"] == {"inline": document["trades"]}
    assert view["period"] == document["period"]
    assert view["request"] == checked(REQUEST) and view["created_at"]
    files = output_files(expected, frame)
    for name in ("result", "trades", "equity"):
        assert fetch(view["links"][name]) == files[name]  # pre-signed URLs work, bit for bit
    assert fetch(view["links"]["report"]).startswith(b"<!DOCTYPE")
    (event,) = events()
    detail = BacktestComplete.model_validate(event["detail"])
    assert detail.run_id == run_id and detail.status == "SUCCEEDED"
    assert detail.result["metrics"] == document["metrics"]


def test_a_stored_dataset_is_read_from_the_platform_store(machines):
    frame = generate_ohlcv(24 * 60, "1h", seed=3, start="2024-01-01", symbol="BTC/USDT")
    machines.env.market_store().write(frame)
    data = {"source": "store", "symbol": "BTC/USDT", "timeframe": "1h", "start": "2024-01-10"}
    status, body, _ = call(
        "POST", "/v1/backtests", body={"strategy": "ema_crossover", "data": data}
    )
    assert status == 202, body
    view = wait(body["run_id"])
    assert view["status"] == "SUCCEEDED", view
    assert view["request"]["data"]["end"]  # an open end is pinned when the run is accepted
    expected, _ = backtest(view["request"])
    assert view["metrics"]["final_equity"] == expected.result.metrics.to_dict()["final_equity"]
    assert view["period"]["start"].startswith("2024-01-10")

    # a range with no bars is refused when submitted: no run, no execution
    empty = {**data, "start": "2023-01-01", "end": "2023-02-01"}
    status, body, _ = call(
        "POST", "/v1/backtests", body={"strategy": "ema_crossover", "data": empty}
    )
    assert status == 404 and body["error"]["code"] == "not_found", body
    assert "no stored BTC/USDT 1h bars" in body["error"]["message"]
    assert "2024-01-01" in body["error"]["details"][0]["message"]  # says what is stored
    assert len(executions(machines)) == 1


def test_a_run_that_finds_no_bars_fails_with_a_clear_error(machines):
    """The state machine's own check stays: data gone between submit and run fails the run."""
    frame = generate_ohlcv(24 * 10, "1h", seed=3, start="2024-01-01", symbol="BTC/USDT")
    machines.env.market_store().write(frame)
    data = {"symbol": "BTC/USDT", "start": "2024-01-02", "end": "2024-01-05"}
    store, real = machines.env.market_store(), module.handler

    def deleting(event, context):  # the data goes away after the run was accepted
        with contextlib.suppress(StoreError):
            store.delete("BTC/USDT", "1h")
        return real(event, context)

    machines.local.register(function_name(machines.env, "backtests"), deleting)
    status, body, _ = call(
        "POST", "/v1/backtests", body={"strategy": "ema_crossover", "data": data}
    )
    assert status == 202, body
    view = wait(body["run_id"])
    assert view["status"] == "FAILED"
    assert "BTC/USDT" in view["error"]["cause"]
    assert view["request"]["data"]["start"].startswith("2024-01-02")  # the RUNNING item kept


@pytest.mark.parametrize(
    ("change", "field", "said"),
    [
        ({"strategy": "no_such"}, "body.strategy", "unknown strategy"),
        ({"params": {"nope": 1}}, "body.params", "nope"),
        ({"params": {"fast": 60, "slow": 50}}, "body.params", "fast"),
        ({"data": {**DATA, "timeframe": "7h"}}, "body.data.timeframe", "Input should be"),
        ({"data": {**DATA, "start": "not a time"}}, "body.data.start", "ISO 8601"),
        ({"data": {**DATA, "start": "0001-01-01"}}, "body.data.start", "years 1678 to 2261"),
        ({"data": {**DATA, "end": "2023-01-01"}}, "body.data.end", "not after start"),
        ({"data": {"timeframe": "1h"}}, "body.data.symbol", "symbol"),
        ({"config": {"feez": 0.1}}, "body.config.feez", "unknown field"),
        ({"config": {"fees": -1}}, "body.config.fees", "greater than or equal to 0"),
        # numbers have finite ranges: no 1e308 capital, and no integer beyond float range
        ({"config": {"capital": 1e308}}, "body.config.capital", "less than or equal to"),
        ({"config": {"capital": 10**400}}, "body.config.capital", "less than or equal to"),
        ({"params": {"fast": 10**400}}, "body.params.fast", "from -1e9 to 1e9"),
        ({"config": {"sizing": "risk:2"}}, "body.config.sizing", "risk:F (0 < F < 1)"),
        # an explicit null never silently means the default
        ({"config": {"capital": None}}, "body.config.capital", "null is not a setting"),
        ({"config": {"stop_loss": None}}, "body.config.stop_loss", "leave the field out"),
        # a higher-timeframe filter finer than the data cannot be built from it
        ({"strategy": "ema_crossover@1m"}, "body.strategy", "1m"),
        ({"strategy": "ema_crossover@1m+atr"}, "body.strategy", "1m"),
        (
            {"strategy": "ema_crossover@6h", "data": {**DATA, "timeframe": "4h"}},
            "body.strategy",
            "not a whole multiple of 4h",
        ),
        ({"data": {**NO_END, "start": "2200-01-01"}}, "body.data.start", "in the future"),
    ],
)
def test_refused_requests_answer_422_naming_the_field(change, field, said):
    """The request model checks them (no AWS call: a start would fail on the missing ARN)."""
    status, body, _ = call("POST", "/v1/backtests", body={**REQUEST, **change})
    assert status == 422, body
    assert body["error"]["code"] == "validation_error" and field in body["error"]["message"]
    (detail,) = body["error"]["details"]
    assert detail["field"] == field and said in detail["message"]
    if change.get("strategy") == "no_such":
        assert "ema_crossover" in detail["hint"]  # the library's hint lists the strategies
    elif change.get("strategy"):
        assert "filters on" in detail["message"] and "multiple" in detail["hint"]


def test_higher_timeframe_filters_the_data_can_make_are_accepted():
    for name in ("ema_crossover@1h", "ema_crossover@4h", "ema_crossover@1d+atr"):
        assert checked({**REQUEST, "strategy": name})["strategy"] == name
    assert checked({**REQUEST, "config": {"stop_loss": "none"}})["config"]


@pytest.mark.parametrize(
    ("data", "status", "field", "said"),
    [
        ({"symbol": "NOPE/USD"}, 404, "body.data.symbol", "NOPE/USD is not stored"),
        ({"symbol": "SYN/USD", "timeframe": "4h"}, 404, "body.data.timeframe", "stored at 1h"),
        ({"symbol": "SYN/USD", "start": "2020-01-01", "end": "2020-02-01"}, 404,
         "body.data.start", "stored from 2024-01-01"),
        ({"symbol": "SYN/USD", "start": "2025-01-01"}, 404, "body.data.start", "stored from"),
        ({"symbol": "SYN/USD", "start": "2024-01-03", "end": "2024-01-02"}, 422,
         "body.data.end", "not after start"),
    ],
)  # fmt: skip
def test_data_the_store_does_not_hold_is_refused_when_submitted(aws, data, status, field, said):
    """Refused before a run exists (the start would fail here: no state machine deployed)."""
    aws.env.market_store().write(generate_ohlcv(240, "1h", seed=5, start="2024-01-01"))
    got, body, _ = call("POST", "/v1/backtests", body={"strategy": "ema_crossover", "data": data})
    assert got == status, body
    (detail,) = body["error"]["details"]
    assert detail["field"] == field and said in detail["message"] + body["error"]["message"]
    assert "s3://" not in json.dumps(body)  # the dataset is named, never the bucket
    if status == 404:
        assert body["error"]["code"] == "not_found" and "POST /v1/data/ingest" in detail["hint"]
    assert RunStore(aws.env.runs_table).list("backtest", limit=5) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"params": {}, "data": DATA}, "body.strategy"),
        ({"strategy": "ema_crossover"}, "body.data"),
        ({**REQUEST, "params": [1]}, "body.params"),
        ({**REQUEST, "data": {**DATA, "source": "ftp"}}, "body.data.source"),
        ({**REQUEST, "extra": 1}, "body.extra"),
    ],
)
def test_invalid_bodies_answer_422_naming_the_field(body, field):
    status, answer, _ = call("POST", "/v1/backtests", body=body)
    assert status == 422, answer
    assert answer["error"]["code"] == "validation_error"
    assert field in [d["field"] for d in answer["error"]["details"]]


def test_idempotency_key_repeats_are_one_run_and_a_changed_body_conflicts(machines):
    key = {"Idempotency-Key": "k-123"}
    first = call("POST", "/v1/backtests", body=REQUEST, headers=key)
    again = call("POST", "/v1/backtests", body=REQUEST, headers=key)
    assert first[0] == again[0] == 202
    assert first[1] == again[1] and first[2]["Location"] == again[2]["Location"]
    assert len(executions(machines)) == 1
    status, body, _ = call("POST", "/v1/backtests", body={**REQUEST, "params": {}}, headers=key)
    assert status == 409 and body["error"]["code"] == "idempotency_conflict"
    other = call("POST", "/v1/backtests", body=REQUEST, headers={"Idempotency-Key": "k-456"})
    assert other[0] == 202 and other[1]["run_id"] != first[1]["run_id"]
    no_key = call("POST", "/v1/backtests", body=REQUEST)
    assert no_key[1]["run_id"] not in (first[1]["run_id"], other[1]["run_id"])
    assert len(executions(machines)) == 3


def test_list_is_newest_first_and_bounded(machines):
    ids = [call("POST", "/v1/backtests", body=REQUEST)[1]["run_id"] for _ in range(3)]
    status, body, _ = call("GET", "/v1/backtests")
    assert status == 200 and [r["run_id"] for r in body["runs"]] == ids[::-1]
    assert body["runs"][0]["strategy"] == "ema_crossover"
    _, one, _ = call("GET", "/v1/backtests", query={"limit": "1"})
    assert [r["run_id"] for r in one["runs"]] == ids[-1:]
    for bad in ("0", "201", "x"):
        status, body, _ = call("GET", "/v1/backtests", query={"limit": bad})
        assert status == 422 and body["error"]["details"][0]["field"] == "query.limit"


def test_unknown_run_is_404_in_the_error_shape(aws):
    unknown = "00000000-0000-4000-8000-000000000000"
    status, body, _ = call("GET", f"/v1/backtests/{unknown}", route="GET /v1/backtests/{id}")
    assert status == 404
    assert body["error"]["code"] == "not_found" and unknown in body["error"]["message"]
    # an id that is no run id at all is refused by its pattern (the document states it)
    status, body, _ = call("GET", "/v1/backtests/nope", route="GET /v1/backtests/{id}")
    assert status == 422 and body["error"]["details"][0]["field"] == "path.id"


def test_a_run_whose_execution_ended_unrecorded_is_reported_so(machines):
    """An execution aborted from outside never reaches the Catch: GET says ABORTED."""
    release, entered = threading.Event(), threading.Event()
    real = module.handler

    def blocking(event, context):
        entered.set()
        release.wait(10)  # bounded
        return real(event, context)

    machines.local.register(function_name(machines.env, "backtests"), blocking)
    _, body, _ = call("POST", "/v1/backtests", body=REQUEST)
    run_id = body["run_id"]
    assert entered.wait(10)
    record = RunStore(machines.env.runs_table).get(run_id)
    machines.client("stepfunctions").stop_execution(executionArn=record.execution_arn)
    release.set()
    view = wait(run_id)
    assert view["status"] == "ABORTED" and view["error"]["error"]
    assert RunStore(machines.env.runs_table).get(run_id).status == "RUNNING"  # table untouched


def test_the_list_pages_with_a_cursor_and_filters_by_status(aws):
    from tradpal.runs.store import RunRecord

    store = RunStore(aws.env.runs_table)
    made = []
    for i in range(7):  # seven runs, one second apart; every third one failed
        status = "FAILED" if i % 3 == 0 else "SUCCEEDED"
        record = RunRecord(
            run_id=f"run-{i}", kind="backtest", status=status,
            created_at=f"2026-01-01T00:00:0{i}.000Z", request={"strategy": "ema_crossover"},
        )  # fmt: skip
        store.put(record)
        made.append(record)
    newest_first = [r.run_id for r in reversed(made)]

    seen, after = [], None
    for _ in range(10):  # bounded
        query = {"limit": "3"} | ({"after": after} if after else {})
        status, page, _ = call("GET", "/v1/backtests", query=query)
        assert status == 200 and len(page["runs"]) <= 3
        seen += [r["run_id"] for r in page["runs"]]
        after = page["next"]
        if after is None:
            break
    assert seen == newest_first  # every run once, in order, across pages

    status, failed, _ = call("GET", "/v1/backtests", query={"status": "FAILED"})
    assert [r["run_id"] for r in failed["runs"]] == ["run-6", "run-3", "run-0"]
    assert failed["next"] is None

    for query, field in [({"after": "not-a-cursor"}, "query.after"),
                         ({"status": "DONE"}, "query.status")]:  # fmt: skip
        status, body, _ = call("GET", "/v1/backtests", query=query)
        assert status in (400, 422) and body["error"]["details"][0]["field"] == field, body
