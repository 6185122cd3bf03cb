"""The documented differences from TA-Lib, and the input rules (tradpal.indicators docstring)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import talib

import tradpal.indicators as ti
from tradpal.errors import TradPalError
from tradpal.indicators import IndicatorInputError

S = 2.0**20  # scaling by a power of two is exact, so it must not change any result


def walk(n: int = 300, seed: int = 5, price: float = 100.0):
    rng = np.random.default_rng(seed)
    c = price * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    h = c * (1 + np.abs(rng.normal(0, 0.004, n)))
    lo = c * (1 - np.abs(rng.normal(0, 0.004, n)))
    return h, lo, c


# ------------------------------------------------------------------ quirks --


def test_rsi_of_flat_window_is_neutral_50_not_talib_0() -> None:
    c = np.r_[np.linspace(10, 12, 20), np.full(40, 12.0)]
    ours, ref = ti.rsi(c, 14), talib.RSI(c, 14)
    assert ref[-1] == pytest.approx(100.0)  # Wilder averages never reach zero after a rise
    assert (ti.rsi(np.full(30, 5.0), 14)[14:] == 50.0).all()
    assert (talib.RSI(np.full(30, 5.0), 14)[14:] == 0.0).all()
    np.testing.assert_allclose(ours[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=1e-12)


def test_results_do_not_depend_on_the_price_unit() -> None:
    """No absolute zero thresholds (old TA-Lib's 1e-8): a token priced at 1e-9 gets the
    same RSI/DI/ADX as at 1e-9 * 2**20, bit for bit, and matches TA-Lib 0.6 at both."""
    h, lo, c = walk(price=1e-9)
    np.testing.assert_array_equal(ti.rsi(c), ti.rsi(c * S))
    assert np.nanmin(ti.rsi(c)) > 0.0
    np.testing.assert_allclose(ti.rsi(c), talib.RSI(c, 14), rtol=1e-9)
    a, b = ti.adx(h, lo, c), ti.adx(h * S, lo * S, c * S)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(a.adx, talib.ADX(h, lo, c, 14), rtol=1e-9)
    np.testing.assert_allclose(a.plus_di, talib.PLUS_DI(h, lo, c, 14), rtol=1e-9)
    bb, bs = ti.bollinger(c, 20, 2.0), ti.bollinger(c * S, 20, 2.0)
    np.testing.assert_array_equal(bb.upper * S, bs.upper)
    np.testing.assert_array_equal(bb.percent_b, bs.percent_b)
    assert (bb.upper[19:] > bb.lower[19:]).all()
    np.testing.assert_allclose(bb.upper, talib.BBANDS(c, 20, 2.0, 2.0, 0)[0], rtol=1e-9)


def test_adx_counts_a_tiny_but_nonzero_directional_move() -> None:
    """A DI sum below 1e-8 (old TA-Lib: undefined) is a real move, as TA-Lib 0.6 agrees."""
    h, lo, c = np.full(60, 101.0), np.full(60, 99.0), np.full(60, 100.0)
    h[40] += 1e-9
    np.testing.assert_allclose(ti.adx(h, lo, c, 5).adx, talib.ADX(h, lo, c, 5), rtol=1e-9)
    assert ti.adx(h, lo, c, 5).adx[45] > 50


def test_stochastic_and_williams_r_of_flat_window_are_midpoints() -> None:
    h = lo = c = np.full(40, 3.0)
    st = ti.stochastic(h, lo, c)
    assert (st.k[19:] == 50.0).all() and (st.d[19:] == 50.0).all()
    assert (talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)[0][19:] == 0.0).all()
    assert (ti.williams_r(h, lo, c)[13:] == -50.0).all()
    assert (talib.WILLR(h, lo, c, 14)[13:] == 0.0).all()


def test_bollinger_flat_window_has_zero_width_and_neutral_percent_b() -> None:
    c = np.r_[np.linspace(40000.1, 40100.7, 30), np.full(30, 40123.45)]
    bb = ti.bollinger(c, 20, 2.0)
    assert (bb.upper[-10:] == bb.lower[-10:]).all()
    assert (bb.bandwidth[-10:] == 0.0).all() and (bb.percent_b[-10:] == 0.5).all()
    cc = walk()[2]
    b = ti.bollinger(cc, 20, 2.0)
    m = ~np.isnan(b.middle)
    np.testing.assert_allclose(b.bandwidth[m], ((b.upper - b.lower) / b.middle)[m], rtol=1e-15)
    np.testing.assert_allclose(
        b.percent_b[m], ((cc - b.lower) / (b.upper - b.lower))[m], rtol=1e-12
    )


def test_macd_fast_ema_is_seeded_at_slow_minus_one_like_talib() -> None:
    c = walk()[2]
    m = ti.macd(c, 12, 26, 9)
    kf, ks, kg = 2 / 13, 2 / 27, 2 / 10
    ef, es = c[26 - 12 : 26].mean(), c[:26].mean()  # both EMAs start at index 25
    line = [ef - es]
    for x in c[26:]:
        ef, es = ef + kf * (x - ef), es + ks * (x - es)
        line.append(ef - es)
    signal = [np.mean(line[:9])]
    for x in line[9:]:
        signal.append(signal[-1] + kg * (x - signal[-1]))
    assert np.isnan(m.macd[:33]).all() and not np.isnan(m.macd[33])
    np.testing.assert_allclose(m.macd[33:], line[8:], rtol=0, atol=1e-10)
    np.testing.assert_allclose(m.signal[33:], signal, rtol=0, atol=1e-10)
    np.testing.assert_array_equal(m.hist[33:], (m.macd - m.signal)[33:])


def test_obv_starts_at_first_volume() -> None:
    c = np.array([1.0, 2.0, 2.0, 1.5, 3.0])
    v = np.array([10.0, 1.0, 5.0, 2.0, 4.0])
    np.testing.assert_array_equal(ti.obv(c, v), [10.0, 11.0, 11.0, 9.0, 13.0])


def test_warm_up_lengths() -> None:
    h, lo, c = walk(200)
    v = np.ones(200)
    lead = lambda a: int(np.isnan(a).sum())  # noqa: E731
    assert lead(ti.sma(c, 20)) == lead(ti.wma(c, 20)) == lead(ti.ema(c, 20)) == 19
    assert lead(ti.rsi(c, 14)) == lead(ti.atr(h, lo, c, 14)) == 14
    a = ti.adx(h, lo, c, 14)
    assert (lead(a.adx), lead(a.plus_di), lead(a.minus_di)) == (27, 14, 14)
    assert all(lead(x) == 25 + 8 for x in ti.macd(c))
    assert all(lead(x) == 13 + 2 + 2 for x in ti.stochastic(h, lo, c))
    assert lead(ti.williams_r(h, lo, c)) == 13 and lead(ti.cmf(h, lo, c, v, 20)) == 19
    assert lead(ti.rolling_volatility(c, 20)) == 20
    assert lead(ti.rsi(c, 200)) == 200  # warm-up longer than the data: all NaN


# ------------------------------------------------------------ input rules --


def raises(fn, match: str) -> IndicatorInputError:
    with pytest.raises(IndicatorInputError, match=match) as info:
        fn()
    err = info.value
    assert isinstance(err, TradPalError) and isinstance(err, ValueError) and err.hint
    return err


def test_nan_after_the_first_valid_value_names_its_index() -> None:
    c = walk()[2]
    c[50] = np.nan
    raises(lambda: ti.rsi(c), "close has NaN at index 50")
    h, lo, cc = walk()
    lo[77] = np.inf
    raises(lambda: ti.atr(h, lo, cc), "low has inf at index 77")
    c2 = walk()[2]
    c2[:5] = np.nan
    c2[100] = -np.inf
    raises(lambda: ti.ema(c2, 5), "index 100")


def test_all_nan_input_gives_all_nan() -> None:
    assert np.isnan(ti.sma(np.full(30, np.nan), 5)).all()


@pytest.mark.parametrize("period", [0, -3, 31])
def test_period_outside_one_to_length(period: int) -> None:
    raises(lambda: ti.sma(np.arange(30.0), period), "outside 1..30")


@pytest.mark.parametrize("period", [14.0, True, "14", None])
def test_period_must_be_an_integer(period) -> None:
    raises(lambda: ti.rsi(np.arange(30.0), period), "integer")


def test_period_one_is_the_identity_for_averages() -> None:
    c = walk(50)[2]
    np.testing.assert_array_equal(ti.sma(c, 1), c)
    np.testing.assert_array_equal(ti.ema(c, 1), c)
    np.testing.assert_array_equal(ti.wma(c, 1), c)


def test_numpy_integers_are_periods() -> None:
    c = walk(50)[2]
    np.testing.assert_array_equal(ti.sma(c, np.int64(5)), ti.sma(c, 5))


def test_inputs_of_different_lengths() -> None:
    h, lo, c = walk()
    raises(lambda: ti.atr(h, lo[:-1], c), "low has 299 values but high has 300")


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.array(["1", "2", "3"]), "non-numeric"),
        (np.array([1 + 1j, 2, 3]), "non-numeric"),
        (np.array(["2020-01-01"] * 3, dtype="datetime64[ns]"), "non-numeric"),
        (np.array([1.0, "x", 3.0], dtype=object), "not numbers"),
        (np.ones((3, 2)), "shape"),
        ([[1.0, 2.0], [3.0]], "cannot be read"),
    ],
)
def test_non_numeric_or_misshapen_input(bad, match: str) -> None:
    raises(lambda: ti.sma(bad, 2), match)


def test_empty_input_is_rejected() -> None:
    raises(lambda: ti.sma(np.array([]), 1), "outside 1..0")


def test_bollinger_multiplier_checked() -> None:
    c = walk()[2]
    raises(lambda: ti.bollinger(c, 20, -1.0), "k=")
    raises(lambda: ti.bollinger(c, 20, "2"), "number")


def test_integer_and_list_inputs_are_converted() -> None:
    assert ti.sma([1, 2, 3, 4], 2).tolist()[1:] == [1.5, 2.5, 3.5]
    assert ti.sma(np.array([1, 2, 3, 4], dtype=np.int32), 2)[3] == 3.5


def test_inputs_are_not_modified() -> None:
    h, lo, c = walk()
    copies = [a.copy() for a in (h, lo, c)]
    ti.adx(h, lo, c)
    ti.stochastic(h, lo, c)
    ti.bollinger(c)
    for a, b in zip((h, lo, c), copies, strict=True):
        np.testing.assert_array_equal(a, b)


def test_results_are_reproducible_bit_for_bit() -> None:
    h, lo, c = walk(5000, 11)
    a = [ti.adx(h, lo, c).adx, ti.rsi(c), ti.bollinger(c).upper, ti.stochastic(h, lo, c).d]
    b = [ti.adx(h, lo, c).adx, ti.rsi(c), ti.bollinger(c).upper, ti.stochastic(h, lo, c).d]
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()


def test_series_index_is_ignored_for_values() -> None:
    c = walk()[2]
    s = pd.Series(c, index=pd.date_range("2024", periods=len(c), freq="h", tz="UTC"))
    np.testing.assert_array_equal(ti.ema(s, 9), ti.ema(c, 9))


def test_import_does_not_load_pandas() -> None:
    code = "import sys, tradpal.indicators; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
