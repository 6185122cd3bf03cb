"""The typed backtest overrides (the API's ``config``) accept exactly what they document: every
sizing and stop rule their patterns and objects allow is one the library builds a config
from, numbers have finite ranges (no ``capital: 1e308``, no ``fees: 1e400``, no integer
beyond float range), ``"none"`` turns an optional rule off, and null is refused by name."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from tradpal.backtest.config import SIZING_PATTERN, STOP_PATTERN, BacktestOverrides
from tradpal.backtest.strategy_run import config_for

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def built(**overrides):
    return config_for("1h", **BacktestOverrides(**overrides).overrides())


@SETTINGS
@given(st.from_regex(SIZING_PATTERN, fullmatch=True))
def test_every_sizing_text_the_pattern_allows_builds(text):
    assert built(sizing=text).sizing.kind == text.split(":")[0]


@SETTINGS
@given(st.from_regex(STOP_PATTERN, fullmatch=True))
def test_every_stop_text_the_pattern_allows_builds(text):
    assert built(stop_loss=text, take_profit=text, trailing_stop=text).stop_loss is not None


@SETTINGS
@given(
    st.sampled_from(["fraction", "qty", "risk", "kelly"]),
    st.floats(min_value=0, max_value=2e9, allow_nan=False),
)
def test_a_sizing_object_is_accepted_exactly_in_its_kind_s_range(kind, value):
    high, inclusive = {"fraction": (100, False), "qty": (1e9, False), "risk": (1, False),
                       "kelly": (1, True)}[kind]  # fmt: skip
    inside = value > 0 and (value <= high if inclusive else value < high)
    if inside:
        sizing = built(sizing={"kind": kind, "value": value}).sizing
        assert (sizing.kind, sizing.value) == (kind, value)
    else:
        with pytest.raises(ValidationError, match="not a sizing"):
            BacktestOverrides(sizing={"kind": kind, "value": value})


@pytest.mark.parametrize(
    ("override", "said"),
    [
        ({"capital": 1e308}, "less than or equal to 1000000000000"),
        ({"capital": 10**400}, "less than or equal to 1000000000000"),  # was a 500
        ({"fees": math.inf}, "less than 1"),  # what 1e400 in a JSON body reads as
        ({"fees": -0.1}, "greater than or equal to 0"),
        ({"time_stop_bars": 10**400}, "less than or equal to 1000000"),
        ({"time_stop_bars": 2.5}, "valid integer"),
        ({"max_leverage": 1e6}, "less than or equal to 100"),
        ({"sizing": "risk:1.5"}, "not a sizing"),
        ({"sizing": "risk:1e-2"}, "not a sizing"),  # decimal text, as the pattern says
        ({"stop_loss": "pct:1"}, "not a stop rule"),
        ({"stop_loss": {"kind": "atr", "value": 0}}, "not a stop rule"),
        ({"capital": None}, "null is not a setting"),
        ({"stop_loss": None}, "null is not a setting"),
        ({"allow_short": "yes"}, "valid boolean"),
        ({"leverage": 2}, "Extra inputs"),
    ],
)
def test_out_of_range_or_unknown_settings_are_refused_naming_the_field(override, said):
    with pytest.raises(ValidationError) as caught:
        BacktestOverrides(**override)
    (error,) = caught.value.errors()
    assert error["loc"] == (next(iter(override)),) and said in error["msg"]


def test_none_turns_optional_rules_off_and_objects_keep_their_text_form():
    config = built(
        stop_loss="none", take_profit={"kind": "pct", "value": 0.05}, time_stop_bars="none",
        max_drawdown="none", target_volatility="none", max_notional="none",
    )  # fmt: skip
    assert config.stop_loss is None and config.time_stop_bars is None
    assert str(config.take_profit) == "pct:0.05" and config.max_drawdown is None
    given = BacktestOverrides(take_profit={"kind": "pct", "value": 0.05}, time_stop_bars=5.0)
    assert given.overrides() == {"take_profit": "pct:0.05", "time_stop_bars": 5}


def test_the_schema_has_a_finite_range_for_every_number():
    schema = BacktestOverrides.model_json_schema()

    def numbers(node):
        if isinstance(node, dict):
            if node.get("type") in ("number", "integer"):
                yield node
            for value in node.values():
                yield from numbers(value)
        elif isinstance(node, list):
            for value in node:
                yield from numbers(value)

    found = list(numbers(schema))
    assert found
    for node in found:
        assert {"minimum", "exclusiveMinimum"} & set(node), node
        assert {"maximum", "exclusiveMaximum"} & set(node), node
        assert "default" not in node
