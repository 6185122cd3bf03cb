"""A paper session over candles gives the backtest's trades (tradpal.trading.replay).

The trader and the paper exchange carry out the engine's rules with orders; over the same
candles, strategy and settings they must give the backtest's trades (times, sides, reasons)
and final equity, within 1e-9 relative, for every built-in strategy and every rule.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradpal.backtest.strategy_run import backtest_strategy, config_for
from tradpal.data.contract import MarketMeta, make_ohlcv
from tradpal.data.loading import load_ohlcv
from tradpal.strategies import list_strategies
from tradpal.trading.replay import replay

REL = 1e-9
NUMBERS = ("quantity", "entry_price", "exit_price", "fees", "pnl", "return")


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_ohlcv("sample", timeframe="1h", end="2024-06-01", bars=400)


def assert_same_trades(frame, strategy, config, params=None):
    backtest = backtest_strategy(frame, strategy, params, config).result
    paper = replay(frame, strategy, params, config).result()
    a, b = backtest.trades, paper.trades
    assert len(a) == len(b), (len(a), len(b))
    for column in ("entry_time", "exit_time", "side", "exit_reason", "bars_held"):
        assert a[column].tolist() == b[column].tolist(), column
    for column in NUMBERS:
        np.testing.assert_allclose(
            b[column].to_numpy(), a[column].to_numpy(), rtol=REL, err_msg=column
        )
    np.testing.assert_allclose(paper.equity.to_numpy(), backtest.equity.to_numpy(), rtol=REL)
    skipped = paper.meta["skipped_entries"]
    assert {k: skipped[k] for k in backtest.meta["skipped_entries"]} == backtest.meta[
        "skipped_entries"
    ]
    return backtest, paper


@pytest.mark.parametrize("fill", ["close", "next_open"])
@pytest.mark.parametrize("strategy", [*sorted(list_strategies()), "ema_crossover@4h"])
def test_every_built_in_strategy_trades_on_paper_as_it_backtests(sample, strategy, fill):
    backtest, _ = assert_same_trades(sample, strategy, config_for("1h", fill=fill, slippage=0.0005))
    assert len(backtest.trades) > 0  # the comparison compared something


VARIANTS = {
    "trailing pct": {"trailing_stop": "pct:0.02"},
    "trailing atr, no stop": {"trailing_stop": "atr:2", "stop_loss": "none", "sizing": "all"},
    "time stop": {"time_stop_bars": 10},
    "risk sizing": {"sizing": "risk:0.01"},
    "kelly sizing": {"sizing": "kelly:0.5"},
    "drawdown guard": {"max_drawdown": 0.03},
    "leverage": {
        "max_leverage": 5.0,
        "stop_loss": "none",
        "take_profit": "none",
        "sizing": "fraction:4",
    },
    "volatility clamp": {"target_volatility": 0.5, "max_leverage": 3.0},
    "pct levels": {"stop_loss": "pct:0.01", "take_profit": "pct:0.02"},
    "long only": {"allow_short": False},
    "max notional": {"max_notional": 3000.0},
}


@pytest.mark.parametrize("fill", ["close", "next_open"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_risk_rule_acts_on_paper_as_in_the_backtest(sample, variant, fill):
    config = config_for("1h", fill=fill, slippage=0.001, **VARIANTS[variant])
    assert_same_trades(sample, "rsi_reversal", config)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    fill=st.sampled_from(["close", "next_open"]),
    slippage=st.sampled_from([0.0, 0.002]),
    trailing=st.sampled_from([None, "pct:0.01"]),
)
def test_random_markets_trade_on_paper_as_they_backtest(seed, fill, slippage, trailing):
    rng = np.random.default_rng(seed)
    n = 250
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, 0.002, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, n)))
    times = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    frame = make_ohlcv(
        times, open_, high, low, close, rng.uniform(1e4, 1e5, n),  # above any position
        meta=MarketMeta(symbol="BTC/USDT", timeframe="1h", source="synthetic", synthetic=True),
    )  # fmt: skip
    config = config_for("1h", fill=fill, slippage=slippage, trailing_stop=trailing)
    assert_same_trades(frame, "rsi_reversal", config, {"rsi_period": 6})


def test_thin_volume_fills_targets_in_part_and_the_book_still_equals_the_exchange(sample):
    thin = sample.copy()
    thin["volume"] = 1000.0  # limit fills take 10 units a bar; a position is 25 to 50 units
    session = replay(thin, "rsi_reversal", None, config_for("1h"), volume_share=0.01)
    symbol = session.trader.symbol
    trades = session.exchange.fetch_my_trades(symbol)
    orders = [
        session.exchange.fetch_order(o.exchange_id, symbol) for o in session.trader.store.orders()
    ]
    partial = [o for o in orders if o["type"] == "limit" and 0 < o["filled"] < o["amount"]]
    assert partial  # targets filled in part, the rest closed by the next exit
    book = session.trader.book
    assert book.position == pytest.approx(session.exchange.positions[symbol], abs=1e-9)
    assert book.cash == pytest.approx(session.exchange.cash, rel=1e-12)
    signed = sum(t["amount"] if t["side"] == "buy" else -t["amount"] for t in trades)
    assert book.position == pytest.approx(signed, abs=1e-9)
    assert len(book.seen) == len(trades)  # every fill booked, once


def test_a_window_bounds_the_history_the_strategy_sees(sample):
    from tradpal.strategies import get_strategy
    from tradpal.trading.paper import PaperExchange
    from tradpal.trading.session import Session
    from tradpal.trading.trader import Candle, Trader

    base, seen = get_strategy("rsi_reversal"), []

    class Recording:
        name, space = base.name, base.space

        def __getattr__(self, name):
            return getattr(base, name)

        def generate(self, frame, params):
            seen.append(len(frame))
            return base.generate(frame, params)

    config = config_for("1h")
    trader = Trader(
        strategy=Recording(), symbol="BTC/USDT", timeframe="1h", window=120, config=config,
        exchange=PaperExchange(config.capital, symbols=("BTC/USDT",)),
    )  # fmt: skip
    session = Session(trader, trader.exchange)
    for t, row in zip(sample.index.as_unit("ms").asi8.tolist(), sample.itertuples(), strict=True):
        session.bar_opened(t, row.open, row.volume)
        session.bar_closed(Candle(t, row.open, row.high, row.low, row.close, row.volume))
    assert max(seen) == 120 and len(seen) > 300  # bars with a stop or target exit skip it
    assert len(trader.book.trades) > 0
