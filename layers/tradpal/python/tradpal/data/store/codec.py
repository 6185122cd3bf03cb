"""Parquet encoding of one period file, with the dataset's metadata in its footer.

A data file holds the columns ``time`` (``timestamp[ns, UTC]``, the bar open
time) and ``open high low close volume`` (float64), sorted by time, and one
schema metadata entry ``tradpal``: JSON with the :class:`MarketMeta`, the row
count, first and last bar (epoch ns), the quality score of the file's rows
and when it was written. The footer alone therefore describes the file, so the
listing can always be rebuilt from the data files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradpal.data.contract import OHLCV_COLUMNS, MarketMeta, make_ohlcv
from tradpal.errors import StoreError

FORMAT_VERSION = 1
METADATA_KEY = b"tradpal"
TIME_COLUMN = "time"
SCHEMA = pa.schema(
    [pa.field(TIME_COLUMN, pa.timestamp("ns", tz="UTC"), nullable=False)]
    + [pa.field(c, pa.float64()) for c in OHLCV_COLUMNS]
)
# Row groups small enough that a time filter can skip most of a month of 1m bars.
ROW_GROUP_SIZE = 8192


@dataclass(frozen=True)
class FileRecord:
    """What one data file holds, as written in its footer (times in epoch ns)."""

    key: str
    rows: int
    first: int
    last: int
    score: float
    issues: dict[str, int]
    written_at: int
    meta: MarketMeta
    size: int = -1  # bytes on storage; -1 when not known yet

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "rows": self.rows,
            "first": self.first,
            "last": self.last,
            "quality": {"score": self.score, "issues": self.issues},
            "written_at": self.written_at,
            "meta": self.meta.to_dict(),
        }

    @classmethod
    def from_json(cls, key: str, d: dict[str, Any], size: int = -1) -> FileRecord:
        return cls(
            key=key,
            rows=int(d["rows"]),
            first=int(d["first"]),
            last=int(d["last"]),
            score=float(d["quality"]["score"]),
            issues={str(k): int(v) for k, v in d["quality"].get("issues", {}).items()},
            written_at=int(d["written_at"]),
            meta=MarketMeta.from_dict(d["meta"]),
            size=size,
        )


def check_meta(meta: MarketMeta) -> str:
    """``meta`` as JSON; :class:`StoreError` when it holds values JSON cannot keep."""
    try:
        return json.dumps(meta.to_dict(), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"the metadata of {meta.label} cannot be stored: {exc}",
            hint="MarketMeta.extra may hold only JSON values (str, int, float, bool, "
            "None, lists and dicts of them)",
        ) from None


def encode(frame: pd.DataFrame, record: FileRecord) -> pa.Buffer:
    """The Parquet bytes of ``frame`` (a contract frame) with ``record`` in the footer."""
    check_meta(record.meta)
    note = json.dumps(record.to_json(), allow_nan=False, sort_keys=True)
    arrays = [pa.array(frame.index.asi8, type=pa.int64()).cast(SCHEMA.field(0).type)]
    arrays += [pa.array(frame[c].to_numpy(dtype=np.float64)) for c in OHLCV_COLUMNS]
    table = pa.Table.from_arrays(arrays, schema=SCHEMA.with_metadata({METADATA_KEY: note}))
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        row_group_size=ROW_GROUP_SIZE,
        use_dictionary=False,  # prices and times rarely repeat
        write_statistics=True,
    )
    return sink.getvalue()


def record_from_metadata(key: str, metadata: dict[bytes, bytes] | None, size: int) -> FileRecord:
    """The :class:`FileRecord` in a file's schema metadata."""
    raw = (metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise StoreError(
            f"data file {key}.parquet has no TradPal metadata",
            hint="the file was not written by TradPal; move it out of the store",
        )
    try:
        return FileRecord.from_json(key, json.loads(raw), size)
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(
            f"data file {key}.parquet has damaged TradPal metadata ({exc!r})",
            hint="delete the dataset and fetch it again",
        ) from None


def table_to_frame(table: pa.Table, meta: MarketMeta) -> pd.DataFrame:
    """A contract frame from a table in :data:`SCHEMA`, with ``meta`` attached."""
    time = table.column(TIME_COLUMN).cast(pa.int64()).to_numpy()
    cols = [table.column(c).to_numpy() for c in OHLCV_COLUMNS]
    return make_ohlcv(time, *cols, meta=meta)


def frame_record(
    key: str,
    frame: pd.DataFrame,
    meta: MarketMeta,
    score: float,
    issues: dict[str, int],
    written_at: int,
) -> FileRecord:
    """The record of ``frame`` (non-empty) about to be written as period ``key``."""
    t = frame.index.asi8
    return FileRecord(key, len(frame), int(t[0]), int(t[-1]), score, issues, written_at, meta)
