"""The datasets table made to mirror the store after an ingest was cut off between storing bars
and listing them (what a kill -9 of the local platform left: GET /v1/data said less than was
stored, or nothing at all): the items are rewritten from the store, watermarks kept, and the
next ingest puts on the stream exactly the bars that never went out."""

from __future__ import annotations

import json

import pandas as pd

from tradpal.ingest.datasets_table import DatasetsTable
from tradpal.ingest.pipeline import ingest, reconcile_datasets, source_for

SOURCE = "synthetic:seed=3"
T0 = pd.Timestamp("2024-01-01", tz="UTC")
HOUR = pd.Timedelta(hours=1)


def streamed(aws) -> list[str]:
    """Every bar time on the market-data stream so far."""
    kinesis, name = aws.client("kinesis"), aws.env.market_data_stream
    shard = kinesis.list_shards(StreamName=name)["Shards"][0]["ShardId"]
    it = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    out = []
    while True:
        got = kinesis.get_records(ShardIterator=it, Limit=10_000)
        out += [json.loads(r["Data"])["time"] for r in got["Records"]]
        it = got["NextShardIterator"]
        if not got["Records"]:
            return out


def stored_without_listing(aws, start: pd.Timestamp, end: pd.Timestamp) -> None:
    """Bars stored as an ingest stores them, cut off before it wrote the table."""
    from tradpal.config import load_settings

    store = aws.env.market_store()
    store.update(source_for(load_settings(), SOURCE), "SYN/USD", "1h", start, end)


def test_a_cut_off_ingest_is_listed_and_its_bars_go_out_once(aws):
    ingest("SYN/USD", "1h", T0, T0 + 100 * HOUR, source=SOURCE)
    assert len(streamed(aws)) == 100
    stored_without_listing(aws, T0, T0 + 150 * HOUR)
    table = DatasetsTable()
    assert table.get("SYN/USD", "1h").rows == 100  # what GET /v1/data said after the crash

    [repaired] = reconcile_datasets()
    assert (repaired.rows, repaired.last) == (150, (T0 + 149 * HOUR).isoformat())
    assert table.get("SYN/USD", "1h") == repaired
    assert repaired.streamed_last == (T0 + 99 * HOUR).isoformat()  # kept
    assert repaired.quality["ok"] is True
    assert reconcile_datasets() == []  # nothing left to repair

    done = ingest("SYN/USD", "1h", T0, T0 + 150 * HOUR, source=SOURCE)
    assert done.bars_written == 0 and done.new_bars == 50  # the 50 that never went out
    times = streamed(aws)
    assert len(times) == len(set(times)) == 150


def test_a_first_ingest_cut_off_before_its_item_streams_all_its_bars_next_time(aws):
    stored_without_listing(aws, T0, T0 + 80 * HOUR)
    assert DatasetsTable().is_empty()
    [repaired] = reconcile_datasets()
    assert repaired.rows == 80 and repaired.streamed_last is None
    done = ingest("SYN/USD", "1h", T0, T0 + 80 * HOUR, source=SOURCE)
    assert done.new_bars == 80 and done.event_id is not None
    assert len(streamed(aws)) == 80
