"""The OHLCV contract that every part of TradPal relies on.

An OHLCV frame is a :class:`pandas.DataFrame`

* indexed by a UTC :class:`pandas.DatetimeIndex` named ``time``, holding each
  bar's *open* time, strictly increasing (so no duplicates);
* with float64 columns ``open high low close volume`` (prices in quote currency,
  volume in base units), in that order;
* carrying :class:`MarketMeta` (symbol, timeframe, source, ...) in
  ``frame.attrs["tradpal"]``.

:func:`ensure_ohlcv` checks the structure and raises a clear
:class:`~tradpal.errors.DataContractError`; the value checks (NaN, spikes,
gaps, ...) are the quality rules in :mod:`tradpal.data.quality`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from tradpal.errors import ConfigError, DataContractError, TradPalError
from tradpal.timeframes import parse_timeframe

OHLCV_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
INDEX_NAME = "time"
_ATTRS_KEY = "tradpal"


@dataclass(frozen=True)
class MarketMeta:
    """Where a dataset came from and what it is.

    ``symbol`` uses the unified ``BASE/QUOTE`` form (``BTC/USDT``) or a stock
    ticker; ``timeframe`` a canonical name from :mod:`tradpal.timeframes`;
    ``source`` the source that delivered it (``ccxt:binance``, ``yfinance``,
    ``synthetic``, ``csv:PATH``, ...). ``synthetic`` marks generated data, which
    every display labels as such. ``fallback`` records the sources tried and
    why each failed, in order, when a fallback chain was used. ``repairs``
    lists what a ``repair`` quality policy changed.
    """

    symbol: str
    timeframe: str
    source: str
    synthetic: bool = False
    fallback: tuple[str, ...] = ()
    repairs: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeframe", parse_timeframe(self.timeframe).name)
        object.__setattr__(self, "fallback", tuple(self.fallback))
        object.__setattr__(self, "repairs", tuple(self.repairs))

    def evolve(self, **changes: Any) -> MarketMeta:
        """A copy with ``changes`` applied."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fallback"] = list(self.fallback)
        d["repairs"] = list(self.repairs)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MarketMeta:
        known = {
            k: d[k]
            for k in ("symbol", "timeframe", "source", "synthetic", "fallback", "repairs", "extra")
            if k in d
        }
        return cls(**known)

    @property
    def label(self) -> str:
        """``BTC/USDT 1h (ccxt:binance)``, with ``[SYNTHETIC]`` for generated data."""
        text = f"{self.symbol} {self.timeframe} ({self.source})"
        return f"{text} [SYNTHETIC]" if self.synthetic else text


def with_meta(frame: pd.DataFrame, meta: MarketMeta) -> pd.DataFrame:
    """Attach ``meta`` to ``frame`` (in place) and return the frame."""
    frame.attrs[_ATTRS_KEY] = meta.to_dict()
    return frame


def get_meta(frame: pd.DataFrame) -> MarketMeta | None:
    """The :class:`MarketMeta` attached to ``frame``, or ``None``."""
    raw = frame.attrs.get(_ATTRS_KEY)
    return MarketMeta.from_dict(raw) if raw else None


def make_ohlcv(
    time: Sequence[Any] | np.ndarray | pd.DatetimeIndex,
    open: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    low: Sequence[float] | np.ndarray,
    close: Sequence[float] | np.ndarray,
    volume: Sequence[float] | np.ndarray | None = None,
    *,
    meta: MarketMeta | None = None,
) -> pd.DataFrame:
    """Build a contract frame from columns.

    ``time`` may be datetimes (naive ones are taken as UTC) or integers in
    nanoseconds since the epoch. A missing ``volume`` becomes NaN, which the
    quality rules report. The rows are kept in the order given: sorting and
    de-duplication are quality repairs, never silent.
    """
    index = to_utc_index(time)
    n = len(index)
    cols = {
        "open": open,
        "high": high,
        "low": low,
        "close": close,
        "volume": np.full(n, np.nan) if volume is None else volume,
    }
    block = np.empty((len(cols), n), dtype=np.float64)  # one row per column, as pandas keeps it
    for row, (name, values) in zip(block, cols.items(), strict=True):
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != (n,):
            raise DataContractError(
                f"column {name!r} has {arr.shape[0] if arr.ndim else 0} values for {n} timestamps",
                hint="give every column one value per bar",
            )
        row[:] = arr
    # built from the block: no per-column arrays for pandas to consolidate (a third of the cost)
    frame = pd.DataFrame(block.T, index=index, columns=_column_labels(), copy=False)
    if meta is not None:
        with_meta(frame, meta)
    return frame


@functools.cache
def _column_labels() -> pd.Index:
    """The OHLCV column labels as pandas makes them of a list (pandas 3: a str Index), made
    once and shared (an Index is immutable): making it was most of the cost of building a
    1,000-bar frame from its block."""
    return pd.Index(list(OHLCV_COLUMNS))


def ohlcv_arrays(frame: pd.DataFrame) -> dict[str, np.ndarray] | None:
    """The columns of a frame whose columns are exactly :data:`OHLCV_COLUMNS`, in order and
    all float64 (what :func:`make_ohlcv` and the store give), as read-only arrays by name,
    read in one step (views of the frame's block when it has one); None for any other
    frame, whose columns its reader takes one at a time. Each column read as a Series costs
    about 50 microseconds, most of it copying the frame's ``attrs``."""
    if tuple(frame.columns) != OHLCV_COLUMNS or any(d != np.float64 for d in frame.dtypes):
        return None
    values = frame.to_numpy(dtype=np.float64, copy=False)
    return dict(zip(OHLCV_COLUMNS, values.T, strict=True))


def to_utc_index(time: Any) -> pd.DatetimeIndex:
    """A UTC ``DatetimeIndex`` named ``time`` (ns resolution) from datetimes or epoch ns."""
    if isinstance(time, pd.DatetimeIndex):
        index = time
    else:
        arr = np.asarray(time)
        if arr.dtype == np.int64:  # epoch ns as they are, without a conversion pass
            index = pd.DatetimeIndex(arr.view("M8[ns]"), tz="UTC")
        elif arr.dtype.kind in "iu":
            index = pd.DatetimeIndex(pd.to_datetime(arr, unit="ns", utc=True))
        else:
            index = pd.DatetimeIndex(pd.to_datetime(arr, utc=True))
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("ns").rename(INDEX_NAME)


def to_utc_timestamp(
    value: Any, what: str = "time", *, error: type[TradPalError] = ConfigError
) -> pd.Timestamp:
    """``value`` (ISO text, datetime, Timestamp, epoch ns) as a UTC Timestamp in ns.

    Naive values are taken as UTC. Anything that is not a time, or NaT, raises
    ``error`` (a :class:`~tradpal.errors.TradPalError` subclass chosen by the
    caller: a bad bound given to a source is a SourceError, to the store a
    StoreError) naming ``what`` and the accepted forms.
    """
    # a datetime is shown as ISO text, not as its Python repr
    shown = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise error(
            f"{what} {shown} is not a time: {exc}",
            hint="give an ISO date or time such as 2024-01-31 or 2024-01-31T12:00Z, "
            "or a pandas Timestamp",
        ) from None
    if ts is pd.NaT:
        raise error(f"{what} is missing (NaT)", hint="give a date such as 2024-01-31")
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    try:
        return ts.as_unit("ns")
    except ValueError:  # OutOfBoundsDatetime: nanoseconds cover 1677-09-21..2262-04-11
        raise error(
            f"{what} {shown} is out of range",
            hint="give a time between 1677-09-22 and 2262-04-11 (UTC)",
        ) from None


def ensure_ohlcv(frame: object, *, what: str = "data") -> pd.DataFrame:
    """Check that ``frame`` follows the OHLCV contract and return it unchanged.

    Raises :class:`~tradpal.errors.DataContractError` that names the first
    broken part of the contract and how to fix it.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataContractError(f"{what} is a {type(frame).__name__}, not a pandas DataFrame")
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"{what} lacks the column(s) {', '.join(missing)}",
            hint="OHLCV frames need open, high, low, close and volume; importers take a "
            "column mapping for other names",
        )
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataContractError(
            f"{what} is indexed by {type(idx).__name__}, not a DatetimeIndex",
            hint="index the frame by each bar's open time",
        )
    if idx.tz is None or str(idx.tz) not in ("UTC", "utc"):
        raise DataContractError(
            f"{what} has a {'naive' if idx.tz is None else str(idx.tz)} index, not UTC",
            hint="convert with frame.tz_localize('UTC') or frame.tz_convert('UTC')",
        )
    bad_types = [c for c in OHLCV_COLUMNS if frame[c].dtype != np.float64]
    if bad_types:
        raise DataContractError(
            f"{what} has non-float64 column(s) {', '.join(bad_types)}",
            hint="cast with frame.astype('float64')",
        )
    if len(idx) > 1:
        steps = np.diff(idx.asi8)
        if (steps <= 0).any():
            first = int(np.argmax(steps <= 0)) + 1
            kind = "duplicate" if steps[first - 1] == 0 else "out-of-order"
            raise DataContractError(
                f"{what} has a {kind} timestamp at row {first} ({idx[first]})",
                hint="run the quality checks with policy 'repair' to sort and de-duplicate",
            )
    return frame
