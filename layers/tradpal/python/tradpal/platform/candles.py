"""Candles in API requests: the posted-candle model, its checks, and stored ranges.

The indicators and signals functions both take either candles in the body or a range of the
market data store. Posted candles pass the OHLCV contract and the quality rules
(:mod:`tradpal.data.quality`) before anything is computed on them; a failing rule answers 422
naming the rows (``body.candles.<row>``) and the rule, so a client can fix its data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tradpal.errors import DataContractError
from tradpal.platform.http import ApiError

if TYPE_CHECKING:
    import pandas as pd

    from tradpal.data.quality import QualityReport


MAX_CANDLES = 40_000
"""Most candles one request may post: about 130 bytes of JSON each, so 40,000 stay under the
6 MB a Lambda invocation takes (the gateway refuses larger bodies with 413)."""
MAX_ROWS_SHOWN = 5


class CandlesRequest(BaseModel):
    """Base of request models that carry candles: a short ``repr``.

    Powertools formats every route's arguments into a debug message whether or not debug
    logging is on; pydantic's repr of 1,000 candles costs more than computing their signals.
    """

    def __repr__(self) -> str:
        parts = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            shown = f"<{len(value)} items>" if isinstance(value, list) else repr(value)
            parts.append(f"{name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"

    __str__ = __repr__


Price = Annotated[float, Field(strict=True)]
"""A JSON number: strings and booleans are refused, not converted (as the schema says)."""


class Candle(BaseModel):
    """One bar: ``time`` is its open time (ISO 8601; naive times are UTC), prices in the quote
    currency, volume in base units."""

    model_config = ConfigDict(extra="forbid")
    time: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Price

    @field_validator("time", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        # JSON has no time type: ISO 8601 text only, not epoch numbers of unknown unit
        if not isinstance(value, str | datetime):
            raise ValueError("give the open time as ISO 8601 text, e.g. 2024-01-31T12:00:00Z")
        return value


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
    candles: list[Candle],
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

    if not candles:
        raise ApiError(
            422,
            "validation_error",
            f"invalid request: {field} is empty",
            [{"field": field, "message": "give at least one candle", "type": "too_short"}],
        )
    n = len(candles)
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
    t = np.array(times, dtype=np.int64)
    values = np.array(
        [(c.open, c.high, c.low, c.close, c.volume) for c in candles], dtype=np.float64
    ).reshape(n, 5)
    meta = MarketMeta(symbol=symbol, timeframe=timeframe, source="request")
    frame = make_ohlcv(t, *values.T, meta=meta)
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
