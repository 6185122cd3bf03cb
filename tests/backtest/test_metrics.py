"""Metrics by their written definitions, and the config's and inputs' validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from tradpal.backtest import BacktestConfig, BacktestError, compute_metrics, run_backtest
from tradpal.risk import Sizing, StopRule


def metrics(equity, pnl=(), ret=(), **kw):
    kw.setdefault("bars_per_year", 4.0)
    kw.setdefault("buy_and_hold_return", 0.0)
    return compute_metrics(
        np.array(equity, float),
        np.array(pnl, float),
        np.array(ret, float),
        kw.pop("exposure", 0.5),
        **kw,
    )


def test_equity_metrics_by_hand():
    m = metrics([110.0, 99.0, 121.0, 121.0], initial_capital=100.0, bar_seconds=86_400)
    r = np.array([0.1, -0.1, 121 / 99 - 1, 0.0])
    assert m.total_return == pytest.approx(0.21) and m.final_equity == 121.0
    assert m.cagr == pytest.approx(0.21)  # four bars of a four-bar year
    assert m.annual_volatility == pytest.approx(r.std(ddof=1) * 2.0)
    assert m.sharpe == pytest.approx(r.mean() / r.std(ddof=1) * 2.0)
    assert m.sortino == pytest.approx(r.mean() / math.sqrt(0.01 / 4) * 2.0)
    assert m.max_drawdown == pytest.approx(0.1)  # 110 -> 99
    assert (m.max_drawdown_duration, m.max_drawdown_duration_days) == (1, 1.0)
    assert m.calmar == pytest.approx(0.21 / 0.1)


def test_drawdown_counts_from_the_capital_and_open_runs():
    m = metrics([99.0, 98.0, 99.5, 97.0], initial_capital=100.0)
    assert m.max_drawdown == pytest.approx(0.03)
    assert m.max_drawdown_duration == 4  # under water from the first bar to the end


def test_trade_metrics_by_hand():
    m = metrics([100.0, 125.0], pnl=[10, -5, 20, 0], ret=[0.1, -0.05, 0.2, 0.0], exposure=0.25)
    assert m.num_trades == 4 and m.win_rate == 0.5 and m.exposure == 0.25
    assert m.profit_factor == 6.0
    assert m.expectancy == pytest.approx(0.0625)
    assert (m.avg_win, m.avg_loss) == (pytest.approx(0.15), pytest.approx(-0.05))
    assert (m.best_trade, m.worst_trade) == (0.2, -0.05)
    assert m.kelly == pytest.approx(0.5 - 0.5 / 3.0)
    r = np.array([0.1, -0.05, 0.2, 0.0])
    assert m.sqn == pytest.approx(2.0 * r.mean() / r.std(ddof=1))


def test_no_trades_and_flat_equity_give_zeros():
    m = metrics([100.0] * 5, initial_capital=100.0, exposure=0.0)
    d = m.to_dict()
    assert all(v == 0 for k, v in d.items() if k not in ("final_equity",))
    assert d["final_equity"] == 100.0
    empty = metrics([])
    assert empty.num_trades == 0 and empty.total_return == 0.0


def test_only_winners_give_an_infinite_profit_factor_shown_as_none():
    m = metrics([100.0, 110.0], pnl=[5.0, 5.0], ret=[0.05, 0.05])
    assert m.profit_factor == math.inf and m.kelly == 1.0
    assert m.to_dict()["profit_factor"] is None
    json.dumps(m.to_dict(), allow_nan=False)
    assert metrics([100.0, 90.0], pnl=[-5.0], ret=[-0.05]).kelly == -1.0


def test_annualisation_follows_timeframe_and_year_days(bars, signals):
    frame = bars([(100, 100, 100, 100)] * 3, "1d")
    cfg = BacktestConfig(sizing="all", stop_loss=None, take_profit=None, year_days=252)
    assert run_backtest(frame, signals(3), cfg).meta["bars_per_year"] == 252
    assert run_backtest(frame, signals(3), cfg, timeframe="1h").meta["bars_per_year"] == 6048


def test_result_to_dict_is_json(bars, signals):
    frame = bars([(100, 100, 100, 100), (100, 103, 99, 102), (102, 103, 99, 101)])
    cfg = BacktestConfig(sizing="all", stop_loss=None, take_profit=None)
    res = run_backtest(frame, signals(3, le=[0], lx=[1]), cfg, meta={"strategy": "hand"})
    d = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert d["trades"][0]["entry_time"] == "2024-01-01T00:00:00+00:00"
    assert d["trades"][0]["exit_reason"] == "signal" and d["meta"]["strategy"] == "hand"
    assert d["metrics"]["num_trades"] == 1 and d["config"]["sizing"] == "all"
    assert res.drawdown.max() <= 0 and res.equity.index.equals(frame.index)


def test_config_text_forms_and_round_trip():
    cfg = BacktestConfig(
        sizing="fraction:0.5",
        stop_loss=0.02,
        take_profit="atr:3",
        trailing_stop="pct:0.05",
        time_stop_bars=10,
    )
    assert cfg.sizing == Sizing("fraction", 0.5) and cfg.stop_loss == StopRule("pct", 0.02)
    d = json.loads(json.dumps(cfg.to_dict()))
    assert BacktestConfig.from_dict(d) == cfg
    nested = dict(d, sizing={"kind": "risk", "value": 0.02}, stop_loss={"kind": "atr", "value": 2})
    assert BacktestConfig.from_dict(nested).stop_loss == StopRule("atr", 2.0)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"capital": 0}, "capital"),
        ({"capital": float("nan")}, "capital"),
        ({"fees": 0.5 + 0.6}, "fees"),
        ({"slippage": -0.01}, "slippage"),
        ({"fill": "open"}, "fill"),
        ({"sizing": "lots:3"}, "sizing"),
        ({"sizing": "risk:2"}, "risk"),
        ({"stop_loss": "pct:1.5"}, "pct stop"),
        ({"take_profit": "atr:-1"}, "atr stop"),
        ({"time_stop_bars": 0}, "time_stop_bars"),
        ({"atr_period": 1.5}, "atr_period"),
        ({"max_leverage": 0}, "max_leverage"),
        ({"max_notional": -5}, "max_notional"),
        ({"max_drawdown": 1.2}, "max_drawdown"),
        ({"target_volatility": 0}, "target_volatility"),
        ({"year_days": 400}, "year_days"),
        ({"allow_short": "yes"}, "allow_short"),
    ],
)
def test_bad_settings_are_named(kw, words):
    with pytest.raises(BacktestError, match=words):
        BacktestConfig(**kw)


def test_unknown_setting_in_a_dict():
    with pytest.raises(BacktestError, match=r"unknown backtest setting.*stoploss"):
        BacktestConfig.from_dict({"stoploss": 0.02})


def test_bad_inputs_are_named(bars, signals):
    frame = bars([(100, 100, 100, 100)] * 3)
    with pytest.raises(BacktestError, match="signals have 2 bars, the data 3"):
        run_backtest(frame, signals(2))
    with pytest.raises(BacktestError, match="Signals"):
        run_backtest(frame, {"long_entry": [True, False, False]})
    with pytest.raises(BacktestError, match="risk sizing needs a stop"):
        run_backtest(frame, signals(3), BacktestConfig(stop_loss=None))
    with pytest.raises(BacktestError, match="no bars"):
        run_backtest(frame.iloc[:0], signals(0))
    broken = frame.copy()
    broken.loc[broken.index[1], "close"] = np.nan
    with pytest.raises(BacktestError, match="close holds nan at bar 1"):
        run_backtest(broken, signals(3), BacktestConfig(stop_loss=0.02))
    with pytest.raises(Exception, match="DatetimeIndex"):
        run_backtest(pd.DataFrame(frame.to_numpy(), columns=frame.columns), signals(3))
