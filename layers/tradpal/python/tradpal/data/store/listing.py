"""The listing: what the store holds, with ranges and quality scores.

Each dataset directory has a ``_manifest.json`` that caches the footers of its
data files (see :mod:`tradpal.data.store.codec`). It is a cache, never the
truth: a write deletes it before touching any data file and writes it again
afterwards, and a manifest is used only when it lists exactly the data files
present, with their sizes. After a crash, or when files were changed by other
tools, the entry is rebuilt from the footers. So the listing is consistent with
the data after any crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tradpal.data.contract import MarketMeta
from tradpal.data.store.codec import FORMAT_VERSION, FileRecord


@dataclass(frozen=True)
class StoredDataset:
    """One stored dataset.

    ``first`` and ``last`` are the open times (UTC) of its first and last bar;
    ``quality_score`` (0..100) is the row-weighted mean of the quality scores
    of its files, each computed on the file's rows when it was written (gaps
    across file boundaries are not counted); ``updated_at`` is when a file of
    it was last written.
    """

    symbol: str
    timeframe: str
    source: str
    first: pd.Timestamp
    last: pd.Timestamp
    rows: int
    quality_score: float
    updated_at: pd.Timestamp
    synthetic: bool
    files: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (times as ISO 8601 strings)."""
        return {
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "source": self.source,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "rows": self.rows,
            "quality_score": self.quality_score,
            "updated_at": self.updated_at.isoformat(),
            "synthetic": self.synthetic,
            "files": self.files,
        }


def latest(records: list[FileRecord]) -> FileRecord:
    """The most recently written record (the later period on a tie)."""
    return max(records, key=lambda r: (r.written_at, r.key))


def entry_from_records(symbol: str, timeframe: str, records: list[FileRecord]) -> StoredDataset:
    """The listing entry of a dataset made of ``records`` (at least one)."""
    rows = sum(r.rows for r in records)
    score = sum(r.score * r.rows for r in records) / rows if rows else 0.0
    newest = latest(records)
    return StoredDataset(
        symbol=symbol,
        timeframe=timeframe,
        source=newest.meta.source,
        first=_ts(min(r.first for r in records)),
        last=_ts(max(r.last for r in records)),
        rows=rows,
        quality_score=round(score, 2),
        updated_at=_ts(newest.written_at),
        synthetic=any(r.meta.synthetic for r in records),
        files=len(records),
    )


def encode_manifest(symbol: str, timeframe: str, records: list[FileRecord]) -> bytes:
    doc = {
        "format": FORMAT_VERSION,
        "symbol": symbol,
        "timeframe": timeframe,
        "files": {r.key: {"size": r.size, **r.to_json()} for r in records},
    }
    return json.dumps(doc, sort_keys=True, indent=1).encode()


def decode_manifest(data: bytes | None) -> dict[str, FileRecord] | None:
    """The records of a manifest, or ``None`` when it is absent or unreadable."""
    if not data:
        return None
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT_VERSION:
            return None
        return {
            key: FileRecord.from_json(key, d, int(d["size"])) for key, d in doc["files"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged cache is rebuilt, never trusted


def merge_meta(old: MarketMeta | None, new: MarketMeta) -> MarketMeta:
    """The meta of a file holding ``old``'s rows merged with ``new``'s.

    The newer meta wins, except that repairs and fallbacks accumulate (a file
    keeps telling what was done to any of its rows, up to the last
    :data:`MAX_NOTES` distinct notes) and ``synthetic`` sticks.
    """
    if old is None:
        return new
    return new.evolve(
        repairs=_union(old.repairs, new.repairs),
        fallback=_union(old.fallback, new.fallback),
        synthetic=old.synthetic or new.synthetic,
    )


MAX_NOTES = 50
"""Repairs and fallbacks a file keeps (the most recent), so its footer stays small
however many updates it has seen."""


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    notes = tuple(dict.fromkeys((*a, *b)))
    return notes[-MAX_NOTES:]


def _ts(ns: int) -> pd.Timestamp:
    return pd.Timestamp(ns, unit="ns", tz="UTC")
