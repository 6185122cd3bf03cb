"""Indicator columns on a DataFrame: :func:`add_indicators` (imports pandas)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from tradpal.data.contract import ohlcv_arrays
from tradpal.indicators._validate import IndicatorInputError
from tradpal.indicators.spec import TRADPAL_SET, IndicatorSpec, compute

_INPUTS = ("high", "low", "close", "volume")


def frame_inputs(frame: pd.DataFrame) -> dict[str, Any]:
    """The price/volume columns present in ``frame`` as arrays, and its bar times."""
    if not isinstance(frame, pd.DataFrame):
        raise IndicatorInputError(
            f"add_indicators needs a pandas DataFrame, not {type(frame).__name__}",
            hint="pass an OHLCV frame (columns open high low close volume)",
        )
    arrays = ohlcv_arrays(frame)
    if arrays is None:
        inputs: dict[str, Any] = {c: frame[c].to_numpy() for c in _INPUTS if c in frame.columns}
    else:
        inputs = {c: arrays[c] for c in _INPUTS}
    if isinstance(frame.index, pd.DatetimeIndex):
        inputs["time"] = frame.index
    return inputs


def add_indicators(
    frame: pd.DataFrame, spec: Iterable[IndicatorSpec | Mapping[str, Any]] = TRADPAL_SET
) -> pd.DataFrame:
    """A copy of ``frame`` with one column per indicator output of ``spec``.

    ``spec`` is plain data, e.g. ``[{"kind": "ema", "period": 9}, {"kind": "rsi"}]``
    (see :mod:`tradpal.indicators.spec` for kinds and column names); the default is
    :data:`~tradpal.indicators.spec.TRADPAL_SET`. ``frame`` keeps its index, columns
    and ``attrs``; an output whose name is already a column is an error.
    """
    columns = compute(spec, **frame_inputs(frame))
    clash = sorted(set(columns) & set(map(str, frame.columns)))
    if clash:
        raise IndicatorInputError(
            f"the frame already has the column(s) {', '.join(clash)}",
            hint="drop them first or leave those indicators out of the spec",
        )
    added = pd.DataFrame(columns, index=frame.index)
    out = pd.concat([frame, added], axis=1)
    out.attrs = dict(frame.attrs)
    return out
