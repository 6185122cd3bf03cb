"""A paper exchange: ccxt's interface, filled by candles instead of a market.

The trader talks to it exactly as to a live exchange through ccxt (``create_order``,
``fetch_order``, ``fetch_open_orders``, ``fetch_my_trades``, ``cancel_order``,
``fetch_balance``, with ccxt's structures and exception classes), so a paper session runs
the live code path. Prices come from candles, each in three steps: :meth:`open_bar` (the
price is the bar's open), :meth:`range_bar` (its high and low), :meth:`close_bar` (its
close). The rules are the backtest engine's (:mod:`tradpal.backtest.engine`):

* a market order fills at once at the current price, moved against the trader by
  ``slippage`` (buys at price x (1 + s), sells at price x (1 - s));
* every fill pays ``fees`` x its value, in the quote currency; the account is a margin
  account in the quote currency: cash and a signed position (shorts allowed);
* resting orders are checked at the open first (a gap: a stop-market order triggered by
  the open fills at the open with slippage, a limit order the open has crossed fills at
  the open), then against the low and high: stop-market orders before limit orders (when
  one bar touches both, the stop is assumed first), a stop at its trigger price with
  slippage, a limit at its price without; limit fills take at most ``volume_share`` of the
  bar's volume, the rest stays open (a partial fill);
* reduce-only orders never increase the position: those left when it is flat expire;
* a loss past zero cash when flat is written off (cash 0), as the engine does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ccxt.base.errors import (
    BadSymbol,
    DuplicateOrderId,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
)


@dataclass
class _Order:
    id: str
    client_id: str
    symbol: str
    type: str  # market, limit, stop_market
    side: str
    amount: float
    price: float | None
    stop_price: float | None
    reduce_only: bool
    timestamp: int
    status: str = "open"
    filled: float = 0.0
    cost: float = 0.0
    fee: float = 0.0
    trades: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        average = self.cost / self.filled if self.filled else None
        if len(self.trades) == 1:
            average = self.trades[0]["price"]
        return {
            "id": self.id,
            "clientOrderId": self.client_id,
            "timestamp": self.timestamp,
            "symbol": self.symbol,
            "type": "market" if self.type == "stop_market" else self.type,
            "side": self.side,
            "price": self.price,
            "stopPrice": self.stop_price,
            "triggerPrice": self.stop_price,
            "amount": self.amount,
            "filled": self.filled,
            "remaining": self.amount - self.filled,
            "cost": self.cost,
            "average": average,
            "status": self.status,
            "reduceOnly": self.reduce_only,
            "fee": {"cost": self.fee, "currency": None},
            "trades": [dict(t) for t in self.trades],
            "info": {},
        }


class PaperExchange:
    """A paper account on one or more ``BASE/QUOTE`` symbols, from ``capital`` in the
    quote currency (see the module docstring for the fill rules)."""

    paper = True
    """What tells a paper account (or a wrapper of one) from a ccxt client: :func:`is_paper`."""

    id = "paper"
    margin = True  # shorts and leverage: a margin account

    def __init__(
        self,
        capital: float,
        *,
        fees: float = 0.001,
        slippage: float = 0.0,
        volume_share: float = 1.0,
        symbols: tuple[str, ...] = (),
    ) -> None:
        if not capital > 0:
            raise ValueError(f"capital {capital} is not above 0")
        if not 0 < volume_share <= 1:
            raise ValueError(f"volume_share {volume_share} is not in (0, 1]")
        self.fees = float(fees)
        self.slippage = float(slippage)
        self.volume_share = float(volume_share)
        self.cash = float(capital)
        self.positions: dict[str, float] = {}
        self.prices: dict[str, float] = {}
        self.symbols = set(symbols)
        self.now_ms = 0
        self._orders: dict[str, _Order] = {}
        self._by_client: dict[str, str] = {}
        self._trades: list[dict[str, Any]] = []
        self._bar_open: dict[str, float] = {}
        self._bar_volume: dict[str, float] = {}
        self._bar_taken: dict[str, float] = {}

    # ---- the market's side: candles ----

    def open_bar(self, symbol: str, time_ms: int, price: float, volume: float = math.inf) -> None:
        """A new bar of ``symbol`` opens at ``time_ms`` at ``price`` (``volume``: the bar's,
        in base units, which limit fills may take a share of). Market orders sent now fill
        at the open; resting orders are checked by :meth:`range_bar`."""
        self.symbols.add(symbol)
        self.now_ms = int(time_ms)
        self.prices[symbol] = float(price)
        self._bar_open[symbol] = float(price)
        self._bar_volume[symbol] = float(volume)
        self._bar_taken[symbol] = 0.0

    def range_bar(self, symbol: str, high: float, low: float, volume: float | None = None) -> None:
        """The bar goes from its open to ``high`` and ``low``: resting orders the open has
        gone through fill at the open, then stop orders and limit orders the range touches
        (stops first). ``volume``: the bar's, when it was not known at its open (a live
        bar's is known at its close)."""
        if volume is not None:
            self._bar_volume[symbol] = float(volume)
        opened = self._bar_open[symbol]
        self._check(symbol, opened, opened, gap=True)
        self._check(symbol, high, low, gap=False)

    def close_bar(self, symbol: str, close: float) -> None:
        """The bar closes at ``close``: the current price until the next bar opens."""
        self.prices[symbol] = float(close)

    # ---- ccxt's interface ----

    def load_markets(self, reload: bool = False) -> dict[str, Any]:
        return {s: self.market(s) for s in sorted(self.symbols)}

    def market(self, symbol: str) -> dict[str, Any]:
        if symbol not in self.symbols:
            raise BadSymbol(f"paper does not have market symbol {symbol}")
        base, quote = symbol.split("/", 1)
        return {"symbol": symbol, "base": base, "quote": quote, "spot": False, "margin": True}

    def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        params = dict(params or {})
        self.market(symbol)
        client_id = str(params.get("clientOrderId") or f"paper-{len(self._orders) + 1}")
        if client_id in self._by_client:
            raise DuplicateOrderId(f"paper: duplicate clientOrderId {client_id}")
        if side not in ("buy", "sell"):
            raise InvalidOrder(f"paper: side {side!r} is not buy or sell")
        if not (amount > 0 and math.isfinite(amount)):
            raise InvalidOrder(f"paper: amount {amount} is not a positive number")
        stop = params.get("stopPrice", params.get("triggerPrice"))
        kind = "stop_market" if type == "market" and stop is not None else type
        if kind not in ("market", "limit", "stop_market"):
            raise InvalidOrder(f"paper: order type {type!r} is not market or limit")
        if kind == "limit" and not (price is not None and price > 0):
            raise InvalidOrder("paper: a limit order needs a price above 0")
        reduce_only = bool(params.get("reduceOnly", False))
        if reduce_only and self._reduction(symbol, side) == 0:
            raise InvalidOrder("paper: a reduce-only order with no position to reduce")
        order = _Order(
            id=str(len(self._orders) + 1),
            client_id=client_id,
            symbol=symbol,
            type=kind,
            side=side,
            amount=float(amount),
            price=None if price is None or kind != "limit" else float(price),
            stop_price=None if stop is None else float(stop),
            reduce_only=reduce_only,
            timestamp=self.now_ms,
        )
        if kind == "market":
            current = self.prices.get(symbol)
            if current is None:
                raise InvalidOrder(f"paper: no price for {symbol} yet")
            fill = (
                current * (1.0 + self.slippage)
                if side == "buy"
                else current * (1.0 - self.slippage)
            )
            self._require_funds(symbol, side, order.amount, fill)
            self._register(order)
            self._fill(order, order.amount, fill, taker=True)
        else:
            self._register(order)
        return order.view()

    def fetch_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self._find(id, params).view()

    def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        return [
            o.view()
            for o in self._orders.values()
            if o.status == "open" and (symbol is None or o.symbol == symbol)
        ]

    def cancel_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        order = self._find(id, params)
        if order.status != "open":
            raise OrderNotFound(f"paper: order {order.id} is {order.status}, not open")
        order.status = "canceled"
        return order.view()

    def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        found = [
            dict(t)
            for t in self._trades
            if (symbol is None or t["symbol"] == symbol)
            and (since is None or t["timestamp"] >= since)
        ]
        return found[:limit] if limit is not None else found

    def fetch_balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        balance: dict[str, Any] = {}
        quotes = {s.split("/", 1)[1] for s in self.symbols} or {"USDT"}
        for quote in quotes:
            balance[quote] = {"free": self.cash, "used": 0.0, "total": self.cash}
        for symbol, qty in self.positions.items():
            base = symbol.split("/", 1)[0]
            balance[base] = {"free": qty, "used": 0.0, "total": qty}
        balance["total"] = {k: v["total"] for k, v in balance.items() if isinstance(v, dict)}
        return balance

    def fetch_ticker(self, symbol: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.market(symbol)
        return {"symbol": symbol, "last": self.prices.get(symbol), "timestamp": self.now_ms}

    # ---- inside ----

    def _register(self, order: _Order) -> None:
        self._orders[order.id] = order
        self._by_client[order.client_id] = order.id

    def _find(self, id: str | None, params: dict[str, Any] | None) -> _Order:
        params = params or {}
        client = params.get("clientOrderId") or params.get("origClientOrderId")
        if id is None and client is not None:
            id = self._by_client.get(str(client))
        order = self._orders.get(str(id)) if id is not None else None
        if order is None:
            raise OrderNotFound(f"paper: no order {id or client}")
        return order

    def _reduction(self, symbol: str, side: str) -> float:
        """How much an order of ``side`` may reduce the position (reduce-only orders)."""
        pos = self.positions.get(symbol, 0.0)
        return abs(pos) if (pos > 0 and side == "sell") or (pos < 0 and side == "buy") else 0.0

    def _require_funds(self, symbol: str, side: str, amount: float, price: float) -> None:
        if self._reduction(symbol, side) >= amount:
            return  # a close never needs margin
        equity = self.cash + sum(q * self.prices.get(s, 0.0) for s, q in self.positions.items())
        if equity <= 0:
            raise InsufficientFunds(f"paper: equity {equity:.2f} cannot open a position")

    def _fill(self, order: _Order, amount: float, price: float, *, taker: bool) -> None:
        if order.reduce_only:
            amount = min(amount, self._reduction(order.symbol, order.side))
            if amount <= 0:
                order.status = "expired"
                return
        value = amount * price
        fee = value * self.fees
        if order.side == "buy":
            self.cash -= value + fee
            pos = self.positions.get(order.symbol, 0.0) + amount
        else:
            self.cash += value - fee
            pos = self.positions.get(order.symbol, 0.0) - amount
        if abs(pos) <= amount * 1e-12:
            pos = 0.0
        self.positions[order.symbol] = pos
        if pos == 0.0 and self.cash < 0.0 and not any(self.positions.values()):
            self.cash = 0.0  # flat: a loss past zero is written off
        trade = {
            "id": str(len(self._trades) + 1),
            "order": order.id,
            "clientOrderId": order.client_id,
            "timestamp": self.now_ms,
            "symbol": order.symbol,
            "type": order.type,
            "side": order.side,
            "price": price,
            "amount": amount,
            "cost": value,
            "fee": {"cost": fee, "currency": order.symbol.split("/", 1)[1]},
            "takerOrMaker": "taker" if taker else "maker",
        }
        self._trades.append(trade)
        order.trades.append(trade)
        order.filled += amount
        order.cost += value
        order.fee += fee
        if order.filled >= order.amount * (1 - 1e-12) or (order.reduce_only and pos == 0.0):
            order.status = "closed"
        if pos == 0.0:
            for other in self._orders.values():
                if other.status == "open" and other.reduce_only and other.symbol == order.symbol:
                    other.status = "expired"

    def _check(self, symbol: str, high: float, low: float, *, gap: bool) -> None:
        """Fill the resting orders of ``symbol`` that a price path touches: at the open
        (``gap``: high == low == the open) or within the bar's range."""
        resting = [o for o in self._orders.values() if o.status == "open" and o.symbol == symbol]
        for order in [o for o in resting if o.type == "stop_market"]:
            if order.status != "open":
                continue
            stop = order.stop_price
            hit = low <= stop if order.side == "sell" else high >= stop
            if not hit:
                continue
            at = (low if order.side == "sell" else high) if gap else stop
            fill = (
                at * (1.0 - self.slippage) if order.side == "sell" else at * (1.0 + self.slippage)
            )
            self._fill(order, order.amount - order.filled, fill, taker=True)
        for order in [o for o in resting if o.type == "limit"]:
            if order.status != "open":
                continue
            limit = order.price
            hit = high >= limit if order.side == "sell" else low <= limit
            if not hit:
                continue
            at = (high if order.side == "sell" else low) if gap else limit
            room = self._bar_volume.get(symbol, math.inf) * self.volume_share - self._bar_taken.get(
                symbol, 0.0
            )
            amount = min(order.amount - order.filled, room)
            if amount <= 0:
                continue
            self._bar_taken[symbol] = self._bar_taken.get(symbol, 0.0) + amount
            self._fill(order, amount, at, taker=False)


def is_paper(exchange: object) -> bool:
    """Whether ``exchange`` is a paper account (a :class:`PaperExchange`, or an object that
    passes one's attributes through, as the tests' fault-injecting wrappers do)."""
    return getattr(exchange, "paper", False) is True
