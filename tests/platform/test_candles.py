"""Candles with values that are not finite are reported as such: an overflowing price
(1e400 in JSON is infinity) is named infinite, not NaN (rule ``nan_values``, whose name is
part of the API; its message says which)."""

from __future__ import annotations

import math

import pytest

from tradpal.data.quality import check_quality
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.platform.candles import Candle, candles_frame
from tradpal.platform.http import ApiError


def candles(n: int = 20) -> list[Candle]:
    frame = generate_ohlcv(n, "1h", seed=9)
    return [
        Candle(time=t.to_pydatetime(), **{c: float(frame[c].iloc[i]) for c in frame.columns})
        for i, t in enumerate(frame.index)
    ]


def test_an_infinite_price_is_said_to_be_infinite():
    posted = candles()
    posted[4] = posted[4].model_copy(update={"high": float("1e400")})
    assert math.isinf(posted[4].high)
    with pytest.raises(ApiError) as got:
        candles_frame(posted, symbol="X/Y", timeframe="1h")
    assert got.value.status == 422 and got.value.code == "data_quality_error"
    (detail,) = [d for d in got.value.details if d["rule"] == "nan_values"]
    assert detail["field"] == "body.candles.4"
    assert "not finite (1 infinite)" in detail["message"] and "NaN" not in detail["message"]


def test_nan_and_infinite_rows_are_counted_apart():
    frame = generate_ohlcv(20, "1h", seed=9)
    frame.iloc[3, frame.columns.get_loc("close")] = math.nan
    frame.iloc[8, frame.columns.get_loc("volume")] = -math.inf
    frame.iloc[11, frame.columns.get_loc("open")] = math.nan
    frame.iloc[11, frame.columns.get_loc("low")] = math.inf  # both in one row: infinite
    (rule,) = [r for r in check_quality(frame, timeframe="1h").rules if r.name == "nan_values"]
    assert rule.count == 3 and rule.message.startswith("3 row(s) not finite (1 NaN, 2 infinite)")
    clean = [r for r in check_quality(generate_ohlcv(20, "1h", seed=9)).rules]
    assert [r.count for r in clean if r.name == "nan_values"] == [0]
