"""The API's shared field rules say in the document what their validators check: every time
the pattern allows parses (and none it refuses does), every strategy name it allows is one
the library's parser reads, every indicator entry it allows is one the library computes, and
the most candles a request may post fit the gateway's body limit."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from tradpal.platform.api_fields import (
    BUILTIN_STRATEGIES,
    CURSOR_PATTERN,
    FIRST_YEAR,
    IDEMPOTENCY_KEY_PATTERN,
    LAST_YEAR,
    STRATEGY_PATTERN,
    SYMBOL_PATTERN,
    TIME_PATTERN,
    ApiTime,
    Params,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


class Timed(BaseModel):
    time: ApiTime


class WithParams(BaseModel):
    params: Params = {}


@SETTINGS
@given(st.datetimes(), st.integers(-(24 * 60 - 1), 24 * 60 - 1))
def test_a_time_is_accepted_exactly_when_its_year_is_in_the_pattern(naive, offset_minutes):
    # RFC 3339 (format: date-time): offsets in whole minutes
    t = naive.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = t.isoformat()
    allowed = re.match(TIME_PATTERN, text) is not None
    assert allowed == (FIRST_YEAR <= t.year <= LAST_YEAR)
    if allowed:
        parsed = Timed(time=text).time
        # whatever the offset, it is a time pandas keeps (int64 nanoseconds)
        assert datetime(1677, 9, 22, tzinfo=UTC) < parsed < datetime(2262, 4, 11, tzinfo=UTC)
    else:
        with pytest.raises(ValidationError, match="give a time in the years 1678 to 2261"):
            Timed(time=text)


def test_a_leap_second_is_outside_the_pattern_and_a_date_alone_is_still_taken():
    assert re.match(TIME_PATTERN, "2016-12-31T23:59:60Z") is None
    assert re.match(TIME_PATTERN, "2016-12-31T23:59:59.999999999Z")
    assert Timed(time="2024-01-31").time == datetime(2024, 1, 31)  # naive: the model's UTC


def test_the_year_bounds_hold_with_any_offset():
    for text in ("1678-01-01T00:00:00+23:59", "2261-12-31T23:59:59-23:59"):
        t = Timed(time=text).time.astimezone(UTC)
        assert datetime(1677, 9, 22, tzinfo=UTC) < t < datetime(2262, 4, 11, tzinfo=UTC)


@pytest.mark.parametrize("value", [1700000000, True, None, [], "", "yesterday", "12:00"])
def test_a_time_that_is_not_iso_text_is_refused_saying_what_to_send(value):
    with pytest.raises(ValidationError) as caught:
        Timed(time=value)
    (error,) = caught.value.errors()
    assert "ISO 8601" in error["msg"] or "time" in error["msg"]
    assert "repr" not in error["msg"]


@SETTINGS
@given(st.from_regex(STRATEGY_PATTERN, fullmatch=True))
def test_every_strategy_name_the_pattern_allows_is_one_the_library_parses(text):
    from tradpal.strategies.reference import parse_reference

    ref = parse_reference(text)
    assert ref.path is None and ref.name == text.split("@")[0].split("+")[0]


def test_the_documented_builtins_are_the_registry_s():
    from tradpal.strategies import STRATEGIES

    assert set(BUILTIN_STRATEGIES) == set(STRATEGIES)


@pytest.mark.parametrize(
    "text", ["./my.py:breakout", "ema crossover", "ema_crossover+atr+atr", "x@7h", "", "9lives"]
)
def test_names_the_library_would_refuse_or_that_name_files_are_outside_the_pattern(text):
    assert re.match(STRATEGY_PATTERN, text) is None


@pytest.mark.parametrize("symbol", ["BTC/USDT", "BTC/USDT:USDT", "^GSPC", "BRK.B", "EURUSD=X"])
def test_market_symbols_fit_the_symbol_pattern_and_the_store(symbol):
    from tradpal.data.store.layout import encode_symbol

    assert re.match(SYMBOL_PATTERN, symbol)
    encode_symbol(symbol)


@SETTINGS
@given(st.from_regex(SYMBOL_PATTERN, fullmatch=True))
def test_the_store_keeps_every_symbol_the_pattern_allows(symbol):
    from tradpal.data.store.layout import decode_symbol, encode_symbol

    assert decode_symbol(encode_symbol(symbol)) == symbol


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"fast": 10**400}, "from -1e9 to 1e9"),  # an integer beyond float range: no 500
        ({"fast": 1e10}, "from -1e9 to 1e9"),
        ({"fast": [1]}, "not a list"),
        ({"fast": None}, "not null"),
        ({"a b": 1}, "pattern"),
    ],
)
def test_param_values_are_bounded_scalars(params, said):
    with pytest.raises(ValidationError, match=re.escape(said)):
        WithParams(params=params)


def test_param_values_in_range_are_kept_as_given():
    params = {"fast": 9, "k": 2.5, "exit": "middle", "flag": True}
    assert WithParams(params=params).params == params


def test_the_idempotency_key_and_cursor_patterns_fit_what_the_runs_api_takes_and_makes():
    from tradpal.runs.api import MAX_KEY_LENGTH

    assert re.match(IDEMPOTENCY_KEY_PATTERN, "k" * MAX_KEY_LENGTH)
    assert not re.match(IDEMPOTENCY_KEY_PATTERN, "k" * (MAX_KEY_LENGTH + 1))
    assert not re.match(IDEMPOTENCY_KEY_PATTERN, "two words")
    import base64

    raw = json.dumps(["2026-12-03T08:00:00.123Z", "00000000-0000-4000-8000-000000000000"])
    cursor = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()
    assert re.match(CURSOR_PATTERN, cursor)


def test_the_most_candles_a_request_may_post_fit_the_body_limit_in_ordinary_json():
    """40,000 candles were 6.36 MB and got 413 although the schema allowed them: the item
    limit is now one the byte limit holds, with floats at full precision and times with
    their offset, compact, as json.dumps writes them and even pretty-printed."""
    import random

    from tradpal.platform.candles import MAX_CANDLES
    from tradpal.platform.catalog import MAX_BODY_BYTES

    rng = random.Random(7)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)

    def candle(i: int) -> dict:
        o = rng.uniform(10_000, 99_999)
        return {
            "time": (t0 + timedelta(minutes=i)).isoformat(),
            "open": o,
            "high": o * 1.012345678901,
            "low": o * 0.987654321098,
            "close": o * 1.001234567891,
            "volume": rng.uniform(100_000, 999_999),
        }

    body = {
        "symbol": "BTC/USDT:USDT",
        "timeframe": "1m",
        "strategy": "confluence+atr",
        "params": {"ema_fast": 12, "ema_slow": 26},
        "policy": "repair",
        "candles": [candle(i) for i in range(MAX_CANDLES)],
    }
    for style in ({"separators": (",", ":")}, {}, {"indent": 2}):
        assert len(json.dumps(body, **style).encode()) < MAX_BODY_BYTES, style
