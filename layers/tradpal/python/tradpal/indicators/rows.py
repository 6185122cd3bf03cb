"""Indicators as rows: one JSON object per bar, its open time, OHLCV and indicator values.

The shape an API answers with (``null`` during an indicator's warm-up, never NaN). Computed
from the frame's arrays and written out column by column: no frame is built for them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradpal.indicators.frame import frame_inputs
from tradpal.indicators.spec import IndicatorSpec, compute, parse_entry, parse_spec

OHLCV = ("open", "high", "low", "close", "volume")


def indicator_specs(entries: Sequence[str | Mapping[str, Any]] | None) -> tuple[IndicatorSpec, ...]:
    """The specs of ``entries`` (``"ema:9"``, ``{"kind": "rsi", "period": 14}``), or the
    configured set (``Settings.indicator_set``) when there are none."""
    if entries is None:
        from tradpal.config import load_settings

        return load_settings().indicator_set
    return parse_spec([parse_entry(e) for e in entries])


def _values(column: np.ndarray) -> list[Any]:
    """A column as JSON values: NaN and infinities become None."""
    values = column.tolist()
    if column.dtype.kind == "f":
        bad = ~np.isfinite(column)
        if bad.any():
            for i in np.flatnonzero(bad).tolist():
                values[i] = None
    return values


def indicator_rows(
    frame: pd.DataFrame, specs: Iterable[IndicatorSpec]
) -> tuple[list[str], list[dict[str, Any]]]:
    """``(columns, rows)``: the column names (``time``, OHLCV, then each indicator output)
    and one object per bar of ``frame``, times as ISO 8601 UTC."""
    outputs = compute(specs, **frame_inputs(frame))
    clash = sorted(set(outputs) & {"time", *OHLCV})
    if clash:
        from tradpal.errors import IndicatorInputError

        raise IndicatorInputError(f"indicator outputs named {', '.join(clash)} clash with bars")
    columns = ["time", *OHLCV, *outputs]
    times = [t.isoformat() for t in frame.index]
    data = [times]
    data += [_values(frame[c].to_numpy(dtype=np.float64)) for c in OHLCV]
    data += [_values(np.asarray(v)) for v in outputs.values()]
    return columns, [dict(zip(columns, row, strict=True)) for row in zip(*data, strict=True)]
