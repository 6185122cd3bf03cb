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

import random
import uuid

import pytest

from tradpal.backtest.strategy_run import config_for
from tradpal.data.loading import load_ohlcv
from tradpal.trading.paper import PaperExchange
from tradpal.trading.store import LeaseHeld, MemoryTradingStore, MemoryTradingTable, TradingStore
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


class Clock:
    """The processes' clock (epoch seconds): a restart comes after the dead process's lease
    expired, as a restarted task waits for it."""

    def __init__(self) -> None:
        self.now = 1_767_225_600.0

    def __call__(self) -> float:
        return self.now


LEASE_TTL_S = 30.0


class Killer:
    """Counts the steps of each kind and crashes at the chosen one."""

    def __init__(self, point: str | None, at: int) -> None:
        self.point, self.at, self.counts = point, at, dict.fromkeys(POINTS, 0)

    def step(self, point: str) -> None:
        self.counts[point] += 1
        if point == self.point and self.counts[point] == self.at:
            self.point = None  # once
            raise Crash(point)


def dying(store, killer: Killer):
    """``store`` (a real trading store) with the killer stepping after each write."""
    put, put_fill, save_state = store.put, store.put_fill, store.save_state

    def put_then(order):
        put(order)
        if order.status == "new":
            killer.step("order written, not sent")

    def put_fill_then(fill):
        written = put_fill(fill)
        killer.step("fill written")
        return written

    def save_state_then(state, *, expected_version):
        version = save_state(state, expected_version=expected_version)
        killer.step("state written")
        return version

    store.put, store.put_fill, store.save_state = put_then, put_fill_then, save_state_then
    return store


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


def session(candles, point: str | None, at: int, fill: str, table=None):
    """The session over ``candles``, crashing once at the ``at``-th ``point``; each
    process's store is a new one on ``table`` (a MemoryTradingTable by default, or the name
    of a DynamoDB table), as each restarted process makes its own."""
    config = config_for("1h", fill=fill, trailing_stop="pct:0.01")
    killer = Killer(point, at)
    table = MemoryTradingTable() if table is None else table
    clock, processes = Clock(), []
    trader_id = f"crash-{uuid.uuid4().hex[:8]}"
    paper = PaperExchange(config.capital, fees=config.fees, symbols=(SYMBOL,))
    exchange = DyingExchange(paper, killer)

    def start(seen):
        clock.now += LEASE_TTL_S + 1  # the dead process's lease has expired
        if isinstance(table, MemoryTradingTable):
            store = MemoryTradingStore(trader_id, table=table, clock=clock)
        else:
            store = TradingStore(trader_id, table=table, clock=clock)
        processes.append(store)
        store.acquire_lease(f"process-{len(processes)}", LEASE_TTL_S, clock())
        store = dying(store, killer)
        trader = Trader(strategy="rsi_reversal", symbol=SYMBOL, timeframe="1h", exchange=exchange,
                        config=config, store=store, params={"rsi_period": 6},
                        trader_id=trader_id)  # fmt: skip
        state = store.load_state()
        last = state[0]["last_bar_ms"] if state else None
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
    if len(processes) > 1:  # the dead process, were it still running, could write nothing
        with pytest.raises(LeaseHeld):
            processes[0].save_state({}, expected_version=None)
    return trader, paper, exchange, processes[-1], restarts


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


def check_crash_runs(candles, fill, runs, table_of=lambda: None):
    """Each of ``runs`` (point, n) crashes once and ends as the crash-free session ends."""
    reference, *_ = session(candles, None, 0, fill)
    for point, at in runs:
        trader, paper, exchange, store, restarts = session(candles, point, at, fill, table_of())
        where = f"crash at {point} #{at}"
        assert restarts == 1, where
        assert len(exchange.sent) == len(set(exchange.sent)), f"{where}: an order sent twice"
        trade_ids = {t["id"] for t in paper.fetch_my_trades(SYMBOL)}
        assert trade_ids == {f.trade_id for f in store.fills()}, f"{where}: a fill lost"
        assert trader.book.position == pytest.approx(paper.positions[SYMBOL], abs=1e-9), where
        assert trader.book.cash == pytest.approx(paper.cash, rel=1e-9), where
        assert not trader.paused, f"{where}: {trader.paused}"
        assert outcome(trader) == outcome(reference), where


def crash_points(candles, fill, per_point: int, seed: int) -> list[tuple[str, int]]:
    _, _, ref_exchange, _, _ = session(candles, None, 0, fill)
    counts = ref_exchange.killer.counts
    rng = random.Random(seed)
    return [(p, rng.randint(1, counts[p])) for p in POINTS for _ in range(per_point) if counts[p]]


@pytest.mark.slow
@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_crashes_at_random_points_lose_nothing_and_send_nothing_twice(candles, fill):
    runs = crash_points(candles, fill, per_point=12, seed=20261203)
    assert len(runs) >= 50
    check_crash_runs(candles, fill, runs)


@pytest.mark.slow
def test_crashes_with_the_dynamodb_store_lose_nothing_and_send_nothing_twice(
    candles, moto_trading_table
):
    """The same on the DynamoDB store (moto): its conditional writes and lease checks are
    what a restarted Fargate task meets. A table per session: moto copies every table at
    each transaction (for its rollback), so a shared table would make the runs quadratic."""
    from tradpal.local.resources import provision
    from tradpal.platform.aws import client
    from tradpal.platform.environment import PlatformEnv

    made: list[str] = []

    def fresh_table() -> str:
        if made:
            client("dynamodb").delete_table(TableName=made[-1])
        made.append(f"{moto_trading_table}-{len(made)}")
        provision(PlatformEnv(resources={"trading_table": made[-1]}))
        return made[-1]

    runs = crash_points(candles, "next_open", per_point=3, seed=20261204)
    check_crash_runs(candles, "next_open", runs, fresh_table)
