"""CMF, VWAP, rolling volatility and Fibonacci swings against plain pandas/numpy references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tradpal.indicators as ti
from tradpal.indicators import IndicatorInputError


def bars(n: int = 600, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    idx = pd.date_range("2024-03-01 05:00", periods=n, freq="15min", tz="UTC", name="time")
    return pd.DataFrame(
        {
            "high": c * (1 + np.abs(rng.normal(0, 0.004, n))),
            "low": c * (1 - np.abs(rng.normal(0, 0.004, n))),
            "close": c,
            "volume": rng.gamma(2.0, 10.0, n),
        },
        index=idx,
    )


def test_cmf_matches_pandas_reference() -> None:
    f = bars()
    f.loc[f.index[10], ["high", "low", "close"]] = 100.0  # a bar with high == low
    mfv = ((f.close - f.low) - (f.high - f.close)) / (f.high - f.low) * f.volume
    mfv = mfv.where(f.high != f.low, 0.0)
    ref = mfv.rolling(20).sum() / f.volume.rolling(20).sum()
    np.testing.assert_allclose(ti.cmf(f.high, f.low, f.close, f.volume, 20), ref, atol=1e-12)


def test_cmf_without_volume_is_zero() -> None:
    f = bars(50)
    assert (ti.cmf(f.high, f.low, f.close, np.zeros(50), 5)[4:] == 0.0).all()


def test_rolling_vwap_matches_pandas_reference() -> None:
    f = bars()
    tp = (f.high + f.low + f.close) / 3
    ref = (tp * f.volume).rolling(30).sum() / f.volume.rolling(30).sum()
    np.testing.assert_allclose(ti.vwap(f.high, f.low, f.close, f.volume, 30), ref, rtol=1e-12)


def test_session_vwap_resets_each_utc_day() -> None:
    f = bars()
    tp = (f.high + f.low + f.close) / 3
    day = f.index.floor("1D")
    ref = (tp * f.volume).groupby(day).cumsum() / f.volume.groupby(day).cumsum()
    ours = ti.vwap(f.high, f.low, f.close, f.volume)  # times from the Series index
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    first_of_day = np.flatnonzero(day[1:] != day[:-1]) + 1
    np.testing.assert_allclose(ours[first_of_day], tp.to_numpy()[first_of_day], rtol=1e-15)
    same = ti.vwap(f.high.to_numpy(), f.low, f.close, f.volume, time=f.index)
    np.testing.assert_array_equal(ours, same)
    np.testing.assert_array_equal(
        ours, ti.vwap(*f.T.to_numpy(), time=f.index.tz_convert(None).to_numpy())
    )
    labels = np.asarray(day.strftime("%Y-%m-%d"))
    np.testing.assert_array_equal(ours, ti.vwap(*f.T.to_numpy(), session=labels))


def test_session_vwap_other_anchor() -> None:
    f = bars()
    tp = (f.high + f.low + f.close) / 3
    key = f.index.floor("4h")
    ref = (tp * f.volume).groupby(key).cumsum() / f.volume.groupby(key).cumsum()
    np.testing.assert_allclose(ti.vwap(*f.T.to_numpy(), time=f.index, anchor="4h"), ref, rtol=1e-12)


def test_vwap_argument_errors() -> None:
    f = bars(50)
    arrays = f.T.to_numpy()
    with pytest.raises(IndicatorInputError, match="needs bar times"):
        ti.vwap(*arrays)
    with pytest.raises(IndicatorInputError, match="not both"):
        ti.vwap(*arrays, 10, session=np.zeros(50))
    with pytest.raises(IndicatorInputError, match="one label per bar"):
        ti.vwap(*arrays, session=np.zeros(3))
    with pytest.raises(IndicatorInputError, match="dtype"):
        ti.vwap(*arrays, time=np.array(["x"] * 50))


def test_vwap_without_volume_is_nan() -> None:
    f = bars(10)
    out = ti.vwap(f.high, f.low, f.close, np.zeros(10), 3)
    assert np.isnan(out).all()


def test_rolling_volatility_matches_pandas() -> None:
    f = bars(2000)
    ret = np.log(f.close / f.close.shift(1))
    ref = ret.rolling(30).std(ddof=1)
    np.testing.assert_allclose(ti.rolling_volatility(f.close, 30), ref, rtol=1e-9)
    ref0 = ret.rolling(30).std(ddof=0) * np.sqrt(365 * 96)
    ours = ti.rolling_volatility(f.close, 30, annualize="15m", ddof=0)
    np.testing.assert_allclose(ours, ref0, rtol=1e-9)
    np.testing.assert_allclose(
        ti.rolling_volatility(f.close, 30, annualize=252), ref * np.sqrt(252), rtol=1e-9
    )


def test_rolling_volatility_of_flat_prices_is_exactly_zero() -> None:
    c = np.r_[np.linspace(100, 110, 20), np.full(40, 110.0)]
    assert (ti.rolling_volatility(c, 10)[-20:] == 0.0).all()


def test_rolling_volatility_errors() -> None:
    with pytest.raises(IndicatorInputError, match="non-positive"):
        ti.rolling_volatility(np.r_[1.0, 2.0, 0.0, 3.0], 2)
    with pytest.raises(IndicatorInputError, match="annualize"):
        ti.rolling_volatility(np.arange(1.0, 30.0), 5, annualize=-1)
    with pytest.raises(IndicatorInputError, match="degrees of freedom"):
        ti.rolling_volatility(np.arange(1.0, 30.0), 1)


def test_swings_hand_example_and_confirmation_delay() -> None:
    high = np.array([1, 2, 3, 9, 4, 3, 2, 5, 6, 7, 8, 7, 6], dtype=float)
    low = high - 0.5
    low[6] = 0.1  # swing low at 6
    sw = ti.swings(high, low, width=2)
    # the high at bar 3 is confirmed at bar 5; the low at bar 6 at bar 8
    assert np.isnan(sw.high[:5]).all() and (sw.high[5:12] == 9.0).all()
    assert (sw.high_index[5:10] == 3).all() and sw.high_index[4] == -1
    assert (sw.low_index[8:] == 6).all() and (sw.low[8:] == 0.1).all()
    assert sw.high_index[12] == 10  # the high at 10 (8) is confirmed at 12
    fib = ti.fibonacci(high, low, width=2, retracements=(0.5,), extensions=(1.618,))
    # at bar 8: leg from the high 9 (bar 3) down to the low 0.1 (bar 6)
    assert fib.trend[8] == -1.0
    assert fib.retracement[0, 8] == pytest.approx(0.1 + 0.5 * 8.9)
    assert fib.extension[0, 8] == pytest.approx(9 - 1.618 * 8.9)
    # at bar 12: the newer high (8 at bar 10) makes an up-leg from 0.1
    assert fib.trend[12] == 1.0
    assert fib.retracement[0, 12] == pytest.approx(8 - 0.5 * 7.9)
    assert np.isnan(fib.retracement[:, :8]).all() and np.isnan(fib.trend[:8]).all()


def test_equal_highs_count_the_first_as_the_swing() -> None:
    high = np.array([1, 2, 5, 5, 2, 1, 1], dtype=float)
    sw = ti.swings(high, high - 1, width=2)
    assert sw.high_index[-1] == 2


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(-1.0, 1.0), min_size=5, max_size=80),
    width=st.integers(1, 4),
    cut=st.integers(1, 80),
)
def test_fibonacci_has_no_look_ahead(steps: list[float], width: int, cut: int) -> None:
    c = 100 + np.cumsum(steps)
    h, lo = c + 0.5, c - 0.5
    cut = min(cut, len(c))
    if cut < width:
        return
    full = ti.fibonacci(h, lo, width)
    part = ti.fibonacci(h[:cut], lo[:cut], width)
    np.testing.assert_array_equal(part.retracement, full.retracement[:, :cut])
    np.testing.assert_array_equal(part.extension, full.extension[:, :cut])
    np.testing.assert_array_equal(part.trend, full.trend[:cut])
