"""tradpal.errors.shown: a value in a message as the user wrote it in JSON."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.errors import shown


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (None, "null"),
        ("abc", '"abc"'),
        ({"x": 1}, '{"x": 1}'),
        ([1, 2.5], "[1, 2.5]"),
        (math.nan, "nan"),
        (math.inf, "inf"),
        ("BTC/€", '"BTC/€"'),
    ],
)
def test_values_read_as_json_not_python(value, text):
    assert shown(value) == text


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(), st.lists))
def test_a_shown_value_is_short(value):
    assert len(shown(value)) <= 60
