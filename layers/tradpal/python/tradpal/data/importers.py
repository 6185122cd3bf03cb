"""File importers: Kaggle Bitcoin history, Binance kline exports, any CSV/Parquet/Feather.

Every importer returns ``(frame, report)`` from
:func:`tradpal.data.quality.enforce_quality` with the chosen policy (default
``reject``): a contract frame with :class:`~tradpal.data.contract.MarketMeta`
(``source`` ``kaggle:<file>``, ``binance-export:<file>`` or ``csv:<file>`` /
``parquet:<file>`` / ``feather:<file>``; ``extra["quality_score"]``), or, under
``report``, the decoded frame as it is in the file.

Times:

* strings and datetimes: ISO forms parsed by pandas; naive values are UTC,
  zoned ones are converted to UTC;
* epoch numbers: the unit is read per value from its magnitude, ``|v| < 1e11``
  seconds (dates up to the year 5138), ``< 1e14`` milliseconds, ``< 1e17``
  microseconds, else nanoseconds. That tells apart Binance's millisecond and
  newer microsecond dumps, even mixed in one file. It misreads millisecond
  dates before 1973; pass ``time_unit`` for those.

The timeframe is detected from the median spacing of the timestamps; a given
``timeframe`` is checked against it. The Kaggle and Binance importers stream
the file with ``pyarrow.csv.open_csv`` in blocks (never the whole text in
memory) and can aggregate to a coarser timeframe on the way
(``resample_to``), keeping only the finished bars.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from tradpal.data.contract import INDEX_NAME, OHLCV_COLUMNS, MarketMeta, get_meta, with_meta
from tradpal.data.quality import (
    Policy,
    QualityReport,
    enforce_quality,
    infer_timeframe,
    median_spacing_seconds,
    parse_policy,
)
from tradpal.data.resample import Columns, StreamingResampler, check_coarser
from tradpal.errors import ConfigError, DataContractError, SourceError
from tradpal.timeframes import Timeframe, parse_timeframe

ByteProgress = Callable[[int, int], None]
"""Called as ``progress(bytes_read, total_bytes)`` while a file streams."""

TIME_CANDIDATES: tuple[str, ...] = (
    "time", "open_time", "opentime", "open time", "timestamp", "datetime", "date_time", "date",
    "unix", "ts",
)  # fmt: skip
"""Column names taken as the bar open time when no mapping is given (case-insensitive)."""
VOLUME_ALIASES: tuple[str, ...] = ("volume", "vol", "volume_(btc)", "base_volume", "volume_base")
BINANCE_COLUMNS: tuple[str, ...] = (
    "open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume",
    "count", "taker_buy_volume", "taker_buy_quote_volume", "ignore",
)  # fmt: skip
"""The columns of Binance's official kline export, in order (headerless files)."""
DEFAULT_BLOCK_BYTES = 8 << 20
_UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_KNOWN_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "USD", "EUR", "BTC", "ETH", "BNB")
ResultT = tuple[pd.DataFrame, QualityReport]


# --- public importers -----------------------------------------------------------------------


def import_kaggle_btc(
    path: str | Path,
    *,
    symbol: str = "BTC/USD",
    resample_to: str | Timeframe | None = None,
    policy: Policy | str = Policy.REJECT,
    progress: ByteProgress | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> ResultT:
    """Import Kaggle's "Bitcoin Historical Data" CSV (1-minute bars).

    Columns ``Timestamp`` (Unix seconds, integer or float) and ``Open High Low
    Close`` with ``Volume`` (current file) or ``Volume_(BTC)`` (older file, which
    also has ``Volume_(Currency)`` and ``Weighted_Price`` and writes minutes
    without trades as all-NaN rows). Those empty rows mean "no bar" in that
    format: they are dropped while decoding and counted in
    ``meta.extra["empty_rows_dropped"]``, and show up as gaps. The file streams
    in blocks; ``resample_to`` aggregates on the way (policy ``report`` cannot
    be combined with it, as the result is not the file's data).
    """
    path = _csv_export(path, "a Kaggle Bitcoin history file")
    header = _header_fields(path)
    lower = {h.lower(): h for h in header}
    volume = next((lower[a] for a in ("volume", "volume_(btc)") if a in lower), None)
    needed = {"time": lower.get("timestamp"), "open": lower.get("open"),
              "high": lower.get("high"), "low": lower.get("low"), "close": lower.get("close"),
              "volume": volume}  # fmt: skip
    absent = [k for k, v in needed.items() if v is None]
    if absent:
        raise DataContractError(
            f"{path.name} is not a Kaggle Bitcoin history file: no column for {', '.join(absent)}",
            hint="expected Timestamp, Open, High, Low, Close and Volume or Volume_(BTC); "
            + _generic_hint(header),
        )
    spec = _CsvSpec(columns=needed, column_names=None, time_unit="s", drop_all_nan=True)
    meta = MarketMeta(symbol, "1m", f"kaggle:{path.name}")
    return _import_streaming(path, spec, meta, "1m", resample_to, policy, progress, block_bytes)


def import_binance_klines(
    path: str | Path,
    *,
    symbol: str | None = None,
    timeframe: str | Timeframe | None = None,
    resample_to: str | Timeframe | None = None,
    policy: Policy | str = Policy.REJECT,
    progress: ByteProgress | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> ResultT:
    """Import a Binance kline CSV: with a header row (``open_time, open, ...``) or the
    headerless official export of 12 columns (:data:`BINANCE_COLUMNS`).

    ``open_time`` in milliseconds or microseconds (newer dumps), told apart per
    value. ``timeframe`` is detected from the spacing (and checked when given);
    ``symbol`` defaults to one read from the file name (``BTCUSDT-1h`` -> ``BTC/USDT``).
    """
    path = _csv_export(path, "a Binance kline export")
    first = _header_fields(path)
    headerless = _is_number(first[0]) if first else False
    if headerless:
        if not 6 <= len(first) <= len(BINANCE_COLUMNS):
            raise DataContractError(
                f"{path.name} has {len(first)} columns, not a Binance kline export",
                hint="Binance exports have 12 columns (6 at least: open_time..volume); "
                "for another layout, " + _generic_hint(first),
            )
        names = list(BINANCE_COLUMNS[: len(first)])
    else:
        names = [h.strip().lower() for h in first]
    lower = {n.strip().lower(): n for n in (names if headerless else first)}
    needed = {"time": lower.get("open_time")}
    needed.update({c: lower.get(c) for c in OHLCV_COLUMNS})
    absent = [k for k, v in needed.items() if v is None]
    if absent:
        raise DataContractError(
            f"{path.name} is not a Binance kline export: no column for {', '.join(absent)}",
            hint="Binance exports have open_time, open, high, low, close and volume; "
            + _generic_hint(first),
        )
    spec = _CsvSpec(columns=needed, column_names=names if headerless else None,
                    time_unit=None, drop_all_nan=False)  # fmt: skip
    meta = MarketMeta(symbol or guess_symbol(path), "1m", f"binance-export:{path.name}")
    return _import_streaming(path, spec, meta, timeframe, resample_to, policy, progress,
                             block_bytes)  # fmt: skip


def import_file(
    path: str | Path,
    *,
    mapping: dict[str, str] | None = None,
    symbol: str | None = None,
    timeframe: str | Timeframe | None = None,
    time_unit: str | None = None,
    policy: Policy | str = Policy.REJECT,
) -> ResultT:
    """Import any CSV, Parquet or Feather file of bars.

    ``mapping`` maps ``time open high low close volume`` to the file's column
    names (``{"time": "datetime", "open": "Open", ...}``); without it the time
    column is the first of :data:`TIME_CANDIDATES` present and the others are
    found by name, case-insensitively (volume also as :data:`VOLUME_ALIASES`).
    A missing volume column is left missing for the quality rules to name.
    ``time_unit`` (``s ms us ns``) overrides the epoch autodetection. The file
    is read whole (use the streaming importers for huge files).
    """
    path = _existing(path)
    kind = _file_kind(path)
    if time_unit is not None and time_unit not in _UNITS:
        raise ConfigError(f"unknown time unit {time_unit!r}", hint="use one of s, ms, us, ns")
    raw = _read_table(path, kind)
    columns = _resolve_columns(raw, mapping, path.name)
    if columns["time"] is None:
        times: Any = raw.index
    else:
        times = raw[columns["time"]]
    t_ns = decode_times(times, time_unit, what=f"{path.name} time column")
    frame = pd.DataFrame(
        {c: raw[columns[c]].to_numpy() for c in OHLCV_COLUMNS if columns[c] is not None},
        index=pd.DatetimeIndex(pd.to_datetime(t_ns, unit="ns", utc=True)).rename(INDEX_NAME),
    )
    tf = settle_timeframe(t_ns[t_ns != _NAT], timeframe, path.name)
    meta = MarketMeta(symbol or guess_symbol(path), tf.name, f"{kind}:{path.name}")
    return _finish(with_meta(frame, meta), policy, tf)


def import_ohlcv(path: str | Path, *, format: str = "auto", **options: Any) -> ResultT:
    """Import ``path`` with the importer for ``format`` (``auto``, ``kaggle``, ``binance``,
    ``file``); ``auto`` uses :func:`detect_format`. ``options`` go to that importer."""
    fmt = detect_format(path) if format == "auto" else format
    importers = {"kaggle": import_kaggle_btc, "binance": import_binance_klines,
                 "file": import_file}  # fmt: skip
    if fmt not in importers:
        raise ConfigError(f"unknown import format {format!r}",
                          hint=f"use auto or one of {', '.join(importers)}")  # fmt: skip
    return importers[fmt](path, **options)


def detect_format(path: str | Path) -> str:
    """``kaggle``, ``binance`` or ``file`` from the file's header row."""
    path = _existing(path)
    if _file_kind(path) != "csv":
        return "file"
    first = [f.strip().lower() for f in _header_fields(path)]
    if first and _is_number(first[0]) and 6 <= len(first) <= len(BINANCE_COLUMNS):
        return "binance"
    if "timestamp" in first and ("volume_(btc)" in first or "weighted_price" in first
                                 or first[:1] == ["timestamp"]):  # fmt: skip
        return "kaggle"
    if "open_time" in first and "close_time" in first:
        return "binance"
    return "file"


# --- times, timeframes, names ---------------------------------------------------------------

_NAT = np.iinfo(np.int64).min


def decode_times(values: Any, unit: str | None = None, *, what: str = "time") -> np.ndarray:
    """Epoch nanoseconds (int64, NaT as the int64 minimum) of ``values``.

    See the module docstring for the accepted forms and the epoch-unit rule.
    Raises :class:`~tradpal.errors.DataContractError` when nothing parses.
    """
    arr = values if isinstance(values, pd.Index | pd.Series) else pd.Series(values)
    dtype = arr.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        idx = pd.DatetimeIndex(arr)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        return idx.as_unit("ns").asi8.copy()
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return epoch_to_ns(np.asarray(arr, dtype=np.float64), unit)
    series = pd.Series(np.asarray(arr, dtype=object))
    try:  # one format for the whole column: fast
        parsed = pd.to_datetime(series, utc=True)
    except (ValueError, TypeError):  # mixed or broken values: per value, bad ones NaT
        parsed = pd.to_datetime(series, utc=True, errors="coerce", format="mixed")
    ns = pd.DatetimeIndex(parsed).as_unit("ns").asi8.copy()
    if len(ns) and (ns == _NAT).all():
        numeric = pd.to_numeric(series, errors="coerce")
        if numeric.notna().any():
            return epoch_to_ns(numeric.to_numpy(dtype=np.float64), unit)
        raise DataContractError(
            f"{what} holds no readable times (first value {arr[0]!r})",
            hint="give ISO times (2024-01-01 00:00:00) or epoch numbers, or map another "
            "column as time",
        )
    return ns


def epoch_to_ns(values: np.ndarray, unit: str | None = None) -> np.ndarray:
    """Epoch numbers to int64 ns; the unit per value from its magnitude unless ``unit`` is given."""
    v = np.asarray(values, dtype=np.float64)
    out = np.full(len(v), _NAT, dtype=np.int64)
    ok = np.isfinite(v)
    if unit is not None:
        scale = np.full(len(v), _UNITS[unit], dtype=np.int64)
    else:
        mag = np.abs(np.where(ok, v, 0.0))
        scale = np.select([mag < 1e11, mag < 1e14, mag < 1e17], [10**9, 10**6, 10**3], 1)
    # Whole numbers convert exactly as integers; fractions (float seconds) to the microsecond.
    whole = ok & (v == np.floor(v)) & (np.abs(v) < 2**53)
    out[whole] = v[whole].astype(np.int64) * scale[whole]
    frac = ok & ~whole
    out[frac] = np.rint(v[frac] * (scale[frac] / 1e3)).astype(np.int64) * 1000
    return out


def settle_timeframe(t_ns: np.ndarray, given: str | Timeframe | None, name: str) -> Timeframe:
    """The timeframe of bars opening at ``t_ns``: detected from the median spacing, checked
    against ``given``. Raises :class:`~tradpal.errors.DataContractError` when they disagree
    or nothing can be told."""
    detected = infer_timeframe(t_ns)
    if given is not None:
        tf = parse_timeframe(given)
        if detected is not None and detected != tf:
            raise DataContractError(
                f"{name}: bars are {detected.name} apart, not {tf.name}",
                hint=f"omit --timeframe (timeframe= in Python): it is {detected.name}; to "
                "aggregate to a coarser timeframe use --resample (resample_to= or "
                "resample_ohlcv in Python)",
            )
        return tf
    if detected is None:
        spacing = median_spacing_seconds(t_ns)
        raise DataContractError(
            f"{name}: cannot tell the timeframe"
            + (
                f" (median spacing {spacing:g}s is no known timeframe)"
                if spacing
                else " (fewer than two distinct timestamps)"
            ),
            hint="give it: --timeframe 1h on the command line, timeframe='1h' in Python",
        )
    return detected


MARKETS: tuple[str, ...] = ("spot", "futures")
"""Market types a file can hold; futures symbols carry their settlement currency."""


def guess_symbol(path: str | Path) -> str:
    """A symbol from a file name: ``ETH_BTC-5m`` -> ``ETH/BTC``, ``BTCUSDT-1h`` -> ``BTC/USDT``.

    Futures keep their market, in ccxt's form ``BASE/QUOTE:SETTLE``: freqtrade names
    futures files ``<BASE>_<QUOTE>_<SETTLE>-<tf>-futures`` (``XRP_USDT_USDT-5m-futures``
    -> ``XRP/USDT:USDT``); a name marked ``-futures`` without a settlement currency
    (``BTCUSDT-1h-futures``) is taken as settled in its quote currency, as USDT-margined
    perpetuals are.
    """
    stem = Path(path).name.split(".")[0]
    head, *rest = re.split(r"[-\s]", stem)
    parts = [p.upper() for p in re.split(r"[_/:]", head) if p]
    futures = any(r.lower() == "futures" for r in rest)  # freqtrade's candle type
    if futures and len(parts) >= 3:
        return f"{parts[0]}/{parts[1]}:{parts[2]}"
    if len(parts) >= 2:
        symbol = f"{parts[0]}/{parts[1]}"
    else:
        upper = head.upper()
        quote = next((q for q in _KNOWN_QUOTES if upper.endswith(q) and len(upper) > len(q)), None)
        if quote is None:
            return upper or "UNKNOWN"
        symbol = f"{upper[: -len(quote)]}/{quote}"
    return market_symbol(symbol, "futures") if futures else symbol


def market_of(symbol: str) -> str:
    """``futures`` for a ccxt futures symbol (``XRP/USDT:USDT``), else ``spot``."""
    return "futures" if ":" in symbol else "spot"


def market_symbol(symbol: str, market: str | None) -> str:
    """``symbol`` in the form of ``market``: ``spot`` drops a settlement currency
    (``XRP/USDT:USDT`` -> ``XRP/USDT``), ``futures`` adds the quote currency as one where
    there is none (``XRP/USDT`` -> ``XRP/USDT:USDT``, a USDT-margined perpetual); ``None``
    keeps ``symbol`` as it is. Raises :class:`~tradpal.errors.ConfigError` for another
    market, or a futures symbol not in ``BASE/QUOTE`` form."""
    if market is None:
        return symbol
    if market not in MARKETS:
        raise ConfigError(f"unknown market {market!r}", hint=f"use one of {', '.join(MARKETS)}")
    pair, _, settle = symbol.partition(":")
    if market == "spot":
        return pair
    if settle:
        return symbol
    base, sep, quote = pair.partition("/")
    if not sep or not base or not quote:
        raise ConfigError(
            f"cannot tell the settlement currency of futures symbol {symbol!r}",
            hint="give the symbol as BASE/QUOTE (XRP/USDT) or BASE/QUOTE:SETTLE (XRP/USDT:USDT)",
        )
    return f"{pair}:{quote}"


# --- streaming CSV core ---------------------------------------------------------------------


class _CsvSpec:
    def __init__(self, columns: dict[str, str | None], column_names: list[str] | None,
                 time_unit: str | None, drop_all_nan: bool) -> None:  # fmt: skip
        self.columns = columns  # canonical name -> file column name
        self.column_names = column_names  # for headerless files
        self.time_unit = time_unit
        self.drop_all_nan = drop_all_nan


def _stream_columns(
    path: Path, spec: _CsvSpec, progress: ByteProgress | None, block_bytes: int
) -> Iterator[tuple[Columns, int]]:
    """Yield ``(columns, empty rows dropped)`` per block, in file order."""
    total = path.stat().st_size
    file_cols = [spec.columns[c] for c in ("time", *OHLCV_COLUMNS)]
    read = pacsv.ReadOptions(block_size=block_bytes, column_names=spec.column_names)
    convert = pacsv.ConvertOptions(
        include_columns=file_cols,
        column_types={c: pa.float64() for c in file_cols},
        null_values=["", "NaN", "nan", "NA", "null"],
        strings_can_be_null=True,
    )
    with pa.OSFile(str(path), "rb") as raw:
        try:
            reader = pacsv.open_csv(raw, read_options=read, convert_options=convert)
            for batch in reader:
                arrays = [batch.column(file_cols.index(c)) for c in file_cols]
                t, *values = (a.to_numpy(zero_copy_only=False) for a in arrays)
                values = [np.asarray(v, dtype=np.float64) for v in values]
                dropped = 0
                if spec.drop_all_nan:
                    empty = np.isnan(values[0]) & np.isnan(values[1]) & np.isnan(values[2])
                    empty &= np.isnan(values[3])
                    dropped = int(empty.sum())
                    if dropped:
                        keep = ~empty
                        t, values = t[keep], [v[keep] for v in values]
                t_ns = epoch_to_ns(t, spec.time_unit)
                if progress is not None:
                    progress(min(raw.tell(), total), total)
                yield (t_ns, *values), dropped  # type: ignore[misc]
        except pa.ArrowInvalid as exc:
            raise DataContractError(
                f"{path.name}: cannot read as numbers: {exc}",
                hint="the file holds text where numbers belong; see which rows with "
                "--format file --policy report --no-store (import_file(path, policy='report') "
                "in Python)",
            ) from None


def _import_streaming(
    path: Path,
    spec: _CsvSpec,
    meta: MarketMeta,
    timeframe: str | Timeframe | None,
    resample_to: str | Timeframe | None,
    policy: Policy | str,
    progress: ByteProgress | None,
    block_bytes: int,
) -> ResultT:
    policy = parse_policy(policy)
    if resample_to is None:
        return _collect_whole(path, spec, meta, timeframe, policy, progress, block_bytes)
    if policy is Policy.REPORT:
        raise ConfigError(
            "policy 'report' returns the file's data unchanged, so it cannot resample",
            hint="import with policy 'report' and no resample_to, or use 'reject'/'repair'",
        )
    target = parse_timeframe(resample_to)
    source = parse_timeframe(timeframe) if timeframe is not None else None
    resampler = StreamingResampler(target)
    parts: list[Columns] = []
    repairs: list[str] = []
    empty_rows = 0
    for i, (cols, dropped) in enumerate(_stream_columns(path, spec, progress, block_bytes)):
        empty_rows += dropped
        if source is None:  # the first block tells the source timeframe
            source = settle_timeframe(cols[0][cols[0] != _NAT], None, path.name)
        check_coarser(source, target)
        chunk = _frame_of(cols, meta.evolve(timeframe=source.name))
        fixed, report = enforce_quality(chunk, policy, timeframe=source)
        repairs.extend(f"block {i}: {r}" for r in report.repairs if not r.startswith("marked"))
        if len(fixed):
            parts.append(resampler.push(_columns_of(fixed)))
    parts.append(resampler.finish())
    if source is None:
        raise DataContractError(f"{path.name} holds no rows", hint="check the file")
    out = _frame_of(_concat(parts), meta)
    extra = {**meta.extra, "resampled_from": source.name}
    if spec.drop_all_nan:
        extra["empty_rows_dropped"] = empty_rows
    with_meta(out, meta.evolve(timeframe=target.name, repairs=tuple(repairs), extra=extra))
    return _finish(out, policy, target)


def _collect_whole(
    path: Path,
    spec: _CsvSpec,
    meta: MarketMeta,
    timeframe: str | Timeframe | None,
    policy: Policy,
    progress: ByteProgress | None,
    block_bytes: int,
) -> ResultT:
    parts: list[list[np.ndarray]] = [[] for _ in range(6)]
    empty_rows = 0
    for cols, dropped in _stream_columns(path, spec, progress, block_bytes):
        empty_rows += dropped
        for store, values in zip(parts, cols, strict=True):
            store.append(values)
    merged = []
    for store in parts:  # one column at a time, freeing the blocks as we go
        merged.append(np.concatenate(store) if store else np.zeros(0))
        store.clear()
    merged[0] = merged[0].astype(np.int64, copy=False)
    tf = settle_timeframe(merged[0][merged[0] != _NAT], timeframe, path.name)
    extra = dict(meta.extra)
    if spec.drop_all_nan:
        extra["empty_rows_dropped"] = empty_rows
    frame = _frame_of(tuple(merged), meta.evolve(timeframe=tf.name, extra=extra))  # type: ignore[arg-type]
    del merged
    return _finish(frame, policy, tf)


def _finish(frame: pd.DataFrame, policy: Policy | str, tf: Timeframe) -> ResultT:
    out, report = enforce_quality(frame, policy, timeframe=tf)
    meta = get_meta(out)
    if meta is not None:
        with_meta(out, meta.evolve(extra={**meta.extra, "quality_score": report.score}))
        if meta.repairs != report.repairs:  # repairs made while streaming come first
            report = replace(report, repairs=meta.repairs)
    return out, report


def _frame_of(cols: Columns, meta: MarketMeta) -> pd.DataFrame:
    t, *values = cols
    index = pd.DatetimeIndex(pd.to_datetime(t, unit="ns", utc=True)).rename(INDEX_NAME)
    frame = pd.DataFrame(dict(zip(OHLCV_COLUMNS, values, strict=True)), index=index, copy=False)
    return with_meta(frame, meta)


def _columns_of(frame: pd.DataFrame) -> Columns:
    return (frame.index.asi8, *(frame[c].to_numpy() for c in OHLCV_COLUMNS))  # type: ignore[return-value]


def _concat(parts: list[Columns]) -> Columns:
    return tuple(np.concatenate(x) for x in zip(*parts, strict=True))  # type: ignore[return-value]


# --- whole-file tables ----------------------------------------------------------------------


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"no such file: {p}", hint="check the path")
    return p


def _csv_export(path: str | Path, what: str) -> Path:
    """``path``, checked to be a CSV file: the streaming importers read text exports only."""
    p = _existing(path)
    kind = _file_kind(p)
    if kind != "csv":
        raise DataContractError(
            f"{p.name} is a {kind.capitalize()} file, not {what} (a CSV file)",
            hint="import it as a generic table: --format file, or auto (the default), on the "
            "command line; import_file(path) in Python",
        )
    return p


def _generic_hint(columns: Iterable[Any]) -> str:
    """How to import a layout no specific importer reads: as a generic table, with the CLI's
    options first (most errors reach a user there) and the Python call after them."""
    return (
        "import it as a generic table: --format file (columns found by name), with --map "
        "time=<column>,open=<column>,... for others (import_file(path, mapping={...}) in "
        f"Python); columns in the file: {', '.join(map(str, columns))}"
    )


def _map_hint(missing: str, columns: Iterable[Any]) -> str:
    """How to name the file's column for ``missing``, on the command line and in Python."""
    return (
        f"map it: --map {missing}=<column> on the command line, "
        f'mapping={{"{missing}": "<column>"}} in Python; columns in the file: '
        f"{', '.join(map(str, columns))}"
    )


def _file_kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".feather" in suffixes or ".arrow" in suffixes or ".ipc" in suffixes:
        return "feather"
    return "csv"


def _header_fields(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        line = fh.readline()
    return [f.strip().strip('"') for f in line.rstrip("\r\n").split(",")] if line else []


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_table(path: Path, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "feather":
            return pd.read_feather(path)
        return pd.read_csv(path, low_memory=False)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise SourceError(
            f"cannot read {path.name} as {kind}: {exc}",
            hint="check that the file is complete and in that format",
        ) from None


def _resolve_columns(
    raw: pd.DataFrame, mapping: dict[str, str] | None, name: str
) -> dict[str, str | None]:
    """Canonical column -> the file's column (``None``: absent; time ``None``: the index)."""
    available = {str(c).strip().lower(): c for c in raw.columns}
    if mapping is not None:
        unknown = [k for k in mapping if k not in ("time", *OHLCV_COLUMNS)]
        if unknown:
            raise ConfigError(f"unknown mapping key(s) {', '.join(unknown)}",
                              hint="map any of time, open, high, low, close, volume")  # fmt: skip
        absent = [v for v in mapping.values() if v not in raw.columns]
        if absent:
            raise DataContractError(
                f"{name} has no column(s) {', '.join(map(repr, absent))}",
                hint=f"columns in the file: {', '.join(map(str, raw.columns))}",
            )
    mapping = dict(mapping or {})
    out: dict[str, str | None] = {}
    time = mapping.get("time") or next((available[c] for c in TIME_CANDIDATES if c in available),
                                       None)  # fmt: skip
    if time is None and not isinstance(raw.index, pd.DatetimeIndex):
        raise DataContractError(
            f"{name} has no time column (looked for {', '.join(TIME_CANDIDATES)})",
            hint=_map_hint("time", raw.columns),
        )
    out["time"] = time
    for col in OHLCV_COLUMNS:
        aliases = VOLUME_ALIASES if col == "volume" else (col,)
        out[col] = mapping.get(col) or next((available[a] for a in aliases if a in available),
                                            None)  # fmt: skip
    missing = [c for c in ("open", "high", "low", "close") if out[c] is None]
    if missing:
        raise DataContractError(
            f"{name} has no column for {', '.join(missing)}",
            hint=_map_hint(missing[0], raw.columns),
        )
    return out


__all__ = [
    "BINANCE_COLUMNS",
    "MARKETS",
    "TIME_CANDIDATES",
    "decode_times",
    "detect_format",
    "epoch_to_ns",
    "guess_symbol",
    "import_binance_klines",
    "import_file",
    "import_kaggle_btc",
    "import_ohlcv",
    "market_of",
    "market_symbol",
    "settle_timeframe",
]
