"""Resampling against pandas, invariants (hypothesis) and the streaming resampler."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.data.contract import MarketMeta, ensure_ohlcv, get_meta, make_ohlcv
from tradpal.data.resample import (
    StreamingResampler,
    aggregate,
    last_bin_is_partial,
    resample_ohlcv,
)
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.errors import DataContractError
from tradpal.timeframes import TimeframeError, parse_timeframe


def _pandas_reference(frame: pd.DataFrame, tf: str) -> pd.DataFrame:
    t = parse_timeframe(tf)
    origin = pd.Timestamp(t.origin_seconds, unit="s", tz="UTC")
    agg = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    out = frame.resample(t.pandas_freq, origin=origin, label="left", closed="left").agg(agg)
    return out.dropna(subset=["open"])


@pytest.mark.parametrize("target", ["15m", "1h", "4h", "1d", "1w"])
def test_matches_pandas_resample_exactly(target):
    # Integer-valued volumes: sums are exact in any order, so equality is bit for bit.
    src = generate_ohlcv(3000, "5m", seed=11)
    src["volume"] = np.round(src["volume"])
    src = src.drop(index=src.index[100:180])  # a gap: empty bins are dropped, not filled
    ours = resample_ohlcv(src, target)
    ref = _pandas_reference(src, target)
    pd.testing.assert_frame_equal(ours, ref, check_freq=False, check_names=False)
    ensure_ohlcv(ours)
    meta = get_meta(ours)
    assert meta.timeframe == parse_timeframe(target).name and meta.source == "synthetic"
    assert meta.extra["resampled_from"] == "5m"


def test_weekly_bins_open_on_monday():
    out = resample_ohlcv(generate_ohlcv(60, "1d", seed=1), "1w")
    assert (out.index.day_of_week == 0).all()


def test_finer_or_non_multiple_target_is_refused():
    src = generate_ohlcv(10, "1h", seed=1)
    with pytest.raises(TimeframeError, match="finer"):
        resample_ohlcv(src, "15m")
    with pytest.raises(TimeframeError, match="multiple"):
        resample_ohlcv(generate_ohlcv(10, "3m", seed=1), "5m")


def test_same_timeframe_is_identity_and_bad_frames_are_refused():
    src = generate_ohlcv(10, "1h", seed=1)
    pd.testing.assert_frame_equal(resample_ohlcv(src, "1h"), src)
    with pytest.raises(DataContractError):
        resample_ohlcv(src.iloc[::-1], "4h")


def test_partial_last_bin():
    src = generate_ohlcv(30, "1h", seed=2)  # 2020-01-06 00:00 .. 05:00 of the second day
    assert last_bin_is_partial(src, "1d")
    full = resample_ohlcv(src, "1d")
    trimmed = resample_ohlcv(src, "1d", drop_partial_last=True)
    assert len(full) == 2 and len(trimmed) == 1
    assert not last_bin_is_partial(src.iloc[:24], "1d")


@settings(max_examples=50, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    drop=st.lists(st.integers(0, 399), max_size=40),
    target=st.sampled_from(["15m", "1h", "4h", "1d"]),
)
def test_invariants(seed, n, drop, target):
    src = generate_ohlcv(n, "5m", seed=seed)
    src = src.drop(index=src.index[sorted({d for d in drop if d < n})])
    if src.empty:
        return
    out = resample_ohlcv(src, target)
    ensure_ohlcv(out)
    assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
    assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
    assert np.isclose(out["volume"].sum(), src["volume"].sum(), rtol=1e-12)
    assert out["high"].max() == src["high"].max() and out["low"].min() == src["low"].min()
    assert out["open"].iloc[0] == src["open"].iloc[0]
    assert out["close"].iloc[-1] == src["close"].iloc[-1]
    tf = parse_timeframe(target)
    assert (out.index.asi8 % tf.nanoseconds == 0).all()
    assert len(out) == len(np.unique(tf.floor_ns(src.index.asi8)))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), cuts=st.lists(st.integers(1, 999), max_size=8))
def test_streaming_equals_one_pass(seed, cuts):
    src = generate_ohlcv(1000, "1m", seed=seed)
    cols = (src.index.asi8, *(src[c].to_numpy() for c in src.columns))
    one = aggregate(cols, parse_timeframe("15m"))
    rs = StreamingResampler(parse_timeframe("15m"))
    parts = []
    edges = [0, *sorted(set(cuts)), 1000]
    for a, b in itertools.pairwise(edges):
        parts.append(rs.push(tuple(c[a:b] for c in cols)))
    parts.append(rs.finish())
    streamed = [np.concatenate(x) for x in zip(*parts, strict=True)]
    np.testing.assert_array_equal(streamed[0], one[0])
    for got, want in zip(streamed[1:5], one[1:5], strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(streamed[5], one[5], rtol=1e-12)


def test_streaming_refuses_chunks_out_of_order():
    f = make_ohlcv(pd.date_range("2024-01-01", periods=4, freq="1min", tz="UTC"),
                   [1.0] * 4, [1.0] * 4, [1.0] * 4, [1.0] * 4, [1.0] * 4,
                   meta=MarketMeta("X/Y", "1m", "t"))  # fmt: skip
    cols = (f.index.asi8, *(f[c].to_numpy() for c in f.columns))
    rs = StreamingResampler(parse_timeframe("1h"))
    rs.push(tuple(c[2:] for c in cols))
    with pytest.raises(DataContractError, match="ascending"):
        rs.push(tuple(c[:2] for c in cols))
