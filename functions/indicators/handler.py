"""The indicators capability: technical indicators over posted candles or stored data.

``GET /v1/indicators?symbol=BTC/USDT&timeframe=1h&start=...&end=...&indicators=ema:9,rsi:14``
computes over the market data store; ``POST /v1/indicators`` over the candles in the body
(checked by the data contract and the quality rules) or a stored range. Each result row is
a bar: its open time, OHLCV and one value per indicator column (null during the warm-up).
Results above 256 KB are stored under ``indicators/<sha256>.json`` in the results bucket and
answered with a pre-signed URL instead.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tradpal.platform.api_docs import responses
from tradpal.platform.candles import (
    MAX_CANDLES,
    Candle,
    CandlesRequest,
    QualitySummary,
    TimeframeName,
    candles_frame,
    quality_summary,
    stored_frame,
)
from tradpal.platform.http import make_app
from tradpal.platform.observability import for_capability

obs = for_capability("indicators")
router = APIGatewayHttpRouter()
ERRORS: dict[int, str] = {
    400: "the library refused the request (message and hint)",
    404: "the dataset is not stored, or holds no bars in the range (details say what is)",
    422: "invalid request or candles failing the quality rules (details name the fields)",
}


IndicatorEntry = str | dict[str, Any]


class IndicatorsRequest(CandlesRequest):
    """Indicators over ``candles`` or, without them, the stored ``symbol`` at ``timeframe``
    in ``[start, end)``."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(default="CUSTOM", min_length=1, examples=["BTC/USDT"])
    timeframe: TimeframeName = "1h"
    candles: list[Candle] | None = Field(
        default=None, max_length=MAX_CANDLES, description="the bars to compute on, oldest first"
    )
    start: datetime | None = Field(default=None, description="stored range start (inclusive)")
    end: datetime | None = Field(default=None, description="stored range end (exclusive)")
    indicators: list[IndicatorEntry] | None = Field(
        default=None,
        description='entries like "ema:9", "bollinger:20:2" or {"kind": "rsi", "period": 14}; '
        "default: the configured set",
        examples=[["ema:9", "rsi:14"]],
    )
    policy: Literal["reject", "repair"] = Field(
        default="reject",
        description="posted candles failing a quality rule: refuse (422) or repair",
    )

    @model_validator(mode="after")
    def _candles_or_symbol(self) -> IndicatorsRequest:
        if self.candles is None and self.symbol == "CUSTOM":
            raise ValueError("give candles, or the symbol (and range) of stored data")
        if self.candles is not None and (self.start or self.end):
            raise ValueError("give candles or a stored range (start/end), not both")
        return self


class IndicatorsResponse(BaseModel):
    """The bars with their indicator columns, inline (``rows``) or behind ``url``."""

    symbol: str
    timeframe: str
    source: str
    bars: int
    columns: list[str] = Field(description="row keys: time, OHLCV, then the indicators")
    rows: list[dict[str, Any]] | None = Field(
        default=None, description="one object per bar; null where a value is undefined"
    )
    url: str | None = Field(default=None, description="pre-signed GET URL of the rows (JSON)")
    key: str | None = None
    bytes: int | None = None
    expires_in_s: int | None = None
    quality: QualitySummary


def parse_indicators(entries: list[IndicatorEntry] | None) -> tuple[Any, ...]:
    """The indicator specs of ``entries`` (default: the configured set)."""
    from tradpal.indicators.spec import parse_entry, parse_spec

    if entries is None:
        from tradpal.config import load_settings

        return load_settings().indicator_set
    return parse_spec([parse_entry(e) for e in entries])


def compute(frame: Any, specs: tuple[Any, ...], quality: Any) -> IndicatorsResponse:
    """Indicators over a contract frame, shaped as the response (large ones offloaded)."""
    from tradpal.data.contract import get_meta
    from tradpal.indicators.frame import add_indicators
    from tradpal.platform.environment import platform_env
    from tradpal.platform.results import ResultStore
    from tradpal.serialize import to_jsonable

    out = add_indicators(frame, specs)
    meta = get_meta(frame)
    columns = ["time", *map(str, out.columns)]
    times = [t.isoformat() for t in out.index]
    values = [out[c].tolist() for c in out.columns]
    rows = [dict(zip(columns, r, strict=True)) for r in zip(times, *values, strict=True)]
    rows = to_jsonable(rows)  # NaN -> null
    text = json.dumps(rows, allow_nan=False, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    placed = ResultStore(platform_env().require("results_bucket")).offload(
        f"indicators/{digest}.json", rows
    )
    obs.metrics.add_metric(name="IndicatorBars", unit="Count", value=len(rows))
    return IndicatorsResponse(
        symbol=meta.symbol if meta else "CUSTOM",
        timeframe=meta.timeframe if meta else "",
        source=meta.source if meta else "request",
        bars=len(rows),
        columns=columns,
        rows=placed.get("inline"),
        url=placed.get("url"),
        key=placed.get("key"),
        bytes=placed.get("bytes"),
        expires_in_s=placed.get("expires_in_s"),
        quality=quality_summary(quality),
    )


def _stored(symbol: str, timeframe: str, start: Any, end: Any, field: str) -> tuple[Any, Any]:
    from tradpal.data.quality import check_quality

    frame = stored_frame(symbol, timeframe, start, end, field=field)
    return frame, check_quality(frame, timeframe=timeframe)


@router.get(
    "/v1/indicators",
    summary="Indicators over stored candles",
    response_description="the bars with their indicator columns",
    responses=responses(IndicatorsResponse, "the bars with their indicator columns", ERRORS),
)
def get_indicators(
    symbol: Annotated[str, Query(min_length=1, examples=["BTC/USDT"])],
    timeframe: Annotated[TimeframeName, Query()] = "1h",
    start: Annotated[datetime | None, Query(description="inclusive, ISO 8601")] = None,
    end: Annotated[datetime | None, Query(description="exclusive, ISO 8601")] = None,
    indicators: Annotated[
        str | None, Query(description="comma-separated entries, e.g. ema:9,rsi:14")
    ] = None,
) -> IndicatorsResponse:
    entries = [e for e in (indicators or "").split(",") if e.strip()] or None
    specs = parse_indicators(entries)
    frame, quality = _stored(symbol, timeframe, start, end, "query")
    return compute(frame, specs, quality)


@router.post(
    "/v1/indicators",
    summary="Indicators over posted candles or a stored range",
    response_description="the bars with their indicator columns",
    responses=responses(IndicatorsResponse, "the bars with their indicator columns", ERRORS),
)
def post_indicators(request: IndicatorsRequest) -> IndicatorsResponse:
    specs = parse_indicators(request.indicators)
    if request.candles is not None:
        frame, quality = candles_frame(
            request.candles,
            symbol=request.symbol,
            timeframe=request.timeframe,
            policy=request.policy,
        )
    else:
        frame, quality = _stored(
            request.symbol, request.timeframe, request.start, request.end, "body"
        )
    return compute(frame, specs, quality)


app = make_app()
app.include_router(router)


@obs.logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point (HTTP API v2 events)."""
    return app.resolve(event, context)
