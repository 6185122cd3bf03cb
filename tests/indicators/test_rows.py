"""Indicator rows as the API answers them (tradpal.indicators.rows): times as
``Timestamp.isoformat`` gives them, and the rows' JSON written a column at a time is the
bytes of ``json.dumps`` of the row objects, whatever the values."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.indicators.rows import (
    IndicatorTable,
    indicator_rows,
    indicator_specs,
    indicator_table,
    time_texts,
)


def strict(rows: list[dict]) -> bytes:
    return json.dumps(rows, allow_nan=False, separators=(",", ":")).encode()


def test_the_table_is_the_rows_and_its_json_their_json():
    frame = generate_ohlcv(500, "1h", seed=3)
    specs = indicator_specs(["ema:9", "rsi:14", "bollinger:20:2", "macd", "atr:14"])
    table = indicator_table(frame, specs)
    columns, rows = indicator_rows(frame, specs)
    assert table.columns == columns and table.rows() == rows
    assert rows[0]["ema_9"] is None and rows[0]["time"] == frame.index[0].isoformat()
    assert table.to_json() == strict(rows)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),  # commas, quotes, escapes and non-ASCII included
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=5, unique=True),
    st.integers(0, 6),
    st.data(),
)
def test_the_json_of_any_table_is_the_json_of_its_rows(columns, n, data):
    table = IndicatorTable(
        list(columns), [data.draw(st.lists(values, min_size=n, max_size=n)) for _ in columns]
    )
    assert table.to_json() == strict(table.rows())


def _table_of_floats(values: np.ndarray) -> IndicatorTable:
    return IndicatorTable(["x", "y"], [values, values[::-1].copy()])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(width=64), max_size=50))
def test_the_json_of_float_columns_is_the_json_of_their_values(floats):
    """Float array columns (written by orjson) give json.dumps's bytes, NaN and infinities
    as null."""
    table = _table_of_floats(np.array(floats, dtype=np.float64))
    assert table.to_json() == strict(table.rows())
    assert all(v is None or math.isfinite(v) for row in table.rows() for v in row.values())


def test_float_columns_are_json_dumps_for_every_kind_of_double():
    """Any bit pattern (subnormals, both signs, every exponent) and the edges of the range
    json writes without an exponent."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**64 - 1, 100_000, dtype=np.uint64, endpoint=True)
    scaled = rng.standard_normal(100_000) * 10.0 ** rng.integers(-30, 30, 100_000)
    edges = [1e-4, np.nextafter(1e-4, 0), 1e16, np.nextafter(1e16, 0), 0.0, -0.0, 5e-324]
    edges += [-e for e in edges]
    for values in (bits.view(np.float64), scaled, np.array(edges)):
        table = IndicatorTable(["x"], [values])
        assert table.to_json() == strict(table.rows())


def test_a_value_json_has_no_form_of_is_refused_as_json_dumps_refuses_it():
    with pytest.raises(ValueError, match="Out of range float"):
        IndicatorTable(["x"], [[1.0, math.inf]]).to_json()


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_times_are_written_as_isoformat_writes_them(unit):
    rng = np.random.default_rng(5)
    low, high = (
        pd.Timestamp("1677-09-22", tz="UTC").value,
        pd.Timestamp("2262-04-10", tz="UTC").value,
    )
    whole = rng.integers(low, high, 500) // 10**9 * 10**9
    for ns in (whole, whole + rng.integers(0, 10**9, 500) // 10**3 * 10**3):
        index = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True))
        if unit != "ns" and (ns % {"s": 10**9, "ms": 10**6, "us": 10**3}[unit]).any():
            continue
        index = index.as_unit(unit)
        assert time_texts(index) == [t.isoformat() for t in index]
    other = pd.date_range("2024-03-30", periods=48, freq="h", tz="Europe/Paris")
    assert time_texts(other) == [t.isoformat() for t in other]
    assert time_texts(pd.DatetimeIndex(["2024-01-01", None], tz="UTC")) == [
        "2024-01-01T00:00:00+00:00",
        "NaT",
    ]
