"""Trading signals: what a strategy says at each bar.

A :class:`Signals` holds one value per bar of the frame it was computed on
(bars labelled by open time; a signal at bar t is decided at the close of t):

* ``long_entry``, ``long_exit``, ``short_entry``, ``short_exit``: bool arrays,
  True where the strategy wants to open or close a long or short position;
* ``stop_price``, ``target_price``: optional float64 arrays of absolute prices
  for a position opened at that bar (NaN = none), such as an ATR stop;
* ``confidence``: optional float64 in [0, 1] (NaN = none).

Signals from elsewhere (a CSV or Parquet file) come in through
:meth:`Signals.from_frame`, which aligns them to the bars of the market data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from tradpal.errors import StrategyError

BOOL_FIELDS = ("long_entry", "long_exit", "short_entry", "short_exit")
FLOAT_FIELDS = ("stop_price", "target_price", "confidence")

_TRUE = frozenset({"1", "1.0", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "0.0", "false", "f", "no", "n", ""})


@dataclass(frozen=True, eq=False)
class Signals:
    """Per-bar signals aligned to a frame's index (see the module docstring).

    Arrays are coerced on construction: the four flags to bool, the optional
    arrays to float64; all must have one length. ``confidence`` must lie in
    [0, 1] where it is not NaN.
    """

    long_entry: np.ndarray
    long_exit: np.ndarray
    short_entry: np.ndarray
    short_exit: np.ndarray
    stop_price: np.ndarray | None = None
    target_price: np.ndarray | None = None
    confidence: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = None
        for name in BOOL_FIELDS:
            arr = np.asarray(getattr(self, name))
            if arr.ndim != 1:
                raise StrategyError(f"signal {name} is {arr.ndim}-D, not one value per bar")
            if arr.dtype != np.bool_:
                if arr.dtype.kind not in "biuf" or not np.isin(arr, (0, 1)).all():
                    raise StrategyError(
                        f"signal {name} holds values other than True/False (dtype {arr.dtype})",
                        hint="give booleans or 0/1",
                    )
                arr = arr.astype(np.bool_)
            object.__setattr__(self, name, arr)
            n = len(arr) if n is None else n
            if len(arr) != n:
                raise StrategyError(
                    f"signal {name} has {len(arr)} values, long_entry has {n}",
                    hint="every signal array needs one value per bar",
                )
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            arr = np.asarray(value, dtype=np.float64)
            if arr.shape != (n,):
                raise StrategyError(
                    f"{name} has shape {arr.shape}, expected ({n},)",
                    hint="give one value per bar, NaN where there is none",
                )
            object.__setattr__(self, name, arr)
        conf = self.confidence
        if conf is not None:
            bad = ~np.isnan(conf) & ((conf < 0) | (conf > 1))
            if bad.any():
                i = int(np.argmax(bad))
                raise StrategyError(
                    f"confidence {conf[i].item()!r} at bar {i} is outside [0, 1]",
                    hint="scale confidence to [0, 1]; NaN means none",
                )

    def __len__(self) -> int:
        return len(self.long_entry)

    @classmethod
    def empty(cls, n: int) -> Signals:
        """``n`` bars without any signal."""
        z = np.zeros(n, dtype=np.bool_)
        return cls(z, z.copy(), z.copy(), z.copy())

    def arrays(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(field, array)`` for the four flags and every optional array present."""
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                yield f.name, value

    def slice(self, start: int, stop: int) -> Signals:
        """The signals of bars ``start`` to ``stop - 1`` (arrays are views)."""
        return Signals(**{name: arr[start:stop] for name, arr in self.arrays()})

    def equals(self, other: Signals) -> bool:
        """Same fields and the same values bit for bit (NaN equals NaN)."""
        a, b = dict(self.arrays()), dict(other.arrays())
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)

    def to_frame(self, index: pd.Index) -> pd.DataFrame:
        """A DataFrame of the signals indexed by ``index`` (one row per bar)."""
        if len(index) != len(self):
            raise StrategyError(
                f"index has {len(index)} bars, the signals {len(self)}",
                hint="pass the index of the frame the signals were computed on",
            )
        return pd.DataFrame(dict(self.arrays()), index=index)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, index: pd.DatetimeIndex) -> Signals:
        """Signals read from a table and aligned to the bars of ``index``.

        ``frame`` gives each row's bar open time in a ``time`` column (ISO text,
        datetimes or epoch numbers; naive times are UTC) or, without one, in its
        DatetimeIndex. Columns ``long_entry long_exit short_entry short_exit``
        hold 0/1, True/False or text (true/false, yes/no, empty = false); a
        missing column means no such signal. Optional ``stop_price``,
        ``target_price`` and ``confidence`` are read as numbers (empty = NaN).
        Bars of ``index`` without a row get no signal; a row whose time is not
        a bar of ``index``, a duplicate time or an unreadable value raises
        :class:`StrategyError`.
        """
        if not isinstance(frame, pd.DataFrame):
            raise StrategyError(f"signals must be a DataFrame, not {type(frame).__name__}")
        times = _row_times(frame)
        bars = pd.DatetimeIndex(index)
        if bars.tz is None:
            bars = bars.tz_localize("UTC")
        bar_ns = bars.as_unit("ns").asi8
        pos = pd.Index(bar_ns).get_indexer(times) if pd.Index(bar_ns).is_unique else None
        if pos is None:
            raise StrategyError("the data's index has duplicate bars", hint="repair the data first")
        if (pos < 0).any():
            bad = np.flatnonzero(pos < 0)
            shown = ", ".join(str(pd.Timestamp(int(times[i]), tz="UTC")) for i in bad[:3])
            span = (
                f"{pd.Timestamp(int(bar_ns[0]), tz='UTC')} to "
                f"{pd.Timestamp(int(bar_ns[-1]), tz='UTC')}"
                if len(bar_ns)
                else "no bars"
            )
            raise StrategyError(
                f"{len(bad)} signal row(s) have times that are not bars of the data "
                f"(first: {shown}); the data has {span}",
                hint="signal times must be bar open times of the data's timeframe, in UTC",
            )
        if len(np.unique(pos)) != len(pos):
            dup = pd.Index(times)[pd.Index(times).duplicated()][0]
            raise StrategyError(
                f"signals have more than one row for {pd.Timestamp(int(dup), tz='UTC')}",
                hint="give one row per bar",
            )
        n = len(bars)
        out: dict[str, Any] = {}
        for name in BOOL_FIELDS:
            arr = np.zeros(n, dtype=np.bool_)
            if name in frame.columns:
                arr[pos] = _read_bools(frame[name], name)
            out[name] = arr
        for name in FLOAT_FIELDS:
            if name in frame.columns:
                arr = np.full(n, np.nan)
                arr[pos] = _read_floats(frame[name], name)
                out[name] = arr
        return cls(**out)


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype == np.bool_:
        return bool(np.array_equal(a, b))
    return bool(np.array_equal(a, b, equal_nan=True))


def _row_times(frame: pd.DataFrame) -> np.ndarray:
    from tradpal.data.importers import decode_times

    if "time" in frame.columns:
        values: Any = frame["time"]
    elif isinstance(frame.index, pd.DatetimeIndex):
        values = frame.index
    else:
        raise StrategyError(
            "signals have no time: neither a 'time' column nor a DatetimeIndex",
            hint="add a column 'time' with each bar's open time",
        )
    try:
        ns = decode_times(values, what="signal time")
    except Exception as exc:  # decode_times raises DataContractError with its own text
        raise StrategyError(f"signal times are unreadable: {exc}") from None
    bad = ns == np.iinfo(np.int64).min
    if bad.any():
        i = int(np.argmax(bad))
        raise StrategyError(
            f"signal time in row {i} is unreadable ({np.asarray(values)[i]!r})",
            hint="give ISO times such as 2024-01-31 12:00 or epoch numbers",
        )
    return ns


def _read_bools(col: pd.Series, name: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(col.dtype) and not col.isna().any():
        return col.to_numpy(dtype=np.bool_)
    if pd.api.types.is_numeric_dtype(col.dtype):
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
        v = np.where(np.isnan(v), 0.0, v)
        bad = ~np.isin(v, (0.0, 1.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise StrategyError(
                f"signal column {name} holds {_plain(col.iloc[i])!r} in row {i}",
                hint="use 0/1 or true/false",
            )
        return v == 1.0
    text = col.astype("string").fillna("").str.strip().str.lower().to_numpy(dtype=object)
    is_true = np.isin(text, list(_TRUE))
    bad = ~is_true & ~np.isin(text, list(_FALSE))
    if bad.any():
        i = int(np.argmax(bad))
        raise StrategyError(
            f"signal column {name} holds {_plain(col.iloc[i])!r} in row {i}",
            hint="use 0/1 or true/false",
        )
    return is_true


def _read_floats(col: pd.Series, name: str) -> np.ndarray:
    num = pd.to_numeric(col, errors="coerce")
    bad = num.isna().to_numpy() & ~_blank(col)
    if bad.any():
        i = int(np.argmax(bad))
        raise StrategyError(
            f"column {name} holds {_plain(col.iloc[i])!r} in row {i}, not a number",
            hint="leave the cell empty (NaN) where there is no value",
        )
    return num.to_numpy(dtype=np.float64, na_value=np.nan)


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so messages read ``2``, not ``np.int64(2)``."""
    return value.item() if isinstance(value, np.generic) else value


def _blank(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(col.dtype):
        return col.isna().to_numpy()
    text = col.astype("string").fillna("").str.strip().str.lower()
    return text.isin(["", "nan", "none", "null"]).to_numpy()


__all__ = ["BOOL_FIELDS", "FLOAT_FIELDS", "Signals"]
