"""Capability ``data``: candle ingest into the market data store, and the stored datasets.

* ``POST /v1/data/ingest`` (admin): :func:`tradpal.ingest.pipeline.ingest` of ``[start,
  end)`` (an impossible range is refused first, naming the field);
* ``GET /v1/data``: the datasets table (:class:`~tradpal.ingest.datasets_table.DatasetsTable`);
* the hourly schedule (``{"action": "ingest"}``): :func:`~tradpal.ingest.pipeline.scheduled_ingest`.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from tradpal.ingest.datasets_table import DatasetRecord, DatasetsTable
from tradpal.ingest.pipeline import IngestResult, check_range, ingest, scheduled_ingest
from tradpal.platform.api_fields import SYMBOL_PATTERN, ApiTime, Symbol
from tradpal.platform.entry import lambda_handler
from tradpal.platform.http import make_app, responses
from tradpal.platform.observability import for_capability
from tradpal.timeframes import TimeframeName

obs = for_capability("data")
router = APIGatewayHttpRouter()
ERRORS = {
    400: "the source or the store refused the request, or the range can hold no closed bar "
    "(end not after start, start in the future): details name the field",
    422: "invalid request (details name the fields)",
}


SOURCE_PATTERN = r"^(?:ccxt:[a-z0-9_]{1,32}|yfinance|synthetic(?::seed=[0-9]{1,9})?)$"
"""The source specs an ingest may name (tradpal.data.sources.registry)."""


class IngestRequest(BaseModel):
    """Download ``[start, end)`` of ``symbol`` at ``timeframe`` into the store."""

    model_config = ConfigDict(extra="forbid")
    symbol: Symbol
    timeframe: TimeframeName = "1h"
    start: ApiTime = Field(description="first bar open time wanted (inclusive)")
    end: ApiTime | None = Field(None, description="exclusive; default and cap: now")
    source: str | None = Field(
        None,
        pattern=SOURCE_PATTERN,
        examples=["ccxt:binance", "synthetic:seed=42"],
        description="a source spec: ccxt:EXCHANGE, yfinance, synthetic or synthetic:seed=N; "
        "default: the configured chain",
    )


class DatasetsResponse(BaseModel):
    """The stored datasets with their quality reports."""

    datasets: list[DatasetRecord]


@router.post(
    "/v1/data/ingest",
    summary="Download candles into the store (admin)",
    responses=responses(IngestResult, ERRORS),
)
def post_ingest(request: IngestRequest) -> IngestResult:
    check_range(request.start, request.end)
    done = ingest(
        *(request.symbol, request.timeframe, request.start, request.end), source=request.source
    )
    obs.metrics.add_metric(name="BarsIngested", unit="Count", value=done.new_bars)
    return done


@router.get(
    "/v1/data",
    summary="The stored datasets with their quality",
    responses=responses(DatasetsResponse, ERRORS),
)
def get_datasets(
    symbol: Annotated[
        str | None,
        Query(min_length=1, max_length=64, pattern=SYMBOL_PATTERN, description="only this symbol"),
    ] = None,
    timeframe: Annotated[TimeframeName | None, Query(description="only this timeframe")] = None,
) -> DatasetsResponse:
    return DatasetsResponse(datasets=DatasetsTable().list(symbol, timeframe))


app = make_app()
app.include_router(router)
handler = lambda_handler(obs, http=app, schedule=lambda event: scheduled_ingest())
