"""Display decimation and indicator placement of the report charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.indicators import bollinger, ema, macd, rsi
from tradpal.reports import ReportError
from tradpal.reports.charts import MAX_DISPLAY_BARS, Decimation, classify_indicators


def test_short_series_are_drawn_whole():
    dec = Decimation.for_length(MAX_DISPLAY_BARS)
    assert not dec.active and dec.k == 1
    y = np.arange(float(MAX_DISPLAY_BARS))
    assert np.array_equal(dec.line_indices(y), np.arange(MAX_DISPLAY_BARS))
    assert Decimation.for_length(MAX_DISPLAY_BARS + 1).k == 2


def test_aggregated_candles_equal_a_pandas_groupby():
    frame = generate_ohlcv(12_345, "5m", seed=3)
    dec = Decimation.for_length(len(frame))
    assert dec.active and dec.k == 3
    candles = dec.candles(frame)
    groups = frame.groupby(np.arange(len(frame)) // dec.k)
    assert len(candles) == groups.ngroups
    assert np.array_equal(candles.index, frame.index[:: dec.k])
    assert np.array_equal(candles["open"], groups["open"].first())
    assert np.array_equal(candles["high"], groups["high"].max())
    assert np.array_equal(candles["low"], groups["low"].min())
    assert np.array_equal(candles["close"], groups["close"].last())


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400),
    max_points=st.integers(1, 50),
    seed=st.integers(0, 2**16),
    nan_share=st.floats(0, 0.9),
)
def test_line_decimation_keeps_extremes_endpoints_and_order(n, max_points, seed, nan_share):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n).cumsum()
    y[rng.random(n) < nan_share] = np.nan
    dec = Decimation.for_length(n, max_points)
    keep = dec.line_indices(y)
    assert np.all(np.diff(keep) > 0) and keep[0] == 0 and keep[-1] == n - 1
    assert len(keep) <= 2 * len(dec.starts) + 2
    # every block's lowest and highest value survives (so does the series' min and max)
    for start in dec.starts:
        block = y[start : start + dec.k]
        if np.isfinite(block).any():
            kept = y[keep[(keep >= start) & (keep < start + dec.k)]]
            assert np.nanmin(kept) == np.nanmin(block) and np.nanmax(kept) == np.nanmax(block)


def test_indicators_go_to_the_price_panel_or_their_own():
    frame = generate_ohlcv(600, "1h", seed=5)
    close = frame["close"].to_numpy()
    bands = bollinger(close, 20, 2.0)
    m = macd(close, 12, 26, 9)
    indicators = {
        "ema_20": ema(close, 20),
        "bb_upper": bands.upper,
        "bb_lower": bands.lower,
        "rsi_14": rsi(close, 14),
        "macd": m.macd,
        "macd_signal": m.signal,
        "spread": close * 0.001,  # far below the price range: its own panel
    }
    overlays, panels = classify_indicators(indicators, frame)
    assert list(overlays) == ["ema_20", "bb_upper", "bb_lower"]
    assert list(panels) == ["rsi", "macd", "spread"]
    assert list(panels["macd"]) == ["macd", "macd_signal"]


def test_an_oscillator_stays_in_its_panel_when_prices_are_near_its_range():
    # A stock near 50: RSI values lie inside the price range, but RSI is a known oscillator.
    frame = generate_ohlcv(300, "1d", seed=2)
    scale = 50.0 / frame["close"].mean()
    frame[["open", "high", "low", "close"]] *= scale
    overlays, panels = classify_indicators({"RSI(14)": rsi(frame["close"].to_numpy(), 14)}, frame)
    assert overlays == {} and list(panels) == ["rsi"]


def test_an_indicator_of_the_wrong_length_is_a_clear_error():
    frame = generate_ohlcv(50, "1h", seed=1)
    with pytest.raises(ReportError, match="'sma' has shape \\(49,\\) for 50 bars"):
        classify_indicators({"sma": np.zeros(49)}, frame)


def test_decimation_of_an_empty_series():
    dec = Decimation.for_length(0)
    assert dec.k == 1 and len(dec.line_indices(np.array([]))) == 0
    assert isinstance(dec.candles(generate_ohlcv(1, "1h", seed=1).iloc[:0]), pd.DataFrame)
