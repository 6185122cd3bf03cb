"""Several symbols in one run (equal-weight portfolio) and comparison tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradpal.backtest import BacktestConfig, run_backtest
from tradpal.data.importers import import_binance_klines, import_file
from tradpal.reports import KEY_METRICS, MultiResult, ReportError, comparison_table, run_many
from tradpal.strategies import StrategyError, get_strategy

CAPITAL = 10_000.0


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> dict[str, pd.DataFrame]:
    btc, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    eth, _ = import_file(shared_data / "ETH_BTC-5m.feather")
    xrp, _ = import_file(shared_data / "XRP_USDT_USDT-5m-futures.feather")
    return {"BTC/USDT": btc, "ETH/BTC": eth, "XRP/USDT": xrp}


@pytest.fixture(scope="module")
def config() -> BacktestConfig:
    return BacktestConfig(capital=CAPITAL, fees=0.001, slippage=0.0005)


@pytest.fixture(scope="module")
def multi(frames, config) -> MultiResult:
    return run_many(frames, "ema_crossover", {"fast": 12, "slow": 26}, config)


def test_each_run_is_the_plain_backtest_of_its_symbol(multi, frames, config):
    assert list(multi.results) == list(frames)
    strat = get_strategy("ema_crossover")
    for symbol, frame in frames.items():
        alone = run_backtest(frame, strat.generate(frame, {"fast": 12, "slow": 26}), config)
        run = multi.results[symbol]
        assert run.metrics == alone.metrics
        assert run.equity.equals(alone.equity)
        pd.testing.assert_frame_equal(run.trades, alone.trades)
        assert run.meta["symbol"] == symbol and run.meta["strategy"] == "ema_crossover"
        assert run.meta["params"] == {"fast": 12, "slow": 26}


def _pandas_portfolio(multi: MultiResult) -> pd.Series:
    """The equal-weight portfolio computed independently with pandas' resample."""
    hourly = {
        s: (r.equity / CAPITAL).resample("1h").last() for s, r in multi.results.items()
    }  # label = the hour each bar opens in; last mark in that hour
    start = min(c.index[0] for c in hourly.values())
    end = max(c.index[-1] for c in hourly.values())
    grid = pd.date_range(start, end, freq="1h", name="time")
    table = pd.DataFrame({s: c.reindex(grid) for s, c in hourly.items()})
    # resample leaves NaN in empty hours inside a run; carry the last mark, cash before
    return CAPITAL * table.ffill().fillna(1.0).mean(axis=1)


def test_portfolio_equity_equals_an_independent_pandas_computation(multi):
    assert multi.timeframe == "1h"  # the coarsest of 1h, 5m, 5m
    expected = _pandas_portfolio(multi)
    assert multi.equity.index.equals(expected.index)
    np.testing.assert_allclose(multi.equity.to_numpy(), expected.to_numpy(), rtol=1e-13)
    assert multi.equity.index[0] == pd.Timestamp("2018-01-10 04:00", tz="UTC")
    assert multi.equity.index[-1] == pd.Timestamp("2022-10-31 23:00", tz="UTC")
    assert multi.weights == {s: pytest.approx(1 / 3) for s in multi.results}


def test_portfolio_metrics_follow_from_the_runs(multi):
    runs = [r.metrics for r in multi.results.values()]
    m = multi.metrics
    # an equal-weight, never rebalanced portfolio returns the mean of its parts
    assert m.total_return == pytest.approx(np.mean([r.total_return for r in runs]), rel=1e-12)
    assert m.final_equity == pytest.approx(CAPITAL * (1 + m.total_return), rel=1e-12)
    assert m.buy_and_hold_return == pytest.approx(np.mean([r.buy_and_hold_return for r in runs]))
    assert m.exposure == pytest.approx(np.mean([r.exposure for r in runs]))
    assert m.num_trades == sum(r.num_trades for r in runs) == len(multi.trades)
    wins = sum(int((r.trades["pnl"] > 0).sum()) for r in multi.results.values())
    assert m.win_rate == pytest.approx(wins / m.num_trades)
    # drawdown and Sharpe from the curve, by pandas
    eq = multi.equity
    dd = eq / np.maximum(eq.cummax(), CAPITAL) - 1
    np.testing.assert_allclose(multi.drawdown.to_numpy(), dd.to_numpy(), rtol=0, atol=1e-15)
    assert m.max_drawdown == pytest.approx(-dd.min(), rel=1e-12)
    returns = pd.concat([pd.Series([eq.iloc[0] / CAPITAL - 1]), eq.pct_change().iloc[1:]])
    sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(365 * 24)
    assert m.sharpe == pytest.approx(sharpe, rel=1e-9)
    assert list(multi.trades.columns[:2]) == ["symbol", "entry_time"]


def test_same_timeframe_runs_aggregate_on_their_own_bars(frames, config):
    btc = frames["BTC/USDT"]
    halves = {"first": btc.iloc[:4000], "second": btc.iloc[4000:]}
    multi = run_many(halves, "rsi_reversal", None, config)
    assert multi.timeframe == "1h" and multi.equity.index.equals(btc.index)
    first, second = (multi.results[k].equity / CAPITAL for k in halves)
    # the first sub-account's final equity is carried; the second waits as cash
    expected = np.concatenate([
        (first.to_numpy() + 1.0),
        (first.iloc[-1] + second.to_numpy()),
    ]) * CAPITAL / 2  # fmt: skip
    np.testing.assert_allclose(multi.equity.to_numpy(), expected, rtol=1e-14)
    # params=None: each run uses the strategy's per-timeframe defaults for its data
    strat = get_strategy("rsi_reversal")
    assert multi.results["first"].meta["params"] == strat.defaults_for("1h")
    assert strat.defaults_for("1h") != strat.space.defaults()


def test_run_many_errors_name_the_problem(frames, config):
    with pytest.raises(ReportError, match="no frames given"):
        run_many({}, "ema_crossover", None, config)
    with pytest.raises(StrategyError, match=r"^ETH/BTC: .*fast") as info:
        run_many({"ETH/BTC": frames["ETH/BTC"]}, "ema_crossover", {"fast": -3}, config)
    assert info.value.hint is None or isinstance(info.value.hint, str)
    with pytest.raises(StrategyError, match="unknown"):
        run_many(frames, "no_such_strategy", None, config)


def test_comparison_table_puts_runs_side_by_side(multi):
    table = multi.table()
    assert list(table.index) == ["BTC/USDT", "ETH/BTC", "XRP/USDT", "portfolio"]
    assert table.index.name == "run" and list(table.columns) == list(KEY_METRICS)
    assert (table.dtypes == np.float64).all()
    for symbol, result in multi.results.items():
        for col in KEY_METRICS:
            assert table.loc[symbol, col] == getattr(result.metrics, col), (symbol, col)
    assert table.loc["portfolio", "total_return"] == multi.metrics.total_return


def test_comparison_table_across_strategies_sorted_and_with_infinite_values(frames, config):
    btc = frames["BTC/USDT"]
    runs = {}
    for name in ("ema_crossover", "rsi_reversal", "bb_reversal", "regime"):
        strat = get_strategy(name)
        runs[name] = run_backtest(btc, strat.generate(btc, None), config)
    table = comparison_table(runs, sort_by="sharpe")
    assert table["sharpe"].is_monotonic_decreasing
    assert set(table.index) == set(runs)
    assert table.loc["regime", "num_trades"] == runs["regime"].metrics.num_trades
    # plain dicts and an infinite profit factor (no losing trade) are kept as given
    custom = comparison_table({"a": {"sharpe": 1.5, "profit_factor": math.inf}},
                              columns=("sharpe", "profit_factor", "cagr"))  # fmt: skip
    assert custom.loc["a", "profit_factor"] == math.inf and math.isnan(custom.loc["a", "cagr"])
    with pytest.raises(ReportError, match="cannot sort by 'nope'"):
        comparison_table(runs, sort_by="nope")
    with pytest.raises(ReportError, match="holds no metrics"):
        comparison_table({"x": 3})
