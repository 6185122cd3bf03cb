"""The OHLCV contract (tradpal.data.contract): frames built from columns, and a contract
frame's columns read in one step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradpal.data.contract import OHLCV_COLUMNS, make_ohlcv, ohlcv_arrays
from tradpal.data.quality import check_quality
from tradpal.data.sources.synthetic import generate_ohlcv


def test_make_ohlcv_keeps_order_and_values_and_reads_epoch_ns_as_utc():
    ns = np.array([3_600, 0, 7_200], dtype=np.int64) * 10**9
    values = np.arange(15, dtype=np.float64).reshape(5, 3)
    frame = make_ohlcv(ns, *values)
    assert list(frame.columns) == list(OHLCV_COLUMNS)
    assert frame.index.name == "time" and str(frame.index.tz) == "UTC"
    assert frame.index.asi8.tolist() == ns.tolist()
    assert frame.to_numpy().T.tolist() == values.tolist()
    same = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True)).rename("time")
    pd.testing.assert_index_equal(frame.index, same)


def test_ohlcv_arrays_are_the_columns_of_a_contract_frame_and_none_for_others():
    frame = generate_ohlcv(50, "1h", seed=1)
    arrays = ohlcv_arrays(frame)
    assert arrays is not None and list(arrays) == list(OHLCV_COLUMNS)
    for name, values in arrays.items():
        assert np.array_equal(values, frame[name].to_numpy()) and not values.flags.writeable
    assert ohlcv_arrays(frame[["close", "open", "high", "low", "volume"]]) is None
    assert ohlcv_arrays(frame.assign(extra=1.0)) is None
    assert ohlcv_arrays(frame.assign(volume=frame["volume"].astype(np.int64))) is None


@pytest.mark.parametrize(
    "other",
    [
        lambda f: f[["close", "open", "high", "low", "volume"]],
        lambda f: f.assign(volume=f["volume"].astype(np.int64)),
    ],
)
def test_a_contract_frame_read_at_once_has_the_report_of_one_read_column_by_column(other):
    frame = generate_ohlcv(300, "1h", seed=2)
    frame["volume"] = frame["volume"].round()  # whole: the same values as integers
    frame.iloc[[5, 9], frame.columns.get_loc("close")] = [np.nan, -1.0]
    changed = other(frame)
    fast, slow = check_quality(frame, timeframe="1h"), check_quality(changed, timeframe="1h")
    assert ohlcv_arrays(frame) is not None and ohlcv_arrays(changed) is None
    assert fast.to_dict() == slow.to_dict() and not fast.ok
