"""The data function against moto and a local fake Binance (real ccxt): ingest stores candles,
mirrors the catalog, puts exactly the new candles on the stream and announces them; repeating
an ingest or the schedule adds nothing; GET lists the catalog with quality."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fakes.fake_binance import FakeBinance, generated_klines
from fakes.lambda_events import LambdaContext, http_event, json_body, load_handler

from tradpal.errors import ConfigError, FieldError
from tradpal.ingest.pipeline import check_range

module = load_handler("data")
handler = module.handler
HOUR_MS = 3_600_000
T0 = 1_640_995_200_000  # 2022-01-01 00:00 UTC
KLINES = generated_klines(1000, seed=7)


def ts(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").isoformat()


@pytest.fixture
def exchange(aws, monkeypatch):
    with FakeBinance({("BTC/USDT", "1h"): KLINES}) as fake:
        options = {"ccxt:binance": {"config": fake.ccxt_config(rateLimit=1), "page_limit": 200}}
        monkeypatch.setenv("TRADPAL_SOURCES", '["ccxt:binance"]')
        monkeypatch.setenv("TRADPAL_SOURCE_OPTIONS", json.dumps(options))
        monkeypatch.setenv("TRADPAL_WATCHLIST", '["BTC/USDT@1h"]')
        yield fake


class Stream:
    """Reads the market-data stream from the start, remembering where it stopped."""

    def __init__(self, aws) -> None:
        self.kinesis = aws.client("kinesis")
        name = aws.env.market_data_stream
        shard = self.kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
        self.iterator = self.kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def read(self) -> list[dict]:
        out = []
        for _ in range(100):  # bounded
            got = self.kinesis.get_records(ShardIterator=self.iterator, Limit=1000)
            self.iterator = got["NextShardIterator"]
            out.extend({**json.loads(r["Data"]), "_key": r["PartitionKey"]} for r in got["Records"])
            if not got["Records"]:
                break
        return out


def capture(aws) -> str:
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName="updates")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": ["tradpal.data"], "detail-type": ["market_data_update"]}
    bus = aws.env.event_bus
    events.put_rule(Name="updates", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="updates", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def drain(aws, url: str) -> list[dict]:
    sqs, out = aws.client("sqs"), []
    for _ in range(50):
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            out.append(json.loads(m["Body"])["detail"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def ingest(start_ms: int, end_ms: int) -> tuple[int, dict]:
    body = {"symbol": "BTC/USDT", "timeframe": "1h", "start": ts(start_ms), "end": ts(end_ms)}
    out = handler(http_event("POST", "/v1/data/ingest", body=body), LambdaContext())
    return out["statusCode"], json_body(out)


def served(lo: int, hi: int) -> list[list]:
    return [k for k in KLINES[lo:hi]]


def assert_records_are(records: list[dict], klines: list[list]) -> None:
    assert [r["time"] for r in records] == [ts(k[0]) for k in klines]
    got = np.array([[r[c] for c in ("open", "high", "low", "close", "volume")] for r in records])
    want = np.array([[float(x) for x in k[1:6]] for k in klines])
    assert np.array_equal(got, want)
    assert {r["_key"] for r in records} == {"BTC/USDT|1h"}
    assert {r["source"] for r in records} == {"ccxt:binance"}


def test_ingest_stores_mirrors_streams_and_announces_only_new_bars(aws, exchange):
    stream, updates = Stream(aws), capture(aws)
    status, body = ingest(T0, T0 + 300 * HOUR_MS)
    assert status == 200, body
    assert body["bars_written"] == 300 and body["new_bars"] == 300
    assert body["first"] == ts(T0) and body["last"] == ts(T0 + 299 * HOUR_MS)
    stored = aws.env.market_store().read("BTC/USDT", "1h")
    assert len(stored) == 300 and stored["close"].iloc[-1] == float(KLINES[299][4])
    assert_records_are(stream.read(), served(0, 300))
    [update] = drain(aws, updates)
    assert (
        update["bars"] == 300 and update["first"] == ts(T0) and update["source"] == "ccxt:binance"
    )

    item = aws.client("dynamodb").get_item(
        TableName=aws.env.datasets_table,
        Key={"symbol": {"S": "BTC/USDT"}, "timeframe": {"S": "1h"}},
    )["Item"]
    assert item["rows"]["N"] == "300" and item["streamed_last"]["S"] == ts(T0 + 299 * HOUR_MS)

    # The same range again: nothing fetched into the store, nothing streamed or announced.
    status, again = ingest(T0, T0 + 300 * HOUR_MS)
    assert status == 200 and again["bars_written"] == 0 and again["new_bars"] == 0
    assert again["event_id"] is None
    assert stream.read() == [] and drain(aws, updates) == []

    # A longer range: exactly the 200 new bars.
    status, more = ingest(T0, T0 + 500 * HOUR_MS)
    assert more["new_bars"] == 200 and more["first_new"] == ts(T0 + 300 * HOUR_MS)
    assert_records_are(stream.read(), served(300, 500))
    [update] = drain(aws, updates)
    assert update["bars"] == 200 and update["last"] == ts(T0 + 499 * HOUR_MS)

    # The catalog over HTTP, with the quality report; filters.
    out = handler(http_event("GET", "/v1/data"), LambdaContext())
    [entry] = json_body(out)["datasets"]
    assert entry["rows"] == 500 and entry["source"] == "ccxt:binance"
    assert entry["quality"]["ok"] is True and entry["quality_score"] == pytest.approx(100.0)
    query = {"symbol": "BTC/USDT", "timeframe": "4h"}
    out = handler(http_event("GET", "/v1/data", query=query), LambdaContext())
    assert json_body(out)["datasets"] == []
    out = handler(http_event("GET", "/v1/data", query={"symbol": "BTC/USDT"}), LambdaContext())
    assert len(json_body(out)["datasets"]) == 1


def test_scheduled_ingest_catches_up_the_watchlist_once(aws, exchange):
    stream, updates = Stream(aws), capture(aws)
    ingest(T0, T0 + 400 * HOUR_MS)
    assert len(stream.read()) == 400
    drain(aws, updates)

    result = handler({"action": "ingest"}, LambdaContext())
    [one] = result["results"]
    assert one["new_bars"] == 600 and one["last"] == ts(T0 + 999 * HOUR_MS)
    assert_records_are(stream.read(), served(400, 1000))
    assert [u["bars"] for u in drain(aws, updates)] == [600]

    # A retried schedule event stores nothing twice and puts no candle on the stream again.
    again = handler({"action": "ingest"}, LambdaContext())
    assert again["results"][0]["new_bars"] == 0 and again["results"][0]["bars_written"] == 0
    assert stream.read() == [] and drain(aws, updates) == []


def test_a_failed_stream_put_is_made_good_by_the_retry(aws, exchange, monkeypatch):
    stream = Stream(aws)
    from tradpal.events import market_stream

    real = market_stream.put_candles

    def broken(*args, **kw):
        raise ConnectionError("stream unreachable")

    monkeypatch.setattr(market_stream, "put_candles", broken)
    status, body = ingest(T0, T0 + 100 * HOUR_MS)
    assert status == 500 and body["error"]["code"] == "internal_error"
    assert len(aws.env.market_store().read("BTC/USDT", "1h")) == 100  # stored already
    monkeypatch.setattr(market_stream, "put_candles", real)
    status, body = ingest(T0, T0 + 100 * HOUR_MS)
    assert body["bars_written"] == 0 and body["new_bars"] == 100
    assert_records_are(stream.read(), served(0, 100))


def test_bad_requests_and_events(aws, exchange):
    out = handler(
        http_event("POST", "/v1/data/ingest", body={"symbol": "BTC/USDT", "timeframe": "1h"}),
        LambdaContext(),
    )
    assert out["statusCode"] == 422
    assert json_body(out)["error"]["details"][0]["field"] == "body.start"
    body = {"symbol": "NOPE/USDT", "start": ts(T0), "end": ts(T0 + 10 * HOUR_MS)}
    out = handler(http_event("POST", "/v1/data/ingest", body=body), LambdaContext())
    assert out["statusCode"] == 400 and "NOPE/USDT" in json_body(out)["error"]["message"]
    with pytest.raises(ConfigError):
        handler({"something": "else"}, LambdaContext())


@pytest.mark.parametrize(
    ("start", "end", "field", "said"),
    [
        ("2026-11-20T00:00:00Z", "2026-11-01T00:00:00Z", "body.end", "not after start"),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", "body.end", "not after start"),
        ("2030-01-01T00:00:00Z", None, "body.start", "in the future"),
        ("2030-01-01T00:00:00Z", "2030-02-01T00:00:00Z", "body.start", "in the future"),
    ],
)
def test_impossible_ingest_ranges_are_refused_naming_the_field(aws, start, end, field, said):
    """They answered 200 with bars_written 0 before: an ingest that silently did nothing."""
    body = {"symbol": "BTC/USDT", "start": start, "end": end, "source": "synthetic"}
    out = handler(http_event("POST", "/v1/data/ingest", body=body), LambdaContext())
    answer = json_body(out)
    assert out["statusCode"] == 400 and answer["error"]["code"] == "bad_request", answer
    (detail,) = answer["error"]["details"]
    assert detail["field"] == field and said in detail["message"] and detail["hint"]
    assert aws.env.market_store().range("BTC/USDT", "1h") is None  # nothing fetched or stored


def test_the_ingest_range_check_takes_naive_times_as_utc():
    from datetime import datetime

    now = pd.Timestamp("2026-11-24T07:30:00Z")
    check_range(datetime(2026, 11, 24, 7, 30), None, now=now)  # now: accepted
    check_range(datetime(2026, 11, 1), datetime(2026, 11, 2), now=now)
    with pytest.raises(FieldError) as got:
        check_range(datetime(2026, 11, 24, 7, 31), None, now=now)
    assert got.value.field == "body.start" and "future" in got.value.reason


def test_a_dataset_stored_before_streams_only_bars_after_it(aws, exchange):
    from tradpal.config import load_settings
    from tradpal.data.sources.registry import make_source

    options = load_settings().source_options["ccxt:binance"]
    store = aws.env.market_store()
    store.update(
        make_source("ccxt:binance", **options), "BTC/USDT", "1h", ts(T0), ts(T0 + 50 * HOUR_MS)
    )
    stream = Stream(aws)
    status, body = ingest(T0, T0 + 80 * HOUR_MS)
    assert status == 200 and body["bars_written"] == 30 and body["new_bars"] == 30
    assert_records_are(stream.read(), served(50, 80))


class FlakyKinesis:
    """The real (moto) client, except that the first PutRecords call refuses every other
    record, as Kinesis does when a shard is throttled (ProvisionedThroughputExceeded)."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, []

    def put_records(self, StreamName, Records):
        self.calls.append(len(Records))
        if len(self.calls) > 1:
            return self.real.put_records(StreamName=StreamName, Records=Records)
        kept = Records[::2]
        answer = self.real.put_records(StreamName=StreamName, Records=kept)
        out, it = [], iter(answer["Records"])
        for i in range(len(Records)):
            out.append(
                next(it)
                if i % 2 == 0
                else {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow"}
            )
        return {"FailedRecordCount": len(Records) // 2, "Records": out}


def test_stream_puts_go_in_chunks_of_500_and_refused_records_are_retried(
    aws, exchange, monkeypatch
):
    from tradpal.events import market_stream

    stream = Stream(aws)
    flaky = FlakyKinesis(aws.client("kinesis"))
    monkeypatch.setattr(market_stream, "client", lambda service: flaky)
    status, body = ingest(T0, T0 + 1000 * HOUR_MS)
    assert status == 200 and body["new_bars"] == 1000
    assert flaky.calls == [500, 250, 500]  # the refused half of the first chunk, once
    records = stream.read()
    assert sorted(r["time"] for r in records) == [ts(k[0]) for k in KLINES]
