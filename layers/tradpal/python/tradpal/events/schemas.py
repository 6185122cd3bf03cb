"""The domain events, one versioned schema per event type.

An event on the bus has ``source`` ``tradpal.<capability>`` (who published it),
``detail-type`` one of :data:`tradpal.platform.catalog.EVENT_TYPES`, and a ``detail`` that
validates against the model here. Every detail carries ``version``: a consumer reads the
versions it knows and refuses the others with a clear error, so a schema can change without
breaking consumers silently (add a ``...V2`` model and accept both while they migrate).

Times are ISO 8601 strings in UTC; prices in the quote currency; quantities in base units.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tradpal.errors import TradPalError


class EventSchemaError(TradPalError):
    """An event detail that does not match its schema (names each failing field)."""


class _Detail(BaseModel):
    # Unknown fields are refused: a typo in a producer must fail loudly, not vanish.
    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1] = 1


Side = Literal["long", "short", "flat"]


class MarketDataUpdate(_Detail):
    """New candles were stored for a dataset (and put on the market-data stream)."""

    symbol: str
    timeframe: str
    source: str
    first: str = Field(description="open time of the first new bar")
    last: str = Field(description="open time of the last new bar")
    bars: int = Field(ge=0, description="number of new bars")


class TradingSignal(_Detail):
    """A strategy's desired position changed at the close of a bar."""

    signal_id: str = Field(description="stable id: the same bar and strategy give the same id")
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any] = Field(default_factory=dict)
    time: str = Field(description="open time of the bar whose close produced the signal")
    side: Side = Field(description="the position the strategy wants from the next bar")
    previous: Side
    price: float = Field(description="close of the bar")


class OrderExecuted(_Detail):
    """A fill of an order (one per exchange trade: a partly filled order has several)."""

    order_id: str = Field(description="the client order id")
    symbol: str
    side: Literal["buy", "sell"]
    quantity: float = Field(gt=0, description="base units filled")
    price: float = Field(gt=0)
    fee: float = Field(ge=0, default=0.0, description="in the quote currency")
    mode: Literal["paper", "live"] = "paper"
    time: str
    trader_id: str | None = None
    trade_id: str | None = Field(default=None, description="the exchange's trade id")
    reason: str | None = Field(default=None, description="entry, signal, stop, target...")


class PortfolioUpdate(_Detail):
    equity: float
    cash: float
    positions: list[dict[str, Any]] = Field(default_factory=list)
    time: str
    trader_id: str | None = None


class RiskAlert(_Detail):
    alert_id: str
    level: Literal["info", "warning", "critical"]
    kind: str = Field(description="drawdown, kill_switch, exposure, data_quality...")
    message: str
    symbol: str | None = None
    time: str
    trader_id: str | None = None


class SystemHealth(_Detail):
    status: Literal["ok", "degraded", "down"]
    checks: dict[str, Any] = Field(default_factory=dict)
    time: str
    trader_id: str | None = Field(default=None, description="a trader's heartbeat")


class MlModelUpdate(_Detail):
    model_id: str
    name: str
    metrics: dict[str, float] = Field(default_factory=dict)
    time: str


class TaskError(BaseModel):
    """Step Functions' error object, as its Catch records it."""

    model_config = ConfigDict(extra="allow", frozen=True)
    Error: str
    Cause: str = ""


class BacktestComplete(_Detail):
    """A backtest or discovery run finished. Published by the state machines themselves
    (``events:putEvents`` states), so the ASL's Detail must validate against this."""

    kind: Literal["backtest", "discovery"]
    run_id: str
    status: Literal["SUCCEEDED", "FAILED"]
    result: dict[str, Any] | None = Field(
        default=None, description="backtest: {bucket, key, metrics}"
    )
    best: dict[str, Any] | None = Field(default=None, description="discovery: the winner")
    state_key: str | None = None
    error: TaskError | None = None


DETAIL_MODELS: dict[str, type[_Detail]] = {
    "market_data_update": MarketDataUpdate,
    "trading_signal": TradingSignal,
    "order_executed": OrderExecuted,
    "portfolio_update": PortfolioUpdate,
    "risk_alert": RiskAlert,
    "system_health": SystemHealth,
    "ml_model_update": MlModelUpdate,
    "backtest_complete": BacktestComplete,
}


class CandleRecord(BaseModel):
    """One candle on the market-data Kinesis stream (partition key: ``symbol|timeframe``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1] = 1
    symbol: str
    timeframe: str
    time: str = Field(description="bar open time, ISO 8601 UTC")
    open: float
    high: float
    low: float
    close: float
    volume: float
    source: str

    @property
    def partition_key(self) -> str:
        return f"{self.symbol}|{self.timeframe}"


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'detail'}: {e['msg']}" for e in exc.errors()
    )


def validate_detail(detail_type: str, detail: Any) -> _Detail:
    """``detail`` as the model of ``detail_type``; EventSchemaError naming what is wrong."""
    model = DETAIL_MODELS.get(detail_type)
    if model is None:
        raise EventSchemaError(
            f"unknown event type {detail_type!r}", hint=f"use one of {sorted(DETAIL_MODELS)}"
        )
    if isinstance(detail, model):
        return detail
    try:
        return model.model_validate(detail)
    except ValidationError as exc:
        raise EventSchemaError(
            f"{detail_type} detail is invalid: {_describe(exc)}",
            hint=f"see tradpal.events.schemas.{model.__name__}",
        ) from None


def parse_event(event: dict[str, Any]) -> tuple[str, _Detail]:
    """An EventBridge event as Lambda receives it -> ``(detail_type, validated detail)``."""
    try:
        detail_type = event["detail-type"]
        detail = event["detail"]
    except (KeyError, TypeError):
        raise EventSchemaError(
            "not an EventBridge event (no detail-type/detail)",
            hint="deliver events from the tradpal bus to this function",
        ) from None
    return detail_type, validate_detail(detail_type, detail)


def parse_candle(data: bytes | str) -> CandleRecord:
    """A market-data stream record's data -> CandleRecord (EventSchemaError if malformed)."""
    try:
        return CandleRecord.model_validate_json(data)
    except ValidationError as exc:
        raise EventSchemaError(
            f"market-data record is invalid: {_describe(exc)}",
            hint="records are JSON CandleRecord objects (tradpal.events.schemas)",
        ) from None
