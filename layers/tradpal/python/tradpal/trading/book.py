"""Fills recorded once each, and what they add up to: cash, the position and its trades.

The book is the trader's own account of its money, kept from its fills alone: the position
is always the sum of its fills (buys positive, sells negative, in base units) and a fill is
counted once, by its exchange trade id, however many times an exchange or a restart
reports it. Money follows the backtest engine's conventions (:mod:`tradpal.backtest.engine`):
a buy of q at price p costs q x p + fee, a sell brings q x p - fee, fees in the quote
currency; equity is cash + position x price. A trade (a round trip) opens with the first
fill from flat and closes when the fills bring the position back to 0; its P&L is
(exit value - entry value) - fees for a long, mirrored for a short, as the engine's ledger.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from tradpal.errors import TradPalError


class BookError(TradPalError):
    """A fill that cannot be booked (a bad amount or price)."""


@dataclass(frozen=True)
class Fill:
    """One execution: ``amount`` base units at ``price`` (quote per base), ``fee`` in the
    quote currency, at ``time_ms`` (ms since the epoch), of the order ``client_id``;
    ``reason`` is why that order was sent (signal, reverse, stop, target, trailing, time,
    liquidation...), which a closing fill gives its trade."""

    trade_id: str
    client_id: str
    side: str
    amount: float
    price: float
    fee: float
    time_ms: int
    reason: str | None = None
    base_fee: float = 0.0
    """A fee the exchange took in the base asset (Binance spot takes a buy's fee from what
    it buys): the position grows by ``amount - base_fee``; it costs no cash, the smaller
    exit it leads to is the cost."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fill:
        return cls(**d)


@dataclass
class Trade:
    """A round trip: entry fills from flat until the position is flat again.

    ``side`` +1 long, -1 short; ``quantity`` the base units entered; values in quote
    currency (entry value = sum of quantity x price of the entry fills); ``stop_price`` and
    ``target_price`` are the protective levels the trader set (NaN: none)."""

    side: int
    entry_ms: int
    quantity: float = 0.0
    entry_value: float = 0.0
    entry_fee: float = 0.0
    first_price: float = math.nan
    entry_fills: int = 0
    exit_quantity: float = 0.0
    exit_value: float = 0.0
    exit_fee: float = 0.0
    last_exit_price: float = math.nan
    exit_fills: int = 0
    exit_ms: int | None = None
    exit_reason: str | None = None
    pnl: float = math.nan
    stop_price: float = math.nan
    target_price: float = math.nan

    @property
    def entry_price(self) -> float:
        """The entry fill's price (the mean, weighted by amount, over several fills)."""
        return self.first_price if self.entry_fills == 1 else self.entry_value / self.quantity

    @property
    def exit_price(self) -> float:
        return (
            self.last_exit_price if self.exit_fills == 1 else self.exit_value / self.exit_quantity
        )

    @property
    def closed(self) -> bool:
        return self.exit_ms is not None

    @property
    def fees(self) -> float:
        return self.entry_fee + self.exit_fee

    @property
    def ret(self) -> float:
        return self.pnl / self.entry_value


@dataclass
class Book:
    """The cash, position and trades of one trader on one symbol, from ``capital``.

    ``dust`` (base units, default 0): a closing fill that leaves at most this much closes
    the trade, and the rest is :attr:`dust_left`: a spot exchange cannot sell less than
    its minimum amount, so a base-asset fee leaves such a remainder in the account."""

    capital: float
    cash: float = math.nan
    position: float = 0.0
    trades: list[Trade] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    dust: float = 0.0
    dust_left: float = 0.0

    def __post_init__(self) -> None:
        if math.isnan(self.cash):
            self.cash = float(self.capital)

    @property
    def open_trade(self) -> Trade | None:
        return self.trades[-1] if self.trades and not self.trades[-1].closed else None

    @property
    def closed_trades(self) -> list[Trade]:
        return [t for t in self.trades if t.closed]

    def equity(self, price: float) -> float:
        """Cash + position x ``price`` (the mark), in quote currency."""
        return self.cash + self.position * price

    def apply(self, fill: Fill) -> bool:
        """Book ``fill`` once: False (and nothing changes) when its trade id was booked
        before. A fill that takes the position through 0 closes the trade and opens the
        next with the rest."""
        if fill.trade_id in self.seen:
            return False
        if not (fill.amount > 0 and math.isfinite(fill.amount)):
            raise BookError(f"fill {fill.trade_id} has amount {fill.amount}, not a positive number")
        if not (fill.price > 0 and math.isfinite(fill.price)):
            raise BookError(f"fill {fill.trade_id} has price {fill.price}, not a positive number")
        self.seen.add(fill.trade_id)
        sign = 1 if fill.side == "buy" else -1
        open_side = 0 if self.position == 0 else (1 if self.position > 0 else -1)
        if open_side in (0, sign):
            self._enter(fill, sign, fill.amount, fill.fee)
            return True
        closing = min(fill.amount, abs(self.position))
        share = closing / fill.amount
        self._exit(fill, sign, closing, fill.fee if share == 1.0 else fill.fee * share)
        rest = fill.amount - closing
        if rest > 0 and rest > fill.amount * 1e-12:
            self._enter(fill, sign, rest, fill.fee * (1.0 - share))
        return True

    def _move_cash(self, sign: int, value: float, fee: float) -> None:
        # the engine's order of operations: cash -= value + fee, cash += value - fee
        if sign > 0:
            self.cash -= value + fee
        else:
            self.cash += value - fee

    def _enter(self, fill: Fill, sign: int, amount: float, fee: float) -> None:
        value = amount * fill.price
        self._move_cash(sign, value, fee)
        self.position += sign * amount - sign * fill.base_fee
        trade = self.open_trade
        if trade is None:
            trade = Trade(side=sign, entry_ms=fill.time_ms, first_price=fill.price)
            self.trades.append(trade)
        trade.quantity += amount
        trade.entry_value += value
        trade.entry_fee += fee
        trade.entry_fills += 1

    def _exit(self, fill: Fill, sign: int, amount: float, fee: float) -> None:
        trade = self.open_trade
        assert trade is not None  # a reducing fill has a position, so a trade
        value = amount * fill.price
        self._move_cash(sign, value, fee)
        self.position += sign * amount - sign * fill.base_fee
        trade.exit_quantity += amount
        trade.exit_value += value
        trade.exit_fee += fee
        trade.exit_fills += 1
        trade.last_exit_price = fill.price
        if abs(self.position) <= max(trade.quantity * 1e-9, self.dust):
            self.dust_left += self.position
            self.position = 0.0
            self._close(trade, fill)

    def _close(self, trade: Trade, fill: Fill) -> None:
        if trade.side > 0:
            pnl = (trade.exit_value - trade.entry_value) - trade.entry_fee - trade.exit_fee
        else:
            pnl = (trade.entry_value - trade.exit_value) - trade.entry_fee - trade.exit_fee
        if self.cash < 0.0:
            # flat, cash is equity: a loss past zero is written off, as the engine does (an
            # exchange's insurance fund takes it)
            pnl -= self.cash
            self.cash = 0.0
        trade.pnl = pnl
        trade.exit_ms = fill.time_ms
        trade.exit_reason = fill.reason or "signal"
