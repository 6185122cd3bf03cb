"""A trading session: bar events delivered to a trader, and to its paper exchange first.

The one order every session keeps, replayed or live: when a bar opens, the paper exchange
takes its price, then the trader acts on a next-open decision; when it closes, the paper
exchange fills what the bar's range touched, takes the close, then the trader decides. With
a live exchange the paper steps are simply absent: the exchange fills by itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tradpal.trading.feed import BarOpened, LiveFeed
from tradpal.trading.paper import PaperExchange
from tradpal.trading.trader import Candle, Trader

log = logging.getLogger(__name__)


@dataclass
class Session:
    """``trader``, and ``paper`` when it trades on paper (None: a live exchange)."""

    trader: Trader
    paper: PaperExchange | None = None
    found: list[str] | None = None

    @property
    def symbol(self) -> str:
        return self.trader.symbol

    def bar_opened(self, time_ms: int, price: float, volume: float = math.inf) -> None:
        if self.paper is not None:
            self.paper.open_bar(self.symbol, time_ms, price, volume)
        self.trader.on_bar_open(time_ms, price)

    def bar_closed(self, candle: Candle) -> None:
        if self.paper is not None:
            if self.paper.now_ms != candle.time_ms:  # its open was not seen (a gap, the start)
                self.paper.open_bar(self.symbol, candle.time_ms, candle.open, candle.volume)
            self.paper.range_bar(self.symbol, candle.high, candle.low, candle.volume)
            self.paper.close_bar(self.symbol, candle.close)
        self.trader.on_bar_close(candle)

    async def run(
        self,
        feed: LiveFeed,
        *,
        warm_up_bars: int = 500,
        bars: int | None = None,
        lock: asyncio.Lock | None = None,
        on_closed: Callable[[Candle], Any] | None = None,
    ) -> int:
        """Warm up on the last ``warm_up_bars`` closed bars and restore the trader from its
        store (a restarted trader warms up only to the last bar it had taken, and goes on
        from there), then trade every bar the feed closes, until cancelled or (``bars``)
        that many have closed; returns the number traded. The trader's work runs in a
        thread so the websocket keeps being read, under ``lock`` when given (others, such
        as control commands, take it too); ``on_closed`` sees each closed candle after the
        trader has. Returns what the restore's reconcile found in :attr:`found`."""
        lock = lock or asyncio.Lock()
        stored = await asyncio.to_thread(self.trader.store.load_state)
        last = stored[0].get("last_bar_ms") if stored else None
        history = await feed.warm_up(warm_up_bars, last_ms=last)
        async with lock:
            self.trader.warm_up(history)
            if self.paper is not None and history:
                self.paper.close_bar(self.symbol, history[-1].close)
            self.found = await asyncio.to_thread(self.trader.restore_and_report)
            await asyncio.to_thread(self.trader.save)  # where it stands, before a bar closes
        if last is not None:
            after = last
        elif history:
            after = history[-1].time_ms
        else:  # nothing closed lately: only bars that close from now on, never older ones
            after = feed.now_ms() - 2 * feed.bar_ms
        traded = 0
        async for event in feed.events(after):
            async with lock:
                if isinstance(event, BarOpened):
                    await asyncio.to_thread(self.bar_opened, event.time_ms, event.price)
                    continue
                await asyncio.to_thread(self.bar_closed, event)
            if on_closed is not None:
                on_closed(event)
            traded += 1
            if bars is not None and traded >= bars:
                break
        return traded


def summary(session: Session) -> dict[str, Any]:
    """What a session did so far, for the terminal and ``--json`` of a live session."""
    trader = session.trader
    price = trader.history.close[-1] if len(trader.history) else math.nan
    return {
        "trader": trader.trader_id,
        "symbol": trader.symbol,
        "timeframe": trader.timeframe.name,
        "mode": "paper" if session.paper is not None else "live",
        "bars": len(trader.equity),
        "position": trader.book.position,
        "cash": trader.book.cash,
        "equity": trader.book.equity(price) if not math.isnan(price) else trader.book.cash,
        "num_trades": len(trader.book.closed_trades),
        "paused": trader.paused,
        "alerts": list(trader.alerts),
    }
