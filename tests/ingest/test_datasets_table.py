"""The datasets table: an item is the record, exactly (floats, booleans, the quality report
as JSON); against moto, records are written, read, listed and their marks advanced."""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from tradpal.ingest.datasets_table import DatasetRecord, DatasetsTable, from_item, to_item
from tradpal.ingest.watermarks import Watermarks

RECORD = DatasetRecord(
    symbol="BTC/USDT", timeframe="1h", source="ccxt:binance", first="2024-01-01T00:00:00+00:00",
    last="2024-01-02T00:00:00+00:00", rows=25, quality_score=97.5, updated_at="2024-01-02T01:00:00",
    synthetic=False, files=1, quality={"score": 97.5, "rules": [{"name": "gaps", "count": 0}]},
)  # fmt: skip


@given(score=st.floats(0, 100), rows=st.integers(0, 10**9), synthetic=st.booleans())
def test_an_item_round_trips_exactly(score, rows, synthetic):
    record = RECORD.model_copy(
        update={"quality_score": score, "rows": rows, "synthetic": synthetic}
    )
    item = to_item(record)
    assert item["symbol"] == {"S": "BTC/USDT"} and item["synthetic"] == {"BOOL": synthetic}
    assert from_item(item) == record


def test_records_are_put_read_listed_and_marked(aws):
    table = DatasetsTable()
    assert table.is_empty() and table.get("BTC/USDT", "1h") is None
    table.put(RECORD)
    table.put(RECORD.model_copy(update={"timeframe": "4h"}))
    table.put(RECORD.model_copy(update={"symbol": "ETH/USDT"}))
    assert table.get("BTC/USDT", "1h") == RECORD and not table.is_empty()
    assert [(r.symbol, r.timeframe) for r in table.list()] == [
        ("BTC/USDT", "1h"), ("BTC/USDT", "4h"), ("ETH/USDT", "1h"),
    ]  # fmt: skip
    assert [r.timeframe for r in table.list("BTC/USDT")] == ["1h", "4h"]
    assert [r.symbol for r in table.list(timeframe="1h")] == ["BTC/USDT", "ETH/USDT"]
    t = pd.Timestamp("2024-01-02", tz="UTC")
    table.set_marks("BTC/USDT", "1h", Watermarks(streamed_last=t))
    assert table.get("BTC/USDT", "1h").marks == Watermarks(t, None)
    table.set_marks("BTC/USDT", "1h", Watermarks(announced_last=t))
    assert table.get("BTC/USDT", "1h").marks == Watermarks(t, t)
