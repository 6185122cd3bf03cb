"""A live trader's decision latency: from the websocket message that closes a bar to the
order request at the exchange (issue 11).

``tradpal.trading.runner.TraderProcess`` trades live (mode live, the real ``ccxt.binance``
and ``ccxt.pro.binance`` clients that :func:`~tradpal.trading.runner.exchange_clients`
makes) on the fake Binance exchange of ``tests/fakes`` (``FakeBinanceTrading``: REST and
websockets on 127.0.0.1, in this process). Strategy ``rsi_reversal``, period 2, levels
30/70 (it sends an order at about one bar in five) on seeded 1m klines, ``fill="close"``
(a decision sends its market order at the bar's close), 0.4 % stops resting on the
exchange, risk sizing, a 1,000-bar window after 1,000 bars of warm-up.

What is timed. The trader's feed learns that a bar closed from the first update of the
next bar (ccxt's candles carry no "closed" flag), then reads the closed bar over REST and
decides. The benchmark pushes each bar as the exchange sends it: the closed candle (``x``
true: the exchange sweeps its range, stops fill), then, once the trader watches the stream
again, the next bar's first trade. The clock starts when the fake's websocket server hands
that message to the connection and stops when the fake's REST server has read the first
``POST /api/v3/order`` that follows. Only bars whose close sent an order count: entries (a
market buy) and exits (a market sell, the resting stop cancelled first). Nothing is changed
to measure: the fake's ``respond`` and ``_publish``, the client's ``fetch`` (HTTP and JSON
decoding) and ``throttle``, the store's writes and the feed's ``watch_ohlcv`` are wrapped on
their instances and timestamped, which splits each decision into its HTTP calls, ccxt's
throttle sleeps, ccxt's own work (signing requests, parsing answers), store writes and the
rest (the websocket message, the strategy, the book, the order's own request, thread
hand-offs).

Series, one fake exchange each:

* ``memory``: ``MemoryTradingStore``, ccxt's throttle out of the way (``rateLimit`` 1 ms,
  as the tests run): the trader's own latency;
* ``dynamodb``: the DynamoDB ``TradingStore`` on moto (in-process), same client settings.
  moto copies the whole table for every ``TransactWriteItems`` (each guarded write is
  one), so its writes slow down as orders and fills accumulate: fewer bars;
* ``rate_limited``: memory store, the client as production makes it (binance's
  ``rateLimit`` of 50 ms: ccxt's sync throttle sleeps ``rateLimit`` x the endpoint's cost
  after the previous request, 200 ms before myTrades), each bar 50 ms after the last one
  was handled so that, as with real 1m bars, a bar's first request (the klines, 20 ms) is
  not held back by the previous bar's last one; fewer bars (it is slow).

Reference, measured side by side in the same run (on the ``memory`` series' fake after
its session): round trips through the trader's own ccxt client (``fetch_time``,
``fetch_ohlcv`` of the newest bars as the feed reads them, ``fetch_order``,
``fetch_my_trades`` of the latest 1,000 as the trader syncs, with the session's trades and
again with the account filled to 1,000 trades), and the decision without I/O: the same
strategy and settings on a ``PaperExchange`` in-process, ``Session.bar_closed`` on the
same bars (the strategy on the 1,000-bar window, the book, the paper fills) and
``Trader._compute`` alone (the signals). The fake's servers share the interpreter (and
the GIL) with the trader, in the series and in the reference alike.

Run: .venv/bin/python benchmarks/bench_trader_latency.py
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # the fakes: fakes.fake_binance_trading

SYMBOL = "BTC/USDT"
STREAM = "btcusdt@kline_1m"
MINUTE = 60_000
WINDOW = 1_000  # the candles the strategy sees at each bar (the live default)
WARM_UP = 1_000  # closed bars the fake holds before the session: the warm-up
PARAMS = {"rsi_period": 2, "rsi_oversold": 30.0, "rsi_overbought": 70.0}  # orders at ~1 bar in 5
KLINE_SEED = 11
SERIES: dict[str, dict[str, Any]] = {
    "memory": {"store": "memory", "bars": 1300, "rate_limit": False, "gap_s": 0.0},
    "dynamodb": {"store": "dynamodb", "bars": 400, "rate_limit": False, "gap_s": 0.0},
    "rate_limited": {"store": "memory", "bars": 120, "rate_limit": True, "gap_s": 0.05},
}
REST_CALLS = 100  # per reference round trip
PAPER_ROUNDS = 3  # the paper reference repeats the bars this many times (best per bar)
STALL_S = 30.0  # a step of the driver that takes longer fails the benchmark


def klines(n: int) -> list[list[Any]]:
    from fakes.fake_binance import generated_klines

    return generated_klines(n, "1m", seed=KLINE_SEED)


def spec(trader_id: str, client_config: dict[str, Any], *, live: bool = True):
    from tradpal.backtest.strategy_run import config_for
    from tradpal.trading.runner import TraderSpec

    # spot: long only; half the account at risk sizing: a market buy fills above the close
    config = config_for(
        "1m",
        fill="close",
        stop_loss="pct:0.004",
        take_profit="pct:0.008",
        sizing="risk:0.002",
        allow_short=False,
    )
    return TraderSpec(
        trader_id=trader_id,
        strategy="rsi_reversal",
        symbol=SYMBOL,
        timeframe="1m",
        config=config,
        live=live,
        params=PARAMS,
        warm_up_bars=WARM_UP,
        window=WINDOW,
        client_config=client_config,
    )


# ---- observing the fake, the client and the store ----

Span = tuple[float, float]  # (start, end), time.perf_counter


@dataclass
class Probe:
    """Timestamps (``time.perf_counter``, one clock for every thread) of what the fake
    receives and sends, of the client's HTTP calls and throttle sleeps and of the store's
    writes, and whether the trader's feed is waiting on the websocket. Each is observed by
    wrapping the object's method on that instance: what it does is unchanged."""

    requests: list[tuple[float, str, str, str]] = field(default_factory=list)
    klines: dict[tuple[int, bool], float] = field(default_factory=dict)
    http: list[Span] = field(default_factory=list)  # ccxt ``fetch``: HTTP and JSON decoding
    throttled: list[Span] = field(default_factory=list)  # ccxt ``throttle``
    ccxt: list[Span] = field(default_factory=list)  # the ccxt methods the trader calls
    writes: list[Span] = field(default_factory=list)  # the store's put, put_fill, save_state
    watches: int = 0  # watch_ohlcv calls started
    watching: bool = False
    timeouts: int = 0  # watches the feed gave up on (its idle REST fallback)
    changed: asyncio.Event | None = None

    def attach(self, fake: Any, ws: Any, rest: Any, store: Any) -> None:
        from fakes.fake_binance_market import CandleUpdate

        respond, publish, watch = fake.respond, fake.ws._publish, ws.watch_ohlcv

        def observed_respond(request: Any) -> Any:
            side = request.params.get("side", "") if request.method == "POST" else ""
            self.requests.append((time.perf_counter(), request.method, request.path, side))
            return respond(request)

        def observed_publish(event: Any) -> None:
            if isinstance(event, CandleUpdate):
                self.klines[(int(event.kline[0]), event.closed)] = time.perf_counter()
            publish(event)

        async def observed_watch(*args: Any, **kwargs: Any) -> Any:
            # ccxt registers its future before its first suspension: once this coroutine
            # yields, a message that arrives is delivered to it
            self.watches += 1
            self.watching = True
            assert self.changed is not None
            self.changed.set()
            try:
                return await watch(*args, **kwargs)
            except asyncio.CancelledError:
                self.timeouts += 1
                raise
            finally:
                self.watching = False

        fake.respond = observed_respond  # the handler calls fake.respond(request)
        fake.ws._publish = observed_publish  # looked up at each call_soon_threadsafe
        ws.watch_ohlcv = observed_watch  # the feed calls ws.watch_ohlcv(...)
        timed(rest, "fetch", self.http)
        timed(rest, "throttle", self.throttled)
        for name in ("fetch_ohlcv", "fetch_my_trades", "fetch_order", "cancel_order"):
            timed(rest, name, self.ccxt)
        for name in ("put", "put_fill", "save_state"):
            timed(store, name, self.writes)

    async def watching_again(self, after: int) -> None:
        """Until a watch started after the first ``after`` is waiting on the stream."""
        assert self.changed is not None
        deadline = time.perf_counter() + STALL_S
        while not (self.watches > after and self.watching):
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), deadline - time.perf_counter())


def timed(obj: Any, name: str, into: list[Span]) -> None:
    """Record every call of ``obj.name`` (from any thread) as a span in ``into``."""
    method = getattr(obj, name)

    def observed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            into.append((t0, time.perf_counter()))

    setattr(obj, name, observed)


def within(spans: list[Span], t0: float, t1: float) -> tuple[int, float]:
    """How many of ``spans`` lie within [t0, t1], and their total time."""
    inside = [e - s for s, e in spans if s >= t0 and e <= t1]
    return len(inside), sum(inside)


@dataclass(frozen=True)
class Decision:
    bar_ms: int
    kind: str  # entry | exit
    latency_s: float
    requests: tuple[tuple[float, str, str], ...]  # before the order: (since trigger, method, path)
    orders_before: int  # orders the trader had sent before this decision
    http: tuple[int, float]  # the client's HTTP calls done before the order: count, time
    throttle_s: float  # ccxt's throttle sleeps before the order (the order's own included)
    ccxt_own_s: float  # ccxt's calls before the order less their HTTP and throttle sleeps
    writes: tuple[int, float]  # store writes done before the order: count, time
    other_s: float  # the rest: not in ccxt's calls, the store's writes or a throttle sleep


def decisions(probe: Probe, windows: list[tuple[int, int, int, int]]) -> list[Decision]:
    out = []
    posted = 0
    for bar_ms, trigger_ms, lo, hi in windows:
        t0 = probe.klines[(trigger_ms, False)]
        seen = probe.requests[lo:hi]
        posts = [i for i, r in enumerate(seen) if r[1] == "POST" and r[2] == "/api/v3/order"]
        if posts:
            t1, _, _, side = seen[posts[0]]
            calls = [(s, e) for s, e in probe.ccxt if s >= t0 and e <= t1]

            def nested(spans: list[Span], calls: list[Span] = calls) -> float:
                return sum(e - s for s, e in spans if any(a <= s and e <= b for a, b in calls))

            in_calls = sum(e - s for s, e in calls)
            throttle = within(probe.throttled, t0, t1)[1]
            throttle_in_calls = nested(probe.throttled)
            writes = within(probe.writes, t0, t1)
            out.append(
                Decision(
                    bar_ms=bar_ms,
                    kind="entry" if side.upper() == "BUY" else "exit",
                    latency_s=t1 - t0,
                    requests=tuple((t - t0, m, p) for t, m, p, _ in seen[: posts[0]]),
                    orders_before=posted,
                    http=within(probe.http, t0, t1),
                    throttle_s=throttle,
                    ccxt_own_s=in_calls - nested(probe.http) - throttle_in_calls,
                    writes=writes,
                    other_s=(t1 - t0) - in_calls - writes[1] - (throttle - throttle_in_calls),
                )
            )
        posted += len(posts)
    return out


# ---- the store ----


@contextlib.contextmanager
def store_for(kind: str, trader_id: str) -> Iterator[Any]:
    from tradpal.trading.store import MemoryTradingStore, TradingStore

    if kind == "memory":
        yield MemoryTradingStore(trader_id)
        return
    # a trading table in moto, provisioned as the local platform does (tests/trading/conftest)
    from moto import mock_aws

    from tradpal.local.resources import provision
    from tradpal.platform.aws import reset_clients
    from tradpal.platform.environment import PlatformEnv

    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    try:
        for k in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            os.environ.pop(k, None)
        os.environ.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        with mock_aws():
            reset_clients()
            try:
                provision(PlatformEnv(resources={"trading_table": "bench-trading"}))
                yield TradingStore(trader_id, table="bench-trading")
            finally:
                reset_clients()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)


# ---- one live session ----


def live_series(name: str, rows: list[list[Any]], *, reference: bool = False) -> dict[str, Any]:
    """One live session of ``SERIES[name]`` on a fresh fake; with ``reference`` also the
    REST round trips on the same fake afterwards."""
    from fakes.fake_binance_trading import FakeBinanceTrading

    from tradpal.trading.runner import EventSink, TraderProcess, exchange_clients

    setup = SERIES[name]
    bars = setup["bars"]
    out: dict[str, Any] = {}

    async def main(fake: Any, store: Any) -> None:
        config = fake.ccxt_config(timeout=10_000)
        if not setup["rate_limit"]:
            config["rateLimit"] = 1  # as the tests run: ccxt's throttle out of the way
        keys = {"apiKey": config.pop("apiKey"), "secret": config.pop("secret")}
        s = spec(f"bench-{name}", config)
        rest, ws = exchange_clients(s, keys)
        sink = EventSink(None, symbol=SYMBOL, timeframe="1m", source="ccxt:binance")
        clock = [int(rows[WARM_UP][0])]
        process = TraderProcess(
            s, rest=rest, ws=ws, store=store, sink=sink, now_ms=lambda: clock[0],
            emit=lambda line: None,
        )  # fmt: skip
        probe = Probe(changed=asyncio.Event())
        probe.attach(fake, ws, rest, store)
        windows: list[tuple[int, int, int, int]] = []
        last: list[tuple[int, int, int]] = []

        async def market() -> None:
            deadline = time.perf_counter() + STALL_S
            while STREAM not in fake.ws.streams():  # subscribed (once, at the start)
                assert time.perf_counter() < deadline, "the trader never subscribed"
                await asyncio.sleep(0.01)
            for n, k in enumerate(rows[WARM_UP : WARM_UP + bars + 1]):
                if setup["gap_s"]:
                    await asyncio.sleep(setup["gap_s"])
                clock[0] = int(k[0])
                armed, lo = probe.watches, len(probe.requests)
                # the bar's first trade: tells the feed the bar before closed
                first = [*k[:2], k[1], k[1], k[1], "0", *k[6:]]
                fake.market.push_candle(SYMBOL, "1m", first, closed=False)
                if n == bars:  # the session ends with this bar's close: no watch after it
                    last.append((int(k[0]) - MINUTE, int(k[0]), lo))
                    return
                await probe.watching_again(armed)  # decided, opened, watching again
                if n:
                    windows.append((int(k[0]) - MINUTE, int(k[0]), lo, len(probe.requests)))
                armed = probe.watches
                fake.market.push_candle(SYMBOL, "1m", k, closed=True)
                await probe.watching_again(armed)

        pushing = asyncio.create_task(market())
        started = time.perf_counter()
        try:
            traded = await asyncio.wait_for(process.run(bars=bars), bars * 2 + 60)
            await asyncio.wait_for(pushing, STALL_S)
        finally:
            pushing.cancel()
            await ws.close()
            sink.close()
        wall = time.perf_counter() - started
        windows.extend((*w, len(probe.requests)) for w in last)
        assert traded == bars, (traded, bars)
        assert not process.trader.paused, process.trader.paused
        found = decisions(probe, windows)
        out.update(summarise(found, bars, wall, probe))
        out["closed_trades"] = len(process.trader.book.closed_trades)
        if reference:
            out["rest"] = rest_reference(rest, fake)

    rows_seeded = rows[:WARM_UP]
    with (
        FakeBinanceTrading(
            {(SYMBOL, "1m"): rows_seeded}, balances={"USDT": "10000"}, lifetime_s=900
        ) as fake,
        store_for(setup["store"], f"bench-{name}") as store,
    ):
        asyncio.run(main(fake, store))
    return out


def pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``xs``, by linear interpolation (numpy's default)."""
    s = sorted(xs)
    if not s:
        return float("nan")
    pos = (len(s) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarise(found: list[Decision], bars: int, wall: float, probe: Probe) -> dict[str, Any]:
    lat = [d.latency_s for d in found]
    out: dict[str, Any] = {
        "bars": bars,
        "decisions": len(found),
        "wall_s": wall,
        "watch_timeouts": probe.timeouts,
        "p50_ms": ms(pct(lat, 0.5)),
        "p99_ms": ms(pct(lat, 0.99)),
        "max_ms": ms(max(lat)),
        "mean_ms": ms(statistics.fmean(lat)),
    }
    for kind in ("entry", "exit"):
        group = [d for d in found if d.kind == kind]
        if group:
            out[kind] = summarise_kind(group)
    return out


def summarise_kind(group: list[Decision]) -> dict[str, Any]:
    g = [d.latency_s for d in group]
    # the requests before the order, in order (the most common sequence)
    shapes: dict[tuple[str, ...], list[Decision]] = {}
    for d in group:
        shapes.setdefault(tuple(f"{m} {p}" for _, m, p in d.requests), []).append(d)
    shape, members = max(shapes.items(), key=lambda item: len(item[1]))
    # per step of that sequence: the time from the step before (the trigger first), as
    # the fake received them
    steps = []
    for i, label in enumerate([*shape, "POST /api/v3/order"]):
        gaps = []
        for d in members:
            t = d.latency_s if i == len(shape) else d.requests[i][0]
            gaps.append(t - (0.0 if i == 0 else d.requests[i - 1][0]))
        steps.append({"request": label, "after_previous_ms": ms(pct(gaps, 0.5))})
    http = [d.http[1] for d in group]
    writes = [d.writes[1] for d in group]
    throttle = [d.throttle_s for d in group]
    ccxt = [d.ccxt_own_s for d in group]  # building and signing requests, parsing answers
    rest = [d.other_s for d in group]
    half = len(group) // 2
    return {
        "decisions": len(group),
        "p50_ms": ms(pct(g, 0.5)),
        "p99_ms": ms(pct(g, 0.99)),
        "max_ms": ms(max(g)),
        "requests_before_order": len(shape),
        "with_that_sequence": len(members),
        "steps_p50": steps,
        # where the time went, p50 of each part over the decisions (they need not add up)
        "http_calls_before_order": statistics.median_low([d.http[0] for d in group]),
        "http_p50_ms": ms(pct(http, 0.5)),
        "http_per_call_p50_ms": ms(pct([d.http[1] / d.http[0] for d in group], 0.5)),
        "throttle_p50_ms": ms(pct(throttle, 0.5)),
        "ccxt_parsing_p50_ms": ms(pct(ccxt, 0.5)),
        "store_writes_before_order": statistics.median_low([d.writes[0] for d in group]),
        "store_writes_p50_ms": ms(pct(writes, 0.5)),
        "store_writes_p99_ms": ms(pct(writes, 0.99)),
        "other_p50_ms": ms(pct(rest, 0.5)),
        "p50_first_half_ms": ms(pct(g[:half], 0.5)),
        "p50_second_half_ms": ms(pct(g[half:], 0.5)),
        "orders_sent_before_first_last": [group[0].orders_before, group[-1].orders_before],
    }


def ms(seconds: float) -> float:
    return seconds * 1e3


# ---- the references ----


def rest_reference(rest: Any, fake: Any) -> dict[str, Any]:
    """p50 round trips through the trader's own ccxt client, interleaved call for call
    (``_http``: the HTTP call and JSON decoding alone, the rest is ccxt parsing); then
    the account's trades filled up to the 1,000 that ``fetch_my_trades`` reads at most,
    as a trader's account is once it has traded that often, and that call again."""
    http: list[Span] = []
    timed(rest, "fetch", http)
    last_ms = rest.fetch_ohlcv(SYMBOL, "1m", None, 2)[0][0]
    order_id = rest.fetch_my_trades(SYMBOL, limit=1)[-1]["order"]
    calls = {
        "fetch_time": lambda: rest.fetch_time(),
        "fetch_ohlcv_2_bars": lambda: rest.fetch_ohlcv(SYMBOL, "1m", last_ms, 1000),
        "fetch_my_trades": lambda: rest.fetch_my_trades(SYMBOL, limit=1000),
        "fetch_order": lambda: rest.fetch_order(order_id, SYMBOL),
    }
    out: dict[str, Any] = {"my_trades_returned": len(rest.fetch_my_trades(SYMBOL, limit=1000))}
    out.update(round_trips(calls, http, REST_CALLS))
    # small market buys (about 6 USDT, above the 5 USDT minimum) until 1,000 trades
    price = float(rest.fetch_ohlcv(SYMBOL, "1m", None, 1)[-1][4])
    amount = math.ceil(6.0 / price * 1e5) / 1e5
    while len(fake.market.trades(SYMBOL)) < 1000:
        rest.create_order(SYMBOL, "market", "buy", amount)
    full = {"fetch_my_trades_1000_trades": calls["fetch_my_trades"]}
    out.update(round_trips(full, http, REST_CALLS // 4))
    out["my_trades_returned_full"] = len(rest.fetch_my_trades(SYMBOL, limit=1000))
    return out


def round_trips(calls: dict[str, Any], http: list[Span], n: int) -> dict[str, float]:
    total: dict[str, list[float]] = {k: [] for k in calls}
    inner: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(n):
        for k, fn in calls.items():
            http.clear()
            t0 = time.perf_counter()
            fn()
            total[k].append(time.perf_counter() - t0)
            inner[k].append(sum(e - s for s, e in http))
    out = {}
    for k in calls:
        out[f"{k}_p50_ms"] = ms(pct(total[k], 0.5))
        out[f"{k}_http_p50_ms"] = ms(pct(inner[k], 0.5))
    return out


def paper_reference(rows: list[list[Any]], bars: int) -> dict[str, Any]:
    """The same trader's bars without I/O: ``Session.bar_closed`` on a PaperExchange
    in-process (best of ``PAPER_ROUNDS`` per bar), and ``Trader._compute`` alone."""
    from tradpal.trading.paper import PaperExchange
    from tradpal.trading.session import Session
    from tradpal.trading.store import MemoryTradingStore
    from tradpal.trading.trader import Candle, Trader

    s = spec("bench-paper", {}, live=False)
    candles = [Candle(int(r[0]), *(float(x) for x in r[1:6])) for r in rows]
    per_bar = [float("inf")] * bars
    ordered = [False] * bars
    compute: list[float] = []
    for _ in range(PAPER_ROUNDS):
        config = s.config
        paper = PaperExchange(
            config.capital, fees=config.fees, slippage=config.slippage, symbols=(SYMBOL,)
        )
        store = MemoryTradingStore(s.trader_id)
        store.acquire_lease("bench", 3600.0, time.time())  # as the process takes it
        trader = Trader(
            strategy=s.strategy, symbol=SYMBOL, timeframe="1m", exchange=paper, config=config,
            params=dict(s.params), trader_id=s.trader_id, store=store,
            window=WINDOW, watch_target=True, mode="paper",
        )  # fmt: skip
        session = Session(trader, paper)
        trader.warm_up(candles[:WARM_UP])
        paper.close_bar(SYMBOL, candles[WARM_UP - 1].close)
        for i, c in enumerate(candles[WARM_UP : WARM_UP + bars]):
            session.bar_opened(c.time_ms, c.open)
            before = len(trader.store.orders())
            t0 = time.perf_counter()
            session.bar_closed(c)
            per_bar[i] = min(per_bar[i], time.perf_counter() - t0)
            ordered[i] = len(trader.store.orders()) > before
        for _ in range(50):
            t0 = time.perf_counter()
            trader._compute()  # the signals on the 1,000-bar window
            compute.append(time.perf_counter() - t0)
    decided = [t for t, o in zip(per_bar, ordered, strict=True) if o]
    return {
        "bar_closed_p50_ms": pct(per_bar, 0.5) * 1e3,
        "bar_closed_with_order_p50_ms": pct(decided, 0.5) * 1e3,
        "bar_closed_with_order_p99_ms": pct(decided, 0.99) * 1e3,
        "bars_with_order": len(decided),
        "signals_compute_p50_ms": pct(compute, 0.5) * 1e3,
    }


def main() -> dict[str, Any]:
    import logging

    logging.getLogger("tradpal").setLevel(logging.WARNING)
    most = max(v["bars"] for v in SERIES.values())
    rows = klines(WARM_UP + most + 2)
    figures: dict[str, Any] = {"window": WINDOW, "strategy": "rsi_reversal", "params": PARAMS}
    figures["load_avg_1m_before"] = os.getloadavg()[0]  # the machine is not always quiet
    started = time.perf_counter()
    for name in SERIES:
        print(f"series {name} ...", flush=True)
        figures[name] = live_series(name, rows, reference=name == "memory")
    figures["paper"] = paper_reference(rows, SERIES["memory"]["bars"])
    figures["total_s"] = time.perf_counter() - started
    figures["load_avg_1m_after"] = os.getloadavg()[0]
    report(figures)
    return figures


def report(f: dict[str, Any]) -> None:
    rest, paper = f["memory"]["rest"], f["paper"]
    print(f"\nrsi_reversal {PARAMS}, window {WINDOW}, fill at the close, {f['total_s']:.0f} s")
    for name in SERIES:
        s = f[name]
        print(
            f"  {name:<13} {s['decisions']:>4} decisions in {s['bars']} bars ({s['wall_s']:.0f} s):"
            f" p50 {s['p50_ms']:.2f} ms, p99 {s['p99_ms']:.2f} ms, max {s['max_ms']:.2f} ms"
            f" (watch timeouts {s['watch_timeouts']})"
        )
        for kind in ("entry", "exit"):
            if kind not in s:
                continue
            k = s[kind]
            steps = ", ".join(
                f"{st['request']} +{st['after_previous_ms']:.2f}" for st in k["steps_p50"]
            )
            print(
                f"    {kind:<5} {k['decisions']:>4}: p50 {k['p50_ms']:.2f} ms,"
                f" p99 {k['p99_ms']:.2f} ms; HTTP {k['http_calls_before_order']} x"
                f" {k['http_per_call_p50_ms']:.2f} ms ="
                f" {k['http_p50_ms']:.2f} ms, throttle {k['throttle_p50_ms']:.2f} ms,"
                f" ccxt parsing {k['ccxt_parsing_p50_ms']:.2f} ms, store"
                f" {k['store_writes_before_order']} writes {k['store_writes_p50_ms']:.2f} ms,"
                f" other {k['other_p50_ms']:.2f} ms\n          as received: {steps}"
            )
    print(
        "  reference round trips (p50, ms; HTTP part): "
        + ", ".join(
            f"{k.removesuffix('_p50_ms')} {v:.2f} ({rest[k.replace('_p50', '_http_p50')]:.2f})"
            for k, v in rest.items()
            if k.endswith("_p50_ms") and "_http_" not in k
        )
        + f"; trades returned {rest['my_trades_returned']}, then {rest['my_trades_returned_full']}"
    )
    print(
        f"  reference paper bar_closed p50 {paper['bar_closed_p50_ms']:.2f} ms, with an order "
        f"{paper['bar_closed_with_order_p50_ms']:.2f} ms ({paper['bars_with_order']} bars); "
        f"signals alone {paper['signals_compute_p50_ms']:.2f} ms"
    )


if __name__ == "__main__":
    main()
