"""Objectives, TradPal's fitness, the Pareto front and the deflated Sharpe ratio."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.errors import OptimizeError
from tradpal.optimize.objectives import (
    composite_fitness,
    deflated_sharpe,
    expected_max_sharpe,
    objective_values,
    pareto_front,
)

METRICS = {
    "sharpe": 1.2,
    "sortino": 1.8,
    "calmar": 0.9,
    "total_return": 0.15,
    "profit_factor": None,  # no losing trade: infinite, stored as null
    "win_rate": 0.6,
    "max_drawdown": 0.1,
    "final_equity": 11_500.0,
    "num_trades": 12,
}


def test_composite_fitness_is_tradpals_formula_with_fractions():
    expected = 0.3 * 1.2 + 0.3 * 1500 / 1000 + 0.2 * 0.6 - 0.2 * 0.1
    assert composite_fitness(METRICS, 10_000.0) == pytest.approx(expected, rel=1e-15)


def test_few_trades_halve_a_positive_fitness_and_worsen_a_negative_one():
    full = composite_fitness(METRICS, 10_000.0)
    assert composite_fitness({**METRICS, "num_trades": 9}, 10_000.0) == pytest.approx(full / 2)
    losing = {**METRICS, "sharpe": -2.0, "final_equity": 9_000.0, "num_trades": 9}
    base = composite_fitness({**losing, "num_trades": 10}, 10_000.0)
    assert base < 0
    assert composite_fitness(losing, 10_000.0) == pytest.approx(1.5 * base)


def test_objective_values_reads_metrics_and_applies_min_trades():
    vals = objective_values(
        METRICS, ["sharpe", "total_return", "fitness"], capital=10_000.0, min_trades=10
    )
    assert vals[:2] == [1.2, 0.15]
    assert vals[2] == composite_fitness(METRICS, 10_000.0)
    assert math.isnan(objective_values(METRICS, ["profit_factor"], capital=1e4, min_trades=0)[0])
    few = objective_values(METRICS, ["sharpe", "calmar"], capital=1e4, min_trades=13)
    assert all(math.isnan(v) for v in few)
    with pytest.raises(OptimizeError, match="unknown objective"):
        objective_values(METRICS, ["cagr_typo"], capital=1e4, min_trades=0)


def _brute_front(v: np.ndarray) -> list[int]:
    out = []
    for i, a in enumerate(v):
        if np.isnan(a).any():
            continue
        dominated = False
        for j, b in enumerate(v):
            if j != i and not np.isnan(b).any() and all(b >= a) and any(b > a):
                dominated = True
        if not dominated:
            out.append(i)
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda k: st.lists(
            st.lists(
                st.one_of(st.integers(-3, 3).map(float), st.just(math.nan)),
                min_size=k,
                max_size=k,
            ),
            min_size=0,
            max_size=25,
        ).map(lambda rows: np.array(rows, dtype=float).reshape(len(rows), k))
    )
)
def test_pareto_front_matches_brute_force(values):
    assert pareto_front(values).tolist() == _brute_front(values)


def test_pareto_front_two_objectives_example():
    v = np.array([[1, 5], [2, 4], [1, 4], [3, 1], [3, 1], [0, 0]], dtype=float)
    assert pareto_front(v).tolist() == [0, 1, 3, 4]


def test_deflated_sharpe_matches_hand_computation():
    # N = 100 trials, std of their Sharpe ratios 0.05, T = 1000 normal returns.
    g = 0.5772156649015329
    z = NormalDist().inv_cdf
    sr0 = 0.05 * ((1 - g) * z(1 - 1 / 100) + g * z(1 - 1 / (100 * math.e)))
    assert expected_max_sharpe(100, 0.05) == pytest.approx(sr0, rel=1e-15)
    # tabulated quantiles: z(0.99) = 2.3263, z(1 - 1/(100 e)) = 2.6802 -> 2.5306 std
    assert sr0 == pytest.approx(0.05 * 2.5306, abs=1e-5)
    sr = 0.15
    stat = (sr - sr0) * math.sqrt(999) / math.sqrt(1 - 0 * sr + (3 - 1) / 4 * sr * sr)
    dsr = deflated_sharpe(sr, n_trials=100, n_obs=1000, skew=0.0, kurtosis=3.0, sharpe_std=0.05)
    assert dsr == pytest.approx(NormalDist().cdf(stat), rel=1e-15)
    assert dsr == pytest.approx(0.7696, abs=1e-4)  # Z((0.15 - 0.12653) 31.607 / 1.00561)
    # negative skew and fat tails widen the Sharpe's error: a less certain probability
    fat = deflated_sharpe(sr, n_trials=100, n_obs=1000, skew=-1.0, kurtosis=8.0, sharpe_std=0.05)
    assert 0.5 < fat < dsr


def test_single_trial_is_the_probabilistic_sharpe_against_zero():
    dsr = deflated_sharpe(0.05, n_trials=1, n_obs=500, skew=0.0, kurtosis=3.0, sharpe_std=0.1)
    stat = 0.05 * math.sqrt(499) / math.sqrt(1 + 0.5 * 0.05**2)
    assert dsr == pytest.approx(NormalDist().cdf(stat), rel=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-0.3, 0.3),
    st.integers(1, 10_000),
    st.integers(1, 10_000),
    st.floats(0.001, 0.5),
)
def test_deflated_sharpe_falls_as_trials_grow(sr, n1, n2, std):
    lo, hi = sorted((n1, n2))
    kw = {"n_obs": 750, "skew": -0.2, "kurtosis": 4.0, "sharpe_std": std}
    a = deflated_sharpe(sr, n_trials=lo, **kw)
    b = deflated_sharpe(sr, n_trials=hi, **kw)
    assert 0.0 <= b <= a <= 1.0


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"n_obs": 1}, "n_obs"),
        ({"sharpe_std": -0.1}, "sharpe_std"),
        ({"skew": math.nan}, "skew"),
        ({"sharpe": 3.0, "skew": 5.0}, "non-positive variance"),
    ],
)
def test_deflated_sharpe_rejects_bad_input(kw, match):
    args = {"sharpe": 0.1, "n_trials": 10, "n_obs": 100, "skew": 0.0, "kurtosis": 3.0,
            "sharpe_std": 0.05}  # fmt: skip
    args.update(kw)
    sharpe = args.pop("sharpe")
    with pytest.raises(OptimizeError, match=match):
        deflated_sharpe(sharpe, **args)
