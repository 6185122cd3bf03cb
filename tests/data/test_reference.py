"""A data reference is checked when it is made: times ISO and normalised, a store needs a
symbol, sample-only fields only for the sample, an end after the start, no open range that
starts in the future; an open end is pinned to the bar forming now."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from tradpal.data.reference import MAX_SAMPLE_BARS, DataRef
from tradpal.runs.requests import PlatformDataRef


def fields_of(exc: ValidationError) -> list[str]:
    return [".".join(map(str, e["loc"])) for e in exc.errors()]


def test_times_are_normalised_to_utc_iso():
    ref = DataRef(source="sample", start="2024-01-01", end="2024-01-02T12:00+02:00")
    assert ref.start == "2024-01-01T00:00:00+00:00" and ref.end == "2024-01-02T10:00:00+00:00"


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"source": "store"}, "symbol"),
        ({"source": "store", "symbol": "X", "seed": 1}, "seed"),
        ({"source": "sample", "bars": MAX_SAMPLE_BARS + 1}, "bars"),
        ({"source": "sample", "start": "2024-01-02", "end": "2024-01-01"}, "end"),
        ({"source": "sample", "start": "2999-01-01"}, "start"),
        ({"source": "sample", "start": 20240101}, "start"),
        ({"source": "sample", "start": "soon"}, "start"),
        ({"source": "sample", "timeframe": "7h"}, "timeframe"),
    ],
)
def test_bad_references_name_the_field(given, field):
    with pytest.raises(ValidationError) as caught:
        DataRef(**given)
    assert fields_of(caught.value) == [field]


def test_an_open_end_is_pinned_to_the_bar_forming_now():
    now = pd.Timestamp("2024-05-01T13:37:00Z")
    ref = DataRef(source="sample", timeframe="4h").pinned(now)
    assert ref.end == "2024-05-01T12:00:00+00:00"
    closed = DataRef(source="sample", end="2024-01-01")
    assert closed.pinned(now) is closed


def test_the_platform_reads_its_store_or_the_sample_only():
    with pytest.raises(ValidationError) as caught:
        PlatformDataRef(source="prices.csv")
    assert fields_of(caught.value) == ["source"]
    assert DataRef(source="prices.csv").to_json() == {"source": "prices.csv", "timeframe": "1h"}
