"""What the trading API answers, built from the trading store's items (pure: no I/O).

A trader writes, in its state document (:meth:`~tradpal.trading.store.TradingStore.save_state`),
a key ``"summary"`` holding :data:`SUMMARY_FIELDS`: what it trades (strategy, symbol,
timeframe, exchange, mode ``paper`` or ``live``), its ``status`` (``running``, ``paused``,
``stopped``), its position (base units, signed: negative is short) and ``avg_entry_price``
(null when flat), its money in the quote currency (cash, equity, capital, realized_pnl,
unrealized_pnl), the last price and bar (``last_bar_ms``), ``num_trades``,
``paused_reason`` (null unless paused), ``control_version`` (the last control version it
applied, 0 if none) and ``updated_ms``. An older or partial document may lack any of them,
or hold a value of the wrong type: each such field reads as null.

The views add what the store knows beside the document:

* ``alive``: the trader's lease is held now (it is unexpired at the API's clock). A trader
  that is not alive (its lease expired: it crashed, was cut off or hangs; or it released
  the lease when it exited) is reported with ``status: "down"``, whatever its summary last
  said (``reported_status`` keeps that); one alive that has written no summary yet (warming
  up, restoring) is ``starting``;
* ``pending_control``: the last control command asked for
  (:class:`~tradpal.trading.store.Control`) when its version is above the summary's
  ``control_version``, i.e. not applied yet; ``last_control`` is the last one either way.

Times: fields named ``*_at`` are ISO 8601 text in UTC with milliseconds and ``Z`` (as runs
are stamped); fields named ``*_ms`` are milliseconds since the epoch as the trader wrote them.
Orders and fills are listed newest first: orders by their first write (the order the trader
decided them in), fills in the order they were booked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from tradpal.trading.book import Fill
from tradpal.trading.orders import Order, Status
from tradpal.trading.store import Control, TraderSummary

PATH = "/v1/trading"
TRADER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,255}$"
"""A trader id the API can address: a path segment of URL-unreserved characters (letters,
digits, ``. _ ~ -``: a client sends them as they are, never percent-encoded, and the
handler sees the segment as sent), 1 to 256 characters (the store's limit), starting with a
letter or digit. A trader named otherwise is listed but cannot be read or stopped by id."""
DEFAULT_LIMIT, MAX_LIMIT = 100, 500
ORDER_STATUSES: tuple[str, ...] = get_args(Status)

_TEXT = ("strategy", "symbol", "timeframe", "exchange", "mode", "status", "paused_reason")
_NUMBER = (
    "position", "avg_entry_price", "cash", "equity", "capital", "realized_pnl",
    "unrealized_pnl", "last_price",
)  # fmt: skip
_INTEGER = ("last_bar_ms", "num_trades", "control_version", "updated_ms")
SUMMARY_FIELDS: tuple[str, ...] = (
    "strategy", "symbol", "timeframe", "exchange", "mode", "status", "position",
    "avg_entry_price", "cash", "equity", "capital", "realized_pnl", "unrealized_pnl",
    "last_price", "last_bar_ms", "num_trades", "paused_reason", "control_version",
    "updated_ms",
)  # fmt: skip
"""The keys of the state document's ``"summary"`` (module docstring), in the views' order."""


def iso(epoch_s: float | None) -> str | None:
    """``epoch_s`` (seconds) as ISO 8601 UTC text with milliseconds and ``Z``; None stays."""
    if epoch_s is None or not math.isfinite(epoch_s):
        return None
    when = datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
    return when.replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    return int(value)


def summary_fields(state: Mapping[str, Any] | None) -> dict[str, Any]:
    """:data:`SUMMARY_FIELDS` from a state document's ``"summary"``: each missing or
    mistyped one (text, number, whole number) is None."""
    summary = (state or {}).get("summary")
    summary = summary if isinstance(summary, Mapping) else {}
    out: dict[str, Any] = {}
    for name in SUMMARY_FIELDS:
        value = summary.get(name)
        if name in _TEXT:
            out[name] = _text(value)
        elif name in _NUMBER:
            out[name] = _number(value)
        else:
            out[name] = _integer(value)
    return out


def control_view(control: Control | None) -> dict[str, Any] | None:
    """A control command as the API shows it (:class:`ControlView`)."""
    if control is None:
        return None
    return {
        "trader_id": control.trader_id,
        "command": control.command,
        "version": control.version,
        "flatten": control.flatten,
        "reason": control.reason,
        "requested_by": control.requested_by,
        "requested_at": iso(control.requested_at),
    }


def control_accepted(control: Control) -> dict[str, Any]:
    """The 202 of a control request (:class:`ControlAccepted`)."""
    view = control_view(control)
    assert view is not None
    return {**view, "links": {"trader": f"{PATH}/{control.trader_id}"}}


def trader_view(trader: TraderSummary, now_s: float) -> dict[str, Any]:
    """One trader (:class:`TraderView`) at the API's clock ``now_s`` (epoch seconds)."""
    fields = summary_fields(trader.state)
    lease = trader.lease
    alive = lease is not None and lease.held_at(now_s)
    applied = fields["control_version"] or 0
    control = trader.control
    pending = control if control is not None and control.version > applied else None
    return {
        "trader_id": trader.trader_id,
        **fields,
        # alive before its first state write (warming up, restoring): starting
        "status": (fields["status"] or "starting") if alive else "down",
        "reported_status": fields["status"],
        "alive": alive,
        "lease": None
        if lease is None
        else {"owner": lease.owner, "expires_at": iso(lease.expires_at)},
        "pending_control": control_view(pending),
        "last_control": control_view(control),
        "state_version": trader.version,
        "updated_at": iso(trader.updated_at),
        "links": {
            "self": f"{PATH}/{trader.trader_id}",
            "orders": f"{PATH}/{trader.trader_id}/orders",
            "fills": f"{PATH}/{trader.trader_id}/fills",
        },
    }


def traders_view(traders: Iterable[TraderSummary], now_s: float) -> dict[str, Any]:
    """Every trader, by id (:class:`TradersResponse`)."""
    return {"traders": [trader_view(t, now_s) for t in traders], "as_of": iso(now_s)}


def order_view(order: Order) -> dict[str, Any]:
    """An order without ``info`` (the exchange's raw answer, large and exchange-specific)."""
    return {
        "client_id": order.client_id,
        "exchange_id": order.exchange_id,
        "symbol": order.symbol,
        "side": order.side,
        "type": order.type,
        "intent": order.intent,
        "status": order.status,
        "amount": order.amount,
        "filled": order.filled,
        "price": order.price,
        "stop_price": order.stop_price,
        "reduce_only": order.reduce_only,
        "reason": order.reason,
        "bar_ms": order.bar_ms,
    }


def fill_view(fill: Fill) -> dict[str, Any]:
    return {
        "trade_id": fill.trade_id,
        "client_id": fill.client_id,
        "side": fill.side,
        "amount": fill.amount,
        "price": fill.price,
        "fee": fill.fee,
        "base_fee": fill.base_fee,
        "time_ms": fill.time_ms,
        "reason": fill.reason,
    }


def orders_view(
    trader_id: str, orders: Sequence[Order], *, limit: int, status: str | None = None
) -> dict[str, Any]:
    """The newest ``limit`` of ``orders`` (oldest first, as the store lists them) with
    ``status`` (None: any) (:class:`OrdersResponse`)."""
    chosen = [o for o in reversed(orders) if status is None or o.status == status]
    return {
        "trader_id": trader_id,
        "orders": [order_view(o) for o in chosen[:limit]],
        "truncated": len(chosen) > limit,
    }


def fills_view(trader_id: str, fills: Sequence[Fill], *, limit: int) -> dict[str, Any]:
    """The newest ``limit`` of ``fills`` (oldest first, as the store lists them)
    (:class:`FillsResponse`)."""
    newest = list(reversed(fills))
    return {
        "trader_id": trader_id,
        "fills": [fill_view(f) for f in newest[:limit]],
        "truncated": len(newest) > limit,
    }


def subject_of(event: Mapping[str, Any]) -> str | None:
    """Who asked: the verified JWT's ``sub`` (else its ``client_id``) in an HTTP API event's
    ``requestContext.authorizer.jwt.claims``; None on a route without an authorizer."""
    context = event.get("requestContext") or {}
    claims = ((context.get("authorizer") or {}).get("jwt") or {}).get("claims") or {}
    for claim in ("sub", "client_id"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value[:256]
    return None


# ---- the response models (the OpenAPI document; the views above build the same shapes) ----


class LeaseView(BaseModel):
    """The trader's lease: who holds it, until when."""

    owner: str
    expires_at: str | None


class ControlView(BaseModel):
    """A control command (the last one asked for is the one that counts)."""

    trader_id: str
    command: Literal["start", "pause", "stop"]
    version: int = Field(description="1, 2, ...: each request the next; applied once each")
    flatten: bool = Field(description="a stop that also closes the position")
    reason: str | None
    requested_by: str | None = Field(description="the subject of the token that asked")
    requested_at: str | None


class ControlAccepted(ControlView):
    """202: the command is recorded; the trader applies it at its next bar or heartbeat."""

    links: dict[str, str] = Field(description='{"trader": "/v1/trading/<id>"}')


class TraderView(BaseModel):
    """One trader: its summary, whether it is alive, and its control commands."""

    trader_id: str
    strategy: str | None
    symbol: str | None
    timeframe: str | None
    exchange: str | None
    mode: str | None = Field(description="paper or live")
    status: Literal["starting", "running", "paused", "stopped", "down"] | None = Field(
        description="what the trader reports while alive (starting: alive, nothing written "
        "yet); down when its lease is not held"
    )
    reported_status: str | None = Field(description="the status the trader last wrote")
    position: float | None = Field(description="base units, signed (negative: short)")
    avg_entry_price: float | None
    cash: float | None
    equity: float | None
    capital: float | None
    realized_pnl: float | None
    unrealized_pnl: float | None
    last_price: float | None
    last_bar_ms: int | None
    num_trades: int | None
    paused_reason: str | None
    control_version: int | None = Field(description="the last control version it applied")
    updated_ms: int | None
    alive: bool = Field(description="its lease is held now")
    lease: LeaseView | None
    pending_control: ControlView | None = Field(description="asked for, not applied yet")
    last_control: ControlView | None
    state_version: int = Field(description="its state document's version (0: none saved)")
    updated_at: str | None = Field(description="when it last saved its state")
    links: dict[str, str]


class TradersResponse(BaseModel):
    """Every trader, by id."""

    traders: list[TraderView]
    as_of: str | None = Field(description="the API's clock, that alive is judged at")


class OrderView(BaseModel):
    """An order of the trader (amounts in base units, prices in quote per base)."""

    client_id: str
    exchange_id: str | None
    symbol: str
    side: Literal["buy", "sell"]
    type: str
    intent: str
    status: str
    amount: float | None
    filled: float | None
    price: float | None
    stop_price: float | None
    reduce_only: bool
    reason: str | None
    bar_ms: int


class OrdersResponse(BaseModel):
    """A trader's orders, newest first."""

    trader_id: str
    orders: list[OrderView]
    truncated: bool = Field(description="older orders were left out (raise limit to see them)")


class FillView(BaseModel):
    """An execution: amount base units at price, fee in the quote currency."""

    trade_id: str
    client_id: str
    side: str
    amount: float | None
    price: float | None
    fee: float | None
    base_fee: float | None
    time_ms: int
    reason: str | None


class FillsResponse(BaseModel):
    """A trader's fills, newest first."""

    trader_id: str
    fills: list[FillView]
    truncated: bool = Field(description="older fills were left out (raise limit to see them)")
