"""Crash test of the trader: killed at random points, restarted from its store, it never
sends an order twice, never loses a fill, and its position always equals the exchange's.

A crash is an exception no handler catches (:class:`Crash`, a BaseException), raised at
the n-th step of one kind: after an order is written and before it is sent, after the
exchange took it and before the answer arrives, after a fill or the state is written...
The exchange (the paper account) survives, as a real one does; a new trader is built from
the store, warms up on the candles it had seen, restores and reconciles, and the session
goes on with the event that was interrupted.
"""

from __future__ import annotations

import copy
import random

import pytest

from tradpal.backtest.strategy_run import config_for
from tradpal.data.loading import load_ohlcv
from tradpal.trading.paper import PaperExchange
from tradpal.trading.trader import Candle, Trader

SYMBOL = "BTC/USDT"
POINTS = (
    "order written, not sent",
    "order sent, no answer",
    "order cancelled, no answer",
    "fill written",
    "state written",
)


class Crash(BaseException):
    """The process dies here."""


class Store:
    """The trader's store as DynamoDB keeps it: items survive the crash."""

    def __init__(self) -> None:
        self.items: dict[str, object] = {}
        self.fill_items: dict[str, object] = {}
        self.state: tuple[dict, int] | None = None

    def put(self, order):
        self.items[order.client_id] = copy.deepcopy(order)

    def get(self, client_id):
        return copy.deepcopy(self.items.get(client_id))

    def orders(self):
        return [copy.deepcopy(o) for o in self.items.values()]

    def put_fill(self, fill) -> bool:
        if fill.trade_id in self.fill_items:
            return False
        self.fill_items[fill.trade_id] = fill
        return True

    def fills(self):
        return sorted(self.fill_items.values(), key=lambda f: (f.time_ms, int(f.trade_id)))

    def save_state(self, state, *, expected_version):
        version = self.state[1] if self.state else None
        assert version == expected_version, "a stale state write"
        self.state = (copy.deepcopy(state), (version or 0) + 1)
        return self.state[1]

    def load_state(self):
        return copy.deepcopy(self.state)


class Killer:
    """Counts the steps of each kind and crashes at the chosen one."""

    def __init__(self, point: str | None, at: int) -> None:
        self.point, self.at, self.counts = point, at, dict.fromkeys(POINTS, 0)

    def step(self, point: str) -> None:
        self.counts[point] += 1
        if point == self.point and self.counts[point] == self.at:
            self.point = None  # once
            raise Crash(point)


class DyingStore(Store):
    killer: Killer

    def put(self, order):
        super().put(order)
        if order.status == "new":
            self.killer.step("order written, not sent")

    def put_fill(self, fill):
        written = super().put_fill(fill)
        self.killer.step("fill written")
        return written

    def save_state(self, state, *, expected_version):
        version = super().save_state(state, expected_version=expected_version)
        self.killer.step("state written")
        return version


class DyingExchange:
    def __init__(self, paper: PaperExchange, killer: Killer) -> None:
        self.paper, self.killer = paper, killer
        self.sent: list[str] = []

    def __getattr__(self, name):
        return getattr(self.paper, name)

    @property
    def margin(self):
        return True

    def create_order(self, symbol, type, side, amount, price=None, params=None):
        answer = self.paper.create_order(symbol, type, side, amount, price, params)
        self.sent.append(params["clientOrderId"])
        self.killer.step("order sent, no answer")
        return answer

    def cancel_order(self, id, symbol=None, params=None):
        answer = self.paper.cancel_order(id, symbol, params)
        self.killer.step("order cancelled, no answer")
        return answer


@pytest.fixture(scope="module")
def frame():
    return load_ohlcv("sample", timeframe="1h", end="2024-06-01", bars=160)


@pytest.fixture(scope="module")
def candles(frame):
    times = frame.index.as_unit("ms").asi8.tolist()
    return [
        Candle(t, r.open, r.high, r.low, r.close, r.volume)
        for t, r in zip(times, frame.itertuples(), strict=True)
    ]


def session(candles, point: str | None, at: int, fill: str):
    config = config_for("1h", fill=fill, trailing_stop="pct:0.01")
    killer = Killer(point, at)
    store = DyingStore()
    store.killer = killer
    paper = PaperExchange(config.capital, fees=config.fees, symbols=(SYMBOL,))
    exchange = DyingExchange(paper, killer)

    def start(seen):
        trader = Trader(strategy="rsi_reversal", symbol=SYMBOL, timeframe="1h", exchange=exchange,
                        config=config, orders=store, params={"rsi_period": 6})  # fmt: skip
        last = store.state[0]["last_bar_ms"] if store.state else None
        trader.warm_up([c for c in seen if last is not None and c.time_ms <= last])
        trader.restore()
        return trader

    trader, restarts = start([]), 0
    for i, candle in enumerate(candles):
        paper.open_bar(SYMBOL, candle.time_ms, candle.open, candle.volume)
        for phase in ("open", "close"):
            if phase == "close":
                paper.range_bar(SYMBOL, candle.high, candle.low)
                paper.close_bar(SYMBOL, candle.close)
            while True:
                try:
                    if phase == "open":
                        trader.on_bar_open(candle.time_ms, candle.open)
                    else:
                        trader.on_bar_close(candle)
                    break
                except Crash:
                    restarts += 1
                    trader = start(candles[: i + 1])
                    if phase == "close" and trader.history.time_ms[-1:] == [candle.time_ms]:
                        break  # it had finished the bar (the crash came after its last write)
    return trader, paper, exchange, store, restarts


def outcome(trader):
    return [
        (t.entry_ms, t.exit_ms, t.side, t.exit_reason, round(t.pnl, 6) if t.closed else None)
        for t in trader.book.trades
    ]


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_a_session_without_crashes_is_the_reference(candles, fill):
    trader, _paper, exchange, _store, restarts = session(candles, None, 0, fill)
    assert restarts == 0 and len(trader.book.trades) > 5
    assert sum(exchange.killer.counts.values()) > 50  # the points the crashes pick from


@pytest.mark.slow
@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_crashes_at_random_points_lose_nothing_and_send_nothing_twice(candles, fill):
    reference, _, ref_exchange, _, _ = session(candles, None, 0, fill)
    counts = ref_exchange.killer.counts
    rng = random.Random(20261203)
    runs = [(p, rng.randint(1, counts[p])) for p in POINTS for _ in range(12) if counts[p]]
    assert len(runs) >= 50
    for point, at in runs:
        trader, paper, exchange, store, restarts = session(candles, point, at, fill)
        where = f"crash at {point} #{at}"
        assert restarts == 1, where
        assert len(exchange.sent) == len(set(exchange.sent)), f"{where}: an order sent twice"
        trade_ids = {t["id"] for t in paper.fetch_my_trades(SYMBOL)}
        assert trade_ids == {f.trade_id for f in store.fills()}, f"{where}: a fill lost"
        assert trader.book.position == pytest.approx(paper.positions[SYMBOL], abs=1e-9), where
        assert trader.book.cash == pytest.approx(paper.cash, rel=1e-9), where
        assert not trader.paused, f"{where}: {trader.paused}"
        assert outcome(trader) == outcome(reference), where
