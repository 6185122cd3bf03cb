"""Numerical stability of the sliding-window kernels against exact per-window references.

Bollinger Bands, rolling volatility, WMA and SMA on every real candle file in
``../shared/data`` (the 30-minute file through the importer's repair policy: its
rows are in descending order and it has no volume) for periods 2, 3, 5, 10, 20
and 50, plus long and adversarial synthetic series and hypothesis-generated ones.

What is asserted, and why:

* The reference for a standard deviation is an exact two-pass computation per
  window (:func:`exact_mean_std`: ``math.fsum`` sums, deviations about that mean,
  the corrected two-pass formula), not TA-Lib: TA-Lib's BBANDS is itself a
  running mean of squares minus squared mean, which loses up to ~(price / std)^2
  in cancellation (3e-6 relative on ETH/BTC 5m at period 2), so where the two
  disagree TA-Lib is the less exact one. The hypothesis tests use exact rational
  arithmetic (:func:`fraction_std`); :func:`test_fsum_reference_is_exact` checks
  the fsum reference against it.
* A std must be within ``1e-9 * exact + 1e-12 * level``, the level being the
  largest magnitude in the window (the price). The floor is needed because a std
  read back from band prices, ``(upper - lower) / (2 k)``, carries the rounding of
  those prices (~1e-16 of the price); 1e-12 of the price is four digits above that
  and still ~1e-5 of a one-tick spread on every file here. The kernel's own error
  is ~1e-11 relative by construction (measured below 4e-13).
* Band prices (upper, middle, lower) must equal TA-Lib's within 1e-9 of the price
  level (TA-Lib's std error is well inside that on these files) and the exact
  ones within the same. %B and bandwidth carry the std tolerance through their
  formulas (see :func:`check_bands`). A window of equal values has std exactly 0,
  middle exactly that value, %B exactly 0.5.
* Moving averages must be within 1e-9 relative of an exact ``fsum`` reference and
  of TA-Lib (no cancellation there: any exact method agrees to ~1e-15).

The old kernels (running sums over the whole series, a windowed Welford update)
fail these: Bollinger stds off by 90 % at period 2 and 100 % at period 3 on
ETH/BTC, volatility by 1.4e-3 at period 2 on XRP/USDT, WMA by 1.6e-8 after
200,000 bars, a window without volume after traded ones averaging +-1e-14.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import talib
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import sliding_window_view

import tradpal.indicators as ti
from tradpal.backtest.engine import engine_volatility
from tradpal.data.importers import import_ohlcv

FILES = {
    "BTCUSDT-1h.csv": {},
    # descending rows and no volume column: the importer sorts them and sets volume 0
    "BTCUSDT-30min.csv": {"policy": "repair"},
    "ETH_BTC-5m.feather": {},
    "XRP_USDT_USDT-5m-futures.feather": {},
}
PERIODS = [2, 3, 5, 10, 20, 50]
REL = 1e-9  # relative tolerance against an exact reference
FLOOR = 1e-12  # absolute floor for a std, as a fraction of the window's level


@cache
def _candles(folder: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    frame, _report = import_ohlcv(Path(folder) / name, **FILES[name])
    return (
        np.ascontiguousarray(frame["close"].to_numpy(np.float64)),
        np.ascontiguousarray(frame["volume"].to_numpy(np.float64)),
    )


def candles(shared_data: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Close and volume of a shared file, loaded through the project's importer."""
    return _candles(str(shared_data), name)


def fsum_rows(a: np.ndarray) -> np.ndarray:
    return np.array([math.fsum(row) for row in a])


def exact_mean_std(x: np.ndarray, period: int, ddof: int = 0) -> tuple[np.ndarray, ...]:
    """Per window ending at period-1..n-1: mean, std, level (max |x|) and flatness.

    Two passes: the mean from a correctly rounded sum (``math.fsum``), then the
    corrected two-pass sum of squared deviations ``fsum(d^2) - fsum(d)^2 / period``,
    whose correction term removes the first-order effect of the mean's rounding.
    Each window's std is exact to a few ulp; an all-equal window is exactly 0.
    """
    w = sliding_window_view(x, period)
    mean = fsum_rows(w) / period
    d = w - mean[:, None]
    ss = fsum_rows(d * d) - fsum_rows(d) ** 2 / period
    flat = w.min(axis=1) == w.max(axis=1)
    std = np.where(flat, 0.0, np.sqrt(np.maximum(ss, 0.0) / (period - ddof)))
    return mean, std, np.abs(w).max(axis=1), flat


def fraction_std(x: np.ndarray, period: int, ddof: int = 0) -> np.ndarray:
    """The std of each window in exact rational arithmetic (then one sqrt)."""
    fx = [Fraction(float(v)) for v in x]
    out = []
    for i in range(period - 1, len(fx)):
        w = fx[i - period + 1 : i + 1]
        m = sum(w) / period
        out.append(math.sqrt(sum((v - m) ** 2 for v in w) / (period - ddof)))
    return np.array(out)


def assert_std(ours: np.ndarray, exact: np.ndarray, level: np.ndarray, what: str) -> None:
    """|ours - exact| <= 1e-9 * exact + 1e-12 * level, elementwise."""
    err = np.abs(ours - exact)
    tol = REL * exact + FLOOR * level
    bad = np.flatnonzero(~(err <= tol))
    assert bad.size == 0, (
        f"{what}: {bad.size} windows off, worst at {bad[np.argmax((err / tol)[bad])]}: "
        f"max error {np.max(err / tol):.3g} x tolerance"
    )


def check_bands(c: np.ndarray, period: int, k: float, exact: tuple[np.ndarray, ...]) -> None:
    """Bollinger(c, period, k) against TA-Lib and ``exact = exact_mean_std(c, period)``."""
    bb = ti.bollinger(c, period, k)
    tu, tm, tl = talib.BBANDS(c, period, k, k, 0)
    for ours, ref in zip(bb[:3], (tu, tm, tl), strict=True):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    s = slice(period - 1, None)
    mean, std, level, flat = exact
    up, mid, lo, bw, pb = (a[s] for a in bb)
    # band prices: TA-Lib's and the exact ones, within 1e-9 of the price level
    for ours, talib_band, exact_band, name in (
        (up, tu[s], mean + k * std, "upper"),
        (mid, tm[s], mean, "middle"),
        (lo, tl[s], mean - k * std, "lower"),
    ):
        assert np.all(np.abs(ours - talib_band) <= REL * level), f"{name} vs TA-Lib"
        assert np.all(np.abs(ours - exact_band) <= REL * level), f"{name} vs exact"
    if k > 0:
        assert_std((up - lo) / (2 * k), std, level, f"std at period {period}")
    # flat windows: exactly zero width at exactly the value
    assert np.all(up[flat] == c[s][flat]) and np.all(lo[flat] == c[s][flat])
    assert np.all(mid[flat] == c[s][flat])
    assert np.all(bw[flat] == 0.0) and np.all(pb[flat] == 0.5)
    # %B = (x - lower) / (upper - lower): a band error e moves it by at most
    # e (1 + 2 |%B|) / (2 k std); e is the std tolerance times k plus the price's rounding
    live = ~flat & (std > 0)
    ref_pb = (c[s][live] - (mean[live] - k * std[live])) / (2 * k * std[live])
    tol_pb = REL * (1 + np.abs(ref_pb)) + FLOOR * level[live] * (1 + 2 * np.abs(ref_pb)) / std[live]
    assert np.all(np.abs(pb[live] - ref_pb) <= tol_pb), "%B vs exact"
    ref_bw = 2 * k * std / mean
    assert np.all(np.abs(bw - ref_bw) <= REL * ref_bw + 2 * k * FLOOR * level / mean), "bandwidth"


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("name", list(FILES))
def test_bollinger_is_exact_on_real_candles(shared_data: Path, name: str, period: int) -> None:
    """Bands equal TA-Lib's within 1e-9 of the price; the std equals the exact two-pass
    std (not TA-Lib's, which is the less exact one at tiny spreads) to 1e-9 relative."""
    c, _v = candles(shared_data, name)
    exact = exact_mean_std(c, period)
    check_bands(c, period, 2.0, exact)
    check_bands(c, period, 1.0, exact)


@pytest.mark.parametrize("name", list(FILES))
def test_bollinger_many_rows_equal_single_on_real_candles(shared_data: Path, name: str) -> None:
    """Recomputations happen per lane exactly as in the single kernel: bit for bit."""
    c, _v = candles(shared_data, name)
    many = ti.bollinger_many(c, PERIODS, 2.0)
    for r, p in enumerate(PERIODS):
        for field, single in zip(many, ti.bollinger(c, p, 2.0), strict=True):
            assert field[r].tobytes() == single.tobytes()
    sma = ti.sma_many(c, PERIODS)
    for r, p in enumerate(PERIODS):
        assert sma[r].tobytes() == ti.sma(c, p).tobytes()


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("name", list(FILES))
def test_rolling_volatility_is_exact_on_real_candles(
    shared_data: Path, name: str, period: int
) -> None:
    """The std of log returns (ddof 1 and 0) equals the exact two-pass std of the same
    returns (libm's log, as the kernel takes it) within 1e-9 + 1e-12 of the largest
    return in the window; equal returns give exactly 0."""
    c, _v = candles(shared_data, name)
    r = np.array([math.log(a / b) for a, b in zip(c[1:], c[:-1], strict=True)])
    for ddof in (1, 0):
        vol = ti.rolling_volatility(c, period, ddof=ddof)
        assert np.isnan(vol[:period]).all() and not np.isnan(vol[period:]).any()
        _mean, std, level, flat = exact_mean_std(r, period, ddof)
        assert np.all(vol[period:][flat] == 0.0)
        assert_std(vol[period:], std, level, f"volatility ddof={ddof}")
    # the backtest's leverage clamp uses the same kernel
    np.testing.assert_array_equal(
        engine_volatility(c, period, 8760.0), ti.rolling_volatility(c, period, annualize=8760.0)
    )


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize("name", list(FILES))
def test_moving_averages_are_exact_on_real_candles(
    shared_data: Path, name: str, period: int
) -> None:
    """WMA and SMA within 1e-9 relative of exact fsum references and of TA-Lib."""
    c, _v = candles(shared_data, name)
    s = slice(period - 1, None)
    w = sliding_window_view(c, period)
    weights = np.arange(1.0, period + 1)
    exact_wma = fsum_rows(w * weights) / weights.sum()
    exact_sma = fsum_rows(w) / period
    for ours, talib_ref, exact, what in (
        (ti.wma(c, period), talib.WMA(c, period), exact_wma, "wma"),
        (ti.sma(c, period), talib.SMA(c, period), exact_sma, "sma"),
    ):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(talib_ref))
        assert np.all(np.abs(ours[s] - exact) <= REL * np.abs(exact)), f"{what} vs exact"
        assert np.all(np.abs(ours[s] - talib_ref[s]) <= REL * np.abs(talib_ref[s])), what


@pytest.mark.parametrize("period", [2, 5, 20])
def test_wma_does_not_drift_over_a_long_series(period: int) -> None:
    """TA-Lib's running WMA lets the plain sum's error re-enter every bar (1.6e-8 at
    period 2 after 200,000 bars); recomputed every R bars it stays at ~1e-13.
    Reference: a dot product per window (error ~period ulp for positive prices)."""
    rng = np.random.default_rng(11)
    c = 30000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, 200_000)))
    weights = np.arange(1.0, period + 1)
    exact = sliding_window_view(c, period) @ weights / weights.sum()
    ours = ti.wma(c, period)[period - 1 :]
    assert np.max(np.abs(ours - exact) / exact) < 1e-12


def test_window_sums_are_exact_after_a_volume_collapse() -> None:
    """Running sums keep earlier windows' rounding residue: after heavy volume a window
    of tiny volume was off by 2e-7 and a window without any was +-1e-14 (a VWAP of
    residues, a negative average volume). Now each is exact: 0, NaN, 0."""
    rng = np.random.default_rng(1)
    v = np.r_[rng.gamma(2.0, 1e6, 100), rng.gamma(2.0, 1e-2, 100), np.zeros(10), [1000.1, 0.3]]
    v = np.r_[v, np.zeros(5)]
    c = 100.0 + np.cumsum(rng.normal(0.0, 1.0, v.size))
    h, lo = c + 1.0, c - 1.5
    p = 3
    w = sliding_window_view(v, p)
    sv = fsum_rows(w)
    live = sv > 0
    sma = ti.sma(v, p)[p - 1 :]
    assert np.all(np.abs(sma[live] - sv[live] / p) <= REL * sv[live] / p)
    assert np.all(sma[~live] == 0.0)
    tp = (h + lo + c) / 3.0
    spv = fsum_rows(sliding_window_view(tp * v, p))
    vwap = ti.vwap(h, lo, c, v, p)[p - 1 :]
    assert np.all(np.abs(vwap[live] - spv[live] / sv[live]) <= REL * spv[live] / sv[live])
    assert np.isnan(vwap[~live]).all()
    cmf = ti.cmf(h, lo, c, v, p)[p - 1 :]
    assert np.all(cmf[~live] == 0.0)
    rng_ = h - lo
    mfv = ((c - lo) - (h - c)) / rng_ * v
    ref = fsum_rows(sliding_window_view(mfv, p))[live] / sv[live]
    assert np.all(np.abs(cmf[live] - ref) <= 1e-12)


steps = st.integers(-3, 3)


@settings(max_examples=60, deadline=None)
@given(
    level=st.sampled_from([0.0935, 1.1, 1e6, 68_000.0, 3.7e9]),
    tick=st.sampled_from([1e-8, 1e-6, 1e-3]),
    history=st.lists(st.floats(-0.3, 0.3), min_size=0, max_size=60),
    path=st.lists(steps, min_size=20, max_size=150),
    flat=st.integers(0, 30),
    period=st.integers(2, 20),
)
def test_huge_level_tiny_spread_std_is_exact(
    level: float, tick: float, history: list[float], path: list[int], flat: int, period: int
) -> None:
    """A volatile stretch, then a huge level with a spread of a few ticks (relative to
    the level) and a constant run: the std equals the exact rational one within
    1e-9 + 1e-12 of the level, and exactly 0 with the middle band at the value on
    every constant window; the many-periods kernel agrees bit for bit."""
    quiet = level * (1.0 + tick * np.cumsum(path))
    x = np.r_[level * (1.0 + np.asarray(history)), quiet, np.full(flat, quiet[-1])]
    bb = ti.bollinger(x, period, 1.0)
    s = slice(period - 1, None)
    exact = fraction_std(x, period)
    w = sliding_window_view(x, period)
    lvl = np.abs(w).max(axis=1)
    assert_std((bb.upper[s] - bb.lower[s]) / 2.0, exact, lvl, "bollinger std")
    const = w.min(axis=1) == w.max(axis=1)
    assert np.all(bb.upper[s][const] == x[s][const]) and np.all(bb.lower[s][const] == x[s][const])
    assert np.all(bb.middle[s][const] == x[s][const])
    many = ti.bollinger_many(x, [period, 2], 1.0)
    assert many.upper[0].tobytes() == bb.upper.tobytes()
    assert many.percent_b[0].tobytes() == bb.percent_b.tobytes()


@settings(max_examples=40, deadline=None)
@given(
    level=st.sampled_from([1e-6, 0.5, 25_000.0, 1e6]),
    tick=st.sampled_from([1e-9, 1e-6, 1e-4]),
    history=st.lists(st.floats(-0.2, 0.2), min_size=0, max_size=40),
    path=st.lists(steps, min_size=20, max_size=120),
    period=st.integers(2, 15),
)
def test_volatility_of_tiny_returns_is_exact(
    level: float, tick: float, history: list[float], path: list[int], period: int
) -> None:
    """Big moves, then returns of a few ticks and runs of equal returns (a constant
    step): the std of log returns equals the exact rational one of the same returns
    within 1e-9 + 1e-12 of the largest return in the window, 0 where all are equal."""
    prices = np.r_[level * np.exp(np.cumsum(history)), level * np.exp(tick * np.cumsum(path))]
    assume(prices.size > period)
    vol = ti.rolling_volatility(prices, period, ddof=0)[period:]
    r = np.array([math.log(a / b) for a, b in zip(prices[1:], prices[:-1], strict=True)])
    w = sliding_window_view(r, period)
    exact = fraction_std(r, period)
    assert_std(vol, exact, np.abs(w).max(axis=1), "volatility")
    assert np.all(vol[w.min(axis=1) == w.max(axis=1)] == 0.0)


def test_constant_series_has_zero_std_everywhere() -> None:
    for value in (0.1, 40123.45, 3.0e9, 7e-7):
        x = np.full(300, value)
        for p in PERIODS:
            bb = ti.bollinger(x, p, 2.0)
            assert np.all(bb.upper[p - 1 :] == value) and np.all(bb.lower[p - 1 :] == value)
            assert np.all(bb.middle[p - 1 :] == value)
            assert np.all(bb.percent_b[p - 1 :] == 0.5) and np.all(bb.bandwidth[p - 1 :] == 0)
            vol = ti.rolling_volatility(x, p)
            assert np.all(vol[p:] == 0.0)


def test_fsum_reference_is_exact() -> None:
    """The two-pass fsum reference agrees with exact rational arithmetic to ~1e-15 on
    the hard case (a huge level with tick-sized spreads after big moves)."""
    rng = np.random.default_rng(4)
    x = np.r_[1e6 * (1 + 0.2 * rng.normal(size=80)), 1e6 + 1e-4 * rng.integers(-3, 4, 200)]
    for p in (2, 5, 20):
        _mean, std, level, _flat = exact_mean_std(x, p)
        exact = fraction_std(x, p)
        assert np.all(np.abs(std - exact) <= 1e-14 * exact + 1e-20 * level)
