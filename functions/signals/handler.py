"""Capability ``signals``: a strategy's signals on demand, and on every new candle of the stream.

* ``POST /v1/signals``: :func:`tradpal.signals.compute.compute_signals` over posted candles
  or a stored range: the signals, the position after every bar and its changes;
* the market-data stream: :func:`tradpal.signals.consumer.consume` publishes each new
  position change as ``trading_signal``, once; failed records are reported per item.
"""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ConfigDict, Field, model_validator

from tradpal.errors import TradPalError
from tradpal.fields import check_params, field_refused, strategy_for
from tradpal.platform.api_fields import Params, StrategyName
from tradpal.platform.candles import (
    CandlesRequest,
    QualitySummary,
    request_frame,
)
from tradpal.platform.entry import lambda_handler, partial_batch_response
from tradpal.platform.http import make_app, responses
from tradpal.platform.observability import for_capability
from tradpal.signals.compute import SignalsReport, compute_signals
from tradpal.signals.consumer import consume

obs = for_capability("signals")
router = APIGatewayHttpRouter()


class SignalsRequest(CandlesRequest):
    """A strategy over ``candles`` or, without them, the stored ``symbol`` at ``timeframe``
    in ``[start, end)``."""

    model_config = ConfigDict(extra="forbid")
    strategy: StrategyName = "ema_crossover"
    params: Params = Field(default_factory=dict)
    policy: Literal["reject", "repair"] = Field(
        "reject", description="candles failing the quality rules: reject (422) or repair"
    )

    @model_validator(mode="after")
    def _strategy_fits(self) -> SignalsRequest:
        try:
            strategy = strategy_for(self.strategy, self.timeframe, allow_paths=False)
        except TradPalError as exc:
            raise field_refused("strategy", exc, self.strategy) from None
        check_params(strategy, self.params, self.timeframe)  # a 422 naming params, as a run's
        return self


class SignalsResponse(SignalsReport):
    """The strategy's signals, positions and changes, and the quality of the candles."""

    quality: QualitySummary


@router.post(
    "/v1/signals",
    summary="A strategy's signals over posted candles or stored bars",
    responses=responses(SignalsResponse, (400, 404, 422)),
)
def post_signals(request: SignalsRequest) -> SignalsResponse:
    frame, quality = request_frame(request)
    run = compute_signals(frame, request.strategy, request.params)
    obs.metrics.add_metric(name="SignalBars", unit="Count", value=len(frame))
    labels = request.model_dump(include={"symbol", "timeframe", "strategy"})
    return SignalsResponse.of(frame, run, **labels, quality=quality)


def on_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    done = consume(event, context)
    obs.metrics.add_metric(name="SignalsPublished", unit="Count", value=done.published)
    obs.metrics.add_metric(name="SignalsNotPublishedAsHistory", unit="Count", value=done.stale)
    return partial_batch_response(event, done.failed, context)


app = make_app()
app.include_router(router)
handler = lambda_handler(obs, http=app, stream=on_stream)
