"""Closed candles of one symbol from an exchange: its websocket for timing, REST for truth.

ccxt's ``watch_ohlcv`` (the pro websocket API) streams every update of the bar that is
forming; it does not say when a bar has closed (Binance's ``x`` flag is not in ccxt's
candles), and a websocket can miss updates. So the websocket only tells *when* a bar
closed: the first update of a newer bar. The closed bars themselves (the one that just
closed, and any a reconnect skipped) are then read with REST ``fetch_ohlcv``, whose closed
klines are final. Only closed bars drive decisions; the new bar's first price is passed on
as its open (next-open fills act on it).

A dropped websocket is reconnected with exponential backoff (:class:`Backoff`); the bars
it missed are filled from REST before the next one is passed on, oldest first, each once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from tradpal.timeframes import parse_timeframe
from tradpal.trading.trader import Candle

log = logging.getLogger(__name__)

REST_PAGE = 1000
"""Candles per REST request (Binance's maximum)."""


@dataclass(frozen=True)
class BarOpened:
    """A new bar began at ``time_ms`` (its open time, ms since the epoch) at ``price``."""

    time_ms: int
    price: float


@dataclass
class Backoff:
    """Delays between reconnection attempts: ``first`` seconds, doubled each failure up to
    ``cap``; :meth:`reset` after a success."""

    first: float = 1.0
    cap: float = 60.0
    failures: int = 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2.0**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


def _transient(exc: BaseException) -> bool:
    """True for the errors a reconnect can cure (ccxt's network errors, timeouts, closed
    connections); anything else (a bad symbol, bad keys) is raised."""
    from ccxt.base.errors import ExchangeNotAvailable, NetworkError, RequestTimeout

    return isinstance(
        exc, NetworkError | RequestTimeout | ExchangeNotAvailable | ConnectionError | TimeoutError
    )


class LiveFeed:
    """Closed candles and bar opens of ``symbol`` at ``timeframe``.

    ``ws``: a ccxt pro client (``watch_ohlcv``); ``rest``: a ccxt client whose
    ``fetch_ohlcv`` reads the closed bars (a sync client is called in a thread).
    ``now_ms`` is the clock (ms since the epoch) that tells a closed bar from the forming
    one, ``sleep`` what waits between reconnects (both replaceable in tests). After
    ``idle_s`` seconds without an update REST is asked instead: ccxt answers a watch only
    on a message that comes after it, so updates that arrived while a bar was being
    traded, or a connection that stalled without closing, would otherwise hold the bar's
    close back until the next message.
    """

    def __init__(
        self,
        ws: Any,
        rest: Any,
        symbol: str,
        timeframe: str,
        *,
        backoff: Backoff | None = None,
        now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        sleep: Callable[[float], Any] = asyncio.sleep,
        idle_s: float = 10.0,
    ) -> None:
        self.ws = ws
        self.rest = rest
        self.symbol = symbol
        self.timeframe = parse_timeframe(timeframe)
        self.backoff = backoff or Backoff()
        self.now_ms = now_ms
        self.sleep = sleep
        self.idle_s = idle_s
        self.reconnects = 0

    @property
    def bar_ms(self) -> int:
        return int(self.timeframe.seconds * 1000)

    async def closed_between(self, after_ms: int | None, before_ms: int) -> list[Candle]:
        """The closed bars opening after ``after_ms`` (None: as far back as one page goes)
        and before ``before_ms``, oldest first, read from REST page by page."""
        out: list[Candle] = []
        since = None if after_ms is None else after_ms + 1
        while True:
            rows = await self._fetch(since)
            fresh = [r for r in rows if (after_ms is None or r[0] > after_ms) and r[0] < before_ms]
            closed = [r for r in fresh if r[0] + self.bar_ms <= self.now_ms()]
            out.extend(Candle(int(r[0]), *(float(x) for x in r[1:6])) for r in closed)
            if len(rows) < REST_PAGE or not fresh or fresh[-1][0] + self.bar_ms >= before_ms:
                return _once(out)
            since = int(fresh[-1][0]) + 1

    async def warm_up(self, bars: int, *, last_ms: int | None = None) -> list[Candle]:
        """The last ``bars`` closed bars (the strategy's warm-up history), oldest first:
        up to now, or up to and including the bar opening at ``last_ms`` (a restarted
        trader's last bar, however long ago: the bars after it are traded, not history)."""
        end = self.now_ms() if last_ms is None else int(last_ms) + self.bar_ms
        start = end - (bars + 1) * self.bar_ms
        candles = await self.closed_between(start - 1, end)
        return candles[-bars:] if bars else []

    async def events(self, after_ms: int | None) -> AsyncIterator[Candle | BarOpened]:
        """Every bar that closes after ``after_ms``, once each and in order, each followed
        by the open of the bar after it when the websocket shows it; runs until cancelled."""
        last = after_ms
        forming: int | None = None
        cached: list[list[Any]] = []
        while True:
            try:
                if cached:  # a newer bar the client took in while the last one was traded
                    updates, cached = cached, []
                else:
                    updates = await asyncio.wait_for(
                        self.ws.watch_ohlcv(self.symbol, self.timeframe.name), self.idle_s
                    )
            except TimeoutError:
                # a quiet websocket (updates missed, or a connection stalled without closing):
                # REST says whether bars closed and which bar is forming
                updates = await self._fetch(None if last is None else last + 1)
                updates = [r for r in updates if r[0] + self.bar_ms > self.now_ms()][-1:]
            except Exception as exc:
                if not _transient(exc):
                    raise
                delay = self.backoff.next()
                self.reconnects += 1
                log.warning(
                    "market data of %s lost (%s); reconnecting in %.0f s", self.symbol, exc, delay
                )
                await self.sleep(delay)
                continue
            self.backoff.reset()
            for row in sorted(updates, key=lambda r: r[0]):
                t = int(row[0])
                if forming is not None and t <= forming:
                    continue  # the forming bar again
                for candle in await self.closed_between(last, t):
                    last = candle.time_ms
                    yield candle
                forming = t
                if last is None or t > last:
                    yield BarOpened(t, float(row[1]))
            cached = self._cached_after(forming)

    def _cached_after(self, forming: int | None) -> list[list[Any]]:
        """Bars newer than ``forming`` already in the websocket client's cache: ccxt
        resolves a watch with the message that answers it, and a message that came while
        no watch was waiting (the close of a bar and the open of the next arrive together)
        is only in the cache until another message comes."""
        if forming is None:
            return []
        rows = (getattr(self.ws, "ohlcvs", None) or {}).get(self.symbol, {})
        rows = rows.get(self.timeframe.name) if isinstance(rows, dict) else None
        return [list(r) for r in (rows or []) if int(r[0]) > forming]

    async def _fetch(self, since: int | None) -> list[list[Any]]:
        fetch = self.rest.fetch_ohlcv
        args = (self.symbol, self.timeframe.name, since, REST_PAGE)
        while True:
            try:
                if asyncio.iscoroutinefunction(fetch):
                    return await fetch(*args)
                return await asyncio.to_thread(fetch, *args)
            except Exception as exc:
                if not _transient(exc):
                    raise
                delay = self.backoff.next()
                log.warning("candles of %s not read (%s); again in %.0f s", self.symbol, exc, delay)
                await self.sleep(delay)


def _once(candles: list[Candle]) -> list[Candle]:
    seen: set[int] = set()
    out = []
    for c in candles:
        if c.time_ms not in seen:
            seen.add(c.time_ms)
            out.append(c)
    return out
