"""Plain JSON for result files: NaN/inf as null, times as ISO UTC, exact floats."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.errors import SerializationError
from tradpal.serialize import dumps, to_jsonable


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: float
    when: pd.Timestamp


def test_non_finite_floats_become_null_and_json_is_strict():
    doc = {"a": float("nan"), "b": np.float64(np.inf), "c": -math.inf, "d": np.float32(1.5)}
    text = dumps(doc)
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": None, "c": None, "d": 1.5}


def test_times_are_iso_utc_with_offset_and_nat_is_null():
    naive = pd.Timestamp("2022-05-01 12:00")
    zoned = pd.Timestamp("2022-05-01 14:00", tz="Europe/Berlin")
    out = to_jsonable(
        {
            "naive": naive,
            "zoned": zoned,
            "np": np.datetime64("2022-05-01T12:00:00"),
            "py": dt.datetime(2022, 5, 1, 12, tzinfo=dt.UTC),
            "nat": pd.NaT,
            "td": pd.Timedelta(hours=2),
        }
    )
    assert out["naive"] == out["np"] == out["py"] == "2022-05-01T12:00:00+00:00"
    assert out["zoned"] == "2022-05-01T12:00:00+00:00"
    assert out["nat"] is None
    assert out["td"] == 7200.0


def test_containers_numpy_enums_dataclasses_and_frames():
    frame = pd.DataFrame({"t": pd.to_datetime(["2022-01-01"], utc=True), "v": [np.nan]})
    out = to_jsonable(
        {
            "arr": np.array([1, 2]),
            "tup": (np.int64(3), np.bool_(True)),
            "set": {2, 1},
            "enum": Color.RED,
            "point": Point(0.25, pd.Timestamp("2022-01-01", tz="UTC")),
            "frame": frame,
        }
    )
    assert out == {
        "arr": [1, 2],
        "tup": [3, True],
        "set": [1, 2],
        "enum": "red",
        "point": {"x": 0.25, "when": "2022-01-01T00:00:00+00:00"},
        "frame": [{"t": "2022-01-01T00:00:00+00:00", "v": None}],
    }
    assert type(out["tup"][0]) is int and type(out["tup"][1]) is bool


def test_a_value_without_json_form_is_a_clear_error():
    with pytest.raises(SerializationError, match="object has no JSON form") as info:
        to_jsonable({"x": object()})
    assert info.value.hint


@given(
    st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=64),
        max_size=30,
    )
)
def test_floats_round_trip_exactly_or_become_null(values):
    back = json.loads(dumps(values))
    for original, read in zip(values, back, strict=True):
        if math.isfinite(original):
            assert read == original and math.copysign(1, read) == math.copysign(1, original)
        else:
            assert read is None
