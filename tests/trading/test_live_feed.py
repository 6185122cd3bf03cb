"""The live feed over the fake Binance exchange (the real ccxt.pro websocket client and the
real ccxt REST client on 127.0.0.1): every closed bar once, in order, with REST's values;
a dropped websocket reconnected with backoff and the bars it missed filled from REST; and a
paper session on live candles that trades as the same candles stepped through by hand."""

from __future__ import annotations

import asyncio
import math

import ccxt
import ccxt.pro
from fakes.fake_binance import generated_klines
from fakes.fake_binance_trading import FakeBinanceTrading

from tradpal.backtest.strategy_run import config_for
from tradpal.trading.feed import Backoff, BarOpened, LiveFeed
from tradpal.trading.paper import PaperExchange
from tradpal.trading.session import Session
from tradpal.trading.trader import Candle, Trader

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


async def collect(feed, after_ms: int, into: list) -> None:
    """Every event of ``feed`` after ``after_ms``, appended to ``into`` (until cancelled)."""
    async for event in feed.events(after_ms):
        into.append(event)


def run_live(main, *, history: int = 60, idle_s: float = 1.0):
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
                        backoff=Backoff(first=0.5, cap=4.0), idle_s=idle_s)  # fmt: skip
        try:
            return await asyncio.wait_for(main(fake, feed, clock), 60), slept
        finally:
            await ws.close()

    with FakeBinanceTrading({(SYMBOL, "1m"): KLINES[:history]}) as fake:
        return asyncio.run(wrapper(fake))


def test_closed_bars_come_once_in_order_and_gaps_are_filled_after_a_reconnect():
    async def main(fake, feed, clock):
        warm = await feed.warm_up(50)
        assert [c.time_ms for c in warm] == [int(k[0]) for k in KLINES[10:60]]
        got: list = []
        task = asyncio.create_task(collect(feed, warm[-1].time_ms, got))
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

    (events, _reconnects), _slept = run_live(main)
    closed = [e for e in events if isinstance(e, Candle)]
    assert [c.time_ms for c in closed] == [int(k[0]) for k in KLINES[60:99]]  # once, in order
    assert closed == [candle(k) for k in KLINES[60:99]]  # REST's final values, not the forming
    opens = [e for e in events if isinstance(e, BarOpened)]
    assert [o.price for o in opens] == [
        float(KLINES[i][1]) for i in range(60, 100) if not 80 <= i < 83
    ]
    # ccxt connects again on the next watch after a drop (or the feed's REST catch-up
    # notices the quiet socket first): either way the three unseen bars came, from REST


def test_the_backoff_doubles_to_its_cap_and_starts_again_after_a_success():
    backoff = Backoff(first=0.5, cap=4.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_a_paper_session_on_live_candles_trades_as_the_same_candles_stepped_through():
    config = config_for("1m", stop_loss="pct:0.004", take_profit="pct:0.008", fees=0.0)
    params = {"rsi_period": 4, "rsi_oversold": 40.0, "rsi_overbought": 60.0}

    def session_on(paper: PaperExchange) -> Session:
        trader = Trader(strategy="rsi_reversal", symbol=SYMBOL, timeframe="1m", exchange=paper,
                        config=config, params=params)  # fmt: skip
        return Session(trader, paper)

    async def main(fake, feed, clock):
        session = session_on(PaperExchange(config.capital, symbols=(SYMBOL,)))

        async def market():
            for k in KLINES[60:160]:
                await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
                clock[0] = int(k[0])
                first_trade = [*k[:2], k[1], k[1], k[1], "0", *k[6:]]
                fake.market.push_candle(SYMBOL, "1m", first_trade, closed=False)
                await until(lambda t=int(k[0]): session.trader.history.time_ms[-1] >= t - MINUTE)
                fake.market.push_candle(SYMBOL, "1m", k, closed=True)

        pushing = asyncio.create_task(market())
        traded = await session.run(feed, warm_up_bars=40, bars=99)
        pushing.cancel()
        return session, traded

    # a short idle time: the lockstep pushes leave the socket quiet while a bar is traded
    (live, traded), _ = run_live(main, idle_s=0.2)
    assert traded == 99
    by_hand = session_on(PaperExchange(config.capital, symbols=(SYMBOL,)))
    by_hand.trader.warm_up([candle(k) for k in KLINES[20:60]])
    by_hand.paper.close_bar(SYMBOL, float(KLINES[59][4]))
    for k in KLINES[60:159]:
        by_hand.bar_opened(int(k[0]), float(k[1]), math.inf)
        by_hand.bar_closed(candle(k))
    a, b = live.trader.book, by_hand.trader.book
    assert len(a.trades) == len(b.trades) > 3
    assert [(t.entry_ms, t.exit_ms, t.exit_reason) for t in a.trades] == [
        (t.entry_ms, t.exit_ms, t.exit_reason) for t in b.trades
    ]
    assert a.cash == b.cash and a.position == b.position


def test_a_bars_close_and_the_next_bars_open_arriving_together_close_it_at_once():
    """The close of a bar and the first trade of the next come back to back (in one read of
    the socket): the bar closes then, not on the message after (ccxt resolves a watch with
    one message; the other is only in its cache), and not after idle_s (30 s here)."""

    async def main(fake, feed, clock):
        warm = await feed.warm_up(50)
        got: list = []
        task = asyncio.create_task(collect(feed, warm[-1].time_ms, got))
        try:
            await until(lambda: "btcusdt@kline_1m" in fake.ws.streams())
            for i in range(60, 75):
                k = KLINES[i]
                clock[0] = int(k[0])
                if i > 60:  # the last bar's close, at once followed by this bar's open
                    fake.market.push_candle(SYMBOL, "1m", KLINES[i - 1], closed=True)
                fake.market.push_candle(SYMBOL, "1m", [*k[:2], k[1], k[1], k[1], "0", *k[6:]],
                                        closed=False)  # fmt: skip
                if i == 60:
                    await until(lambda: any(isinstance(e, BarOpened) for e in got))
                    continue
                closed = int(KLINES[i - 1][0])
                await until(lambda t=closed: any(getattr(e, "time_ms", None) == t and
                                                 not isinstance(e, BarOpened) for e in got),
                            timeout=3.0)  # fmt: skip
        finally:
            task.cancel()
        return [e.time_ms for e in got if not isinstance(e, BarOpened)]

    closed, _ = run_live(main, idle_s=30.0)
    assert closed == [int(k[0]) for k in KLINES[60:74]]
