"""market_data.require_stored_data, the one submit-time check of a store data reference
(backtests, discovery, indicators and signals call it): the range edges, the field names,
and that it answers from the listing and manifest without reading bars."""

from __future__ import annotations

import pandas as pd
import pytest

from tradpal.data.sources.synthetic import generate_ohlcv
from tradpal.data.store import MarketStore
from tradpal.errors import FieldError
from tradpal.platform.http import ApiError
from tradpal.platform.market_data import require_stored_data

FIRST, LAST = pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-10 23:00", tz="UTC")
NS = pd.Timedelta(1, "ns")


@pytest.fixture
def stored(aws, monkeypatch):
    aws.env.market_store().write(generate_ohlcv(240, "1h", seed=5, start="2024-01-01"))

    def no_reading(*args, **kwargs):
        raise AssertionError("require_stored_data read bars")

    monkeypatch.setattr(MarketStore, "read", no_reading)
    return aws


def refused(data: dict, field: str = "body.data") -> ApiError:
    with pytest.raises(ApiError) as got:
        require_stored_data(data, field=field)
    return got.value


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (None, None),
        (LAST, None),  # the last bar itself
        (None, FIRST + NS),  # only the first bar
        (FIRST - pd.Timedelta(days=300), LAST + pd.Timedelta(days=300)),
        ("2024-01-05", "2024-01-06"),  # ISO text, naive = UTC
    ],
)
def test_ranges_holding_a_bar_pass_without_reading_bars(stored, start, end):
    assert require_stored_data({"symbol": "SYN/USD", "start": start, "end": end}) is None


@pytest.mark.parametrize(
    ("start", "end"),
    [(LAST + NS, None), (None, FIRST), (FIRST - pd.Timedelta(days=1), FIRST)],
)
def test_ranges_beside_the_stored_bars_are_404(stored, start, end):
    error = refused({"source": "store", "symbol": "SYN/USD", "start": start, "end": end})
    assert error.status == 404 and error.code == "not_found"
    assert error.details[0]["field"] == "body.data.start"
    assert f"stored from {FIRST.isoformat()} to {LAST.isoformat()}" in error.details[0]["message"]


def test_datasets_not_stored_name_what_is(stored):
    error = refused({"symbol": "SYN/USD", "timeframe": "1d"}, field="query")
    assert (error.status, error.details[0]["field"]) == (404, "query.timeframe")
    assert error.details[0]["message"] == "SYN/USD is stored at 1h, not 1d"
    error = refused({"symbol": "SYN/USDT"})  # a longer symbol sharing the prefix
    assert error.details[0]["field"] == "body.data.symbol"
    assert "GET /v1/data" in error.details[0]["hint"]
    assert "s3://" not in str(error.message) + str(error.details)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"symbol": "SYN/USD", "start": "2024-01-03", "end": "2024-01-03"}, "body.data.end"),
        ({"symbol": "SYN/USD", "start": "yesterday-ish"}, "body.data.start"),
        ({"symbol": "SYN/USD", "timeframe": "7h"}, "body.data.timeframe"),
        ({"timeframe": "1h"}, "body.data.symbol"),
    ],
)
def test_malformed_references_are_400_naming_the_field(stored, data, field):
    with pytest.raises(FieldError) as got:
        require_stored_data(data)
    assert got.value.field == field and got.value.hint  # the API answers 400 naming it


def test_sample_data_needs_no_store():
    # no moto, no environment: the sample is built, never looked up
    assert require_stored_data({"source": "sample", "symbol": "NOPE/USD"}) is None
