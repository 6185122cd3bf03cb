"""Multi-timeframe indicators without look-ahead (imports pandas).

A base frame is resampled to a higher timeframe (HTF) with
:func:`tradpal.data.resample.resample_ohlcv`, an indicator is computed on the
HTF bars, and each value is aligned back to the base bars that may know it.
Bars are labelled by open time: an HTF bar opened at T closes at T + htf, a
base bar opened at t closes at t + base, and the base bar sees the latest HTF
bar whose close is <= t + base. The HTF bar still forming is never used, so a
value at t never changes when later bars are appended.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradpal.data.contract import ensure_ohlcv
from tradpal.data.resample import frame_timeframe, resample_ohlcv
from tradpal.indicators.frame import frame_inputs
from tradpal.indicators.spec import TRADPAL_SET, IndicatorSpec, compute
from tradpal.timeframes import Timeframe, parse_timeframe


def align(
    values: np.ndarray,
    htf_open_ns: np.ndarray,
    htf: Timeframe | str,
    base_open_ns: np.ndarray,
    base: Timeframe | str,
) -> np.ndarray:
    """HTF ``values`` (last axis = HTF bars) at each base bar, closed HTF bars only.

    Base bar t gets the value of the latest HTF bar with ``T + htf <= t + base``;
    NaN before the first such bar.
    """
    htf_tf, base_tf = parse_timeframe(htf), parse_timeframe(base)
    values = np.asarray(values, dtype=np.float64)
    closes = np.asarray(htf_open_ns, np.int64) + htf_tf.nanoseconds
    seen = np.asarray(base_open_ns, np.int64) + base_tf.nanoseconds
    idx = np.searchsorted(closes, seen, side="right") - 1
    out = values[..., np.maximum(idx, 0)]
    out[..., idx < 0] = np.nan
    return out


def htf_apply(
    frame: pd.DataFrame,
    timeframe: str | Timeframe,
    func: Callable[[pd.DataFrame], Any],
) -> Any:
    """``func`` computed on ``frame`` resampled to ``timeframe``, aligned back to ``frame``.

    ``func`` takes the HTF frame and returns an array, a NamedTuple of arrays
    (returned as the same NamedTuple type) or a dict of arrays, each one value
    per HTF bar.
    """
    ensure_ohlcv(frame)
    base = frame_timeframe(frame)
    htf = parse_timeframe(timeframe)
    high = resample_ohlcv(frame, htf)
    result = func(high)
    t_htf, t_base = high.index.asi8, frame.index.asi8

    def one(v: Any) -> np.ndarray:
        return align(np.asarray(v), t_htf, htf, t_base, base)

    if isinstance(result, dict):
        return {k: one(v) for k, v in result.items()}
    if isinstance(result, tuple) and hasattr(result, "_fields"):
        return type(result)(*(one(v) for v in result))
    return one(result)


def compute_mtf(
    frame: pd.DataFrame,
    timeframe: str | Timeframe,
    spec: Iterable[IndicatorSpec | Mapping[str, Any]] = TRADPAL_SET,
) -> dict[str, np.ndarray]:
    """Columns of ``spec`` computed on ``timeframe`` bars, aligned to ``frame``, with
    the timeframe appended to each name (``rsi_14_4h``)."""
    tf = parse_timeframe(timeframe)
    cols = htf_apply(frame, tf, lambda f: compute(spec, **frame_inputs(f)))
    return {f"{k}_{tf.name}": v for k, v in cols.items()}


def add_mtf_indicators(
    frame: pd.DataFrame,
    timeframe: str | Timeframe,
    spec: Iterable[IndicatorSpec | Mapping[str, Any]] = TRADPAL_SET,
) -> pd.DataFrame:
    """A copy of ``frame`` with the columns of :func:`compute_mtf`."""
    cols = compute_mtf(frame, timeframe, spec)
    out = pd.concat([frame, pd.DataFrame(cols, index=frame.index)], axis=1)
    out.attrs = dict(frame.attrs)
    return out
