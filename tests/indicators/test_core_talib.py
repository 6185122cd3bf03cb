"""Every indicator against TA-Lib (the independent reference) after warm-up.

Same NaN warm-up, values within 1e-9 relative, on seeded random walks,
hypothesis-generated series and the real candles in ../shared/data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

import tradpal.indicators as ti


def assert_matches(ours: np.ndarray, ref: np.ndarray, scale: float = 1.0) -> None:
    """Same NaN positions; |ours - ref| <= 1e-9 * |ref| (plus 1e-12 of the input scale)."""
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.dtype == np.float64 and ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="warm-up differs")
    m = ~np.isnan(ref)
    err = np.abs(ours[m] - ref[m])
    tol = 1e-9 * np.abs(ref[m]) + 1e-12 * scale
    assert (err <= tol).all(), f"max abs error {err.max()} at {np.flatnonzero(m)[err.argmax()]}"


# name -> (tradpal call, TA-Lib call, list of outputs compared pairwise)
CASES = {
    "sma": (lambda h, lo, c, v: ti.sma(c, 20), lambda h, lo, c, v: talib.SMA(c, 20)),
    "sma2": (lambda h, lo, c, v: ti.sma(c, 2), lambda h, lo, c, v: talib.SMA(c, 2)),
    "ema": (lambda h, lo, c, v: ti.ema(c, 9), lambda h, lo, c, v: talib.EMA(c, 9)),
    "ema50": (lambda h, lo, c, v: ti.ema(c, 50), lambda h, lo, c, v: talib.EMA(c, 50)),
    "wma": (lambda h, lo, c, v: ti.wma(c, 10), lambda h, lo, c, v: talib.WMA(c, 10)),
    "rsi": (lambda h, lo, c, v: ti.rsi(c), lambda h, lo, c, v: talib.RSI(c, 14)),
    "rsi2": (lambda h, lo, c, v: ti.rsi(c, 2), lambda h, lo, c, v: talib.RSI(c, 2)),
    "macd": (lambda h, lo, c, v: ti.macd(c), lambda h, lo, c, v: talib.MACD(c, 12, 26, 9)),
    "macd_swapped": (
        lambda h, lo, c, v: ti.macd(c, 26, 12, 5),
        lambda h, lo, c, v: talib.MACD(c, 26, 12, 5),
    ),
    "bollinger": (
        lambda h, lo, c, v: ti.bollinger(c, 20, 2.0)[:3],
        lambda h, lo, c, v: talib.BBANDS(c, 20, 2.0, 2.0, 0),
    ),
    "bollinger_1": (
        lambda h, lo, c, v: ti.bollinger(c, 10, 1.0)[:3],
        lambda h, lo, c, v: talib.BBANDS(c, 10, 1.0, 1.0, 0),
    ),
    "trange": (
        lambda h, lo, c, v: ti.true_range(h, lo, c),
        lambda h, lo, c, v: talib.TRANGE(h, lo, c),
    ),
    "atr": (lambda h, lo, c, v: ti.atr(h, lo, c), lambda h, lo, c, v: talib.ATR(h, lo, c, 14)),
    "atr1": (lambda h, lo, c, v: ti.atr(h, lo, c, 1), lambda h, lo, c, v: talib.ATR(h, lo, c, 1)),
    "adx": (
        lambda h, lo, c, v: ti.adx(h, lo, c),
        lambda h, lo, c, v: (
            talib.ADX(h, lo, c, 14),
            talib.PLUS_DI(h, lo, c, 14),
            talib.MINUS_DI(h, lo, c, 14),
        ),
    ),
    "adx5": (
        lambda h, lo, c, v: ti.adx(h, lo, c, 5),
        lambda h, lo, c, v: (
            talib.ADX(h, lo, c, 5),
            talib.PLUS_DI(h, lo, c, 5),
            talib.MINUS_DI(h, lo, c, 5),
        ),
    ),
    "stochastic": (
        lambda h, lo, c, v: ti.stochastic(h, lo, c),
        lambda h, lo, c, v: talib.STOCH(h, lo, c, 14, 3, 0, 3, 0),
    ),
    "stochastic_5_1_4": (
        lambda h, lo, c, v: ti.stochastic(h, lo, c, 5, 1, 4),
        lambda h, lo, c, v: talib.STOCH(h, lo, c, 5, 1, 0, 4, 0),
    ),
    "williams_r": (
        lambda h, lo, c, v: ti.williams_r(h, lo, c),
        lambda h, lo, c, v: talib.WILLR(h, lo, c, 14),
    ),
    "obv": (lambda h, lo, c, v: ti.obv(c, v), lambda h, lo, c, v: talib.OBV(c, v)),
}


def check_all(h, lo, c, v, names=CASES) -> None:
    scale = float(np.nanmax(np.abs(np.r_[h, lo, c])))
    for name in names:
        ours, ref = (f(h, lo, c, v) for f in CASES[name])
        ours = (ours,) if isinstance(ours, np.ndarray) else tuple(ours)
        ref = (ref,) if isinstance(ref, np.ndarray) else tuple(ref)
        assert len(ours) == len(ref), name
        for o, r in zip(ours, ref, strict=True):
            s = float(np.nanmax(np.abs(v))) if name == "obv" else scale
            try:
                assert_matches(o, r, s)
            except AssertionError as exc:
                raise AssertionError(f"{name}: {exc}") from None


def random_walk(n: int, seed: int, price: float = 100.0):
    rng = np.random.default_rng(seed)
    c = price * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.abs(rng.normal(0, 0.005, (2, n)))
    h = np.maximum(c * (1 + spread[0]), c)
    lo = np.minimum(c * (1 - spread[1]), c)
    v = rng.gamma(2.0, 500.0, n)
    return h, lo, c, v


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [60, 5000])
def test_random_walks_match_talib(seed: int, n: int) -> None:
    check_all(*random_walk(n, seed))


def test_high_priced_random_walk_matches_talib() -> None:
    check_all(*random_walk(3000, 7, price=60000.0))


def _load(shared_data, name: str) -> pd.DataFrame:
    path = shared_data / name
    return pd.read_csv(path) if name.endswith(".csv") else pd.read_feather(path)


@pytest.mark.parametrize(
    "name", ["BTCUSDT-1h.csv", "ETH_BTC-5m.feather", "XRP_USDT_USDT-5m-futures.feather"]
)
def test_real_candles_match_talib(shared_data, name: str) -> None:
    df = _load(shared_data, name)
    h, lo, c, v = (df[k].to_numpy(np.float64) for k in ("high", "low", "close", "volume"))
    check_all(h, lo, c, v)


def test_pandas_series_accepted(shared_data) -> None:
    df = _load(shared_data, "BTCUSDT-1h.csv")
    assert_matches(ti.rsi(df["close"]), talib.RSI(df["close"].to_numpy(), 14), 1e5)


def test_leading_nan_chains_like_talib() -> None:
    h, lo, c, _v = random_walk(400, 3)
    r = ti.rsi(c)
    assert_matches(ti.ema(r, 9), talib.EMA(talib.RSI(c, 14), 9), 100.0)
    assert_matches(ti.sma(r, 5), talib.SMA(talib.RSI(c, 14), 5), 100.0)
    assert int(np.isnan(ti.ema(r, 9)).sum()) == 14 + 8
    # several inputs: the computation starts where all of them are finite
    h2, l2 = h.copy(), lo.copy()
    h2[:3] = np.nan
    l2[:5] = np.nan
    assert_matches(ti.atr(h2, l2, c), talib.ATR(h2, l2, c, 14), 200.0)


steps = st.one_of(st.floats(0.0005, 0.08), st.floats(-0.08, -0.0005))


@settings(max_examples=60, deadline=None)
@given(
    r=st.lists(steps, min_size=2, max_size=160),
    spread=st.floats(0.0, 0.05),
    price=st.sampled_from([0.5, 37.0, 25_000.0]),
)
def test_hypothesis_series_match_talib(r: list[float], spread: float, price: float) -> None:
    c = price * np.exp(np.cumsum(r))
    n = len(c)
    wobble = np.sin(np.arange(n)) ** 2
    h = c * (1 + spread * wobble)
    lo = c * (1 - spread * (1 - wobble))
    v = 100.0 + 50.0 * np.cos(np.arange(n))
    # only indicators whose periods fit the series (TA-Lib answers NaN otherwise too)
    names = [k for k in CASES if n >= 60 or k in ("sma2", "rsi2", "trange", "atr1", "obv")]
    check_all(h, lo, c, v, names)
