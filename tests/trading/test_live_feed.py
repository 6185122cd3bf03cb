"""The live feed over the fake Binance exchange (the real ccxt.pro websocket client and the
real ccxt REST client on 127.0.0.1): every closed bar once, in order, with REST's values;
a dropped websocket reconnected with backoff and the bars it missed filled from REST."""

from __future__ import annotations

import asyncio

import ccxt
import ccxt.pro
from fakes.fake_binance import generated_klines
from fakes.fake_binance_trading import FakeBinanceTrading

from tradpal.trading.feed import Backoff, BarOpened, LiveFeed
from tradpal.trading.trader import Candle

SYMBOL = "BTC/USDT"
MINUTE = 60_000
KLINES = generated_klines(160, "1m", seed=11)


def candle(k) -> Candle:
    return Candle(int(k[0]), *(float(x) for x in k[1:6]))


async def until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.01)


def run_live(main, *, history: int = 60):
    """``main(fake, feed, clock)`` with a feed on a fake that holds ``history`` closed bars."""

    async def wrapper(fake):
        ws = ccxt.pro.binance(fake.ccxt_config(timeout=3000, rateLimit=1))
        rest = ccxt.binance(fake.ccxt_config(timeout=3000, rateLimit=1))
        clock = [int(KLINES[history][0])]  # the bar after the history is forming
        slept: list[float] = []

        async def sleep(s: float) -> None:
            slept.append(s)
            await asyncio.sleep(0.01)

        feed = LiveFeed(ws, rest, SYMBOL, "1m", now_ms=lambda: clock[0], sleep=sleep,
                        backoff=Backoff(first=0.5, cap=4.0))  # fmt: skip
        try:
            return await asyncio.wait_for(main(fake, feed, clock), 30), slept
        finally:
            await ws.close()

    with FakeBinanceTrading({(SYMBOL, "1m"): KLINES[:history]}) as fake:
        return asyncio.run(wrapper(fake))


def test_closed_bars_come_once_in_order_and_gaps_are_filled_after_a_reconnect():
    async def main(fake, feed, clock):
        warm = await feed.warm_up(50)
        assert [c.time_ms for c in warm] == [int(k[0]) for k in KLINES[10:60]]
        got: list = []

        async def consume():
            async for event in feed.events(warm[-1].time_ms):
                got.append(event)

        task = asyncio.create_task(consume())
        try:
            for i in range(60, 100):
                k = KLINES[i]
                if i == 80:  # a partition: the websocket drops, three bars pass unseen
                    await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
                    fake.drop_ws()
                    for j in (80, 81, 82):
                        clock[0] = int(KLINES[j + 1][0])
                        fake.market.push_candle(SYMBOL, "1m", KLINES[j], closed=True)
                    continue
                if 80 < i < 83:
                    continue
                await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
                clock[0] = int(k[0])
                forming = [*k[:2], k[1], k[1], k[1], "0", *k[6:]]  # its first trade
                fake.market.push_candle(SYMBOL, "1m", forming, closed=False)
                await until(
                    lambda t=int(k[0]): any(
                        isinstance(e, BarOpened) and e.time_ms == t for e in got
                    )
                )
                fake.market.push_candle(SYMBOL, "1m", k, closed=True)
        finally:
            task.cancel()
        return got, feed.reconnects

    (events, reconnects), slept = run_live(main)
    closed = [e for e in events if isinstance(e, Candle)]
    assert [c.time_ms for c in closed] == [int(k[0]) for k in KLINES[60:99]]  # once, in order
    assert closed == [candle(k) for k in KLINES[60:99]]  # REST's final values, not the forming
    opens = [e for e in events if isinstance(e, BarOpened)]
    assert [o.price for o in opens] == [
        float(KLINES[i][1]) for i in range(60, 100) if not 80 <= i < 83
    ]
    assert reconnects >= 1 and slept[0] == 0.5  # the backoff's first delay
