"""The feature API of tradpal.ml.features: names and dtypes, values equal to the library's
indicators and to TA-Lib on the real BTC 1h candles in ../shared/data, warm-up NaN never
filled, higher-timeframe columns hand-checked against closed 4h bars, the look-ahead
check passing on the built-in set and flagging a planted leak, and the spec parser's
errors. Hypothesis: truncation invariance of the return/volatility/volume features on
random walks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.data.contract import make_ohlcv
from tradpal.data.importers import import_binance_klines
from tradpal.data.resample import resample_ohlcv
from tradpal.errors import ConfigError
from tradpal.indicators import atr, bollinger, ema, rolling_volatility, rsi
from tradpal.ml.features import (
    DEFAULT_FEATURE_SET,
    KINDS,
    FeatureKind,
    FeatureSet,
    build_features,
    lookahead_violations,
    parse_feature_set,
)


@pytest.fixture(scope="module")
def btc(shared_data) -> pd.DataFrame:
    frame, _ = import_binance_klines(shared_data / "BTCUSDT-1h.csv")
    return frame


@pytest.fixture(scope="module")
def btc_features(btc) -> pd.DataFrame:
    return build_features(btc, DEFAULT_FEATURE_SET)


def walk(close: np.ndarray, volume: np.ndarray | None = None, freq: str = "1h") -> pd.DataFrame:
    """An OHLCV frame around ``close``: open the previous close, high/low 0.5% outside."""
    close = np.asarray(close, dtype=np.float64)
    open_ = np.r_[close[:1], close[:-1]]
    high = np.maximum(open_, close) * 1.005
    low = np.minimum(open_, close) * 0.995
    vol = np.ones(len(close)) if volume is None else np.asarray(volume, dtype=np.float64)
    time = pd.date_range("2024-01-01", periods=len(close), freq=freq, tz="UTC")
    return make_ohlcv(time, open_, high, low, close, vol)


# --- names, dtypes, the index -------------------------------------------------------------


def test_columns_are_named_float64_on_the_frames_index(btc, btc_features) -> None:
    f = btc_features
    base = [
        "ret_1",
        "ret_3",
        "ret_12",
        "vol_24",
        "volume_z_24",
        "rvol_24",
        "rsi_7",
        "rsi_14",
        "atr_14",
        "ema_dist_9",
        "ema_dist_21",
        "bb_pctb_20",
    ]
    assert list(f.columns) == base + [f"{c}@4h" for c in base]
    assert list(f.columns) == DEFAULT_FEATURE_SET.columns()
    assert f.index.equals(btc.index)
    assert (f.dtypes == np.float64).all()


def test_feature_set_order_and_several_timeframes() -> None:
    fs = parse_feature_set("rsi:14,7 ret:2 @4h,1d")
    assert fs.columns() == [
        "rsi_14",
        "rsi_7",
        "ret_2",
        "rsi_14@4h",
        "rsi_7@4h",
        "ret_2@4h",
        "rsi_14@1d",
        "rsi_7@1d",
        "ret_2@1d",
    ]


# --- values: the library's indicators and TA-Lib ------------------------------------------


def test_indicator_features_equal_the_library_bit_for_bit(btc, btc_features) -> None:
    f, h, lo, c = btc_features, btc["high"].to_numpy(), btc["low"].to_numpy(), btc["close"]
    c = c.to_numpy()
    same = {
        "rsi_7": rsi(c, 7),
        "rsi_14": rsi(c, 14),
        "atr_14": atr(h, lo, c, 14) / c,
        "ema_dist_9": c / ema(c, 9) - 1.0,
        "ema_dist_21": c / ema(c, 21) - 1.0,
        "bb_pctb_20": bollinger(c, 20, 2.0).percent_b,
        "vol_24": rolling_volatility(c, 24),
    }
    for name, expected in same.items():
        np.testing.assert_array_equal(f[name].to_numpy(), expected, err_msg=name)


def test_indicator_features_equal_talib(btc, btc_features) -> None:
    f, h, lo, c = btc_features, btc["high"].to_numpy(), btc["low"].to_numpy(), btc["close"]
    c = c.to_numpy()
    upper, _, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    expected = {
        "rsi_7": talib.RSI(c, 7),
        "rsi_14": talib.RSI(c, 14),
        "atr_14": talib.ATR(h, lo, c, 14) / c,
        "ema_dist_9": c / talib.EMA(c, 9) - 1.0,
        "ema_dist_21": c / talib.EMA(c, 21) - 1.0,
        "bb_pctb_20": (c - lower) / (upper - lower),
    }
    for name, want in expected.items():
        got = f[name].to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=name)
        # TA-Lib's Bollinger variance (mean of squares minus squared mean) loses digits
        tol = 1e-7 if name == "bb_pctb_20" else 1e-10
        np.testing.assert_allclose(got, want, rtol=tol, atol=1e-12, err_msg=name)


def test_return_volatility_and_volume_features_equal_pandas(btc, btc_features) -> None:
    f, close, volume = btc_features, btc["close"], btc["volume"]
    logc = np.log(close)
    for n in (1, 3, 12):
        # the log of the ratio (a difference of logs would lose digits to cancellation)
        want = np.log(close / close.shift(n))
        np.testing.assert_array_equal(f[f"ret_{n}"], want)
    np.testing.assert_allclose(f["vol_24"], logc.diff().rolling(24).std(), rtol=1e-9)
    mean, std = volume.rolling(24).mean(), volume.rolling(24).std(ddof=0)
    np.testing.assert_allclose(f["volume_z_24"], (volume - mean) / std, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f["rvol_24"], volume / mean, rtol=1e-10)


# --- warm-up ---------------------------------------------------------------------------------

WARMUP = {
    "ret_1": 1,
    "ret_3": 3,
    "ret_12": 12,
    "vol_24": 24,
    "volume_z_24": 23,
    "rvol_24": 23,
    "rsi_7": 7,
    "rsi_14": 14,
    "atr_14": 14,
    "ema_dist_9": 8,
    "ema_dist_21": 20,
    "bb_pctb_20": 19,
}


def test_warm_up_is_nan_and_nothing_after_it_is(btc_features) -> None:
    for name, first in WARMUP.items():
        col = btc_features[name].to_numpy()
        assert np.isnan(col[:first]).all(), name
        assert not np.isnan(col[first:]).any(), name


def test_higher_timeframe_warm_up_is_in_closed_4h_bars(btc, btc_features) -> None:
    # the 4h column is NaN until the base bar whose close is the close of the 4h bar at
    # which the kind's warm-up ends: (warm-up + 1) 4h bars of 4 hourly bars each
    assert btc.index[0].hour % 4 == 0
    for name, first in WARMUP.items():
        col = btc_features[f"{name}@4h"].to_numpy()
        start = 4 * (first + 1) - 1
        assert np.isnan(col[:start]).all(), name
        assert not np.isnan(col[start:]).any(), name


def test_short_frames_are_all_warm_up_not_errors() -> None:
    f = build_features(walk(np.linspace(100, 110, 5)), "rsi:14 ret:3,12 vol:24 @4h")
    assert len(f) == 5
    assert np.isnan(f.drop(columns="ret_3")).all().all()
    assert not np.isnan(f["ret_3"].iloc[3:]).any()


# --- higher timeframes: closed bars only ---------------------------------------------------


def test_higher_timeframe_value_is_that_of_the_last_closed_4h_bar_by_hand() -> None:
    # 1h bars from 00:00; 4h bars open at 00:00, 04:00, 08:00 and close 4h later. Bar 3
    # (03:00-04:00) is the first to see a closed 4h bar (close c3); ret_1@4h needs two.
    c = 100.0 + np.arange(12.0) ** 2
    f = build_features(walk(c), "ret:1 @4h")["ret_1@4h"].to_numpy()
    assert np.isnan(f[:7]).all()
    assert f[7:11].tolist() == [np.log(c[7] / c[3])] * 4
    assert f[11] == np.log(c[11] / c[7])
    # the 4h bar still forming (08:00, bars 8..10 so far) is never used
    g = build_features(walk(c[:11]), "ret:1 @4h")["ret_1@4h"].to_numpy()
    np.testing.assert_array_equal(g, f[:11])


def test_higher_timeframe_rsi_is_aligned_to_closed_bars(btc, btc_features) -> None:
    high = resample_ohlcv(btc, "4h")
    values = rsi(high["close"].to_numpy(), 14)
    htf_close = high.index.asi8 + 4 * 3_600 * 10**9
    base_close = btc.index.asi8 + 3_600 * 10**9
    got = btc_features["rsi_14@4h"].to_numpy()
    for i in (0, 58, 59, 60, 61, 62, 63, 1000, 1001, 1002, 1003, len(btc) - 1):
        closed = np.flatnonzero(htf_close <= base_close[i])
        want = values[closed[-1]] if len(closed) else np.nan
        np.testing.assert_array_equal(got[i], want, err_msg=str(i))


# --- the look-ahead check --------------------------------------------------------------------


def test_lookahead_check_passes_for_the_built_in_set(btc) -> None:
    part = btc.iloc[:2500]
    assert lookahead_violations(part, DEFAULT_FEATURE_SET, checkpoints=25) == []
    # every cut across a day: each phase of the 4h bar is a copy's last bar
    assert lookahead_violations(part, DEFAULT_FEATURE_SET, ends=range(2000, 2030)) == []


def _peek(columns, period: int) -> np.ndarray:
    """A leak: the return to the close ``period`` bars ahead."""
    c = columns["close"]
    out = np.full(len(c), np.nan)
    out[:-period] = np.log(c[period:] / c[:-period])
    return out


LEAKY = {**KINDS, "peek": FeatureKind("peek", _peek, "the future return (a planted leak)")}


def test_lookahead_check_flags_a_planted_leak_by_name(btc) -> None:
    part = btc.iloc[:1500]
    found = lookahead_violations(part, "ret:1 rsi:14 peek:1 @4h", kinds=LEAKY)
    assert [line.split(":")[0] for line in found] == ["peek_1", "peek_1@4h"]
    # the first cut is at bar 150 (a tenth of the frame): that bar lacks its next close
    assert found[0].startswith(f"peek_1: bar 149 ({part.index[149]}) differs")
    # and the leak is in the matrix, so a model would see it
    f = build_features(part, "peek:1", kinds=LEAKY)
    np.testing.assert_allclose(f["peek_1"].iloc[:-1], np.log(part["close"]).diff().iloc[1:])


def test_the_leaky_kind_is_unknown_to_the_default_registry(btc) -> None:
    with pytest.raises(ConfigError, match=r"unknown feature kind.*peek.*known kinds are ret"):
        build_features(btc.iloc[:100], FeatureSet({"peek": [1]}))  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(st.floats(-0.05, 0.05), min_size=40, max_size=150),
    volumes=st.lists(st.floats(0.0, 1e6), min_size=150, max_size=150),
    cut=st.floats(0.05, 0.95),
)
def test_truncation_invariance_on_random_walks(steps, volumes, cut) -> None:
    close = 100.0 * np.exp(np.cumsum(steps))
    frame = walk(close, np.asarray(volumes[: len(close)]))
    fs = "ret:1,3,12 vol:2,24 volume_z:5,24 rvol:5 atr:3 @4h"
    e = max(1, round(cut * len(frame)))
    assert lookahead_violations(frame, fs, ends=[e, len(frame) - 1]) == []
    full, part = build_features(frame, fs), build_features(frame.iloc[:e], fs)
    pd.testing.assert_frame_equal(full.iloc[:e], part, check_exact=True)


# --- specs: forms and errors -----------------------------------------------------------------


def test_text_dict_and_json_forms_round_trip() -> None:
    fs = DEFAULT_FEATURE_SET
    assert parse_feature_set(fs.to_text()) == fs
    assert parse_feature_set(json.loads(json.dumps(fs.to_dict()))) == fs
    assert parse_feature_set("rsi:7,14; atr:14 @4h") == FeatureSet(
        (("rsi", (7, 14)), ("atr", (14,))), higher_timeframes=("4h",)
    )
    assert parse_feature_set({"atr": 14, "htf": "4h"}).to_dict() == {
        "atr": [14],
        "higher_timeframes": ["4h"],
    }


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("rsx:14", r"unknown feature kind\(s\): rsx .*known kinds are ret, vol, volume_z"),
        ({"rsi": [14], "macd": [9]}, r"unknown feature kind\(s\): macd"),
        ("rsi", "feature 'rsi' has no periods"),
        ("rsi:0", "rsi: period 0 must be at least 1 bar"),
        ("rsi:1.5", "rsi: period '1.5' is not a whole number"),
        ({"rsi": [14.0]}, "rsi: period 14.0 is not a whole number"),
        ({"rsi": [True]}, "rsi: period True is not a whole number"),
        ({"rsi": []}, "rsi: periods must be a whole number or a non-empty list"),
        ("rsi:7,7", "rsi: period 7 is given twice"),
        ("rsi:14 @4x", "higher timeframe '4x': unknown timeframe"),
        ("rsi:14 @4h,4h", "higher timeframe 4h is given twice"),
        ("", "at least one feature"),
        (42, "a feature set is a text or a mapping"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec, match) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_feature_set(spec)


def test_lookahead_check_rejects_bad_cuts(btc) -> None:
    with pytest.raises(ConfigError, match=r"truncation lengths must lie in 1\.\.99"):
        lookahead_violations(btc.iloc[:100], "rsi:14", ends=[100])
