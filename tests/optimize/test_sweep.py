"""Sweeps: every row equals a plain run_backtest of the same params, bit for bit;
the table, the objective, min_trades and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradpal.backtest import BacktestConfig, run_backtest
from tradpal.optimize import OptimizeError, best, sweep
from tradpal.optimize.sweep import METRIC_COLUMNS
from tradpal.strategies import STRATEGIES, get_strategy, with_atr_stops

CONFIGS = {
    "default": BacktestConfig(),  # risk sizing with ATR stop and target
    "all-in pct stop": BacktestConfig(
        sizing="all", stop_loss="pct:0.03", take_profit=None, slippage=0.0005
    ),
    "next open, trailing, guard, clamp": BacktestConfig(
        sizing="fraction:0.5",
        fill="next_open",
        trailing_stop="atr:2",
        max_drawdown=0.2,
        target_volatility=0.5,
        max_leverage=2.0,
        time_stop_bars=48,
    ),
}


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("name", ["ema_crossover", "confluence", "bb_reversal", "regime"])
def test_rows_equal_run_backtest_bit_for_bit(btc, name, config_name):
    frame = btc.iloc[:3000]
    strategy = STRATEGIES[name]
    config = CONFIGS[config_name]
    candidates = [{}, *strategy.space.sample(5, seed=11)]
    table = sweep(frame, strategy, candidates, config)
    assert len(table) == len(candidates)
    for i, params in enumerate(candidates):
        ref = run_backtest(frame, strategy.generate(frame, params), config).metrics
        row = table.iloc[i]
        for field in METRIC_COLUMNS:
            assert same(row[field], getattr(ref, field)), (name, params, field)


def test_rows_equal_run_backtest_with_strategy_stops(btc):
    frame = btc.iloc[2000:4500]
    strategy = with_atr_stops(get_strategy("ema_crossover"))  # signals carry stop/target
    candidates = strategy.space.sample(4, seed=2)
    table = sweep(frame, strategy, candidates, BacktestConfig())
    for i, params in enumerate(candidates):
        ref = run_backtest(frame, strategy.generate(frame, params), BacktestConfig()).metrics
        assert all(same(table.iloc[i][f], getattr(ref, f)) for f in METRIC_COLUMNS)


def test_table_columns_params_and_score(btc):
    frame = btc.iloc[:2000]
    strategy = STRATEGIES["ema_crossover"]
    table = sweep(frame, strategy, [{"fast": 4}, {"fast": 10, "slow": 30}], objective="calmar")
    # params first (complete: per-timeframe defaults fill in what a candidate omits)
    assert list(table.columns) == ["fast", "slow", *METRIC_COLUMNS, "score"]
    assert table.loc[0, "slow"] == strategy.defaults_for("1h")["slow"]
    assert np.array_equal(table["score"], table["calmar"])
    assert table.attrs["tradpal_sweep"] == {"objective": "calmar", "min_trades": 0}


def test_min_trades_and_best(btc):
    frame = btc.iloc[:2000]
    strategy = STRATEGIES["ema_crossover"]
    grid = [{"fast": f, "slow": s} for f, s in [(4, 10), (10, 100), (20, 200), (50, 250)]]
    table = sweep(frame, strategy, grid, objective="total_return")
    trades = table["num_trades"].to_numpy()
    floor = int(np.sort(trades)[1])  # the candidate with the fewest trades falls out
    filtered = sweep(frame, strategy, grid, objective="total_return", min_trades=floor)
    assert np.isnan(filtered["score"][trades < floor]).all()
    ok = trades >= floor
    assert np.array_equal(filtered["score"][ok], filtered["total_return"][ok])
    top = best(filtered)
    assert top["total_return"] == filtered["total_return"][ok].max()
    none = sweep(frame, strategy, grid, min_trades=int(trades.max()) + 1)
    assert best(none) is None and none["score"].isna().all()


def test_sweep_is_deterministic(btc):
    frame = btc.iloc[:1500]
    strategy = STRATEGIES["confluence"]
    grid = strategy.space.sample(8, seed=5)
    a, b = sweep(frame, strategy, grid), sweep(frame, strategy, grid)
    assert a.equals(b)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"candidates": []}, "no candidates"),
        ({"candidates": {"fast": 5}}, "list of parameter mappings"),
        ({"candidates": [5]}, "candidate 0 is 5"),
        ({"candidates": [{"fast": 5}, {"fast": 500}]}, r"candidate 1 \{'fast': 500\}"),
        ({"candidates": [{"speed": 5}]}, "unknown param"),
        ({"objective": "pnl"}, "unknown objective"),
        ({"min_trades": -2}, "min_trades"),
        ({"config": "fast"}, "config must be a BacktestConfig"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(btc, kwargs, match):
    args = {"candidates": [{"fast": 5}], **kwargs}
    with pytest.raises(OptimizeError, match=match):
        sweep(btc.iloc[:500], STRATEGIES["ema_crossover"], **args)


def test_risk_sizing_without_a_stop_is_refused(btc):
    config = BacktestConfig(sizing="risk:0.01", stop_loss=None)
    with pytest.raises(OptimizeError, match="risk sizing needs a stop"):
        sweep(btc.iloc[:500], STRATEGIES["ema_crossover"], [{}], config)
