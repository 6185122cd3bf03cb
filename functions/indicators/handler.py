"""Capability ``indicators``: technical indicators over posted candles or stored data.

``GET /v1/indicators?symbol=...&indicators=ema:9,rsi:14`` computes over the market data
store; ``POST /v1/indicators`` over the candles in the body (checked by the data contract
and the quality rules) or a stored range. Rows (:func:`tradpal.indicators.rows.
indicator_rows`) above 256 KB are stored under ``indicators/<sha256>.json`` in the results
bucket and answered with a pre-signed URL instead.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from tradpal.data.contract import get_meta
from tradpal.indicators.rows import indicator_rows, indicator_specs
from tradpal.platform.candles import (
    MAX_CANDLES,
    Candle,
    CandlesRequest,
    QualitySummary,
    request_frame,
)
from tradpal.platform.entry import lambda_handler
from tradpal.platform.http import make_app, responses
from tradpal.platform.observability import for_capability
from tradpal.platform.results import ResultStore
from tradpal.timeframes import TimeframeName

obs = for_capability("indicators")
router = APIGatewayHttpRouter()
Entry = str | dict[str, Any]


class IndicatorsRequest(CandlesRequest):
    """Indicators over ``candles`` or the stored ``symbol`` at ``timeframe`` in ``[start,
    end)``; ``indicators`` like ``"ema:9"``, ``"bollinger:20:2"`` or ``{"kind": "rsi",
    "period": 14}`` (default: the configured set)."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(default="CUSTOM", min_length=1, examples=["BTC/USDT"])
    timeframe: TimeframeName = "1h"
    candles: list[Candle] | None = Field(default=None, max_length=MAX_CANDLES)
    start: datetime | None = None
    end: datetime | None = None
    indicators: list[Entry] | None = Field(default=None, examples=[["ema:9", "rsi:14"]])
    policy: Literal["reject", "repair"] = "reject"


class IndicatorsResponse(BaseModel):
    """The bars with their indicator columns, inline (``rows``) or behind ``url``."""

    symbol: str
    timeframe: str
    source: str
    bars: int
    columns: list[str] = Field(description="row keys: time, OHLCV, then the indicators")
    rows: list[dict[str, Any]] | None = Field(None, description="null where undefined")
    url: str | None = Field(None, description="pre-signed GET URL of the rows (JSON)")
    key: str | None = None
    bytes: int | None = None
    expires_in_s: int | None = None
    quality: QualitySummary


def answer(request: IndicatorsRequest, entries: list[Entry] | None, field: str) -> Any:
    frame, quality = request_frame(request, field=field)
    columns, rows = indicator_rows(frame, indicator_specs(entries))
    digest = hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()
    placed = ResultStore().offload(f"indicators/{digest}.json", rows)
    obs.metrics.add_metric(name="IndicatorBars", unit="Count", value=len(rows))
    meta = get_meta(frame)
    return IndicatorsResponse(
        symbol=request.symbol,
        timeframe=request.timeframe,
        source=meta.source if meta else "request",
        bars=len(rows),
        columns=columns,
        rows=placed.pop("inline", None),
        **placed,
        quality=quality,
    )


@router.get(
    "/v1/indicators",
    summary="Indicators over stored candles",
    responses=responses(IndicatorsResponse, (400, 404, 422)),
)
def get_indicators(
    symbol: Annotated[str, Query(min_length=1, examples=["BTC/USDT"])],
    timeframe: Annotated[TimeframeName, Query()] = "1h",
    start: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
    end: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
    indicators: Annotated[str | None, Query(description="comma-separated: ema:9,rsi:14")] = None,
) -> IndicatorsResponse:
    entries = [e for e in (indicators or "").split(",") if e.strip()] or None
    request = IndicatorsRequest(symbol=symbol, timeframe=timeframe, start=start, end=end)
    return answer(request, entries, "query")


@router.post(
    "/v1/indicators",
    summary="Indicators over posted candles or a stored range",
    responses=responses(IndicatorsResponse, (400, 404, 422)),
)
def post_indicators(request: IndicatorsRequest) -> IndicatorsResponse:
    return answer(request, request.indicators, "body")


app = make_app()
app.include_router(router)
handler = lambda_handler(obs, http=app)
