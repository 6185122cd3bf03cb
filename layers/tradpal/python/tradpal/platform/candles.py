"""Candles in API requests: the posted-candle model, its checks, and stored ranges.

The indicators and signals functions both take either candles in the body or a range of the
market data store. Posted candles pass the OHLCV contract and the quality rules
(:mod:`tradpal.data.quality`) before anything is computed on them; a failing rule answers 422
naming the rows (``body.candles.<row>``) and the rule, so a client can fix its data.

Posted candles are checked column by column (:func:`candle_columns`), not as one pydantic
model per candle: 1,000 models and a Python call per time cost more than the strategy that
runs on them. Candles the column check does not take (another time form, a string where a
number belongs, a missing field...) are validated by the model, one :class:`Candle` per
item, which accepts and refuses exactly as before and names the failing row and field.
"""

from __future__ import annotations

import functools
import math
import re
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Annotated, Any

import annotated_types
import numpy as np
from pydantic import (
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidatorFunctionWrapHandler,
    field_validator,
)

from tradpal.errors import DataContractError
from tradpal.platform.api_fields import ApiTime, Symbol, check_time_text
from tradpal.platform.http import ApiError
from tradpal.timeframes import TimeframeName

if TYPE_CHECKING:
    import pandas as pd

    from tradpal.data.quality import QualityReport


MAX_CANDLES = 25_000
"""Most candles one request may post, so that the most a request may post fits the 6 MB a
Lambda invocation takes (the gateway refuses larger bodies with 413): a candle of ordinary
JSON (full-precision floats, a time with its offset) is about 180 bytes, 225 pretty-printed
with an indent of 2, so 25,000 are at most about 5.6 MB."""
MAX_CANDLE_VALUE = 1e18
"""The largest magnitude of a candle's price or volume (a finite range for the schema)."""
MAX_ROWS_SHOWN = 5


Price = Annotated[
    float, Field(strict=True, ge=-MAX_CANDLE_VALUE, le=MAX_CANDLE_VALUE, allow_inf_nan=False)
]
"""A JSON number of magnitude at most :data:`MAX_CANDLE_VALUE`: strings and booleans are
refused, not converted (as the schema says); the quality rules judge its sign."""


class Candle(BaseModel):
    """One bar: ``time`` is its open time (ISO 8601 text, not epoch numbers of unknown unit;
    naive times are UTC; years 1678 to 2261), prices in the quote currency, volume in base
    units."""

    model_config = ConfigDict(extra="forbid")
    time: ApiTime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Price


class CandlesRequest(BaseModel):
    """Base of request models that carry candles (``candles: list[Candle] | None``):
    the column-wise check of posted candles, and a short ``repr``.

    ``candles`` holds a :class:`CandleColumns` when :func:`candle_columns` takes every
    candle and the field's length limits hold; otherwise pydantic validates the list as the
    field declares it (a list of :class:`Candle`), with its own errors. The schema is the
    declared one either way.

    Powertools formats every route's arguments into a debug message whether or not debug
    logging is on; pydantic's repr of 1,000 candles costs more than computing their signals.

    The fields every such request has (the candles, or the stored range they stand for) are
    declared here once.
    """

    symbol: Symbol = "CUSTOM"
    timeframe: TimeframeName = "1h"
    candles: list[Candle] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CANDLES,
        description="the bars, oldest first; without them: the stored symbol at timeframe "
        "in [start, end)",
    )
    start: ApiTime | None = Field(None, description="first bar open time (inclusive)")
    end: ApiTime | None = Field(None, description="exclusive, after start")

    @field_validator("candles", mode="wrap", check_fields=False)
    @classmethod
    def _candles_by_column(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if type(value) is list:
            limits = _length_limits(cls)
            if limits is not None and limits[0] <= len(value) <= limits[1]:
                columns = candle_columns(value)
                if columns is not None:
                    return columns
        return handler(value)

    def __repr__(self) -> str:
        parts = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            shown = (
                f"<{len(value)} items>" if isinstance(value, list | CandleColumns) else repr(value)
            )
            parts.append(f"{name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    __str__ = __repr__


class CandleColumns:
    """Posted candles as columns: open times in epoch nanoseconds (``ns``, int64, UTC) and
    ``values`` (float64, shape ``(5, n)``: open, high, low, close, volume), in the order
    posted. What a :class:`CandlesRequest` holds in ``candles`` after the column check."""

    __slots__ = ("ns", "values")

    def __init__(self, ns: np.ndarray, values: np.ndarray) -> None:
        self.ns, self.values = ns, values

    def __len__(self) -> int:
        return len(self.ns)

    def __repr__(self) -> str:
        return f"CandleColumns(<{len(self)} candles>)"


_FIELDS = ("time", "open", "high", "low", "close", "volume")
_ROW = itemgetter(*_FIELDS)
_NUMBER_TYPES = frozenset((float, int))  # what a strict float takes; bool is its own type


def candle_columns(candles: list[Any]) -> CandleColumns | None:
    """The candles of a parsed JSON body as columns, when every one is an object with exactly
    the six fields, numbers for the five values within the :class:`Candle` model's limits
    and, for ``time``, ISO 8601 text of the form :func:`iso_ns` reads; None otherwise, for
    an empty list, and for a model that asks what this check does not know
    (:func:`_model_rules`).

    It takes nothing the :class:`Candle` model refuses, and gives the same numbers: the
    model's float of each value and :func:`_utc_ns` of its time."""
    rules = _model_rules()
    if rules is None or not candles:
        return None
    if set(map(type, candles)) != {dict} or set(map(len, candles)) != {6}:
        return None
    try:
        times, *columns = zip(*map(_ROW, candles), strict=True)
    except KeyError:  # six fields, but not these six
        return None
    if any(not set(map(type, column)) <= _NUMBER_TYPES for column in columns):
        return None
    if set(map(type, times)) != {str}:
        return None
    ns = iso_ns(times)
    if ns is None:
        return None
    try:
        values = np.array(columns, dtype=np.float64)
    except OverflowError:  # an integer beyond float range: the model says so
        return None
    with np.errstate(invalid="ignore"):
        if not rules.admit(values).all():
            return None
    return CandleColumns(ns, values)


@dataclass(frozen=True)
class _ValueRules:
    """What the :class:`Candle` model asks of the five values (one row each of ``values``):
    bounds (inclusive or not) and finiteness."""

    low: np.ndarray
    low_inclusive: np.ndarray
    high: np.ndarray
    high_inclusive: np.ndarray
    finite: np.ndarray

    def admit(self, values: np.ndarray) -> np.ndarray:
        """Per value: whether the model takes it (compared as the float it becomes, as
        pydantic compares an integer)."""
        lo, hi = self.low[:, None], self.high[:, None]
        above = np.where(self.low_inclusive[:, None], values >= lo, values > lo)
        below = np.where(self.high_inclusive[:, None], values <= hi, values < hi)
        return above & below & (np.isfinite(values) | ~self.finite[:, None])


@functools.cache
def _model_rules() -> _ValueRules | None:
    """The :class:`Candle` model's rules as the column check applies them, or None when the
    model asks anything the check does not know (another field, a validator, a constraint
    other than bounds and finiteness, a time check other than :func:`check_time_text`,
    whose years :func:`iso_ns` keeps to): the column check then takes nothing, and the model
    validates every candle. So a change to the model can make requests slower, never
    accept what the model refuses."""
    fields = Candle.model_fields
    decorators = Candle.__pydantic_decorators__
    if (
        tuple(fields) != _FIELDS
        or Candle.model_config.get("extra") != "forbid"
        or decorators.validators
        or decorators.field_validators
        or decorators.root_validators
        or decorators.model_validators
    ):
        return None
    time = fields["time"]
    known_time = all(
        isinstance(m, BeforeValidator) and m.func is check_time_text for m in time.metadata
    )
    if time.annotation is not datetime or not known_time:
        return None
    rules = []
    for name in _FIELDS[1:]:
        field = fields[name]
        if field.annotation is not float:
            return None
        low, low_inclusive, high, high_inclusive, finite = -math.inf, True, math.inf, True, False
        for m in field.metadata:
            if isinstance(m, annotated_types.Ge):
                low, low_inclusive = float(m.ge), True
            elif isinstance(m, annotated_types.Gt):
                low, low_inclusive = float(m.gt), False
            elif isinstance(m, annotated_types.Le):
                high, high_inclusive = float(m.le), True
            elif isinstance(m, annotated_types.Lt):
                high, high_inclusive = float(m.lt), False
            elif isinstance(m, AllowInfNan):
                finite = not m.allow_inf_nan
            elif not isinstance(m, Strict):  # strict or not: numbers are taken alike
                return None
        rules.append((low, low_inclusive, high, high_inclusive, finite))
    return _ValueRules(*(np.array(column) for column in zip(*rules, strict=True)))


_TAIL = re.compile(r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})?")
_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_FIRST_YEAR, _LAST_YEAR = 1678, 2261  # any offset keeps these in int64 nanoseconds


def iso_ns(times: Sequence[str]) -> np.ndarray | None:
    """Epoch nanoseconds (int64, UTC) of ISO 8601 times that all have one form, in one
    vectorised pass: ``YYYY-MM-DDTHH:MM:SS``, an optional fraction of 1 to 9 digits
    (microseconds kept, further digits dropped, as pydantic does) and ``Z``, ``+HH:MM``,
    ``-HH:MM`` or nothing (UTC), years 1678 to 2261; None when any time is not of the form
    of the first or is not a valid date and time (the :class:`Candle` model then decides)."""
    if not times:
        return None
    first = times[0]
    width = len(first)
    tail = _TAIL.fullmatch(first, 19) if width >= 19 else None
    if tail is None or set(map(len, times)) != {width}:
        return None
    try:
        text = "".join(times).encode("ascii")
    except UnicodeEncodeError:
        return None
    chars = np.frombuffer(text, dtype=np.uint8).reshape(len(times), width)
    fixed = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}
    digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
    fraction, zone = tail.group(1), tail.group(2)
    at = 19
    if fraction is not None:
        fixed[19] = "."
        digits += range(20, 20 + len(fraction))
        at = 20 + len(fraction)
    if zone == "Z":
        fixed[at] = "Z"
    elif zone is not None:
        fixed[at + 3] = ":"
        digits += [at + 1, at + 2, at + 4, at + 5]
        signs = chars[:, at]
        if not ((signs == ord("+")) | (signs == ord("-"))).all():
            return None
    marks = np.frombuffer("".join(fixed.values()).encode(), dtype=np.uint8)
    if not (chars[:, list(fixed)] == marks).all():
        return None
    number = chars.astype(np.int64) - ord("0")
    found = number[:, digits]
    if ((found < 0) | (found > 9)).any():
        return None

    def field(start: int, stop: int) -> np.ndarray:
        return number[:, start:stop] @ (10 ** np.arange(stop - start - 1, -1, -1))

    year, month, day = field(0, 4), field(5, 7), field(8, 10)
    hour, minute, second = field(11, 13), field(14, 16), field(17, 19)
    micros = np.zeros(len(times), dtype=np.int64)
    if fraction is not None:
        kept = min(len(fraction), 6)
        micros = field(20, 20 + kept) * 10 ** (6 - kept)
    offset_h = offset_m = np.zeros(len(times), dtype=np.int64)
    sign = 1
    if zone is not None and zone != "Z":
        offset_h, offset_m = field(at + 1, at + 3), field(at + 4, at + 6)
        sign = np.where(chars[:, at] == ord("-"), -1, 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = _DAYS_IN_MONTH[np.clip(month, 1, 12) - 1] + (leap & (month == 2))
    valid = (
        (year >= _FIRST_YEAR)
        & (year <= _LAST_YEAR)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (day <= month_days)
        & (hour <= 23)
        & (minute <= 59)
        & (second <= 59)
        & (offset_h <= 23)
        & (offset_m <= 59)
    )
    if not valid.all():
        return None
    # days since 1970-01-01 of the proleptic Gregorian date (H. Hinnant's days_from_civil)
    y = year - (month <= 2)
    era = y // 400
    of_era = y - era * 400
    of_year = (153 * ((month + 9) % 12) + 2) // 5 + day - 1
    days = era * 146_097 + of_era * 365 + of_era // 4 - of_era // 100 + of_year - 719_468
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    seconds -= sign * (offset_h * 3_600 + offset_m * 60)
    return seconds * 1_000_000_000 + micros * 1_000


@functools.cache
def _length_limits(model: type[BaseModel]) -> tuple[float, float] | None:
    """(fewest, most) items of ``model``'s ``candles`` when it is declared ``list[Candle]``
    (or ``list[Candle] | None``) with no constraints but lengths; None for anything else,
    which pydantic then validates whole, as declared."""
    field = model.model_fields.get("candles")
    if field is None:
        return None
    declared, listed = field.annotation, list[Candle]
    optional = typing.get_origin(declared) in (typing.Union, types.UnionType) and set(
        typing.get_args(declared)
    ) == {listed, type(None)}
    if declared != listed and not optional:
        return None
    fewest, most = 0.0, math.inf
    for constraint in field.metadata:
        if isinstance(constraint, annotated_types.MinLen):
            fewest = max(fewest, constraint.min_length)
        elif isinstance(constraint, annotated_types.MaxLen):
            most = min(most, constraint.max_length)
        else:
            return None
    return fewest, most


class QualitySummary(BaseModel):
    """The quality report of the candles a result was computed on."""

    rows: int
    score: float = Field(description="0..100")
    ok: bool
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    repairs: list[str] = Field(default_factory=list)


def quality_summary(report: QualityReport) -> QualitySummary:
    """The report's score, warnings and repairs (error rules have already been refused)."""
    return QualitySummary(
        rows=report.rows,
        score=report.score,
        ok=report.ok,
        warnings=[r.to_dict() for r in report.warnings],
        repairs=list(report.repairs),
    )


_NS_MIN, _NS_MAX = -(2**63) + 1, 2**63 - 1


def _utc_ns(t: datetime) -> int:
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    # integer arithmetic: no float rounding of microseconds
    delta = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def candles_frame(
    candles: Sequence[Candle] | CandleColumns,
    *,
    symbol: str,
    timeframe: str,
    policy: str = "reject",
    field: str = "body.candles",
) -> tuple[pd.DataFrame, QualityReport]:
    """A contract frame of ``candles`` (in the order given) that passed the quality rules.

    ``policy`` ``"reject"`` answers 422 ``data_quality_error`` when an error rule fails
    (details: one entry per failing rule with the rows it hit, as ``field.<row>``);
    ``"repair"`` sorts, de-duplicates and drops invalid rows, and the report lists what
    changed.
    """
    from tradpal.data.contract import MarketMeta, make_ohlcv
    from tradpal.data.quality import check_quality, enforce_quality

    if isinstance(candles, CandleColumns):
        t, values = candles.ns, candles.values
    else:
        t, values = _candle_arrays(candles, field)
    meta = MarketMeta(symbol=symbol, timeframe=timeframe, source="request")
    frame = make_ohlcv(t, *values, meta=meta)
    frame.columns = _plain_labels()
    report = check_quality(frame, timeframe=timeframe)
    if report.ok:
        return frame, report
    if policy == "repair":
        try:
            return enforce_quality(frame, "repair", timeframe=timeframe)
        except DataContractError as exc:  # DataQualityError too: nothing usable was left
            details = _details(report, t, field)
            raise ApiError(422, "data_quality_error", exc.message, details) from None
    rules = ", ".join(f"{r.name} ({r.count})" for r in report.failed)
    raise ApiError(
        422,
        "data_quality_error",
        f"the candles fail the quality rules: {rules}; fix the rows named in details, or "
        'post with "policy": "repair" to sort, de-duplicate and drop invalid rows',
        _details(report, t, field),
    )


@functools.cache
def _plain_labels() -> pd.Index:
    """The OHLCV column labels as a plain object Index. pandas 3 keeps text labels in a
    pyarrow string Index, and every ``frame.columns == name`` (the quality rules make one
    per column) or label lookup then builds Arrow arrays: most of the cost of checking 1,000
    candles. The labels are the same strings; nothing reads their dtype."""
    import pandas as pd

    from tradpal.data.contract import OHLCV_COLUMNS

    return pd.Index(list(OHLCV_COLUMNS), dtype=object)


def _candle_arrays(candles: Sequence[Candle], field: str) -> tuple[np.ndarray, np.ndarray]:
    """Open times (epoch ns) and values ``(5, n)`` of candles validated one model each; 422
    for none, or for a time beyond what int64 nanoseconds hold."""
    if not candles:
        raise ApiError(
            422,
            "validation_error",
            f"invalid request: {field} is empty",
            [{"field": field, "message": "give at least one candle", "type": "too_short"}],
        )
    times = [_utc_ns(c.time) for c in candles]
    # Candle times are nanoseconds in int64, as pandas keeps them: 1677-09-22..2262-04-11.
    bad = [i for i, ns in enumerate(times) if not _NS_MIN <= ns <= _NS_MAX]
    if bad:
        raise ApiError(
            422,
            "validation_error",
            f"invalid request: {len(bad)} candle time(s) out of range",
            [
                {
                    "field": f"{field}.{i}.time",
                    "message": "give a time between 1677-09-22 and 2262-04-11 (UTC)",
                    "type": "out_of_range",
                }
                for i in bad[:20]
            ],
        )
    values = np.array(
        [(c.open, c.high, c.low, c.close, c.volume) for c in candles], dtype=np.float64
    ).reshape(len(candles), 5)
    return np.array(times, dtype=np.int64), values.T


def _details(report: QualityReport, t: np.ndarray, field: str) -> list[dict[str, Any]]:
    import pandas as pd

    out: list[dict[str, Any]] = []
    for rule in report.failed:
        rows: list[int] = []
        for label in rule.first_rows:
            try:
                ns = pd.Timestamp(label).value
            except (TypeError, ValueError):
                continue
            hits = np.flatnonzero(t == ns)
            # a duplicate's later copies are the offending rows
            rows.extend(hits[1:].tolist() if rule.name == "duplicate_timestamps" else hits[:1])
        rows = sorted(set(rows))[:MAX_ROWS_SHOWN]
        fields = [f"{field}.{r}" for r in rows] or [field]
        for f in fields:
            out.append({"field": f, "rule": rule.name, "message": rule.message})
    return out


def stored_frame(
    symbol: str, timeframe: str, start: Any, end: Any, *, field: str = "body"
) -> pd.DataFrame:
    """The stored bars of ``symbol`` at ``timeframe`` in ``[start, end)``, checked first by
    :func:`~tradpal.platform.market_data.require_stored_data` (404 for a dataset that is not
    stored or a range without bars, 400 for an inverted range; ``field`` prefixes the field
    names: ``"query"`` or ``"body"``)."""
    from tradpal.platform.environment import platform_env
    from tradpal.platform.market_data import no_bars_error, require_stored_data

    data = {"symbol": symbol, "timeframe": timeframe, "start": start, "end": end}
    require_stored_data(data, field=field)
    frame = platform_env().market_store().read(symbol, timeframe, start, end)
    if not len(frame):  # the range falls in a gap of the stored bars
        raise no_bars_error(symbol, timeframe, start, end, field=field)
    return frame


def time_text(ts: Any) -> str:
    """A bar time as ISO 8601 UTC text (``2024-01-01T00:00:00+00:00``)."""
    import pandas as pd

    return pd.Timestamp(ts).tz_convert("UTC").isoformat()


def request_frame(request: Any, *, field: str = "body") -> tuple[pd.DataFrame, QualitySummary]:
    """The frame a candles request computes on and its quality: the posted ``candles``
    (:func:`candles_frame`, under the request's ``policy``), else the stored ``symbol`` at
    ``timeframe`` in ``[start, end)`` (:func:`stored_frame`)."""
    from tradpal.data.quality import check_quality

    if request.candles is not None:
        frame, report = candles_frame(
            request.candles,
            symbol=request.symbol,
            timeframe=request.timeframe,
            policy=request.policy,
            field=f"{field}.candles",
        )
    else:
        frame = stored_frame(
            request.symbol, request.timeframe, request.start, request.end, field=field
        )
        report = check_quality(frame, timeframe=request.timeframe)
    return frame, quality_summary(report)
