"""Pure parts of the store: symbol encoding, file periods, update planning."""

from __future__ import annotations

import itertools
import re

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.data.contract import MarketMeta
from tradpal.data.store import decode_symbol, encode_symbol, period_kind
from tradpal.data.store.layout import (
    data_file_key,
    parse_dataset_dir,
    period_bounds,
    period_keys,
    period_overlaps,
)
from tradpal.data.store.listing import MAX_NOTES, merge_meta
from tradpal.data.store.plan import Span, ceil_to_bar, chunk_span, missing_spans
from tradpal.errors import StoreError
from tradpal.timeframes import TIMEFRAMES, parse_timeframe

SAFE_NAME = re.compile(r"^[A-Z0-9_\-%][A-Z0-9_\-.%]*$")
H = parse_timeframe("1h")
HOUR = H.nanoseconds


@pytest.mark.parametrize(
    ("symbol", "encoded"),
    [
        ("BTC/USDT", "BTC%2FUSDT"),
        ("BTC/USDT:USDT", "BTC%2FUSDT%3AUSDT"),
        ("^GSPC", "%5EGSPC"),
        ("BRK.B", "BRK.B"),
        ("EURUSD=X", "EURUSD%3DX"),
        ("eth", "%65%74%68"),
        (".HIDDEN", "%2EHIDDEN"),
    ],
)
def test_symbols_encode_to_safe_reversible_names(symbol: str, encoded: str) -> None:
    assert encode_symbol(symbol) == encoded
    assert decode_symbol(encoded) == symbol


@given(st.text(min_size=1, max_size=40).filter(lambda s: s.strip()))
def test_symbol_encoding_is_reversible_and_path_safe(symbol: str) -> None:
    try:
        encoded = encode_symbol(symbol)
    except StoreError as err:  # non-ASCII text can grow past the 200-byte name limit
        assert "too long" in str(err) and len(symbol.encode()) * 3 > 200
        return
    assert decode_symbol(encoded) == symbol
    assert SAFE_NAME.match(encoded), encoded  # no separators, no "=", never hidden


@given(st.text(min_size=1, max_size=12), st.text(min_size=1, max_size=12))
def test_distinct_symbols_stay_distinct_on_case_insensitive_file_systems(a: str, b: str) -> None:
    if a.strip() and b.strip() and a != b:
        assert encode_symbol(a).lower() != encode_symbol(b).lower()


@pytest.mark.parametrize("bad", ["", "   ", None, "X" * 300, "\ud800", "BTC/\udfffUSD"])
def test_bad_symbols_are_refused(bad: object) -> None:
    # a lone surrogate was a UnicodeEncodeError (a 500 at the API, a traceback in the CLI)
    with pytest.raises(StoreError) as err:
        encode_symbol(bad)  # type: ignore[arg-type]
    assert err.value.hint and "\\u" not in str(err.value)


def test_period_per_timeframe_bounds_file_sizes() -> None:
    kinds = {name: period_kind(tf) for name, tf in TIMEFRAMES.items()}
    assert kinds == {
        "1m": "month", "3m": "month", "5m": "month",
        "15m": "year", "30m": "year", "1h": "year", "2h": "year", "4h": "year", "6h": "year",
        "12h": "all", "1d": "all", "1w": "all",
    }  # fmt: skip
    # The largest file: a month of 1m bars, a year of 15m bars, 50 years of 12h bars.
    assert 31 * 1440 < 50_000 and 366 * 96 < 50_000 and 50 * 366 * 2 < 50_000


def test_period_keys_and_bounds_agree() -> None:
    idx = pd.date_range("2023-12-31 23:00", periods=3, freq="30min", tz="UTC")
    assert period_keys(idx, parse_timeframe("1m")) == ["2023-12", "2023-12", "2024-01"]
    assert period_keys(idx, H) == ["2023", "2023", "2024"]
    assert period_keys(idx, parse_timeframe("1d")) == ["all"] * 3
    for key, t in zip(period_keys(idx, parse_timeframe("1m")), idx, strict=True):
        lo, hi = period_bounds(key)
        assert lo <= t < hi
    assert period_bounds("2024-02") == (
        pd.Timestamp("2024-02-01", tz="UTC"),
        pd.Timestamp("2024-03-01", tz="UTC"),
    )
    assert period_overlaps("2023", None, pd.Timestamp("2024-01-01", tz="UTC"))
    assert not period_overlaps("2024", None, pd.Timestamp("2024-01-01", tz="UTC"))
    assert not period_overlaps("2023", pd.Timestamp("2024-01-01", tz="UTC"), None)
    assert period_overlaps("all", pd.Timestamp("2024-01-01", tz="UTC"), None)


def test_only_visible_period_files_are_data() -> None:
    assert data_file_key("2024.parquet") == "2024"
    assert data_file_key("2024-03.parquet") == "2024-03"
    assert data_file_key("all.parquet") == "all"
    for name in (".2024.parquet.ab12.tmp", "_manifest.json", "notes.parquet", "2024.csv"):
        assert data_file_key(name) is None
    assert parse_dataset_dir("symbol=BTC%2FUSDT/timeframe=1h") == ("BTC/USDT", "1h")
    assert parse_dataset_dir("symbol=X/timeframe=7x") is None
    assert parse_dataset_dir("junk") is None


def test_missing_spans_skip_what_is_stored() -> None:
    t = 1_000 * HOUR
    stored = (t + 10 * HOUR, t + 19 * HOUR)
    assert missing_spans(None, t, t + 5 * HOUR, H) == [Span(t, t + 5 * HOUR)]
    assert missing_spans(stored, t, t + 30 * HOUR, H) == [
        Span(t, t + 10 * HOUR, backward=True),
        Span(t + 20 * HOUR, t + 30 * HOUR),
    ]
    assert missing_spans(stored, t + 12 * HOUR, t + 18 * HOUR, H) == []  # all stored
    assert missing_spans(stored, t + 12 * HOUR, t + 25 * HOUR, H) == [
        Span(t + 20 * HOUR, t + 25 * HOUR)
    ]
    assert missing_spans(stored, t, t, H) == []


@given(
    start=st.integers(0, 10_000),
    bars=st.integers(1, 500),
    chunk=st.integers(1, 60),
    backward=st.booleans(),
)
def test_chunks_tile_a_span_in_fetch_order(start: int, bars: int, chunk: int, backward: bool):
    span = Span(start * HOUR, (start + bars) * HOUR, backward)
    parts = chunk_span(span, HOUR, chunk)
    ordered = parts[::-1] if backward else parts
    assert ordered[0].start == span.start and ordered[-1].end == span.end
    assert all(a.end == b.start for a, b in itertools.pairwise(ordered))
    assert all(0 < p.bars(HOUR) <= chunk for p in parts)
    assert all(p.backward == backward for p in parts)


def test_ceil_to_bar_uses_the_weekly_origin() -> None:
    week = parse_timeframe("1w")
    monday = pd.Timestamp("2024-01-08", tz="UTC").value  # a Monday
    assert ceil_to_bar(monday, week) == monday
    assert ceil_to_bar(monday - 1, week) == monday
    assert ceil_to_bar(monday + 1, week) == monday + week.nanoseconds


def test_merged_meta_keeps_recent_notes_and_never_loses_synthetic() -> None:
    old = MarketMeta("X/USD", "1h", "s", synthetic=True, repairs=("a", "b"), fallback=("f1",))
    new = MarketMeta("X/USD", "1h", "s", repairs=("b", "c"), extra={"k": 1})
    merged = merge_meta(old, new)
    assert merged.repairs == ("a", "b", "c") and merged.fallback == ("f1",)
    assert merged.synthetic and merged.extra == {"k": 1}
    assert merge_meta(None, new) == new
    many = MarketMeta("X/USD", "1h", "s", repairs=tuple(f"r{i}" for i in range(MAX_NOTES)))
    capped = merge_meta(many, new.evolve(repairs=("last",)))
    assert len(capped.repairs) == MAX_NOTES and capped.repairs[-1] == "last"
    assert capped.repairs[0] == "r1"
