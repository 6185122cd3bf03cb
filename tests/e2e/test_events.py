"""Events end to end on the local platform: a scheduled ingest from an exchange (a fake
Binance speaking the real REST protocol on 127.0.0.1) stores candles and puts them on the
market-data stream; the signals consumer turns them into trading_signal events; the notifier
delivers each to a webhook (a local HTTP receiver) with a valid signature. Then the platform
restarts on the same home and nothing is lost."""

from __future__ import annotations

import itertools
import json
import time

import pandas as pd
import pytest
from fakes.api_client import Client
from fakes.fake_binance import FakeBinance, generated_klines

from tradpal.local.platform import LocalPlatform
from tradpal.notify import verify_signature
from tradpal.notify.receiver import WebhookReceiver
from tradpal.platform.aws import client

HOUR_MS = 3_600_000
SECRET = "e2e-webhook-secret-0123456789"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    now_ms = int(time.time() * 1000) // HOUR_MS * HOUR_MS
    klines = generated_klines(300, seed=11, start_ms=now_ms - 299 * HOUR_MS)
    home = tmp_path_factory.mktemp("events-home")
    with FakeBinance({("BTC/USDT", "1h"): klines}, lifetime_s=600) as fake:
        receiver = WebhookReceiver(secret=SECRET).start()
        options = {"ccxt:binance": {"config": fake.ccxt_config(rateLimit=1), "page_limit": 500}}
        settings = {
            "sources": json.dumps(["ccxt:binance"]),
            "source_options": json.dumps(options),
            "watchlist": json.dumps(["BTC/USDT@1h"]),
            "signal_strategies": json.dumps(["ema_crossover"]),
            # the first ingest streams 300 bars of history: notify all of their signals here
            # (by default only bars that were recent when they arrived are news)
            "signal_max_age_bars": "0",
        }
        hooks = [{"url": receiver.url, "secret": SECRET, "events": ["trading_signal"]}]
        platform = LocalPlatform(
            home, port=0, sample=False, run_schedules=False, webhooks=hooks, settings=settings
        ).start()
        try:
            yield platform, receiver, home, settings, hooks
        finally:
            platform.stop()
            receiver.stop()


def _stream_records(platform) -> list[dict]:
    kinesis = client("kinesis")
    name = platform.env.market_data_stream
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out: list[dict] = []
    for _ in range(50):
        got = kinesis.get_records(ShardIterator=it, Limit=1000)
        it = got["NextShardIterator"]
        out += [json.loads(r["Data"]) for r in got["Records"]]
        if not got["Records"]:
            break
    return out


def test_scheduled_ingest_to_stream_to_signals_to_a_signed_webhook(world):
    platform, receiver, *_ = world
    platform.fire("ingest_hourly")
    stored = platform.env.market_store().read("BTC/USDT", "1h")
    assert 250 <= len(stored) <= 300  # only closed bars are stored
    records = _stream_records(platform)
    # exactly the stored bars went on the stream, in order
    assert [pd.Timestamp(r["time"]) for r in records] == list(stored.index)
    assert [r["close"] for r in records] == stored["close"].tolist()
    assert platform.idle(120), "deliveries still in flight"

    # every trading_signal the consumer published reached the webhook once, signed
    signals = platform.local.calls_to(platform.function_name("notifier"))
    delivered = receiver.delivered()
    assert delivered, "no webhook delivery"
    for request in delivered:
        verify_signature(SECRET, request.headers["x-tradpal-signature"], request.body)
    bodies = [json.loads(r.body) for r in delivered]
    assert {b["type"] for b in bodies} == {"trading_signal"}
    ids = [b["event"]["signal_id"] for b in bodies]
    assert len(ids) == len(set(ids)) == len([c for c in signals if c.outcome == "ok"])
    # signals alternate consistently and sit on streamed bars
    events = sorted((b["event"] for b in bodies), key=lambda e: e["time"])
    for before, after in itertools.pairwise(events):
        assert after["previous"] == before["side"]
    streamed = {pd.Timestamp(r["time"]) for r in records}
    assert {pd.Timestamp(e["time"]) for e in events} <= streamed

    # a second firing finds nothing new: no candle streamed twice, no signal sent twice
    platform.fire("ingest_hourly")
    assert platform.idle(60)
    assert len(_stream_records(platform)) == len(records)
    assert len(receiver.delivered()) == len(delivered)


def test_state_survives_a_restart(world):
    platform, _receiver, home, settings, hooks = world
    api = Client(platform.url, platform.token(("read", "trade")))
    data = {"symbol": "BTC/USDT", "timeframe": "1h"}
    status, accepted, _ = api.call(
        "POST", "/v1/backtests", {"strategy": "ema_crossover", "data": data}
    )
    assert status == 202
    before = api.wait(f"/v1/backtests/{accepted['run_id']}")
    assert before["status"] == "SUCCEEDED"
    token = platform.token(("read",), ttl_s=600)
    platform.stop()

    again = LocalPlatform(
        home, port=0, sample=False, run_schedules=False, webhooks=hooks, settings=settings
    ).start()
    try:
        api = Client(again.url, token)  # a token minted before the restart still works
        status, after, _ = api.call("GET", f"/v1/backtests/{accepted['run_id']}")
        assert status == 200 and after["status"] == "SUCCEEDED"
        assert after["metrics"] == before["metrics"]
        status, catalog, _ = api.call("GET", "/v1/data")
        assert [d["symbol"] for d in catalog["datasets"]] == ["BTC/USDT"]
    finally:
        again.stop()
