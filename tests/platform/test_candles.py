"""Candles with values that are not finite are reported as such: an overflowing price
(1e400 in JSON is infinity) is named infinite, not NaN (rule ``nan_values``, whose name is
part of the API; its message says which). Posted candles checked column by column take
exactly what the per-candle model takes, and give the same times and values bit for bit;
anything else is left to the model."""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import pandas as pd
import pytest
from fakes.lambda_events import load_handler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError

from tradpal.data.quality import check_quality
from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.platform.candles import (
    MAX_CANDLE_VALUE,
    Candle,
    CandleColumns,
    CandlesRequest,
    _candle_arrays,
    _length_limits,
    candle_columns,
    candles_frame,
)
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


# --- posted candles checked column by column ------------------------------------------------

ISO_FORMS = {
    "isoformat": lambda t: t.isoformat(),
    "Z": lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "naive": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S"),
    "offset": lambda t: t.tz_convert("Asia/Kolkata").isoformat(),
    "negative offset": lambda t: t.tz_convert("America/St_Johns").isoformat(),
    "milliseconds": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
    "nanoseconds": lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123+00:00",
}


def posted(n: int = 30, form=ISO_FORMS["isoformat"], seed: int = 9) -> list[dict]:
    frame = generate_ohlcv(n, "1h", seed=seed)
    return [
        {"time": form(t), **{c: float(frame[c].iloc[i]) for c in frame.columns}}
        for i, t in enumerate(frame.index)
    ]


def by_model(raw: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """Open times and values as the per-candle model and its conversion give them."""
    models = TypeAdapter(list[Candle]).validate_python(raw)
    return _candle_arrays(models, "body.candles")


def assert_same(columns: CandleColumns, raw: list[dict]) -> None:
    t, values = by_model(raw)
    assert columns.ns.tolist() == t.tolist()
    assert np.array_equal(columns.values.view(np.int64), np.asarray(values).view(np.int64))


@pytest.mark.parametrize("form", ISO_FORMS)
def test_the_usual_time_forms_are_read_by_column_and_equal_the_model(form):
    raw = posted(form=ISO_FORMS[form])
    columns = candle_columns(raw)
    assert columns is not None, form
    assert_same(columns, raw)


@pytest.mark.parametrize(
    "time", ["2024-01-01 03:00:00", "2024-01-01", "2024-01-01t03:00:00z", "2024-01-01T03:00Z"]
)
def test_other_time_forms_are_left_to_the_model_which_reads_them(time):
    raw = posted(5)
    raw[3] = {**raw[3], "time": time}
    assert candle_columns(raw) is None
    TypeAdapter(list[Candle]).validate_python(raw)


@pytest.mark.parametrize(
    "change",
    [
        {"time": "2024-02-30T00:00:00Z"},  # no such day
        {"time": "2024-01-01T24:00:00Z"},
        {"time": "2024-01-01T00:00:60Z"},
        {"time": "2024-01-01T00:00:00+24:00"},
        {"time": "1677-12-31T00:00:00Z"},  # beyond int64 nanoseconds with some offsets
        {"time": "2262-01-01T00:00:00Z"},
        {"time": 1_700_000_000},
        {"close": "1.5"},
        {"volume": True},
        {"open": None},
        {"high": 10**400},
        {"high": int(MAX_CANDLE_VALUE) + 65},  # a float above the limit
        {"close": math.nextafter(MAX_CANDLE_VALUE, math.inf)},
        {"low": -math.inf},
        {"open": math.nan},
        {"extra": 1},
    ],
)
def test_what_the_model_refuses_is_left_to_it(change):
    raw = posted(5)
    raw[3] = {**raw[3], **change}
    assert candle_columns(raw) is None
    with pytest.raises(ValidationError):
        TypeAdapter(list[Candle]).validate_python(raw[3:4])
    assert candle_columns([{k: v for k, v in raw[0].items() if k != "close"}]) is None
    assert candle_columns([]) is None


def test_integers_are_taken_as_the_model_takes_them():
    raw = posted(6)
    # as floats (rounded to nearest), as pydantic compares them with the limits
    most = int(MAX_CANDLE_VALUE)
    for i, big in enumerate([3, -7, 2**53 + 1, most + 64, -most - 1, most - 1]):
        raw[i]["volume"] = big
    columns = candle_columns(raw)
    assert columns is not None
    assert_same(columns, raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(1600, 2300),  # year
            st.integers(0, 13),
            st.integers(0, 32),
            st.integers(0, 24),
            st.integers(0, 60),
            st.integers(0, 60),
            st.sampled_from(["", ".5", ".123", ".123456", ".1234567", ".123456789"]),
            st.sampled_from(["", "Z", "+00:00", "-00:00", "+05:30", "-23:59", "+24:00", "+01:60"]),
            st.one_of(st.floats(allow_nan=False), st.integers(-(2**70), 2**70)),
        ),
        min_size=1,
        max_size=4,
    ),
    st.booleans(),
)
def test_whatever_the_column_check_takes_the_model_takes_alike(rows, same_form):
    """Times of all kinds, valid or not, in one form per batch or mixed; numbers of any
    size: every batch the column check takes, the model takes, with the same numbers."""
    if same_form:  # one fraction and zone for all, as clients send them
        rows = [(*r[:6], rows[0][6], rows[0][7], r[8]) for r in rows]
    raw = [
        {"time": f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{zone}",
         "open": 1.0, "high": 2.0, "low": 0.5, "close": value, "volume": 3}
        for y, mo, d, h, mi, s, frac, zone, value in rows
    ]  # fmt: skip
    columns = candle_columns(raw)
    if columns is not None:
        assert_same(columns, raw)


def test_a_request_holds_columns_and_gives_the_frame_the_models_give():
    SignalsRequest = load_handler("signals").SignalsRequest
    raw = posted(40)
    request = SignalsRequest(candles=raw)
    assert isinstance(request.candles, CandleColumns) and len(request.candles) == 40
    assert "candles=<40 items>" in repr(request)
    frame, _ = candles_frame(request.candles, symbol="X/Y", timeframe="1h")
    mixed = [{**c, "time": c["time"].replace("T", " ")} if i == 0 else c for i, c in enumerate(raw)]
    slow = SignalsRequest(candles=mixed)
    assert isinstance(slow.candles, list) and isinstance(slow.candles[0], Candle)
    want, _ = candles_frame(slow.candles, symbol="X/Y", timeframe="1h")
    pd.testing.assert_frame_equal(frame, want, check_exact=True)


def test_the_column_check_keeps_the_declared_length_limits():
    SignalsRequest = load_handler("signals").SignalsRequest
    declared = SignalsRequest.model_fields["candles"].metadata
    most = min(m.max_length for m in declared if hasattr(m, "max_length"))
    assert _length_limits(SignalsRequest)[1] == most
    with pytest.raises(ValidationError) as got:
        SignalsRequest(candles=posted(2) * int(most // 2 + 1))
    assert got.value.errors()[0]["type"] == "too_long"

    class Other(CandlesRequest):  # a constraint the column check does not know: the model
        candles: list[Candle] | None = Field(None, json_schema_extra={"x": 1}, max_length=5)

    class Strict(CandlesRequest):
        candles: Annotated[list[Candle], Field(strict=True)] | None = None

    assert isinstance(Other(candles=posted(3)).candles, CandleColumns)
    assert _length_limits(Strict) is None and isinstance(Strict(candles=posted(3)).candles, list)
