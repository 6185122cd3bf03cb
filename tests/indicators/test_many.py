"""Many-period functions: each row equals the single-period function bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tradpal.indicators as ti
from tradpal.indicators import IndicatorInputError


def walk(n: int, seed: int = 3):
    rng = np.random.default_rng(seed)
    c = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return c * 1.003, c * 0.996, c


PERIODS = [9, 2, 21, 1, 50, 21, 14, 7, 200]  # unsorted, a duplicate, a partial last block


def same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("lead", [0, 7])
def test_rows_equal_single_period_results(lead: int) -> None:
    h, lo, c = walk(1000)
    for a in (h, lo, c):
        a[:lead] = np.nan
    for many, one in ((ti.sma_many, ti.sma), (ti.ema_many, ti.ema), (ti.rsi_many, ti.rsi)):
        rows = many(c, PERIODS)
        assert rows.shape == (len(PERIODS), 1000)
        for r, p in enumerate(PERIODS):
            same(rows[r], one(c, p))
    rows = ti.atr_many(h, lo, c, PERIODS)
    for r, p in enumerate(PERIODS):
        same(rows[r], ti.atr(h, lo, c, p))
    bands = ti.bollinger_many(c, PERIODS, 1.5)
    for r, p in enumerate(PERIODS):
        for field, single in zip(bands, ti.bollinger(c, p, 1.5), strict=True):
            same(field[r], single)


def test_periods_longer_than_the_valid_data_give_nan_rows() -> None:
    c = walk(30)[2]
    rows = ti.rsi_many(c, [5, 29, 30])
    assert np.isnan(rows[2]).all() and np.isnan(rows[1, :29]).all() and rows[1, 29] > 0


def test_bad_periods_are_rejected() -> None:
    c = walk(30)[2]
    with pytest.raises(IndicatorInputError, match="periods\\[1\\]=31"):
        ti.ema_many(c, [3, 31])
    with pytest.raises(IndicatorInputError, match="empty"):
        ti.sma_many(c, [])
    with pytest.raises(IndicatorInputError, match="integer"):
        ti.sma_many(c, [2.5])


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 120),
    periods=st.lists(st.integers(1, 120), min_size=1, max_size=9),
    seed=st.integers(0, 10),
)
def test_rows_equal_single_hypothesis(n: int, periods: list[int], seed: int) -> None:
    h, lo, c = walk(n, seed)
    periods = [min(p, n) for p in periods]
    for r, p in enumerate(periods):
        same(ti.ema_many(c, periods)[r], ti.ema(c, p))
        same(ti.rsi_many(c, periods)[r], ti.rsi(c, p))
        same(ti.atr_many(h, lo, c, periods)[r], ti.atr(h, lo, c, p))
        same(ti.bollinger_many(c, periods).percent_b[r], ti.bollinger(c, p).percent_b)
