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


def live_session(table: str, trader_id: str, *, stop_at: int | None = None, bars: int = 90):
    """A live trader on a fake account with 10,000 USDT over ``bars`` pushed 1m bars; with
    ``stop_at`` the kill switch (flatten) is asked for once that many bars closed."""
    bus, lines = Bus(), []

    async def main(fake):
        config = fake.ccxt_config(timeout=3000, rateLimit=1)
        keys = {"apiKey": config.pop("apiKey"), "secret": config.pop("secret")}
        s = spec(trader_id, client_config=config)
        rest, ws = exchange_clients(s, keys)
        store = TradingStore(trader_id, table=table)
        sink = EventSink(bus, symbol=SYMBOL, timeframe="1m", source="ccxt:binance")
        clock = [int(KLINES[60][0])]
        process = TraderProcess(s, rest=rest, ws=ws, store=store, sink=sink,
                                now_ms=lambda: clock[0], control_poll_s=0.05, heartbeat_s=0.2,
                                idle_s=0.2, emit=lines.append)  # fmt: skip

        async def market():
            for n, k in enumerate(KLINES[60 : 60 + bars + 1]):
                await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
                clock[0] = int(k[0])
                fake.market.push_candle(SYMBOL, "1m", [*k[:2], k[1], k[1], k[1], "0", *k[6:]],
                                        closed=False)  # fmt: skip
                await until(lambda t=int(k[0]): process.trader.history.time_ms[-1] >= t - MINUTE)
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

    with FakeBinanceTrading({(SYMBOL, "1m"): KLINES[:60]}, balances={"USDT": "10000"},
                            lifetime_s=180) as fake:  # fmt: skip
        process, store, traded = asyncio.run(main(fake))
        exchange = {
            "orders": fake.market.orders(SYMBOL),
            "trades": fake.market.trades(SYMBOL),
            "btc": sum(fake.market.balance("BTC")),  # free + locked
        }
    return process, store, traded, bus, lines, exchange


@pytest.fixture(scope="module")
def live(moto_trading_table):
    return live_session(moto_trading_table, "live-fake-1")


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
