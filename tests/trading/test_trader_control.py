"""The trader under control commands (the API's kill switch, pause and start) and the
events it publishes: each command applied once by version; stop cancels every open order
and sends none after, flatten closes the position; start puts a position under its stop and
target again; every event the trader emits validates against the bus's schema."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tradpal.backtest.strategy_run import config_for
from tradpal.data.loading import load_ohlcv
from tradpal.events.schemas import validate_detail
from tradpal.trading.paper import PaperExchange
from tradpal.trading.session import Session
from tradpal.trading.trader import Candle, Trader

SYMBOL = "BTC/USDT"


@dataclass(frozen=True)
class Command:
    """What tradpal.trading.store.Control holds, as the trader reads it."""

    command: str
    version: int
    flatten: bool = False
    reason: str | None = None
    requested_by: str | None = "alice"


@pytest.fixture(scope="module")
def candles():
    frame = load_ohlcv("sample", timeframe="1h", end="2024-06-01", bars=400)
    times = frame.index.as_unit("ms").asi8.tolist()
    return [
        Candle(t, r.open, r.high, r.low, r.close, r.volume)
        for t, r in zip(times, frame.itertuples(), strict=True)
    ]


def new_session(events=None):
    config = config_for("1h", stop_loss="pct:0.02", take_profit="pct:0.04")
    paper = PaperExchange(config.capital, fees=config.fees, symbols=(SYMBOL,))
    trader = Trader(
        strategy="rsi_reversal", symbol=SYMBOL, timeframe="1h", exchange=paper, config=config,
        params={"rsi_period": 6}, trader_id="control-test",
        on_event=None if events is None else (lambda t, d: events.append((t, d))),
    )  # fmt: skip
    return Session(trader, paper), paper


def step(session, candle):
    session.bar_opened(candle.time_ms, candle.open, candle.volume)
    session.bar_closed(candle)


def until_holding(session, candles, start=0):
    """Step bars until the trader holds a position; returns the next bar's index."""
    for i in range(start, len(candles)):
        step(session, candles[i])
        if session.trader.book.position != 0.0 and session.trader.holding is not None:
            return i + 1
    pytest.fail("the strategy never entered")


def open_orders(paper):
    return paper.fetch_open_orders(SYMBOL)


def test_stop_cancels_open_orders_and_sends_nothing_until_started(candles):
    session, paper = new_session()
    trader = session.trader
    i = until_holding(session, candles)
    assert len(open_orders(paper)) == 2  # the stop and the target
    assert trader.apply_control(Command("stop", 1, reason="drill"))
    assert open_orders(paper) == [] and trader.status == "stopped"
    assert trader.book.position != 0.0  # not flattened: kept, unprotected
    (alert,) = [a for a in trader.alerts if a["kind"] == "kill_switch"]
    assert alert["level"] == "critical" and "by alice: drill" in alert["message"]
    sent = len(trader.store.orders())
    for candle in candles[i : i + 60]:
        step(session, candle)
    assert len(trader.store.orders()) == sent, "a stopped trader sent an order"
    assert trader.snapshot()["summary"]["status"] == "stopped"
    # the same version again is not applied again; start re-protects the position
    assert not trader.apply_control(Command("stop", 1))
    assert trader.apply_control(Command("start", 2))
    assert trader.status == "running"
    kinds = sorted(o["type"] for o in open_orders(paper))
    assert kinds == ["limit", "market"] and all(o["reduceOnly"] for o in open_orders(paper))


def test_stop_with_flatten_closes_the_position_at_the_market(candles):
    session, paper = new_session()
    trader = session.trader
    until_holding(session, candles)
    assert trader.apply_control(Command("stop", 3, flatten=True))
    assert trader.book.position == 0.0 and paper.positions[SYMBOL] == 0.0
    assert open_orders(paper) == [] and trader.holding is None
    assert trader.book.trades[-1].exit_reason == "kill_switch"
    assert trader.control_version == 3


def test_pause_stops_entries_but_keeps_the_positions_protection(candles):
    session, paper = new_session()
    trader = session.trader
    i = until_holding(session, candles)
    assert trader.apply_control(Command("pause", 1, reason="news"))
    assert len(open_orders(paper)) == 2 and trader.status == "paused"
    entries_before = sum(o.intent == "entry" for o in trader.store.orders())
    for candle in candles[i:]:
        step(session, candle)
    entries_after = sum(o.intent == "entry" for o in trader.store.orders())
    assert entries_after == entries_before, "a paused trader entered"
    assert trader.skipped["paused"] > 0
    assert trader.apply_control(Command("start", 2)) and trader.paused is None


def test_a_restarted_trader_remembers_the_commands_it_applied(candles):
    session, paper = new_session()
    trader = session.trader
    until_holding(session, candles)
    trader.apply_control(Command("stop", 5))
    again = Trader(
        strategy="rsi_reversal", symbol=SYMBOL, timeframe="1h", exchange=paper,
        config=trader.config, params={"rsi_period": 6}, trader_id="control-test",
        store=trader.store,
    )  # fmt: skip
    again.restore()
    assert again.stopped and again.control_version == 5
    assert not again.apply_control(Command("stop", 5))


def test_events_validate_against_the_bus_schemas(candles):
    events: list = []
    session, paper = new_session(events)
    i = until_holding(session, candles)
    session.trader.apply_control(Command("stop", 1, flatten=True))
    for candle in candles[i : i + 5]:
        step(session, candle)
    kinds = {t for t, _ in events}
    assert {"order_executed", "portfolio_update", "risk_alert"} <= kinds
    for detail_type, detail in events:
        validate_detail(detail_type, detail)  # raises on any field the schema refuses
    fills = [d for t, d in events if t == "order_executed"]
    assert [f["trade_id"] for f in fills] == [t["id"] for t in paper.fetch_my_trades(SYMBOL)]
    bars = [d for t, d in events if t == "portfolio_update"]
    assert len(bars) == i + 5 and bars[-1]["positions"] == []


def test_a_failing_event_sink_never_stops_the_trader(candles):
    def broken(detail_type, detail):
        raise ConnectionError("the bus is down")

    session, _ = new_session()
    session.trader.on_event = broken
    for candle in candles[:200]:
        step(session, candle)
    assert len(session.trader.equity) == 200
