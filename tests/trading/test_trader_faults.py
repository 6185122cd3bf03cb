"""The trader when the exchange misbehaves: a timeout never sends an order twice, a rate
limit is waited out, a refusal and a failing strategy raise an alert and pause, never crash."""

from __future__ import annotations

import pytest
from ccxt.base.errors import InsufficientFunds, RateLimitExceeded, RequestTimeout

from tradpal.backtest.strategy_run import backtest_strategy, config_for
from tradpal.data.loading import load_ohlcv
from tradpal.strategies import get_strategy
from tradpal.trading.paper import PaperExchange
from tradpal.trading.replay import PaperSession
from tradpal.trading.session import Session
from tradpal.trading.trader import Candle, Trader


class Faulty:
    """A paper exchange whose next create_order calls fail as scripted: ``"timeout after"``
    (the order is placed, the answer lost), ``"timeout before"`` (the request lost),
    ``"429"``, ``"funds"``."""

    def __init__(self, paper: PaperExchange) -> None:
        self.paper = paper
        self.script: list[str] = []
        self.creates = 0

    def __getattr__(self, name):
        return getattr(self.paper, name)

    def create_order(self, *args, **kw):
        self.creates += 1
        fault = self.script.pop(0) if self.script else None
        if fault == "timeout before":
            raise RequestTimeout("binance POST /api/v3/order timed out (10000 ms)")
        if fault == "429":
            raise RateLimitExceeded('binance {"code":-1003,"msg":"Too much request weight used"}')
        if fault == "funds":
            raise InsufficientFunds(
                "binance Account has insufficient balance for requested action."
            )
        answer = self.paper.create_order(*args, **kw)
        if fault == "timeout after":
            raise RequestTimeout("binance POST /api/v3/order timed out (10000 ms)")
        return answer


@pytest.fixture(scope="module")
def frame():
    return load_ohlcv("sample", timeframe="1h", end="2024-06-01", bars=300)


def run(frame, faults_at: dict[int, list[str]], strategy="rsi_reversal"):
    config = config_for("1h")
    paper = PaperExchange(config.capital, fees=config.fees, symbols=("BTC/USDT",))
    exchange = Faulty(paper)
    slept: list[float] = []
    trader = Trader(
        strategy=strategy, symbol="BTC/USDT", timeframe="1h", exchange=exchange, config=config,
        sleep=slept.append,
    )  # fmt: skip
    session = Session(trader, paper)
    for i, (t, row) in enumerate(
        zip(frame.index.as_unit("ms").asi8.tolist(), frame.itertuples(), strict=True)
    ):
        exchange.script = list(faults_at.get(i, []))
        session.bar_opened(t, row.open, row.volume)
        session.bar_closed(Candle(t, row.open, row.high, row.low, row.close, row.volume))
    return trader, exchange, paper, slept


def entry_bars(frame, n=3):
    """Bars at whose close the backtest enters (where a fault hits an order)."""
    result = backtest_strategy(frame, "rsi_reversal", None, config_for("1h")).result
    bars = [frame.index.get_loc(t) for t in result.trades["entry_time"]]
    return bars[:n], result


def test_a_timeout_after_the_exchange_took_the_order_is_resolved_by_its_client_id(frame):
    bars, backtest = entry_bars(frame)
    trader, _exchange, paper, _ = run(frame, {b: ["timeout after"] for b in bars})
    client_ids = [o["clientOrderId"] for o in paper.fetch_open_orders()] + [
        t["clientOrderId"] for t in paper.fetch_my_trades()
    ]
    assert len(set(paper._by_client)) == len(paper._orders)  # no order sent twice
    session = PaperSession(trader, paper, frame).result()
    assert session.trades["entry_time"].tolist() == backtest.trades["entry_time"].tolist()
    assert session.equity.iloc[-1] == pytest.approx(backtest.equity.iloc[-1], rel=1e-9)
    assert client_ids and not trader.alerts


def test_a_request_lost_before_the_exchange_is_reported_and_not_sent_again(frame):
    bars, _ = entry_bars(frame, 1)
    trader, _exchange, paper, _ = run(frame, {bars[0]: ["timeout before"]})
    unknown = [o for o in trader.store.orders() if o.status == "unknown"]
    assert len(unknown) == 1 and unknown[0].intent == "entry"
    assert unknown[0].client_id not in paper._by_client  # never sent a second time
    assert (
        trader.alerts[0]["level"] == "critical" and "not sent again" in trader.alerts[0]["message"]
    )


def test_a_rate_limit_is_waited_out_with_backoff_and_the_order_sent_once(frame):
    bars, backtest = entry_bars(frame, 1)
    trader, _exchange, paper, slept = run(frame, {bars[0]: ["429", "429"]})
    assert slept == [1.0, 2.0]
    session = PaperSession(trader, paper, frame).result()
    assert session.trades["entry_time"].tolist() == backtest.trades["entry_time"].tolist()


def test_a_refused_order_raises_an_alert_and_trading_goes_on(frame):
    bars, backtest = entry_bars(frame, 1)
    trader, _exchange, _paper, _ = run(frame, {bars[0]: ["funds"]})
    (alert,) = trader.alerts
    assert "insufficient balance" in alert["message"] and alert["kind"] == "order"
    rejected = [o for o in trader.store.orders() if o.status == "rejected"]
    assert len(rejected) == 1 and "insufficient" in rejected[0].info["error"]
    assert len(trader.book.trades) >= len(backtest.trades) - 2  # later entries still made


def test_a_strategy_that_raises_pauses_the_trader_instead_of_stopping_it(frame):
    base = get_strategy("rsi_reversal")

    class Breaks:
        name = "breaks"
        space = base.space

        def __getattr__(self, name):
            return getattr(base, name)

        def generate(self, f, params):
            if len(f) == 150:
                raise ZeroDivisionError("division by zero in the user's strategy")
            return base.generate(f, params)

    trader, _, _, _ = run(frame, {}, strategy=Breaks())
    assert trader.paused is not None and "ZeroDivisionError" in trader.paused
    assert trader.alerts[0]["level"] == "critical"
    assert len(trader.equity) == len(frame)  # every bar was still taken
    entries_after = [t for t in trader.book.trades if t.entry_ms > frame.index[149].value // 10**6]
    assert entries_after == []
