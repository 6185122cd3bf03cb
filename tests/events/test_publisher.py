"""The event publisher against moto: schemas enforced, refused entries retried, chunks in
order."""

from __future__ import annotations

import json

import pytest

from tradpal.events import EventPublisher, EventSchemaError, PublishError, parse_event

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
