"""Plain JSON for results: NaN and infinities become ``null``, times become ISO 8601 text.

Every result file TradPal writes goes through :func:`to_jsonable`, so it is strict JSON
(``json.loads`` in any language reads it; ``NaN`` and ``Infinity`` are not JSON). The
conventions, which readers rely on:

* non-finite floats (NaN, +inf, -inf) are written as ``null``: a metric that is undefined
  (a profit factor without losing trades, a Sharpe ratio of a flat curve) reads as "no
  value", never as a number;
* times (``pandas.Timestamp``, ``datetime``, ``numpy.datetime64``) are ISO 8601 text in UTC
  with an explicit ``+00:00`` offset; ``NaT`` is ``null``; durations are seconds (float);
* numpy scalars and arrays become Python numbers and lists; tuples and sets become lists
  (sets sorted); dataclasses and objects with ``to_dict()`` are converted through it;
  enums by their value; paths as text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
import sys
from collections.abc import Mapping
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

import numpy as np

from tradpal.errors import SerializationError

if TYPE_CHECKING:
    import pandas as pd


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values (dict, list, str, int, float, bool, None).

    See the module docstring for the conventions. Raises
    :class:`~tradpal.errors.SerializationError` for a value that has no JSON form,
    naming its type.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if isinstance(obj, (dt.datetime, np.datetime64)):  # pandas.Timestamp is a datetime
        return _iso_utc(obj)
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, (dt.timedelta, np.timedelta64)):  # pandas.Timedelta is a timedelta
        import pandas as pd

        td = pd.Timedelta(obj)
        return None if td is pd.NaT else td.total_seconds()
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return [to_jsonable(v) for v in sorted(obj, key=repr)]
    if isinstance(obj, np.ndarray):
        return (
            [to_jsonable(v) for v in obj.tolist()]
            if obj.dtype.kind != "M"
            else [_iso_utc(v) for v in obj]
        )
    # A pandas object exists only once pandas is imported; not importing it here keeps it
    # out of the cold start of every function that never builds a frame (about 0.4 s).
    pd = sys.modules.get("pandas")
    if pd is not None:
        if isinstance(obj, pd.Series):
            return [to_jsonable(v) for v in obj.tolist()]
        if isinstance(obj, pd.DataFrame):
            return frame_records(obj)
        if obj is pd.NaT:
            return None
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_jsonable(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    raise SerializationError(
        f"a {type(obj).__name__} has no JSON form",
        hint="give plain values, numpy/pandas values, dataclasses or objects with to_dict()",
    )


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as JSON-ready dicts (column name -> value), index left out."""
    columns = [str(c) for c in frame.columns]
    rows = zip(*(frame[c].tolist() for c in frame.columns), strict=True)
    return [{c: to_jsonable(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``obj`` after :func:`to_jsonable` (never ``NaN``/``Infinity``)."""
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False, ensure_ascii=False)


def _iso_utc(value: Any) -> str | None:
    import pandas as pd

    ts = pd.Timestamp(value)
    if ts is pd.NaT:
        return None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.isoformat()


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds and ``Z`` (how records are stamped)."""
    now = dt.datetime.now(dt.UTC)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
