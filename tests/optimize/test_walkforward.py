"""Walk-forward on real BTC 1h candles: the stitched equity against an independent
recomputation with run_backtest, no look-ahead past a window, determinism, JSON."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from tradpal.backtest import BacktestConfig, run_backtest
from tradpal.optimize import OptimizeError, walk_forward
from tradpal.optimize.objectives import best_index, scores
from tradpal.strategies import STRATEGIES, Signals

# No ATR rule, so a window's engine inputs do not depend on bars before it and
# run_backtest on the window alone is an exact reference.
PCT = BacktestConfig(sizing="all", stop_loss="pct:0.04", take_profit="pct:0.08",
                     slippage=0.0005)  # fmt: skip
SETTINGS = {"in_sample": 1000, "out_sample": 500, "step": 500, "method": "random",
            "n_candidates": 8, "seed": 3}  # fmt: skip


def flattened(sig: Signals) -> Signals:
    """The walk-forward's out-of-sample rule: no entry and both exits at the last bar."""
    le, lx, se, sx = (a.copy() for a in (sig.long_entry, sig.long_exit, sig.short_entry,
                                         sig.short_exit))  # fmt: skip
    le[-1] = se[-1] = False
    lx[-1] = sx[-1] = True
    return Signals(le, lx, se, sx, sig.stop_price, sig.target_price, sig.confidence)


@pytest.fixture(scope="module")
def result(btc):
    return walk_forward(btc, STRATEGIES["ema_crossover"], PCT, objective="sharpe", **SETTINGS)


def test_completes_on_real_data_with_sensible_output(btc, result):
    n = len(btc)
    assert len(result.windows) == (n - 1500) // 500 + 1 == 17
    eq = result.oos_equity
    assert len(eq) == 17 * 500 and eq.index.is_monotonic_increasing
    assert eq.index[0] == btc.index[1000] and eq.index[-1] == btc.index[1000 + 17 * 500 - 1]
    assert np.isfinite(eq.to_numpy()).all() and (eq > 0).all()
    m = result.oos_metrics
    assert m.final_equity == eq.iloc[-1]
    assert m.num_trades == len(result.oos_trades) == sum(w.oos_metrics.num_trades
                                                          for w in result.windows)  # fmt: skip
    assert m.total_return == pytest.approx(np.prod(1 + result.window_returns) - 1, rel=1e-12)
    assert set(result.oos_trades["exit_reason"]) <= {"signal", "stop", "target", "reverse"}
    assert result.stability.windows == 17
    assert result.stability.rating in {"robust", "moderate", "unstable"}
    assert result.stability.share_positive == np.mean(result.window_returns > 0)
    for w in result.windows:
        assert w.best_params is not None and w.is_metrics is not None
        assert w.oos_range[0] == btc.index[w.window.oos_start]


@pytest.mark.parametrize("warmup", [None, 300])
def test_stitched_equity_equals_an_independent_recomputation(btc, result, warmup):
    strategy = STRATEGIES["ema_crossover"]
    if warmup is not None:
        result = walk_forward(btc, strategy, PCT, warmup=warmup, **SETTINGS)
    equity = PCT.capital
    parts = []
    for w in result.windows:
        a, b = w.window.oos_start, w.window.oos_end
        lo = 0 if warmup is None else a - warmup
        # the strategy sees the warm-up bars and the window, and nothing after it
        sig = flattened(strategy.generate(btc.iloc[lo:b], w.best_params).slice(a - lo, b - lo))
        run = run_backtest(btc.iloc[a:b], sig, dataclasses.replace(PCT, capital=equity))
        parts.append(run.equity)
        assert w.oos_metrics == run.metrics
        assert w.start_equity == equity
        equity = run.metrics.final_equity
    expected = pd.concat(parts)
    assert np.array_equal(result.oos_equity.to_numpy(), expected.to_numpy())
    assert result.oos_equity.index.equals(expected.index)


def test_in_sample_winner_is_the_best_candidate(btc, result):
    strategy = STRATEGIES["ema_crossover"]
    candidates = strategy.space.sample(SETTINGS["n_candidates"], seed=SETTINGS["seed"])
    for w in result.windows[:3]:
        a, b = w.window.is_start, w.window.is_end
        runs = [
            run_backtest(btc.iloc[a:b], strategy.generate(btc.iloc[:b], c).slice(a, b), PCT)
            for c in candidates
        ]
        s = scores([r.metrics.sharpe for r in runs], [r.metrics.num_trades for r in runs])
        k = best_index(s)
        assert w.best_params == strategy.space.validate(candidates[k])
        assert w.is_metrics == runs[k].metrics


def test_no_look_ahead_past_a_window(btc, result):
    # Bars after window 4's out-of-sample end are scrambled: windows 0..4 must not change.
    cut = result.windows[4].window.oos_end
    changed = btc.copy()
    tail = changed.iloc[cut:].to_numpy()[::-1].copy()  # same prices, reversed in time
    changed.iloc[cut:] = tail
    other = walk_forward(changed, STRATEGIES["ema_crossover"], PCT, **SETTINGS)
    for w0, w1 in zip(result.windows[:5], other.windows[:5], strict=True):
        assert w0.to_dict() == w1.to_dict()
    assert np.array_equal(result.oos_equity.to_numpy()[: 5 * 500],
                          other.oos_equity.to_numpy()[: 5 * 500])  # fmt: skip
    assert not np.array_equal(result.oos_equity.to_numpy(), other.oos_equity.to_numpy())


def test_same_seed_same_result_other_seed_other_candidates(btc, result):
    again = walk_forward(btc, STRATEGIES["ema_crossover"], PCT, **SETTINGS)
    assert json.dumps(again.to_dict()) == json.dumps(result.to_dict())
    other = walk_forward(btc, STRATEGIES["ema_crossover"], PCT, **{**SETTINGS, "seed": 4})
    assert [w.best_params for w in other.windows] != [w.best_params for w in result.windows]


def test_to_dict_is_strict_json(result):
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["strategy"] == "ema_crossover" and "believe" in d["note"]
    assert d["settings"]["method"] == "random" and d["settings"]["n_candidates"] == 8
    assert len(d["windows"]) == 17 and len(d["oos_equity"]["equity"]) == 17 * 500
    assert d["oos_metrics"]["num_trades"] == len(d["oos_trades"])
    assert d["stability"]["rating"] == result.stability.rating


def test_anchored_grid_with_default_risk_config(btc):
    strategy = STRATEGIES["bb_reversal"]
    size = strategy.space.grid_size()
    res = walk_forward(btc.iloc[:4000], strategy, in_sample=2000, out_sample=1000, step=1000,
                       anchored=True, n_candidates=size, objective="sortino")  # fmt: skip
    assert [w.window.is_start for w in res.windows] == [0, 0]
    assert [w.window.is_end for w in res.windows] == [2000, 3000]
    assert res.settings["n_candidates"] == size
    assert len(res.oos_equity) == 2000


def test_min_trades_nobody_meets_means_no_trading(btc):
    res = walk_forward(btc.iloc[:2000], STRATEGIES["ema_crossover"], PCT, in_sample=500,
                       out_sample=500, step=500, method="random", n_candidates=4,
                       min_trades=10_000)  # fmt: skip
    assert all(w.best_params is None and w.eligible == 0 for w in res.windows)
    assert (res.oos_equity == PCT.capital).all()
    assert res.oos_metrics.num_trades == 0 and res.oos_metrics.total_return == 0.0
    assert res.stability.rating == "unstable"


def test_grid_larger_than_n_candidates_is_refused(btc):
    with pytest.raises(OptimizeError, match=r"grid has \d+ points, more than n_candidates=50"):
        walk_forward(btc, STRATEGIES["ema_crossover"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "genetic"}, "unknown method"),
        ({"n_candidates": 0}, "n_candidates"),
        ({"seed": "x"}, "seed"),
        ({"warmup": -1}, "warmup"),
        ({"objective": "pnl"}, "unknown objective"),
        ({"in_sample": 9000, "out_sample": 600, "step": 600}, "needs in_sample \\+ out_sample"),
    ],
)
def test_bad_settings_are_refused(btc, kwargs, match):
    with pytest.raises(OptimizeError, match=match):
        walk_forward(btc, STRATEGIES["ema_crossover"], PCT, **{"method": "random", **kwargs})
