"""Where the store keeps each dataset: safe symbol names, partitions and file periods.

Layout under the store root (a local directory or ``bucket/prefix`` on S3)::

    ohlcv/symbol=<encoded symbol>/timeframe=<tf>/<period>.parquet
    ohlcv/symbol=<encoded symbol>/timeframe=<tf>/_manifest.json

The directories use Hive's ``key=value`` style, so Athena, DuckDB or
``pyarrow.dataset(..., partitioning="hive")`` can read the tree as one table.

**Symbols** are percent-encoded (RFC 3986 style, upper-case hex over UTF-8):
``A-Z 0-9 - _`` and ``.`` (not in first place) stay as they are, everything
else becomes ``%XX``: ``BTC/USDT`` -> ``BTC%2FUSDT``, ``BTC/USDT:USDT`` ->
``BTC%2FUSDT%3AUSDT``, ``^GSPC`` -> ``%5EGSPC``. Lower-case letters are encoded
too, so that ``abc`` and ``ABC`` stay two directories on case-insensitive file
systems (macOS, Windows). Decoding is ``urllib.parse.unquote``, which is also
what Hive-style readers apply to partition values.

**Periods**: each dataset is split into files by calendar period of the bar
open time (UTC), so that appending new bars rewrites only the newest file and
no file grows without bound. The period is chosen per timeframe so that one
file holds at most about 45,000 bars (about 2 MB):

* ``month`` (``2024-03.parquet``) for 1m, 3m and 5m bars (more than 100,000 bars a year);
* ``year`` (``2024.parquet``) for 15m to 6h bars;
* ``all`` (``all.parquet``) for 12h, 1d and 1w bars (at most 730 bars a year).

Files whose name starts with ``.`` or ``_`` (temporary files, the manifest) are
never data: the store and pyarrow's dataset discovery both skip them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

import pandas as pd

from tradpal.errors import StoreError
from tradpal.timeframes import Timeframe, parse_timeframe

OHLCV_DIR = "ohlcv"
MANIFEST_NAME = "_manifest.json"
DATA_SUFFIX = ".parquet"
MAX_ENCODED_SYMBOL = 200  # bytes; file names are limited to 255 on most file systems

_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_YEAR_SECONDS = 365.25 * 86400
_MONTH_KEY = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR_KEY = re.compile(r"^(\d{4})$")
_ALL_KEY = "all"


def encode_symbol(symbol: str) -> str:
    """The directory-safe, reversible name of ``symbol`` (see the module docstring)."""
    if not isinstance(symbol, str) or not symbol.strip():
        raise StoreError(
            f"invalid symbol {symbol!r}",
            hint="use a non-empty symbol such as 'BTC/USDT' or 'AAPL'",
        )
    try:
        symbol.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate ("\ud800") names no file
        raise StoreError(
            f"invalid symbol: character {exc.start + 1} is a lone surrogate "
            f"(U+{ord(symbol[exc.start]):04X}), not text",
            hint="send the symbol as plain text, such as 'BTC/USDT'",
        ) from None
    out: list[str] = []
    for i, ch in enumerate(symbol):
        if ch in _SAFE or (ch == "." and i > 0):
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8"))
    encoded = "".join(out)
    if len(encoded) > MAX_ENCODED_SYMBOL:
        raise StoreError(
            f"symbol {symbol[:40]!r}... is too long to store ({len(encoded)} bytes encoded)",
            hint=f"symbols may take at most {MAX_ENCODED_SYMBOL} bytes once encoded",
        )
    return encoded


def decode_symbol(name: str) -> str:
    """The symbol that :func:`encode_symbol` turned into ``name``."""
    return unquote(name, errors="strict")


def period_kind(timeframe: Timeframe) -> str:
    """``"month"``, ``"year"`` or ``"all"``: how a dataset of ``timeframe`` is split into files."""
    bars_per_year = _YEAR_SECONDS / timeframe.seconds
    if bars_per_year > 100_000:
        return "month"
    if bars_per_year > 1_000:
        return "year"
    return "all"


def period_keys(index: pd.DatetimeIndex, timeframe: Timeframe) -> list[str]:
    """The period key (file stem) of each bar of ``index``."""
    kind = period_kind(timeframe)
    if kind == "all":
        return [_ALL_KEY] * len(index)
    years = index.year
    if kind == "year":
        return [f"{y:04d}" for y in years]
    return [f"{y:04d}-{m:02d}" for y, m in zip(years, index.month, strict=True)]


def period_bounds(key: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """``[start, end)`` of the bars a period file may hold (``None``: unbounded)."""
    m = _MONTH_KEY.match(key)
    if m:
        start = pd.Timestamp(year=int(m.group(1)), month=int(m.group(2)), day=1, tz="UTC")
        return start, start + pd.DateOffset(months=1)
    m = _YEAR_KEY.match(key)
    if m:
        start = pd.Timestamp(year=int(m.group(1)), month=1, day=1, tz="UTC")
        return start, start + pd.DateOffset(years=1)
    if key == _ALL_KEY:
        return None, None
    raise ValueError(f"not a period key: {key!r}")


def is_period_key(key: str) -> bool:
    return bool(_MONTH_KEY.match(key) or _YEAR_KEY.match(key)) or key == _ALL_KEY


def period_overlaps(key: str, start: pd.Timestamp | None, end: pd.Timestamp | None) -> bool:
    """Whether the period ``key`` may hold bars with open time in ``[start, end)``."""
    lo, hi = period_bounds(key)
    if start is not None and hi is not None and hi <= start:
        return False
    return not (end is not None and lo is not None and lo >= end)


def period_sort_key(key: str) -> tuple[int, str]:
    """Orders period keys by time (``all`` first: it is the only one in its dataset)."""
    return (0 if key == _ALL_KEY else 1, key)


@dataclass(frozen=True)
class DatasetPath:
    """The directory of one dataset (symbol and timeframe) under a store root."""

    root: str
    symbol: str
    timeframe: Timeframe

    @classmethod
    def of(cls, root: str, symbol: str, timeframe: str | Timeframe) -> DatasetPath:
        return cls(root, symbol, parse_timeframe(timeframe))

    @property
    def directory(self) -> str:
        return join(
            self.root,
            OHLCV_DIR,
            f"symbol={encode_symbol(self.symbol)}",
            f"timeframe={self.timeframe.name}",
        )

    @property
    def manifest(self) -> str:
        return join(self.directory, MANIFEST_NAME)

    def file(self, key: str) -> str:
        return join(self.directory, key + DATA_SUFFIX)

    @property
    def label(self) -> str:
        return f"{self.symbol} {self.timeframe.name}"


def data_file_key(name: str) -> str | None:
    """The period key of a data file's base name, or ``None`` for anything else."""
    if name.startswith((".", "_")) or not name.endswith(DATA_SUFFIX):
        return None
    key = name[: -len(DATA_SUFFIX)]
    return key if is_period_key(key) else None


def parse_dataset_dir(relative: str) -> tuple[str, str] | None:
    """``(symbol, timeframe)`` from ``symbol=<enc>/timeframe=<tf>``, or ``None``."""
    parts = relative.strip("/").split("/")
    if (
        len(parts) != 2
        or not parts[0].startswith("symbol=")
        or not parts[1].startswith("timeframe=")
    ):
        return None
    try:
        symbol = decode_symbol(parts[0][len("symbol=") :])
        tf = parse_timeframe(parts[1][len("timeframe=") :]).name
    except (UnicodeDecodeError, ValueError):
        return None
    return symbol, tf


def join(*parts: str) -> str:
    """Join path parts with ``/`` (the separator of every pyarrow file system)."""
    head, *rest = parts
    return "/".join([head.rstrip("/"), *(p.strip("/") for p in rest)])
