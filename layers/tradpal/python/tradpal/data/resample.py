"""Resampling OHLCV bars to a coarser timeframe.

Bins follow :meth:`tradpal.timeframes.Timeframe.floor_ns`: aligned to the Unix
epoch up to one day, weekly bins open Monday 00:00 UTC. Each bin is labelled by
its open time and aggregates its bars as open = first, high = max, low = min,
close = last, volume = sum. Bins without any bar are dropped, never filled.

:class:`StreamingResampler` does the same over consecutive chunks of a large
file, holding back only the last (possibly unfinished) bin, so importers can
aggregate millions of 1-minute bars without keeping them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tradpal.data.contract import (
    INDEX_NAME,
    OHLCV_COLUMNS,
    ensure_ohlcv,
    get_meta,
    with_meta,
)
from tradpal.errors import DataContractError
from tradpal.timeframes import Timeframe, TimeframeError, parse_timeframe

Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""``(time_ns, open, high, low, close, volume)``: int64 epoch ns and five float64 arrays."""


def check_coarser(source: Timeframe, target: Timeframe) -> None:
    """Raise :class:`~tradpal.timeframes.TimeframeError` unless ``source`` bars make ``target``.

    The target must be at least as long as the source and a whole multiple of
    it, so that every source bar falls into exactly one target bin.
    """
    if target.seconds < source.seconds:
        raise TimeframeError(
            f"cannot resample {source.name} bars to the finer timeframe {target.name}",
            hint=f"resample only to a timeframe of {source.name} or longer; finer bars need "
            "finer source data",
        )
    if target.seconds % source.seconds:
        raise TimeframeError(
            f"{target.name} is not a whole multiple of {source.name}",
            hint="pick a target timeframe whose length is a multiple of the source's",
        )


def aggregate(columns: Columns, target: Timeframe) -> Columns:
    """Aggregate time-sorted bars into ``target`` bins (see the module docstring).

    ``columns[0]`` must be ascending; the result holds one row per non-empty bin.
    """
    t, o, h, lo, c, v = columns
    if len(t) == 0:
        return columns
    keys = np.asarray(target.floor_ns(t), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(t)] - 1
    return (
        keys[starts],
        o[starts],
        np.maximum.reduceat(h, starts),
        np.minimum.reduceat(lo, starts),
        c[ends],
        np.add.reduceat(v, starts),
    )


def resample_ohlcv(
    frame: pd.DataFrame,
    timeframe: str | Timeframe,
    *,
    drop_partial_last: bool = False,
) -> pd.DataFrame:
    """Resample a contract ``frame`` to the coarser (or equal) ``timeframe``.

    The source timeframe comes from the frame's meta, else the median spacing.
    With ``drop_partial_last`` the last bin is dropped when the source data ends
    before that bin closes (see :func:`last_bin_is_partial`). Meta keeps symbol
    and source, takes the new timeframe and records ``extra["resampled_from"]``.
    Raises :class:`~tradpal.timeframes.TimeframeError` for a finer target.
    """
    ensure_ohlcv(frame)
    target = parse_timeframe(timeframe)
    source = frame_timeframe(frame)
    check_coarser(source, target)
    cols = (frame.index.asi8, *(frame[c].to_numpy() for c in OHLCV_COLUMNS))
    t, o, h, lo, c, v = aggregate(cols, target)  # type: ignore[arg-type]
    if drop_partial_last and len(t) and last_bin_is_partial(frame, target, source=source):
        t, o, h, lo, c, v = (a[:-1] for a in (t, o, h, lo, c, v))
    index = pd.DatetimeIndex(pd.to_datetime(t, unit="ns", utc=True)).rename(INDEX_NAME)
    out = pd.DataFrame(
        {"open": o, "high": h, "low": lo, "close": c, "volume": v},
        index=index,
        columns=list(OHLCV_COLUMNS),
    )
    meta = get_meta(frame)
    if meta is not None:
        extra = dict(meta.extra)
        if target != source:
            extra["resampled_from"] = source.name
        with_meta(out, meta.evolve(timeframe=target.name, extra=extra))
    return out


def last_bin_is_partial(
    frame: pd.DataFrame, timeframe: str | Timeframe, *, source: Timeframe | None = None
) -> bool:
    """True when the last ``timeframe`` bin of ``frame`` is not closed by its data.

    That is when the last source bar closes before the bin does (typical of
    data fetched while the bin is still forming). Empty frames are not partial.
    """
    if len(frame) == 0:
        return False
    target = parse_timeframe(timeframe)
    source = source or frame_timeframe(frame)
    last_open = int(frame.index.asi8[-1])
    bin_close = int(target.floor_ns(last_open)) + target.nanoseconds
    return last_open + source.nanoseconds < bin_close


def frame_timeframe(frame: pd.DataFrame) -> Timeframe:
    """The frame's timeframe: from its MarketMeta, else its median bar spacing."""
    meta = get_meta(frame)
    if meta is not None:
        return parse_timeframe(meta.timeframe)
    from tradpal.data.quality import infer_timeframe  # quality imports the contract only

    tf = infer_timeframe(frame.index.asi8)
    if tf is None:
        raise DataContractError(
            "cannot tell the frame's timeframe: no meta and no known median spacing",
            hint="attach MarketMeta (with_meta) naming the timeframe",
        )
    return tf


@dataclass
class StreamingResampler:
    """Aggregates consecutive time-sorted chunks into ``target`` bins.

    :meth:`push` returns the bins that are certainly finished; the last bin is
    held back until a later chunk starts a new bin or :meth:`finish` is called.
    Chunks must continue in time: a chunk starting at or before the previous
    chunk's last bar raises :class:`~tradpal.errors.DataContractError`.
    """

    target: Timeframe
    _carry: Columns | None = None
    _last_t: int | None = None

    def push(self, columns: Columns) -> Columns:
        t = columns[0]
        if len(t) == 0:
            return _empty()
        if self._last_t is not None and int(t[0]) <= self._last_t:
            raise DataContractError(
                f"rows are not in ascending time order across chunks (at "
                f"{pd.Timestamp(int(t[0]), tz='UTC')})",
                hint="import without resampling and repair (sort, de-duplicate) first",
            )
        self._last_t = int(t[-1])
        bins = aggregate(columns, self.target)
        if self._carry is not None:
            # The held-back bin is an aggregate itself, so aggregating it with the new
            # bins merges it with the chunk's first bin when both share one open time.
            bins = aggregate(_concat(self._carry, bins), self.target)
        done = tuple(a[:-1] for a in bins)
        self._carry = tuple(a[-1:] for a in bins)  # type: ignore[assignment]
        return done  # type: ignore[return-value]

    def finish(self) -> Columns:
        carry, self._carry = self._carry, None
        return carry if carry is not None else _empty()


def _concat(a: Columns, b: Columns) -> Columns:
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _empty() -> Columns:
    return (np.zeros(0, np.int64), *(np.zeros(0) for _ in range(5)))  # type: ignore[return-value]


__all__ = [
    "Columns",
    "StreamingResampler",
    "aggregate",
    "check_coarser",
    "last_bin_is_partial",
    "resample_ohlcv",
]
