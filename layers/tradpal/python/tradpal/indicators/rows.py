"""Indicators as rows: one JSON object per bar, its open time, OHLCV and indicator values.

The shape an API answers with (``null`` during an indicator's warm-up, never NaN). Computed
from the frame's arrays and kept column by column (:class:`IndicatorTable`): no frame is
built for them, and their JSON is written a column at a time, the float columns by orjson,
byte for byte what :func:`json.dumps` writes of the rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from tradpal.data.contract import ohlcv_arrays
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


Column = np.ndarray | list[Any]
"""One column of an :class:`IndicatorTable`: a float64 array (NaN and infinities are
null) or a list of JSON values, one per bar."""


@dataclass(frozen=True)
class IndicatorTable:
    """The rows of :func:`indicator_rows` as columns: ``columns`` (names) and ``data`` (per
    column, a :data:`Column`)."""

    columns: list[str]
    data: list[Column]

    def rows(self) -> list[dict[str, Any]]:
        """One object per bar, keys in column order."""
        data = [_values(c) if isinstance(c, np.ndarray) else c for c in self.data]
        # every column holds one value per bar: zip needs no length check
        return [dict(zip(self.columns, row, strict=False)) for row in zip(*data, strict=False)]

    def to_json(self) -> bytes:
        """The rows as compact, strict JSON: the bytes of
        ``json.dumps(self.rows(), allow_nan=False, separators=(",", ":"))``, written a column
        at a time instead of a dict per bar: each column's values are encoded in one call,
        then laid out with the keys by slice assignment, all in C, and joined once."""
        texts = [_float_texts(c) if isinstance(c, np.ndarray) else _texts(c) for c in self.data]
        bars = len(texts[0]) if texts else 0
        if not bars:
            return b"[]"
        # per bar: '{"time":' value ',"open":' value ... '},', the last '}'
        width = 2 * len(texts) + 1
        parts = [""] * (bars * width)
        for i, (name, values) in enumerate(zip(self.columns, texts, strict=True)):
            parts[2 * i :: width] = [("," if i else "{") + json.dumps(name) + ":"] * bars
            parts[2 * i + 1 :: width] = values
        parts[width - 1 :: width] = ["},"] * bars
        parts[-1] = "}"
        return ("[" + "".join(parts) + "]").encode()


def _texts(values: list[Any]) -> list[str]:
    """The JSON text of each value, as ``json.dumps(value, allow_nan=False)`` writes it
    compact (ValueError for NaN or an infinity): the column through the C encoder in one
    call, split at its commas."""
    encoded = json.dumps(values, allow_nan=False, separators=(",", ":"))
    parts = encoded[1:-1].split(",") if values else []
    if len(parts) != len(values):  # a value whose JSON holds a comma: one at a time
        parts = [json.dumps(v, allow_nan=False, separators=(",", ":")) for v in values]
    return parts


POSITIONAL = (1e-4, 1e16)
"""The magnitudes (0, and from the first, inclusive, to the second, exclusive) that
Python's float ``repr``, which :mod:`json` writes, gives without an exponent. orjson
writes the same shortest digits; outside this range it may place them otherwise (``1e-5``
for ``1e-05``), so those values are written by ``repr``."""


def _float_texts(values: np.ndarray) -> list[str]:
    """The JSON text of each value of a float array, as :func:`_texts` gives for
    ``_values(values)`` (NaN and infinities are ``null``): orjson writes the column (json's
    encoder takes about 30 times as long over floats), and ``repr`` the few values outside
    :data:`POSITIONAL`."""
    if not len(values):
        return []
    values = np.ascontiguousarray(values, dtype=np.float64)
    texts = orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1].split(",")
    magnitude = np.abs(values)
    low, high = POSITIONAL
    with np.errstate(invalid="ignore"):
        exponent = (magnitude != 0) & ((magnitude < low) | (magnitude >= high))
    for i in np.flatnonzero(exponent & np.isfinite(values)).tolist():
        texts[i] = repr(float(values[i]))
    return texts


def _column(values: Any) -> Column:
    """An indicator output as a :data:`Column`: float arrays as float64, others as their
    JSON values."""
    array = np.asarray(values)
    return array.astype(np.float64, copy=False) if array.dtype.kind == "f" else _values(array)


def indicator_table(frame: pd.DataFrame, specs: Iterable[IndicatorSpec]) -> IndicatorTable:
    """The column names (``time``, OHLCV, then each indicator output) and their values for
    every bar of ``frame``, times as ISO 8601 UTC."""
    outputs = compute(specs, **frame_inputs(frame))
    clash = sorted(set(outputs) & {"time", *OHLCV})
    if clash:
        from tradpal.errors import IndicatorInputError

        raise IndicatorInputError(f"indicator outputs named {', '.join(clash)} clash with bars")
    arrays = ohlcv_arrays(frame)
    data: list[Column] = [time_texts(frame.index)]
    data += [frame[c].to_numpy(dtype=np.float64) if arrays is None else arrays[c] for c in OHLCV]
    data += [_column(v) for v in outputs.values()]
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
