"""The market-data stream (Kinesis): new candles as :class:`CandleRecord` JSON.

Records are keyed by dataset (partition key ``symbol|timeframe``), so one dataset's candles
stay in order on one shard. The data capability puts them (:func:`put_candles`) and the
signals capability consumes them (:func:`decode_record` on each record of a Lambda Kinesis
batch).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tradpal.events.partial import Outcome, put_all, refusal
from tradpal.events.schemas import CandleRecord, parse_candle
from tradpal.platform.aws import client
from tradpal.platform.environment import platform_env

if TYPE_CHECKING:
    import pandas as pd

STREAM = "market_data"
MAX_RECORDS = 500
"""PutRecords' most records per call."""


def candle_records(
    frame: pd.DataFrame, symbol: str, timeframe: str, source: str
) -> list[dict[str, Any]]:
    """``frame``'s bars as PutRecords entries, in bar order."""
    key = f"{symbol}|{timeframe}"
    cols = [frame[c].tolist() for c in ("open", "high", "low", "close", "volume")]
    return [
        {
            "Data": CandleRecord(
                symbol=symbol, timeframe=timeframe, time=t.isoformat(), source=source,
                open=o, high=h, low=lo, close=c, volume=v,
            ).model_dump_json().encode(),
            "PartitionKey": key,
        }
        for t, o, h, lo, c, v in zip(frame.index, *cols, strict=True)
    ]  # fmt: skip


def put_candles(frame: pd.DataFrame, symbol: str, timeframe: str, source: str) -> int:
    """Put ``frame``'s bars on the market-data stream, in order, in chunks of 500 (records
    the stream refuses are retried: :func:`~tradpal.events.partial.put_all`). Returns the
    number of records put."""
    stream = platform_env().require(f"{STREAM}_stream")
    kinesis = client("kinesis")

    def send(batch: list[dict[str, Any]]) -> list[Outcome]:
        answer = kinesis.put_records(StreamName=stream, Records=batch)
        return [(r.get("SequenceNumber"), refusal(r)) for r in answer["Records"]]

    records = candle_records(frame, symbol, timeframe, source)
    for start in range(0, len(records), MAX_RECORDS):
        put_all(
            records[start : start + MAX_RECORDS],
            send,
            what="the market-data stream",
            hint="the ingest can be retried: bars already put are not put again",
        )
    return len(records)


def decode_record(record: Mapping[str, Any]) -> CandleRecord:
    """The candle of one record of a Lambda Kinesis event (``record["kinesis"]["data"]``,
    base64); :class:`~tradpal.events.EventSchemaError` when it is not a CandleRecord, a
    ConfigError when its timeframe is unknown."""
    from tradpal.timeframes import parse_timeframe

    candle = parse_candle(base64.b64decode(record["kinesis"]["data"]))
    parse_timeframe(candle.timeframe)  # names the known ones
    return candle
