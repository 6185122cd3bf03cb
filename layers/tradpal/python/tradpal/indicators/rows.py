"""Indicators as rows: one JSON object per bar, its open time, OHLCV and indicator values.

The shape an API answers with (``null`` during an indicator's warm-up, never NaN). Computed
from the frame's arrays and kept column by column (:class:`IndicatorTable`): no frame is
built for them, and their JSON is written a column at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class IndicatorTable:
    """The rows of :func:`indicator_rows` as columns: ``columns`` (names) and ``data`` (per
    column, one JSON value per bar)."""

    columns: list[str]
    data: list[list[Any]]

    def rows(self) -> list[dict[str, Any]]:
        """One object per bar, keys in column order."""
        # every column holds one value per bar: zip needs no length check
        return [dict(zip(self.columns, row, strict=False)) for row in zip(*self.data, strict=False)]

    def to_json(self) -> bytes:
        """The rows as compact, strict JSON: the bytes of
        ``json.dumps(self.rows(), allow_nan=False, separators=(",", ":"))``, written a column
        at a time (each column's values through the C encoder in one call, then one format
        per row) instead of a dict per bar."""
        texts = []
        for values in self.data:
            encoded = json.dumps(values, allow_nan=False, separators=(",", ":"))
            parts = encoded[1:-1].split(",") if values else []
            if len(parts) != len(values):  # a value whose JSON holds a comma: one at a time
                parts = [json.dumps(v, allow_nan=False, separators=(",", ":")) for v in values]
            texts.append(parts)
        row = "{" + ",".join(json.dumps(c).replace("%", "%%") + ":%s" for c in self.columns) + "}"
        return ("[" + ",".join(map(row.__mod__, zip(*texts, strict=False))) + "]").encode()


def indicator_table(frame: pd.DataFrame, specs: Iterable[IndicatorSpec]) -> IndicatorTable:
    """The column names (``time``, OHLCV, then each indicator output) and their values for
    every bar of ``frame``, times as ISO 8601 UTC."""
    outputs = compute(specs, **frame_inputs(frame))
    clash = sorted(set(outputs) & {"time", *OHLCV})
    if clash:
        from tradpal.errors import IndicatorInputError

        raise IndicatorInputError(f"indicator outputs named {', '.join(clash)} clash with bars")
    data = [time_texts(frame.index)]
    data += [_values(frame[c].to_numpy(dtype=np.float64)) for c in OHLCV]
    data += [_values(np.asarray(v)) for v in outputs.values()]
    return IndicatorTable(["time", *OHLCV, *outputs], data)


def indicator_rows(
    frame: pd.DataFrame, specs: Iterable[IndicatorSpec]
) -> tuple[list[str], list[dict[str, Any]]]:
    """``(columns, rows)``: the column names (``time``, OHLCV, then each indicator output)
    and one object per bar of ``frame``, times as ISO 8601 UTC."""
    table = indicator_table(frame, specs)
    return table.columns, table.rows()


def time_texts(index: pd.Index) -> list[str]:
    """``t.isoformat()`` of every time of ``index``; for a UTC index on whole seconds (every
    bar of a timeframe) in one vectorised step instead of a Timestamp each."""
    if isinstance(index, pd.DatetimeIndex) and str(index.tz) == "UTC" and not index.hasnans:
        ticks = index.asi8
        per_second = _TICKS_PER_SECOND.get(index.unit)
        if per_second is not None and not (ticks % per_second).any():
            seconds = np.datetime_as_string(ticks.view(f"M8[{index.unit}]"), unit="s")
            return np.strings.add(seconds, "+00:00").tolist()
    return [t.isoformat() for t in index]


_TICKS_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
