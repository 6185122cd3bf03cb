"""add_indicators, indicator specs, and multi-timeframe alignment without look-ahead."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tradpal.indicators as ti
from tradpal.data.resample import resample_ohlcv
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.indicators import TRADPAL_SET, IndicatorInputError, IndicatorSpec, mtf

FRAME = generate_ohlcv(1500, "1h", seed=4)


def test_add_indicators_default_set_columns_and_values() -> None:
    out = ti.add_indicators(FRAME)
    expected = [
        "ema_9", "ema_21", "rsi_14",
        "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "bb_bandwidth_20_2",
        "bb_percent_b_20_2", "atr_14", "macd", "macd_signal", "macd_hist",
        "adx_14", "plus_di_14", "minus_di_14", "stoch_k_14_3_3", "stoch_d_14_3_3", "obv",
    ]  # fmt: skip
    assert list(out.columns) == [*FRAME.columns, *expected]
    assert out.index.equals(FRAME.index) and out.attrs == FRAME.attrs
    np.testing.assert_array_equal(out["rsi_14"], ti.rsi(FRAME.close, 14))
    np.testing.assert_array_equal(
        out["stoch_d_14_3_3"], ti.stochastic(*FRAME.iloc[:, 1:4].T.values).d
    )
    assert "ema_9" not in FRAME.columns  # the input is not modified


def test_spec_is_plain_data_round_trip() -> None:
    data = json.loads(json.dumps([s.to_dict() for s in TRADPAL_SET]))
    assert ti.parse_spec(data) == TRADPAL_SET
    spec = [
        {"kind": "macd", "fast": 5, "slow": 35, "signal": 5},
        {"kind": "bollinger", "period": 10, "k": 1.5},
        {"kind": "vwap"},
        {"kind": "vwap", "period": 24},
        {"kind": "williams_r"},
        {"kind": "cmf", "period": 10},
        {"kind": "volatility", "period": 30},
        {"kind": "sma", "period": 50},
        {"kind": "wma", "period": 5},
    ]
    out = ti.add_indicators(FRAME, spec)
    for col in ("macd_5_35_5", "macd_hist_5_35_5", "bb_upper_10_1.5", "vwap", "vwap_24",
                "willr_14", "cmf_10", "volatility_30", "sma_50", "wma_5"):  # fmt: skip
        assert col in out.columns, col
    np.testing.assert_array_equal(
        out["vwap"], ti.vwap(*FRAME.iloc[:, 1:].T.values, time=FRAME.index)
    )


@pytest.mark.parametrize(
    "spec,match",
    [
        ([{"kind": "nope"}], "unknown indicator kind"),
        ([{"kind": "ema"}], "needs the parameter 'period'"),
        ([{"kind": "rsi", "lenght": 3}], "no parameter"),
        ([{"period": 3}], "mapping with a 'kind'"),
        ({"kind": "rsi"}, "list of entries"),
        ([{"kind": "rsi"}, {"kind": "rsi", "period": 14}], "twice"),
        ([{"kind": "rsi", "period": 0}], "outside"),
    ],
)
def test_bad_specs_are_clear_errors(spec, match: str) -> None:
    with pytest.raises(IndicatorInputError, match=match):
        ti.add_indicators(FRAME, spec)


def test_existing_column_clash_and_missing_input() -> None:
    with pytest.raises(IndicatorInputError, match="already has"):
        ti.add_indicators(FRAME.assign(rsi_14=1.0), [{"kind": "rsi"}])
    with pytest.raises(IndicatorInputError, match="needs the input 'volume'"):
        ti.add_indicators(FRAME.drop(columns="volume"), [{"kind": "obv"}])
    assert IndicatorSpec("atr").columns() == ("atr_14",)


def test_align_uses_closed_htf_bars_only() -> None:
    # 4h bars opened at 00:00 and 04:00; 1h base bars 00:00..07:00
    h0 = pd.Timestamp("2024-01-01", tz="UTC").value
    htf_open = np.array([h0, h0 + 4 * 3600 * 10**9])
    base_open = h0 + np.arange(8) * 3600 * 10**9
    out = mtf.align(np.array([10.0, 20.0]), htf_open, "4h", base_open, "1h")
    # the 00:00 4h bar closes at 04:00 = close of the 03:00 base bar
    np.testing.assert_array_equal(out, [np.nan] * 3 + [10.0] * 4 + [20.0])


def test_compute_mtf_matches_manual_resample_and_shift() -> None:
    cols = mtf.compute_mtf(FRAME, "4h", [{"kind": "rsi"}, {"kind": "ema", "period": 5}])
    htf = resample_ohlcv(FRAME, "4h")
    rsi_htf = pd.Series(ti.rsi(htf.close, 14), index=htf.index)
    # value of the HTF bar opened at T is available from the base bar opened at T + 3h
    manual = rsi_htf.shift(3, freq="h").reindex(FRAME.index).ffill()
    first_valid = rsi_htf.first_valid_index() + pd.Timedelta("3h")
    manual[manual.index < first_valid] = np.nan
    np.testing.assert_array_equal(cols["rsi_14_4h"], manual.to_numpy())
    assert set(cols) == {"rsi_14_4h", "ema_5_4h"}
    out = mtf.add_mtf_indicators(FRAME, "1d", [{"kind": "atr"}])
    assert "atr_14_1d" in out.columns


def test_htf_apply_keeps_namedtuples() -> None:
    res = mtf.htf_apply(FRAME, "4h", lambda f: ti.macd(f.close, 3, 6, 2))
    assert isinstance(res, ti.MACD) and res.macd.shape == (len(FRAME),)


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(80, 1500), tf=st.sampled_from(["2h", "4h", "1d"]))
def test_mtf_values_never_change_when_data_is_appended(cut: int, tf: str) -> None:
    # 80 hourly bars make at least 3 daily bars, enough for period 3
    spec = [{"kind": "rsi", "period": 3}, {"kind": "bollinger", "period": 3}]
    full = mtf.compute_mtf(FRAME, tf, spec)
    part = mtf.compute_mtf(FRAME.iloc[:cut], tf, spec)
    for k, v in part.items():
        np.testing.assert_array_equal(v, full[k][:cut])
