"""The trader's process (tradpal.trading.runner) live on the fake Binance exchange, with the
real ccxt and ccxt.pro clients and the DynamoDB store (moto): it takes the lease, trades each
closed bar, keeps every order and fill in the table exactly as the exchange has them, obeys
the API's kill switch within its poll, beats its heartbeat, and publishes events that the
bus's schemas accept. Bad input fails with a clear error, never a traceback."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from fakes.fake_binance import generated_klines
from fakes.fake_binance_trading import FakeBinanceTrading

from tradpal.backtest.strategy_run import config_for
from tradpal.errors import ConfigError
from tradpal.events.schemas import validate_detail
from tradpal.trading.heartbeat import HEARTBEAT_METRIC
from tradpal.trading.runner import (
    EventSink,
    TraderProcess,
    TraderSpec,
    default_trader_id,
    exchange_clients,
    open_store,
)
from tradpal.trading.store import TradingStore

SYMBOL = "BTC/USDT"
MINUTE = 60_000
KLINES = generated_klines(200, "1m", seed=11)
PARAMS = {"rsi_period": 4, "rsi_oversold": 40.0, "rsi_overbought": 60.0}


class Bus:
    """Stands in for the EventPublisher: keeps what it is given, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def publish(self, detail_type: str, detail: dict) -> str:
        self.events.append((detail_type, detail))
        return str(len(self.events))


def open_stop(trader):
    """The trader's resting stop order while it holds a position, else None."""
    h = trader.holding
    if h is None or h.stop_order is None or trader.book.position == 0.0:
        return None
    order = trader.store.get(h.stop_order)
    return order if order is not None and order.status == "open" else None


async def until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def spec(trader_id: str, **kw) -> TraderSpec:
    config = config_for(
        "1m", stop_loss="pct:0.004", take_profit="pct:0.008", sizing="risk:0.002"
    )  # half the account: a market buy fills above the close it was sized at
    base = dict(trader_id=trader_id, strategy="rsi_reversal", symbol=SYMBOL, timeframe="1m",
                config=config, live=True, params=PARAMS, warm_up_bars=40, window=200)  # fmt: skip
    return TraderSpec(**{**base, **kw})


def live_session(table: str, trader_id: str, *, stop_at: int | None = None, bars: int = 90,
                 crash_at: int | None = None, faults_at: dict | None = None,
                 balances: dict | None = None, **spec_kw):  # fmt: skip
    """A live trader on a fake account with 10,000 USDT over ``bars`` pushed 1m bars; with
    ``stop_at`` the kill switch (flatten) is asked for once that many bars closed; from
    ``crash_at`` on, the first time the trader holds a position under a resting stop, the
    price falls through it between two bars (only the trades stream can tell the trader);
    ``faults_at`` {bar: [Fault]} scripts the fake's REST faults before that bar closes."""
    bus, lines = Bus(), []

    async def main(fake):
        config = fake.ccxt_config(timeout=3000, rateLimit=1)
        keys = {"apiKey": config.pop("apiKey"), "secret": config.pop("secret")}
        s = spec(trader_id, client_config=config, **spec_kw)
        rest, ws = exchange_clients(s, keys)
        store = TradingStore(trader_id, table=table)
        sink = EventSink(bus, symbol=SYMBOL, timeframe="1m", source="ccxt:binance")
        clock = [int(KLINES[60][0])]
        process = TraderProcess(s, rest=rest, ws=ws, store=store, sink=sink,
                                now_ms=lambda: clock[0], control_poll_s=0.05, heartbeat_s=0.2,
                                idle_s=0.2, emit=lines.append)  # fmt: skip

        crash = [crash_at]

        async def market():
            for n, k in enumerate(KLINES[60 : 60 + bars + 1]):
                await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
                clock[0] = int(k[0])
                fake.market.push_candle(SYMBOL, "1m", [*k[:2], k[1], k[1], k[1], "0", *k[6:]],
                                        closed=False)  # fmt: skip
                await until(lambda t=int(k[0]): process.trader.history.time_ms[-1] >= t - MINUTE)
                stop = open_stop(process.trader)
                if crash[0] is not None and n >= crash[0] and stop is not None:
                    crash[0] = None
                    fake.market.set_price(SYMBOL, f"{stop.stop_price * 0.99:.2f}")
                    await until(lambda: process.trader.book.position == 0.0)
                for fault in (faults_at or {}).get(n, ()):
                    fake.script(fault)
                if stop_at is not None and n == stop_at:
                    store.request_control("stop", flatten=True, reason="drill",
                                          requested_by="test", now_s=time.time())  # fmt: skip
                    await until(lambda: process.trader.stopped)
                fake.market.push_candle(SYMBOL, "1m", k, closed=True)

        pushing = asyncio.create_task(market())
        try:
            traded = await asyncio.wait_for(process.run(bars=bars), 120)
        finally:
            pushing.cancel()
            await ws.close()
            sink.close()
        return process, store, traded

    with FakeBinanceTrading({(SYMBOL, "1m"): KLINES[:60]}, balances=balances or {"USDT": "10000"},
                            lifetime_s=180) as fake:  # fmt: skip
        process, store, traded = asyncio.run(main(fake))
        exchange = {
            "requests": list(fake.requests),
            "orders": fake.market.orders(SYMBOL),
            "trades": fake.market.trades(SYMBOL),
            "btc": sum(fake.market.balance("BTC")),  # free + locked
        }
    return process, store, traded, bus, lines, exchange


@pytest.fixture(scope="module")
def live(moto_trading_table):
    return live_session(moto_trading_table, "live-fake-1", crash_at=20)


def test_a_live_trader_keeps_every_order_and_fill_as_the_exchange_has_them(live):
    process, store, traded, _bus, _lines, exchange = live
    trader = process.trader
    assert traded == 90
    orders = store.orders()
    placed = {o.client_order_id: o for o in exchange["orders"]}
    # every order the exchange has is in the table under its client id, and each once
    assert len(orders) > 4 and set(placed) == {o.client_id for o in orders if o.exchange_id}
    assert len(placed) == len(exchange["orders"]), "a client order id sent twice"
    for order in orders:
        if order.exchange_id:
            assert str(placed[order.client_id].order_id) == order.exchange_id
    # every fill is in the table once, and the position is their sum and the coins held
    fills = store.fills()
    assert sorted(f.trade_id for f in fills) == sorted(str(t.id) for t in exchange["trades"])
    # the position is the fills' sum, less the dust each closed trade left (a base-asset fee
    # leaves less than the exchange's least amount, which cannot be sold), and that sum is
    # the coins the account holds
    position = sum(f.amount * (1 if f.side == "buy" else -1) - f.base_fee for f in fills)
    book = trader.book
    assert book.position + book.dust_left == pytest.approx(position, abs=1e-12)
    assert float(exchange["btc"]) == pytest.approx(position, abs=1e-12)
    assert 0 <= book.dust_left <= book.dust * len(book.closed_trades)
    assert not trader.paused, trader.paused
    assert len(trader.book.closed_trades) >= 2
    assert store.lease() is None  # released at the end


def test_a_fill_between_bars_is_booked_from_the_trades_stream(live):
    process, *_ = live
    # the price fell through the stop with no bar event: only watch_my_trades told it
    assert process.streamed_fills >= 1
    assert any(t.exit_reason == "stop" for t in process.trader.book.closed_trades)


def test_on_spot_the_stop_rests_and_the_target_is_watched(live):
    process, store, *_ = live
    intents = {o.intent for o in store.orders()}
    assert "stop" in intents and "target" not in intents  # spot holds the coins once
    reasons = {t.exit_reason for t in process.trader.book.closed_trades}
    assert reasons & {"stop", "target", "signal"}
    assert not process.trader.config.allow_short  # spot: no shorts


def test_heartbeats_and_events_are_what_the_alarm_and_the_bus_expect(live):
    process, _store, _traded, bus, lines, _exchange = live
    beats = [json.loads(line) for line in lines]
    assert len(beats) >= 2 and all(b[HEARTBEAT_METRIC] == 1 for b in beats)
    assert all(b["trader"] == "live-fake-1" for b in beats)
    kinds = [t for t, _ in bus.events]
    assert {"order_executed", "portfolio_update", "system_health"} <= set(kinds)
    for detail_type, detail in bus.events:
        validate_detail(detail_type, detail)
    executed = [d for t, d in bus.events if t == "order_executed"]
    assert all(d["mode"] == "live" for d in executed)
    assert len(executed) == len(process.trader.book.seen)
    text = json.dumps(bus.events) + "".join(lines)
    assert "fake-binance-secret" not in text and "fake-binance-api-key" not in text


def test_the_kill_switch_cancels_every_order_and_flattens_within_its_poll(moto_trading_table):
    process, store, traded, bus, _lines, exchange = live_session(
        moto_trading_table, "live-fake-stop", stop_at=45, bars=70
    )
    assert traded == 70
    trader = process.trader
    assert trader.stopped and trader.control_version == 1
    assert [o for o in exchange["orders"] if o.is_open] == []
    assert trader.book.position == 0.0
    assert float(exchange["btc"]) == pytest.approx(trader.book.dust_left, abs=1e-12)
    stop_ms = max(o.bar_ms for o in store.orders())  # nothing decided after the stop
    assert all(o.bar_ms <= stop_ms for o in store.orders())
    alerts = [d for t, d in bus.events if t == "risk_alert" and d["kind"] == "kill_switch"]
    assert len(alerts) == 1 and "by test: drill" in alerts[0]["message"]
    assert store.load_state()[0]["summary"]["status"] == "stopped"


def test_a_rate_limit_and_a_lost_answer_over_the_wire_never_duplicate_an_order(
    moto_trading_table,
):
    """A 429 on an order (refused unread: sent again after the backoff) and an order whose
    answer never comes (placed: found by its client id, never sent again)."""
    from fakes.fake_binance import no_answer, rate_limited

    order_429 = rate_limited(retry_after=0)
    order_429 = type(order_429)(**{**order_429.__dict__, "path": "/api/v3/order",
                                   "method": "POST"})  # fmt: skip
    _process, store, traded, _bus, _lines, exchange = live_session(
        moto_trading_table, "live-fake-faults", bars=70,
        faults_at={10: [order_429], 30: [no_answer("/api/v3/order", "POST")]},
    )  # fmt: skip
    assert traded == 70
    posts: dict[str, list[int]] = {}
    for r in exchange["requests"]:
        if r.method == "POST" and r.path == "/api/v3/order":
            posts.setdefault(r.params["newClientOrderId"], []).append(r.status)
    # each client order id placed at most once; the 429'd order sent again after the
    # backoff (refused unread), the order whose answer was lost found by its id, not resent
    assert all(statuses.count(200) <= 1 for statuses in posts.values())
    assert [s for s in posts.values() if 429 in s] == [[429, 200]]
    unanswered = [r for r in exchange["requests"] if r.path == "/api/v3/order" and not r.answered]
    assert len(unanswered) == 1
    lost = unanswered[0].params["newClientOrderId"]
    assert posts[lost].count(200) == 1 and store.get(lost).exchange_id is not None
    placed = [o.client_order_id for o in exchange["orders"]]
    assert len(placed) == len(set(placed)) and set(placed) == {
        o.client_id for o in store.orders() if o.exchange_id
    }
    assert not [o for o in store.orders() if o.status in ("unknown", "rejected")]
    assert sorted(f.trade_id for f in store.fills()) == sorted(
        str(t.id) for t in exchange["trades"]
    )


def test_an_order_below_the_exchanges_minimum_is_refused_with_an_alert(moto_trading_table):
    import dataclasses

    small = dataclasses.replace(spec("x").config, capital=4.0)  # below the 5 USDT minimum
    process, store, traded, bus, _lines, exchange = live_session(
        moto_trading_table, "live-fake-small", bars=40, config=small
    )
    assert traded == 40 and exchange["orders"] == []  # nothing placed
    refused = [o for o in store.orders() if o.status == "rejected"]
    assert refused and all("notional" in o.info["error"].lower() or "minimum" in
                           o.info["error"].lower() for o in refused)  # fmt: skip
    alerts = [d for t, d in bus.events if t == "risk_alert" and d["kind"] == "order"]
    assert len(alerts) == len(refused) and not process.trader.paused  # trading went on


@pytest.mark.parametrize("shared", [False, True])
def test_coins_the_trader_did_not_buy_pause_it_unless_the_account_is_shared(
    moto_trading_table, shared
):
    process, _store, _traded, bus, _lines, _exchange = live_session(
        moto_trading_table, f"live-fake-held-{shared}", bars=3, shared_account=shared,
        balances={"USDT": "10000", "BTC": "0.5"},
    )  # fmt: skip
    alerts = [d["message"] for t, d in bus.events if t == "risk_alert"]
    if shared:
        assert not process.trader.paused and not alerts
    else:
        assert "does not reconcile" in process.trader.paused
        assert any("fills add up to 0.0, the exchange holds 0.5" in m for m in alerts)


def test_bad_input_gets_a_clear_error(moto_trading_table):
    with FakeBinanceTrading(balances={"USDT": "10000"}) as fake:
        config = fake.ccxt_config(timeout=3000)
        with pytest.raises(ConfigError, match="no market 'BTC/USDX'") as bad:
            exchange_clients(spec("x", symbol="BTC/USDX", client_config=config))
        assert "BTC/USDT" in bad.value.hint
    with pytest.raises(ConfigError, match="no websocket client"):
        exchange_clients(spec("x", exchange="binanc"))
    assert default_trader_id("ema_crossover", "BTC/USDT", "1h") == "ema-crossover-btc-usdt-1h"


def test_a_live_trader_refuses_to_run_without_the_trading_table(monkeypatch):
    monkeypatch.delenv("TRADPAL_TRADING_TABLE", raising=False)
    with pytest.raises(ConfigError, match="trading table"):
        open_store("x", live=True)
    assert open_store("x", live=False).trader_id == "x"  # paper: memory


def test_closed_candles_go_onto_the_market_data_stream(monkeypatch):
    from moto import mock_aws

    from tradpal.events.schemas import parse_candle
    from tradpal.local.resources import provision
    from tradpal.platform.aws import client, reset_clients
    from tradpal.platform.environment import PlatformEnv, platform_env
    from tradpal.trading.trader import Candle

    for var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1",
                       "TRADPAL_MARKET_DATA_STREAM": "test-market"}.items():  # fmt: skip
        monkeypatch.setenv(var, value)
    with mock_aws():
        reset_clients()
        platform_env.cache_clear()  # the sink's thread reads the process's environment
        try:
            provision(PlatformEnv(resources={"market_data_stream": "test-market"}))
            sink = EventSink(None, symbol=SYMBOL, timeframe="1m", source="ccxt:binance",
                             stream=True)  # fmt: skip
            candle = Candle(1_767_225_600_000, 40_000.0, 40_100.5, 39_900.25, 40_050.0, 12.5)
            sink.put_candle(candle)
            sink.close()
            kinesis = client("kinesis")
            shard = kinesis.describe_stream(StreamName="test-market")["StreamDescription"]
            iterator = kinesis.get_shard_iterator(
                StreamName="test-market", ShardId=shard["Shards"][0]["ShardId"],
                ShardIteratorType="TRIM_HORIZON",
            )["ShardIterator"]  # fmt: skip
            (record,) = kinesis.get_records(ShardIterator=iterator)["Records"]
        finally:
            reset_clients()
            platform_env.cache_clear()
    got = parse_candle(record["Data"])
    assert record["PartitionKey"] == "BTC/USDT|1m" and sink.sent == 1 and sink.dropped == 0
    assert (got.time, got.open, got.high, got.low, got.close, got.volume) == (
        "2026-01-01T00:00:00+00:00",
        40_000.0,
        40_100.5,
        39_900.25,
        40_050.0,
        12.5,
    )
    assert got.source == "ccxt:binance"
