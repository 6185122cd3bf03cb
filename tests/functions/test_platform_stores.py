"""The platform adapters every handler shares, against moto: the event publisher (schemas
enforced, refused entries retried), the runs table and the results bucket."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tradpal.errors import ConfigError, StoreError
from tradpal.events import EventPublisher, EventSchemaError, PublishError, parse_event
from tradpal.platform.environment import PLATFORM_ENV_VARS, PlatformEnv
from tradpal.platform.results import ResultStore
from tradpal.runs.store import RunRecord, RunStore

UPDATE = {
    "symbol": "BTC/USDT",
    "timeframe": "1h",
    "source": "ccxt:binance",
    "first": "2026-01-01T00:00:00Z",
    "last": "2026-01-01T02:00:00Z",
    "bars": 3,
}


def _capture(aws) -> str:
    """An SQS queue receiving every tradpal.* event on the bus."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName="capture")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(
        Name="capture",
        EventBusName=aws.env.event_bus,
        EventPattern=json.dumps({"source": [{"prefix": "tradpal."}]}),
    )
    events.put_targets(
        Rule="capture",
        EventBusName=aws.env.event_bus,
        Targets=[{"Id": "q", "Arn": arn["QueueArn"]}],
    )
    return url


def _received(aws, url: str) -> list[dict]:
    got = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_published_events_reach_the_bus_with_their_source_and_validated_detail(aws):
    url = _capture(aws)
    ids = EventPublisher("data").publish_many(
        [("market_data_update", UPDATE), ("market_data_update", {**UPDATE, "bars": 4})]
    )
    assert len(ids) == 2 and len(set(ids)) == 2
    events = _received(aws, url)
    assert [e["source"] for e in events] == ["tradpal.data", "tradpal.data"]
    detail_type, detail = parse_event(events[0])
    assert detail_type == "market_data_update" and detail.version == 1
    assert sorted(e["detail"]["bars"] for e in events) == [3, 4]


def test_a_detail_that_breaks_its_schema_is_refused_before_anything_is_sent(aws):
    url = _capture(aws)
    with pytest.raises(EventSchemaError) as err:
        EventPublisher("data").publish_many(
            [("market_data_update", UPDATE), ("market_data_update", {**UPDATE, "bars": -1})]
        )
    assert "bars" in err.value.message
    with pytest.raises(EventSchemaError, match="unknown event type"):
        EventPublisher("data").publish("market_data_updated", UPDATE)
    with pytest.raises(EventSchemaError, match="typo: Extra inputs"):
        EventPublisher("data").publish("market_data_update", {**UPDATE, "typo": 1})
    assert _received(aws, url) == []


def test_entries_the_bus_refuses_are_retried_then_reported(aws, monkeypatch):
    real = aws.client("events")
    calls: list[int] = []

    class Flaky:
        def put_events(self, Entries):
            calls.append(len(Entries))
            if len(calls) == 1:  # refuse the second entry once, as EventBridge may
                answer = real.put_events(Entries=Entries[:1])
                return {
                    "FailedEntryCount": 1,
                    "Entries": [
                        *answer["Entries"],
                        {"ErrorCode": "InternalFailure", "ErrorMessage": "try again"},
                    ],
                }
            return real.put_events(Entries=Entries)

    monkeypatch.setattr("tradpal.events.publisher.client", lambda service: Flaky())
    publisher = EventPublisher("data", sleep=lambda s: None)
    ids = publisher.publish_many([("market_data_update", UPDATE)] * 2)
    assert calls == [2, 1] and len(ids) == 2

    class Refusing:
        def put_events(self, Entries):
            return {
                "FailedEntryCount": len(Entries),
                "Entries": [{"ErrorCode": "AccessDenied", "ErrorMessage": "no"}] * len(Entries),
            }

    monkeypatch.setattr("tradpal.events.publisher.client", lambda service: Refusing())
    with pytest.raises(PublishError, match="the event bus refused 1 entry"):
        publisher.publish("market_data_update", UPDATE)


def test_more_than_ten_events_go_out_in_chunks_and_in_order(aws):
    url = _capture(aws)
    ids = EventPublisher("data").publish_many(
        [("market_data_update", {**UPDATE, "bars": n}) for n in range(23)]
    )
    assert len(ids) == 23
    seen = []
    for _ in range(10):
        seen += [e["detail"]["bars"] for e in _received(aws, url)]
        if len(seen) == 23:
            break
    assert sorted(seen) == list(range(23))


def test_runs_are_created_updated_listed_and_keep_their_request(aws):
    runs = RunStore(aws.env.runs_table)
    for i in range(3):
        runs.put(
            RunRecord(
                f"r{i}",
                "backtest",
                "RUNNING",
                created_at=f"2026-01-0{i + 1}T00:00:00.000Z",
                request={"strategy": "ema_crossover", "i": i},
            )
        )
    runs.put(RunRecord("d1", "discovery", "RUNNING", created_at="2026-01-09T00:00:00.000Z"))
    runs.update("r1", status="SUCCEEDED", result_key="backtests/r1/result.json")
    got = runs.get("r1")
    assert got.status == "SUCCEEDED" and got.result_key == "backtests/r1/result.json"
    assert got.request == {"strategy": "ema_crossover", "i": 1} and got.updated_at
    assert [r.run_id for r in runs.list("backtest")] == ["r2", "r1", "r0"]
    assert [r.run_id for r in runs.list("backtest", limit=1)] == ["r2"]
    assert runs.get("missing") is None
    with pytest.raises(ConfigError):
        runs.put(RunRecord("x", "backtest", "DONE"))
    with pytest.raises(ConfigError):
        runs.update("r1", request="{}")
    item = aws.client("dynamodb").get_item(
        TableName=aws.env.runs_table, Key={"run_id": {"S": "r0"}}
    )["Item"]
    assert int(item["expires_at"]["N"]) > 1_767_225_600  # a TTL, in epoch seconds


def test_small_results_are_inline_and_large_ones_a_working_presigned_link(aws):
    results = ResultStore(aws.env.results_bucket)
    assert results.offload("a.json", {"x": 1}) == {"inline": {"x": 1}}
    big = {"rows": list(range(50_000)), "nan": float("nan")}
    link = results.offload("runs/r1/big.json", big, inline_limit_bytes=1024)
    assert link["key"] == "runs/r1/big.json" and link["bytes"] > 1024
    with urllib.request.urlopen(link["url"], timeout=10) as answer:
        body = json.loads(answer.read())
    assert body["rows"][-1] == 49_999 and body["nan"] is None  # strict JSON
    assert results.exists("runs/r1/big.json") and not results.exists("runs/r1/none.json")
    assert results.list_keys("runs/") == ["runs/r1/big.json"]
    with pytest.raises(StoreError, match="no result"):
        results.get_json("runs/r1/none.json")


def test_the_environment_round_trips_and_names_what_is_missing(aws):
    assert PlatformEnv.from_environ(aws.env.to_environ()) == aws.env
    assert set(aws.env.to_environ()) <= set(PLATFORM_ENV_VARS)
    with pytest.raises(ConfigError, match="TRADPAL_RESULTS_BUCKET"):
        PlatformEnv().require("results_bucket")
    with pytest.raises(ConfigError, match="backtest state machine"):
        PlatformEnv().state_machine_arn("backtest")
