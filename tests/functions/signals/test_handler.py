"""The signals function: POST equals the library's strategy signals; the market-data stream
consumer publishes trading_signal for each position change, reports malformed records as
batch item failures, and publishes nothing new when a batch is replayed."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fakes.lambda_events import LambdaContext, http_event, json_body, kinesis_event, load_handler

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.events.schemas import CandleRecord
from tradpal.local.resources import stream_arn
from tradpal.signals import consumer
from tradpal.signals.stream import MAX_HISTORY_BARS, MIN_HISTORY_BARS, history_bars, signal_id
from tradpal.strategies import get_strategy, resolve_params
from tradpal.strategies.positions import SIDES, changes, positions
from tradpal.timeframes import parse_timeframe

module = load_handler("signals")
handler = module.handler


def candles_of(frame: pd.DataFrame) -> list[dict]:
    return [
        {"time": t.isoformat(), **{c: float(frame[c].iloc[i]) for c in frame.columns}}
        for i, t in enumerate(frame.index)
    ]


def call(body: dict) -> tuple[int, dict]:
    out = handler(http_event("POST", "/v1/signals", body=body), LambdaContext())
    return out["statusCode"], json_body(out)


@pytest.mark.parametrize(
    ("strategy", "params"),
    [("ema_crossover", {}), ("rsi_reversal+atr", {}), ("ema_crossover", {"fast": 5, "slow": 30})],
)
def test_posted_candles_give_the_library_signals(strategy, params):
    frame = generate_ohlcv(1000, "1h", seed=11, symbol="BTC/USDT")
    status, body = call(
        {"symbol": "BTC/USDT", "timeframe": "1h", "strategy": strategy, "params": params,
         "candles": candles_of(frame)}
    )  # fmt: skip
    assert status == 200, body
    lib = get_strategy(strategy)
    resolved = resolve_params(lib, frame, params)
    signals = lib.generate(frame, resolved)
    assert body["params"] == json.loads(json.dumps(resolved))
    for name in ("long_entry", "long_exit", "short_entry", "short_exit"):
        assert body[name] == np.flatnonzero(getattr(signals, name)).tolist()
    pos = positions(signals)
    assert body["position"] == pos.tolist()
    want = changes(pos)
    assert [c["bar"] for c in body["changes"]] == want.tolist() and len(want) > 0
    first = body["changes"][0]
    assert first["time"] == frame.index[want[0]].isoformat()
    assert first["price"] == frame["close"].iloc[want[0]]
    assert first["side"] == SIDES[int(pos[want[0]])]
    if strategy.endswith("+atr"):
        long_changes = [c for c in body["changes"] if c["side"] != "flat"]
        assert any(c["stop_price"] is not None for c in long_changes)


def test_stored_range_and_errors(aws):
    frame = generate_ohlcv(400, "4h", seed=2, symbol="ETH/USDT")
    aws.env.market_store().write(frame)
    status, body = call({"symbol": "ETH/USDT", "timeframe": "4h", "strategy": "bb_reversal"})
    assert status == 200, body
    lib = get_strategy("bb_reversal").generate(frame)
    assert body["position"] == positions(lib).tolist() and body["bars"] == 400

    status, body = call({"symbol": "ETH/USDT", "timeframe": "4h", "strategy": "nope"})
    assert status == 422 and "unknown strategy" in body["error"]["details"][0]["message"]
    assert body["error"]["details"][0]["field"] == "body.strategy"
    # params the strategy refuses: a 422 naming params, as a backtest's (it was a 400)
    status, body = call(
        {"symbol": "ETH/USDT", "timeframe": "4h", "params": {"fast": 50, "slow": 10}}
    )
    assert status == 422 and body["error"]["details"][0]["field"] == "body.params"
    assert "fast < slow" in body["error"]["details"][0]["message"]
    status, body = call({"symbol": "ETH/USDT", "timeframe": "4h", "params": {"fast": True}})
    assert status == 422 and "is true, not a number" in body["error"]["details"][0]["message"]
    status, body = call({"symbol": "ETH/USDT", "timeframe": "4h", "params": {"fsat": 3}})
    assert status == 422 and "unknown param(s) fsat" in body["error"]["details"][0]["message"]
    status, body = call({"symbol": "ETH/USDT", "timeframe": "4h", "params": "fast"})
    assert status == 422 and body["error"]["details"][0]["field"] == "body.params"

    # the same rules as /v1/indicators and /v1/backtests (market_data.require_stored_data)
    status, body = call({"symbol": "NOPE/USD"})
    assert status == 404 and body["error"]["details"][0]["field"] == "body.symbol"
    status, body = call({"symbol": "ETH/USDT", "timeframe": "1h"})
    assert status == 404 and "stored at 4h" in body["error"]["details"][0]["message"]
    status, body = call({"symbol": "ETH/USDT", "timeframe": "4h", "start": "2030-01-01"})
    assert status == 404 and body["error"]["details"][0]["field"] == "body.start"
    assert "no stored ETH/USDT 4h bars" in body["error"]["message"]
    span = {"start": "2024-01-05", "end": "2024-01-01"}
    status, body = call({"symbol": "ETH/USDT", "timeframe": "4h", **span})
    assert status == 400 and body["error"]["details"][0]["field"] == "body.end"


@pytest.mark.parametrize("strategy", ["ema_crossover@1m", "rsi_reversal@30m+atr"])
def test_a_filter_finer_than_the_data_is_refused_naming_the_strategy(strategy):
    frame = generate_ohlcv(100, "1h", seed=2)
    status, body = call({"candles": candles_of(frame), "strategy": strategy})
    assert status == 422 and body["error"]["code"] == "validation_error", body
    (detail,) = body["error"]["details"]
    assert detail["field"] == "body.strategy" and "finer" in detail["message"]
    assert strategy.split("+")[0] in detail["message"] and detail["hint"]


# --------------------------------------------------------------------------- the stream
def capture_queue(aws, detail_type: str) -> str:
    """An SQS queue receiving ``detail_type`` events from the bus (what a consumer sees)."""
    sqs, events = aws.client("sqs"), aws.client("events")
    url = sqs.create_queue(QueueName=f"capture-{detail_type}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {"source": [{"prefix": "tradpal."}], "detail-type": [detail_type]}
    events.put_rule(
        Name="capture", EventBusName=aws.env.event_bus, EventPattern=json.dumps(pattern)
    )
    events.put_targets(
        Rule="capture", EventBusName=aws.env.event_bus, Targets=[{"Id": "q", "Arn": arn}]
    )
    return url


def drain(aws, url: str) -> list[dict]:
    sqs, out = aws.client("sqs"), []
    for _ in range(100):  # bounded
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        msgs = got.get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def records_of(frame: pd.DataFrame, symbol: str, timeframe: str) -> list[str]:
    return [
        CandleRecord(
            symbol=symbol, timeframe=timeframe, time=t.isoformat(), source="synthetic",
            **{c: float(frame[c].iloc[i]) for c in frame.columns},
        ).model_dump_json()
        for i, t in enumerate(frame.index)
    ]  # fmt: skip


def expected_signals(frame: pd.DataFrame, offset: int, strategy: str) -> list[tuple]:
    lib = get_strategy(strategy)
    pos = positions(lib.generate(frame))
    return [
        (strategy, frame.index[t].isoformat(), SIDES[int(pos[t])], SIDES[int(pos[t - 1])])
        for t in changes(pos)
        if t >= offset
    ]


def test_stream_publishes_position_changes_once_and_reports_malformed_records(aws, monkeypatch):
    monkeypatch.setenv("TRADPAL_SIGNAL_STRATEGIES", '["ema_crossover", "rsi_reversal"]')
    monkeypatch.setenv("TRADPAL_SIGNAL_MAX_AGE_BARS", "0")  # these 2024 bars arrive today
    url = capture_queue(aws, "trading_signal")
    full = generate_ohlcv(400, "1h", seed=21, symbol="BTC/USDT")
    history, new = full.iloc[:200], full.iloc[200:]
    aws.env.market_store().write(history)  # fewer bars than the warm-up bound: all are read
    payloads = records_of(new, "BTC/USDT", "1h")
    payloads.insert(5, "not json at all")
    bad = json.loads(payloads[10])
    bad["close"] = "cheap"
    payloads.insert(10, json.dumps(bad))
    event = kinesis_event(payloads, stream_arn=stream_arn(aws.env.market_data_stream))
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]

    answer = handler(event, LambdaContext())
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": seqs[5]}, {"itemIdentifier": seqs[10]}]
    }
    published = drain(aws, url)
    got = sorted(
        (e["detail"]["strategy"], e["detail"]["time"], e["detail"]["side"], e["detail"]["previous"])
        for e in published
    )
    want = sorted(
        expected_signals(full, 200, "ema_crossover") + expected_signals(full, 200, "rsi_reversal")
    )
    assert got == want and len(want) > 2
    assert {e["source"] for e in published} == {"tradpal.signals"}
    ids = [e["detail"]["signal_id"] for e in published]
    assert len(set(ids)) == len(ids)

    # Replaying the batch (Lambda retries from the first failure) publishes nothing new.
    assert handler(event, LambdaContext()) == answer
    assert drain(aws, url) == []


def test_signal_ids_are_stable_and_distinct():
    a = signal_id("BTC/USDT", "1h", "ema_crossover", {"fast": 9, "slow": 21}, "t1")
    assert a == signal_id("BTC/USDT", "1h", "ema_crossover", {"slow": 21, "fast": 9}, "t1")
    assert a != signal_id("BTC/USDT", "1h", "ema_crossover", {"fast": 9, "slow": 22}, "t1")
    assert a != signal_id("BTC/USDT", "1h", "ema_crossover", {"fast": 9, "slow": 21}, "t2")


def test_history_bound_covers_the_strategy_warm_up():
    ema = get_strategy("ema_crossover")
    slow = ema.defaults_for("1h")["slow"]
    hour, minute = parse_timeframe("1h"), parse_timeframe("1m")
    assert history_bars([ema], hour) >= 5 * slow
    assert history_bars([get_strategy("ema_crossover@4h")], hour) >= 4 * 5 * slow
    assert history_bars([get_strategy("ema_crossover@1w")], minute) == MAX_HISTORY_BARS
    assert history_bars([], hour) == MIN_HISTORY_BARS


def test_a_failing_dataset_fails_only_its_records(aws, monkeypatch):
    monkeypatch.setenv("TRADPAL_SIGNAL_MAX_AGE_BARS", "0")  # history, published all the same
    url = capture_queue(aws, "trading_signal")
    btc = generate_ohlcv(300, "1h", seed=5, symbol="BTC/USDT")
    eth = generate_ohlcv(300, "1h", seed=6, symbol="ETH/USDT")
    payloads = records_of(btc, "BTC/USDT", "1h") + records_of(eth, "ETH/USDT", "1h")
    odd = json.loads(payloads[0])
    odd["timeframe"] = "7h"
    payloads.append(json.dumps(odd))
    real = consumer.publish_signal

    def publish(detail, context=None):
        if detail["symbol"] == "ETH/USDT":
            raise ConnectionError("bus unreachable")
        real(detail, context)

    monkeypatch.setattr(consumer, "publish_signal", publish)
    event = kinesis_event(payloads, stream_arn=stream_arn(aws.env.market_data_stream))
    seqs = [r["kinesis"]["sequenceNumber"] for r in event["Records"]]
    failed = [f["itemIdentifier"] for f in handler(event, LambdaContext())["batchItemFailures"]]
    assert failed == seqs[300:]  # every ETH record, and the record with a bad timeframe
    published = drain(aws, url)
    assert {e["detail"]["symbol"] for e in published} == {"BTC/USDT"}
    assert len(published) == len(expected_signals(btc, 0, "ema_crossover"))


def test_signals_on_bars_long_closed_when_they_arrived_are_history_not_news(aws, monkeypatch):
    monkeypatch.delenv("TRADPAL_SIGNAL_MAX_AGE_BARS", raising=False)  # the default: 3 bars
    url = capture_queue(aws, "trading_signal")
    full = generate_ohlcv(400, "1h", seed=21, symbol="BTC/USDT")
    aws.env.market_store().write(full.iloc[:200])
    event = kinesis_event(
        records_of(full.iloc[200:], "BTC/USDT", "1h"),
        stream_arn=stream_arn(aws.env.market_data_stream),
    )
    # the first 150 bars arrive a month after they closed (a backfill), the last 50 a minute
    # after (live): only the live bars' signals are news
    for i, record in enumerate(event["Records"]):
        closed = full.index[200 + i].timestamp() + 3600
        record["kinesis"]["approximateArrivalTimestamp"] = closed + (30 * 86400 if i < 150 else 60)
    assert handler(event, LambdaContext()) == {"batchItemFailures": []}
    got = sorted(
        (e["detail"]["strategy"], e["detail"]["time"], e["detail"]["side"], e["detail"]["previous"])
        for e in drain(aws, url)
    )
    live, everything = (
        expected_signals(full, 350, "ema_crossover"),
        expected_signals(full, 200, "ema_crossover"),
    )
    assert got == sorted(live) and live and len(everything) > len(live)
