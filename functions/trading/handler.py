"""Capability ``trading``: the traders (``tradpal trade``) as their store holds them, and the
kill switch. Views and their shapes: :mod:`tradpal.trading.views`.

* ``GET /v1/trading``: every trader; one whose lease is not held now is ``status: "down"``;
* ``GET /v1/trading/{id}``, ``.../orders`` (``?status=``), ``.../fills``: newest first, ``?limit=``;
* ``POST /v1/trading/{id}/stop`` (cancel open orders; ``flatten`` closes the position too),
  ``.../pause`` (no new entries; positions keep their stops), ``.../start``: 202 with the
  recorded command and its version, which the trader applies once.

No Idempotency-Key: a command sets what the trader should be doing, so a repeat is harmless
(a second stop finds nothing to cancel or close) and the last one asked for wins, and the
function's only grant is the trading table, not the idempotency table.
"""

from __future__ import annotations

import time
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tradpal.platform.entry import lambda_handler
from tradpal.platform.http import json_response, make_app, not_found, responses
from tradpal.platform.observability import for_capability
from tradpal.trading import views
from tradpal.trading.orders import Status
from tradpal.trading.store import MAX_REASON_LENGTH, TraderNotFound, TradingStore, list_traders

PATH, HINT = views.PATH, "list the traders with GET /v1/trading"
obs = for_capability("trading")
router = APIGatewayHttpRouter()
TraderId = Annotated[str, Path(pattern=views.TRADER_ID_PATTERN, description="a trader's id")]
Limit = Annotated[int, Query(ge=1, le=views.MAX_LIMIT, description="newest first, at most")]
Reason = Annotated[str | None, Field(max_length=MAX_REASON_LENGTH, description="why, kept with it")]
Only = Annotated[Status | None, Query(description="only orders in this status")]


class ControlRequest(BaseModel):
    """A pause or a start; the body may be left out."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason = None


class StopRequest(ControlRequest):
    """A stop: the trader cancels its open orders (and closes its position with flatten)."""

    flatten: StrictBool = Field(False, description="close the position too")


def _known(trader_id: str, found: list) -> None:
    if not found and TradingStore(trader_id).trader() is None:  # orders or fills: it exists
        raise not_found(f"trader {trader_id}", HINT)


@router.get(PATH, summary="Every trader", responses=responses(views.TradersResponse))
def list_all():
    return json_response(200, views.traders_view(list_traders(), time.time()))


@router.get(f"{PATH}/<id>", summary="One trader", responses=responses(views.TraderView, (404,)))
def get_one(id: TraderId):
    trader = TradingStore(id).trader()
    if trader is None:
        raise not_found(f"trader {id}", HINT)
    return json_response(200, views.trader_view(trader, time.time()))


@router.get(f"{PATH}/<id>/orders", summary="A trader's orders, newest first",
            responses=responses(views.OrdersResponse, (404, 422)))  # fmt: skip
def get_orders(id: TraderId, limit: Limit = views.DEFAULT_LIMIT, status: Only = None):
    orders = TradingStore(id).orders()
    _known(id, orders)
    return json_response(200, views.orders_view(id, orders, limit=limit, status=status))


@router.get(f"{PATH}/<id>/fills", summary="A trader's fills, newest first",
            responses=responses(views.FillsResponse, (404, 422)))  # fmt: skip
def get_fills(id: TraderId, limit: Limit = views.DEFAULT_LIMIT):
    fills = TradingStore(id).fills()
    _known(id, fills)
    return json_response(200, views.fills_view(id, fills, limit=limit))


def _control(id: str, command: str, body: ControlRequest | None):
    flatten, reason = getattr(body, "flatten", False), body.reason if body else None
    try:
        control = TradingStore(id).request_control(
            command, flatten=flatten, reason=reason, now_s=time.time(),
            requested_by=views.subject_of(router.current_event.raw_event),
        )  # fmt: skip
    except TraderNotFound:
        raise not_found(f"trader {id}", HINT) from None
    obs.metrics.add_metric(name=f"Trader{command.title()}", unit="Count", value=1)
    headers = {"Location": f"{PATH}/{id}"}
    return json_response(202, views.control_accepted(control), headers)


_ACCEPTED = responses(
    views.ControlAccepted, (400, 404, 422), texts={400: "the body is not JSON"}, status=202
)


@router.post(f"{PATH}/<id>/stop", summary="Stop a trader (the kill switch)", responses=_ACCEPTED)
def stop(id: TraderId, body: StopRequest | None = None):
    return _control(id, "stop", body)


@router.post(f"{PATH}/<id>/pause", summary="Pause a trader's entries", responses=_ACCEPTED)
def pause(id: TraderId, body: ControlRequest | None = None):
    return _control(id, "pause", body)


@router.post(f"{PATH}/<id>/start", summary="Start (resume) a trader", responses=_ACCEPTED)
def start(id: TraderId, body: ControlRequest | None = None):
    return _control(id, "start", body)


app = make_app()
app.include_router(router)  # after the routes: include_router copies them
handler = lambda_handler(obs, http=app)
