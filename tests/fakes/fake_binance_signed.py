"""Binance's signed (USER_DATA / TRADE) spot REST endpoints over a :class:`SpotMarket`.

Authentication, as Binance checks it: the ``X-MBX-APIKEY`` header names the key (missing:
-2014, unknown: -2015, both HTTP 401); ``timestamp`` (ms) is mandatory and must lie within
``recvWindow`` ms (default 5000, at most 60000) before the server's time and at most 1000 ms
after it (-1021); ``signature`` is the lowercase hex HMAC-SHA256, under the secret, of the
query string concatenated with the request body (no separator between them), both exactly as
sent, without the ``signature`` parameter itself (-1022 when it does not match). A parameter
sent in both the query and the body is taken from the query, as Binance does.

Endpoints: ``POST/GET/DELETE /api/v3/order``, ``GET/DELETE /api/v3/openOrders``,
``GET /api/v3/allOrders``, ``GET /api/v3/myTrades`` and ``GET /api/v3/account``. Every answer
is computed from the market's state; prices and quantities go out as Binance's decimal strings
with 8 decimals (``"40000.00000000"``), times as ms integers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_plus

from fakes.fake_binance_market import (
    BinanceError,
    Order,
    SpotMarket,
    Trade,
    err_mandatory,
    err_unknown_order,
)

DEFAULT_RECV_WINDOW_MS = 5_000
MAX_RECV_WINDOW_MS = 60_000
MAX_AHEAD_MS = 1_000


@dataclass(frozen=True)
class Credentials:
    """The one API key the fake exchange knows and its HMAC secret."""

    api_key: str
    secret: str


def fmt(value: Decimal) -> str:
    """A decimal as Binance writes amounts: 8 decimals (``"0.00100000"``)."""
    return f"{value:.8f}"


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def check_api_key(credentials: Credentials, api_key: str | None) -> None:
    if not api_key:
        raise BinanceError(-2014, "API-key format invalid.", status=401)
    if not hmac.compare_digest(api_key, credentials.api_key):
        raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def check_timestamp(params: Mapping[str, Any], now_ms: int) -> None:
    """``timestamp`` within ``recvWindow`` of the server's time, as Binance requires."""
    raw = params.get("timestamp")
    if raw in (None, ""):
        raise err_mandatory("timestamp")
    try:
        timestamp = int(raw)
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
    except (TypeError, ValueError):
        raise err_mandatory("timestamp") from None
    if window > MAX_RECV_WINDOW_MS:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    if timestamp >= now_ms + MAX_AHEAD_MS:
        raise BinanceError(
            -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now_ms - timestamp > window:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def _without_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` (a query string or form body) minus its ``signature=`` part, and that value."""
    kept: list[str] = []
    signature = None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = unquote_plus(part[len("signature=") :])
        else:
            kept.append(part)
    return "&".join(kept), signature


def verify_request(
    credentials: Credentials,
    query: str,
    body: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    now_ms: int,
) -> None:
    """Raise the :class:`BinanceError` Binance answers a badly signed REST request with."""
    check_api_key(credentials, headers.get("X-MBX-APIKEY"))
    check_timestamp(params, now_ms)
    signed_query, sig_in_query = _without_signature(query)
    signed_body, sig_in_body = _without_signature(body)
    signature = sig_in_query or sig_in_body
    if not signature:
        raise err_mandatory("signature")
    expected = hmac_hex(credentials.secret, signed_query + signed_body)
    if not hmac.compare_digest(signature.lower(), expected):
        raise BinanceError(-1022, "Signature for this request is not valid.")


# ------------------------------------------------------------------------ JSON shapes
def order_json(order: Order) -> dict[str, Any]:
    """An order as GET /api/v3/order, openOrders and allOrders give it."""
    return {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.quantity),
        "executedQty": fmt(order.executed_qty),
        "cummulativeQuoteQty": fmt(order.cumulative_quote_qty),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "stopPrice": fmt(order.stop_price),
        "icebergQty": fmt(Decimal(0)),
        "time": order.time,
        "updateTime": order.update_time,
        "isWorking": order.working,
        "workingTime": order.working_time,
        "origQuoteOrderQty": fmt(order.quote_order_qty),
        "selfTradePreventionMode": "NONE",
    }


def _result_json(order: Order, transact_time: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": transact_time,
        "price": fmt(order.price),
        "origQty": fmt(order.quantity),
        "executedQty": fmt(order.executed_qty),
        "origQuoteOrderQty": fmt(order.quote_order_qty),
        "cummulativeQuoteQty": fmt(order.cumulative_quote_qty),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
    }
    if order.stop_price:  # Binance adds it for the types that have one
        body["stopPrice"] = fmt(order.stop_price)
    body["workingTime"] = order.working_time
    body["selfTradePreventionMode"] = "NONE"
    return body


def new_order_json(order: Order, fills: list[Trade], resp_type: str) -> dict[str, Any]:
    """The POST /api/v3/order answer for ``newOrderRespType`` ACK, RESULT or FULL."""
    if resp_type == "ACK":
        return {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": order.time,
        }
    body = _result_json(order, order.time)
    if resp_type == "FULL":
        body["fills"] = [
            {
                "price": fmt(t.price),
                "qty": fmt(t.qty),
                "commission": fmt(t.commission),
                "commissionAsset": t.commission_asset,
                "tradeId": t.id,
            }
            for t in fills
        ]
    return body


def cancel_json(order: Order, cancel_client_order_id: str) -> dict[str, Any]:
    """The DELETE /api/v3/order answer: ``clientOrderId`` is the cancel's own id."""
    body = _result_json(order, order.update_time)
    body.pop("workingTime")
    body = {
        "symbol": body.pop("symbol"),
        "origClientOrderId": order.client_order_id,
        **body,
        "clientOrderId": cancel_client_order_id,
    }
    return body


def trade_json(trade: Trade) -> dict[str, Any]:
    return {
        "symbol": trade.symbol,
        "id": trade.id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": fmt(trade.price),
        "qty": fmt(trade.qty),
        "quoteQty": fmt(trade.quote_qty),
        "commission": fmt(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": trade.time,
        "isBuyer": trade.is_buyer,
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def account_json(market: SpotMarket, omit_zero: bool) -> dict[str, Any]:
    rate = market.commission_rate
    bps = int(rate * 10_000)  # Binance gives the rates in 0.01 % too
    balances = [
        {"asset": asset, "free": fmt(free), "locked": fmt(locked)}
        for asset, (free, locked) in market.balances().items()
        if not (omit_zero and free == 0 and locked == 0)
    ]
    return {
        "makerCommission": bps,
        "takerCommission": bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fmt(rate),
            "taker": fmt(rate),
            "buyer": fmt(Decimal(0)),
            "seller": fmt(Decimal(0)),
        },
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": market.update_time,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": 1,
    }


# -------------------------------------------------------------------------- endpoints
def _post_order(market: SpotMarket, p: Mapping[str, str]) -> Any:
    otype = p.get("type")
    order, fills = market.place_order(
        p.get("symbol", ""),
        p.get("side"),
        otype,
        quantity=p.get("quantity"),
        quote_order_qty=p.get("quoteOrderQty"),
        price=p.get("price"),
        stop_price=p.get("stopPrice"),
        time_in_force=p.get("timeInForce"),
        client_order_id=p.get("newClientOrderId"),
    )
    # Binance's default: FULL for MARKET and LIMIT, ACK for the other types
    default = "FULL" if otype in ("MARKET", "LIMIT") else "ACK"
    resp_type = p.get("newOrderRespType") or default
    if resp_type not in ("ACK", "RESULT", "FULL"):
        raise BinanceError(-1177, "Invalid newOrderRespType.")
    return new_order_json(order, fills, resp_type)


def _get_order(market: SpotMarket, p: Mapping[str, str]) -> Any:
    return order_json(
        market.get_order(p.get("symbol", ""), p.get("orderId"), p.get("origClientOrderId"))
    )


def _delete_order(market: SpotMarket, p: Mapping[str, str]) -> Any:
    order, cancel_id = market.cancel_order(
        p.get("symbol", ""), p.get("orderId"), p.get("origClientOrderId"), p.get("newClientOrderId")
    )
    return cancel_json(order, cancel_id)


def _open_orders(market: SpotMarket, p: Mapping[str, str]) -> Any:
    return [order_json(o) for o in market.open_orders(p.get("symbol") or None)]


def _cancel_open_orders(market: SpotMarket, p: Mapping[str, str]) -> Any:
    symbol = p.get("symbol", "")
    orders = market.open_orders(symbol)
    if not orders:
        raise err_unknown_order()
    answers = []
    for order in orders:
        cancelled, cancel_id = market.cancel_order(symbol, order.order_id)
        answers.append(cancel_json(cancelled, cancel_id))
    return answers


def _all_orders(market: SpotMarket, p: Mapping[str, str]) -> Any:
    rows = market.all_orders(
        p.get("symbol", ""),
        order_id=p.get("orderId"),
        start_time=p.get("startTime"),
        end_time=p.get("endTime"),
        limit=p.get("limit"),
    )
    return [order_json(o) for o in rows]


def _my_trades(market: SpotMarket, p: Mapping[str, str]) -> Any:
    rows = market.my_trades(
        p.get("symbol", ""),
        order_id=p.get("orderId"),
        from_id=p.get("fromId"),
        start_time=p.get("startTime"),
        end_time=p.get("endTime"),
        limit=p.get("limit"),
    )
    return [trade_json(t) for t in rows]


def _account(market: SpotMarket, p: Mapping[str, str]) -> Any:
    return account_json(market, p.get("omitZeroBalances", "false").lower() == "true")


ENDPOINTS: dict[tuple[str, str], Callable[[SpotMarket, Mapping[str, str]], Any]] = {
    ("POST", "/api/v3/order"): _post_order,
    ("GET", "/api/v3/order"): _get_order,
    ("DELETE", "/api/v3/order"): _delete_order,
    ("GET", "/api/v3/openOrders"): _open_orders,
    ("DELETE", "/api/v3/openOrders"): _cancel_open_orders,
    ("GET", "/api/v3/allOrders"): _all_orders,
    ("GET", "/api/v3/myTrades"): _my_trades,
    ("GET", "/api/v3/account"): _account,
}


def signed_answer(
    market: SpotMarket,
    credentials: Credentials,
    method: str,
    path: str,
    query: str,
    body: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
) -> tuple[int, Any] | None:
    """Status and JSON body for a signed endpoint; ``None`` when ``path`` is not one."""
    endpoint = ENDPOINTS.get((method, path))
    if endpoint is None:
        return None
    try:
        verify_request(credentials, query, body, params, headers, market.now())
        return 200, endpoint(market, params)
    except BinanceError as error:
        return error.status, error.body()


__all__ = [
    "ENDPOINTS",
    "Credentials",
    "account_json",
    "cancel_json",
    "check_api_key",
    "check_timestamp",
    "fmt",
    "hmac_hex",
    "new_order_json",
    "order_json",
    "signed_answer",
    "trade_json",
    "verify_request",
]
