"""Signals: construction checks, alignment of signals read from files, round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradpal.strategies import Signals, StrategyError
from tradpal.strategies.signals import BOOL_FIELDS

INDEX = pd.date_range("2024-01-01", periods=6, freq="1h", tz="UTC", name="time")


def flags(sig: Signals) -> dict[str, list[int]]:
    return {name: np.flatnonzero(getattr(sig, name)).tolist() for name in BOOL_FIELDS}


def test_construction_coerces_and_checks_lengths():
    sig = Signals([1, 0, 1], [0, 0, 0], np.zeros(3), [False] * 3, stop_price=[1, np.nan, 2])
    assert sig.long_entry.dtype == np.bool_ and sig.short_entry.dtype == np.bool_
    assert sig.stop_price.dtype == np.float64 and len(sig) == 3
    with pytest.raises(StrategyError, match="long_exit has 2 values"):
        Signals([1, 0, 1], [0, 0], [0, 0, 0], [0, 0, 0])
    with pytest.raises(StrategyError, match="other than True/False"):
        Signals([2, 0], [0, 0], [0, 0], [0, 0])
    with pytest.raises(StrategyError, match="stop_price has shape"):
        Signals([1, 0], [0, 0], [0, 0], [0, 0], stop_price=[1.0])
    with pytest.raises(StrategyError, match=r"confidence 1.5 at bar 1 is outside \[0, 1\]"):
        Signals([1, 0], [0, 0], [0, 0], [0, 0], confidence=[np.nan, 1.5])


def test_from_frame_aligns_rows_and_missing_columns_mean_no_signal():
    table = pd.DataFrame(
        {
            "time": ["2024-01-01 01:00", "2024-01-01T04:00:00Z"],
            "long_entry": ["true", "0"],
            "short_exit": [1, 0],
            "stop_price": ["", "95.5"],
            "confidence": [0.25, None],
        }
    )
    sig = Signals.from_frame(table, INDEX)
    assert len(sig) == 6
    assert flags(sig) == {"long_entry": [1], "long_exit": [], "short_entry": [], "short_exit": [1]}
    np.testing.assert_array_equal(sig.stop_price, [np.nan] * 4 + [95.5, np.nan])
    np.testing.assert_array_equal(sig.confidence, [np.nan, 0.25] + [np.nan] * 4)
    assert sig.target_price is None


def test_from_frame_reads_epoch_ms_bool_dtype_and_a_datetime_index():
    ms = INDEX.asi8[[0, 5]] // 1_000_000
    sig = Signals.from_frame(pd.DataFrame({"time": ms, "long_exit": [True, True]}), INDEX)
    assert flags(sig)["long_exit"] == [0, 5]
    by_index = pd.DataFrame({"short_entry": ["yes", "no", "TRUE"]}, index=INDEX[2:5])
    assert flags(Signals.from_frame(by_index, INDEX))["short_entry"] == [2, 4]


def test_from_frame_refuses_times_that_are_not_bars():
    table = pd.DataFrame({"time": ["2024-01-01 01:30", "2024-01-02 00:00"], "long_entry": [1, 1]})
    with pytest.raises(StrategyError) as err:
        Signals.from_frame(table, INDEX)
    text = str(err.value)
    assert "2 signal row(s)" in text and "2024-01-01 01:30:00+00:00" in text
    assert "2024-01-01 00:00:00+00:00 to 2024-01-01 05:00:00+00:00" in text
    assert err.value.hint


def test_from_frame_refuses_duplicates_bad_values_and_missing_time():
    dup = pd.DataFrame({"time": ["2024-01-01 01:00"] * 2, "long_entry": [1, 0]})
    with pytest.raises(StrategyError, match="more than one row for 2024-01-01 01:00"):
        Signals.from_frame(dup, INDEX)
    with pytest.raises(StrategyError, match=r"long_entry holds 2 in row 1"):
        Signals.from_frame(pd.DataFrame({"time": INDEX[:2], "long_entry": [0, 2]}), INDEX)
    with pytest.raises(StrategyError, match="long_exit holds 'maybe' in row 0"):
        Signals.from_frame(pd.DataFrame({"time": INDEX[:1], "long_exit": ["maybe"]}), INDEX)
    with pytest.raises(StrategyError, match="stop_price holds 'abc'"):
        Signals.from_frame(pd.DataFrame({"time": INDEX[:1], "stop_price": ["abc"]}), INDEX)
    with pytest.raises(StrategyError, match="no time"):
        Signals.from_frame(pd.DataFrame({"long_entry": [1]}), INDEX)
    with pytest.raises(StrategyError, match="unreadable"):
        Signals.from_frame(pd.DataFrame({"time": ["2024-01-01", "soon"]}), INDEX)


def test_to_frame_round_trips_through_from_frame():
    rng = np.random.default_rng(7)
    sig = Signals(
        *(rng.random(6) < 0.4 for _ in BOOL_FIELDS),
        stop_price=np.where(rng.random(6) < 0.5, rng.random(6) * 100, np.nan),
        confidence=rng.random(6),
    )
    table = sig.to_frame(INDEX)
    assert list(table.columns) == [*BOOL_FIELDS, "stop_price", "confidence"]
    assert Signals.from_frame(table.reset_index(), INDEX).equals(sig)
    assert Signals.from_frame(table, INDEX).equals(sig)
    with pytest.raises(StrategyError, match="index has 5 bars"):
        sig.to_frame(INDEX[:5])


def test_empty_slice_and_equals():
    sig = Signals.empty(4)
    assert len(sig) == 4 and not any(a.any() for _, a in sig.arrays())
    other = Signals([0, 1, 0, 0], [0] * 4, [0] * 4, [0] * 4)
    assert not sig.equals(other) and sig.slice(2, 4).equals(other.slice(2, 4))
    assert not Signals.empty(2).equals(Signals([0, 0], [0, 0], [0, 0], [0, 0], stop_price=[1, 2]))
