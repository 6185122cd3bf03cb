"""Objectives, the min_trades floor, ranking ties and the stability rating."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.optimize import OBJECTIVES, OptimizeError, best_index, check_objective, scores
from tradpal.optimize.objectives import METRIC_OBJECTIVES, check_min_trades
from tradpal.optimize.stability import stability


def test_objective_names():
    metrics = {"sharpe", "sortino", "calmar", "total_return", "profit_factor"}
    assert set(METRIC_OBJECTIVES) == metrics and set(OBJECTIVES) == metrics | {"fitness"}
    assert check_objective("calmar") == "calmar"
    # a sweep ranks a table of metrics: fitness (which needs the capital) is discovery's
    with pytest.raises(OptimizeError, match="unknown objective 'fitness'"):
        check_objective("fitness")
    assert check_objective("fitness", OBJECTIVES) == "fitness"
    with pytest.raises(OptimizeError, match="unknown objective 'pnl'") as err:
        check_objective("pnl")
    assert "sharpe" in err.value.hint


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_min_trades_must_be_a_count(bad):
    with pytest.raises(OptimizeError, match="min_trades"):
        check_min_trades(bad)


def test_min_trades_makes_candidates_ineligible():
    s = scores([3.0, 5.0, 4.0], [10, 2, 3], min_trades=3)
    assert np.isnan(s[1]) and s[0] == 3.0 and s[2] == 4.0
    assert best_index(s) == 2  # the best (5.0) had too few trades


def test_best_is_first_of_ties_and_values_not_finite_never_win():
    assert best_index([1.0, 2.0, 2.0, 0.5]) == 1
    # +inf (a profit factor without a losing trade) is no score: as in discovery's ranking
    assert best_index([np.nan, 1.0, np.inf, 7.0]) == 3
    assert best_index([np.inf, -np.inf]) is None
    assert np.isnan(scores([np.inf, 2.0], [5, 5])[0])
    assert best_index([np.nan, np.nan]) is None
    assert best_index([]) is None
    assert best_index([-3.0, -1.0]) == 1  # negative scores still rank


@given(st.lists(st.one_of(st.floats(allow_nan=True), st.just(np.nan)), max_size=30))
def test_best_index_matches_a_plain_loop(values):
    best, top = None, -math.inf
    for i, v in enumerate(values):
        if math.isfinite(v) and (best is None or v > top):
            best, top = i, v
    assert best_index(values) == best


def test_stability_numbers_and_rating():
    r = [0.02, 0.01, 0.03, -0.01, 0.02]
    s = stability(r)
    mean = sum(r) / 5
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / 4)
    assert s.windows == 5
    assert s.mean == pytest.approx(mean, rel=1e-15)
    assert s.std == pytest.approx(std, rel=1e-15)
    assert s.cv == pytest.approx(std / mean, rel=1e-15)
    assert s.share_positive == 0.8
    assert s.rating == "robust"  # cv = 0.91, 80% positive


@pytest.mark.parametrize(
    ("returns", "rating"),
    [
        ([0.01, 0.02], "insufficient"),  # fewer than 3 windows
        ([0.04, -0.01, 0.04, -0.01], "moderate"),  # cv 1.92 but only 50% positive
        ([0.04, 0.04, -0.03, 0.04, 0.04, -0.04], "moderate"),  # 67% positive but cv 2.59
        ([0.05, -0.02, 0.05, -0.03], "moderate"),  # 50% positive, cv 3.48
        ([0.03, -0.02, 0.03, -0.03], "unstable"),  # 50% positive, cv 12.8
        ([0.03, 0.03, -0.04, 0.03, 0.03, -0.04], "unstable"),  # 67% positive, cv 5.4
        ([-0.01, -0.02, -0.01], "unstable"),  # losing on average
        ([0.0, 0.0, 0.0], "unstable"),  # never traded
    ],
)
def test_rating_thresholds(returns, rating):
    assert stability(returns).rating == rating


def test_cv_edge_cases_and_json():
    assert math.isinf(stability([0.01, -0.01, 0.0]).cv)
    assert math.isnan(stability([0.0, 0.0, 0.0]).cv)
    empty = stability([])
    assert empty.windows == 0 and empty.rating == "insufficient"
    d = stability([0.01, -0.01, 0.0]).to_dict()
    assert d["cv"] is None and d["rating"] == "unstable"
    assert d["thresholds"]["robust"] == {"share_positive": 0.6, "cv": 2.0}
