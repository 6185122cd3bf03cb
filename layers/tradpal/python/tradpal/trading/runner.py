"""One trader's process, on a laptop or as the Fargate task: the imperative shell around
:class:`~tradpal.trading.trader.Trader` (``tradpal trade`` without ``--replay``).

:func:`run_trader` wires what the trader computes to what does I/O:

* **the exchange**: candles over the exchange's websocket (ccxt pro ``watch_ohlcv``) with
  REST backfill (:class:`~tradpal.trading.feed.LiveFeed`); orders on the
  :class:`~tradpal.trading.paper.PaperExchange` (``--paper``, the default: no key needed)
  or on the account through ccxt (``--live``: only with the ``live_trading`` setting and
  keys from Secrets Manager, :func:`read_credentials`). A spot account cannot short and
  holds one order per coin, so on spot shorts are off and the target is watched by the
  trader (``watch_target``) while the stop rests on the exchange;
* **the store**: the trading table (:class:`~tradpal.trading.store.TradingStore`) when the
  platform names one (``TRADPAL_TRADING_TABLE``: on AWS, under ``tradpal up``), else memory
  (paper only: a live trader must not forget its orders);
* **the lease** (:class:`LeaseKeeper`): taken before the first write (waiting while another
  process of the same trader holds it), renewed every third of its time to live; a renewal
  that fails ends the process, which restarts and waits for the lease;
* **control** (the API's start, pause and stop) read every ``control_poll_s``, applied once
  per version; **the heartbeat** (an EMF line, :mod:`tradpal.trading.heartbeat`, and a
  ``system_health`` event) every :data:`~tradpal.trading.heartbeat.HEARTBEAT_PERIOD_S`;
* **events** (:class:`EventSink`): the trader's order_executed, portfolio_update and
  risk_alert, and each closed candle onto the market-data stream, sent from a thread of
  their own so a slow bus never delays an order.

All trader work (bars, commands) is serialised by one lock: the trader is not re-entrant.
SIGTERM (ECS stopping the task) ends the session, releases the lease and closes the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import queue
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tradpal.backtest.config import BacktestConfig
from tradpal.errors import ConfigError
from tradpal.trading.heartbeat import HEARTBEAT_PERIOD_S, heartbeat_emf
from tradpal.trading.protections import Protections

log = logging.getLogger(__name__)

TRADER_RESOURCES = ("trading_table", "market_data_stream", "event_bus")
"""The platform's resources a trader reaches (its environment on Fargate and under
``tradpal up``): its state, lease, orders and fills; the candles it puts on the stream; its
events on the bus."""

LEASE_TTL_S = 60.0
"""A trader's lease lives this long unless renewed (every third of it): a process restarted
after a crash waits at most this long for the dead one's (the ``trader_lease_s`` setting)."""


def default_trader_id(strategy: str, symbol: str, timeframe: str) -> str:
    """``<strategy>-<symbol>-<timeframe>``, lower case, every other character a dash:
    ``ema_crossover``, ``BTC/USDT``, ``1h`` -> ``ema-crossover-btc-usdt-1h``."""
    return re.sub(r"[^a-z0-9]+", "-", f"{strategy}-{symbol}-{timeframe}".lower()).strip("-")


@dataclass(frozen=True)
class TraderSpec:
    """What one trader trades and how: ``config`` the backtest's risk and cost settings,
    ``client_config`` the ccxt constructor options (``urls`` for a testnet; the setting
    ``source_options["ccxt:<exchange>"]["config"]``, keys excluded), ``window`` the candles
    the strategy sees at each bar. A live trader owns its account's coins of the symbol's
    base asset: at each start the balance must equal what its fills left, or it pauses
    entries with a risk_alert; ``shared_account`` (the account holds others) skips that."""

    trader_id: str
    strategy: str
    symbol: str
    timeframe: str
    config: BacktestConfig
    exchange: str = "binance"
    live: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    protections: Protections = field(default_factory=Protections)
    warm_up_bars: int = 500
    window: int = 1000
    volume_share: float = 1.0
    client_config: Mapping[str, Any] = field(default_factory=dict)
    lease_s: float = LEASE_TTL_S
    shared_account: bool = False


# ---- the exchange ----

CREDENTIAL_KEYS = ("apiKey", "secret", "password", "uid")


def read_credentials(secret_name: str) -> dict[str, str]:
    """The exchange keys in the Secrets Manager secret ``secret_name`` (JSON with ``apiKey``
    and ``secret``; ``password``, ``uid`` where the exchange needs them). Errors name the
    secret and the missing key, never a value."""
    from botocore.exceptions import BotoCoreError, ClientError

    from tradpal.platform.aws import client

    hint = (
        f"put the keys: aws secretsmanager put-secret-value --secret-id {secret_name} "
        '--secret-string \'{"apiKey": "...", "secret": "..."}\''
    )
    try:
        text = client("secretsmanager").get_secret_value(SecretId=secret_name)["SecretString"]
    except (ClientError, BotoCoreError, KeyError) as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise ConfigError(
            f"the exchange secret {secret_name} cannot be read ({code})", hint=hint
        ) from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise ConfigError(f"the exchange secret {secret_name} is not JSON", hint=hint) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"the exchange secret {secret_name} is not a JSON object", hint=hint)
    missing = [k for k in ("apiKey", "secret") if not str(doc.get(k) or "").strip()]
    if missing:
        raise ConfigError(
            f"the exchange secret {secret_name} has no {' or '.join(missing)}", hint=hint
        )
    return {k: str(doc[k]) for k in CREDENTIAL_KEYS if doc.get(k)}


def exchange_clients(spec: TraderSpec, credentials: Mapping[str, str] | None = None):
    """``(rest, ws)``: a ccxt client for orders and REST candles and a ccxt pro client for
    the websocket, both with ``spec.client_config`` (and the keys, for a live trader), the
    markets loaded and the symbol checked."""
    import difflib

    import ccxt
    import ccxt.pro

    if spec.exchange not in ccxt.pro.exchanges:
        near = difflib.get_close_matches(spec.exchange, ccxt.pro.exchanges, n=3)
        raise ConfigError(
            f"ccxt has no websocket client for the exchange {spec.exchange!r}",
            hint=f"a trader needs one; {'did you mean ' + ', '.join(near) + '? ' if near else ''}"
            "see ccxt.pro.exchanges",
        )
    options = {k: v for k, v in spec.client_config.items() if k not in CREDENTIAL_KEYS}
    options.update(credentials or {})
    options["enableRateLimit"] = True  # exchanges ban clients that ignore their limits
    rest = getattr(ccxt, spec.exchange)(dict(options))
    ws = getattr(ccxt.pro, spec.exchange)(dict(options))
    rest.load_markets()
    if spec.symbol not in rest.markets:
        near = difflib.get_close_matches(spec.symbol, list(rest.markets), n=3)
        raise ConfigError(
            f"{spec.exchange} has no market {spec.symbol!r}",
            hint=f"did you mean {', '.join(near)}?" if near else "symbols look like BTC/USDT",
        )
    return rest, ws


def amount_step(rest: Any, symbol: str) -> float:
    """The least amount of ``symbol`` the exchange trades (its minimum or its step,
    whichever is larger), in base units: less is dust that cannot be sold."""
    market = rest.market(symbol)
    least = (market.get("limits") or {}).get("amount", {}).get("min") or 0.0
    step = (market.get("precision") or {}).get("amount") or 0.0
    from ccxt.base.decimal_to_precision import TICK_SIZE

    # a precision is a step only in TICK_SIZE mode (else it counts decimal places)
    return float(max(least, step if rest.precisionMode == TICK_SIZE else 0.0))


# ---- the store and its lease ----


def open_store(trader_id: str, *, live: bool):
    """The trader's store: the platform's trading table when one is configured, else memory
    (paper only)."""
    from tradpal.platform.environment import platform_env
    from tradpal.trading.store import MemoryTradingStore, TradingStore

    if platform_env().trading_table:
        return TradingStore(trader_id)
    if live:
        raise ConfigError(
            "a live trader keeps its orders and fills in the trading table, and none is configured",
            hint="run it on AWS (the Fargate task) or beside `tradpal up` with its "
            "environment (TRADPAL_TRADING_TABLE and the local AWS endpoint)",
        )
    log.warning("no trading table: this paper trader keeps its state in memory only")
    return MemoryTradingStore(trader_id)


class LeaseKeeper:
    """Holds the trader's lease for ``owner``: :meth:`acquire` waits while another owner
    holds it, :meth:`renew` keeps it, :meth:`release` frees it at a clean exit."""

    def __init__(
        self,
        store: Any,
        owner: str,
        *,
        ttl_s: float = LEASE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.owner, self.ttl_s, self.clock = store, owner, ttl_s, clock

    async def acquire(self, *, poll_s: float = 5.0) -> None:
        from tradpal.trading.store import LeaseHeld

        while True:
            try:
                self.store.acquire_lease(self.owner, self.ttl_s, self.clock())
                log.info("trader %s: lease taken by %s", self.store.trader_id, self.owner)
                return
            except LeaseHeld as exc:
                wait = max(0.0, min(poll_s, exc.expires_at - self.clock() + 0.5))
                log.warning("%s; waiting %.1f s", exc, wait)
                await asyncio.sleep(wait)

    def renew(self) -> None:
        self.store.renew_lease(self.owner, self.ttl_s, self.clock())

    def release(self) -> None:
        try:
            self.store.release_lease(self.owner)
        except Exception:  # at exit: the lease then expires by itself
            log.exception("trader %s: the lease was not released", self.store.trader_id)


def lease_owner() -> str:
    """This process: host, pid and a random part (a restarted process is a new owner)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# ---- events ----


class EventSink:
    """Sends the trader's events and candles from a thread of its own: ``publish(type,
    detail)`` and ``put_candle(candle)`` return at once. ``publisher`` an
    :class:`~tradpal.events.publisher.EventPublisher` (None: events are only logged);
    ``stream`` whether candles go onto the market-data stream. What cannot be sent after
    the publisher's own retries is logged and dropped: events are news, the store is the
    record."""

    def __init__(
        self,
        publisher: Any | None,
        *,
        symbol: str,
        timeframe: str,
        source: str,
        stream: bool = False,
        capacity: int = 10_000,
    ) -> None:
        self.publisher, self.stream = publisher, stream
        self.symbol, self.timeframe, self.source = symbol, timeframe, source
        self._queue: queue.Queue = queue.Queue(capacity)
        self.sent = self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="trader-events", daemon=True)
        self._thread.start()

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self._offer(("event", detail_type, detail))

    def put_candle(self, candle: Any) -> None:
        if self.stream:
            self._offer(("candle", None, candle))

    def _offer(self, item: tuple) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            log.error("the trader's event queue is full: an event was dropped")

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop the thread."""
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            kind, detail_type, payload = item
            try:
                if kind == "event":
                    if self.publisher is not None:
                        self.publisher.publish(detail_type, payload)
                    log.info("event %s %s", detail_type, json.dumps(payload, default=str))
                else:
                    self._put_candle(payload)
                self.sent += 1
            except Exception:
                self.dropped += 1
                log.exception("a trader %s was not sent", kind)

    def _put_candle(self, c: Any) -> None:
        import pandas as pd

        from tradpal.events.market_stream import put_candles

        index = pd.DatetimeIndex([pd.Timestamp(c.time_ms, unit="ms", tz="UTC")])
        frame = pd.DataFrame(
            {
                "open": [c.open],
                "high": [c.high],
                "low": [c.low],
                "close": [c.close],
                "volume": [c.volume],
            },
            index=index,
        )
        put_candles(frame, self.symbol, self.timeframe, self.source)


def default_sink(spec: TraderSpec) -> EventSink:
    """Events onto the platform's bus and candles onto its stream, where they are configured."""
    from tradpal.events.publisher import EventPublisher
    from tradpal.platform.environment import platform_env

    env = platform_env()
    publisher = EventPublisher("trading") if env.event_bus else None
    return EventSink(
        publisher,
        symbol=spec.symbol,
        timeframe=spec.timeframe,
        source=f"ccxt:{spec.exchange}",
        stream=bool(env.market_data_stream),
    )


# ---- the process ----


class TraderProcess:
    """One trader running: the session, its lease, its control and heartbeat loops.

    ``rest``/``ws`` the exchange clients (:func:`exchange_clients`), ``store`` its store,
    ``sink`` its :class:`EventSink`; ``now_ms`` and the periods are replaceable in tests."""

    def __init__(
        self,
        spec: TraderSpec,
        *,
        rest: Any,
        ws: Any,
        store: Any,
        sink: EventSink,
        owner: str | None = None,
        now_ms: Callable[[], int] | None = None,
        control_poll_s: float = 5.0,
        heartbeat_s: float = HEARTBEAT_PERIOD_S,
        idle_s: float = 10.0,
        emit: Callable[[str], Any] = print,
    ) -> None:
        from tradpal.trading.feed import LiveFeed
        from tradpal.trading.paper import PaperExchange
        from tradpal.trading.session import Session
        from tradpal.trading.trader import Trader

        self.spec, self.store, self.sink, self.emit = spec, store, sink, emit
        self.control_poll_s, self.heartbeat_s = control_poll_s, heartbeat_s
        self.lease = LeaseKeeper(store, owner or lease_owner(), ttl_s=spec.lease_s)
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        config, spot = spec.config, False
        if spec.live:
            exchange, paper = rest, None
            spot = bool(rest.market(spec.symbol).get("spot"))
            if spot and config.allow_short:
                log.warning("%s is a spot market: shorts are off for this trader", spec.symbol)
                config = dataclasses.replace(config, allow_short=False)
        else:
            paper = PaperExchange(
                config.capital,
                fees=config.fees,
                slippage=config.slippage,
                symbols=(spec.symbol,),
                volume_share=spec.volume_share,
            )
            exchange = paper
        trader = Trader(
            strategy=spec.strategy,
            symbol=spec.symbol,
            timeframe=spec.timeframe,
            exchange=exchange,
            config=config,
            params=dict(spec.params),
            trader_id=spec.trader_id,
            store=store,
            on_event=sink.publish,
            window=spec.window,
            protections=spec.protections,
            watch_target=spot,
            owns_account=spec.live and not spec.shared_account,
            mode="live" if spec.live else "paper",
        )
        if spec.live:
            trader.book.dust = amount_step(rest, spec.symbol)
        self.session = Session(trader, paper)
        self.feed = LiveFeed(
            ws, rest, spec.symbol, spec.timeframe, now_ms=self.now_ms, idle_s=idle_s
        )
        self.lock = asyncio.Lock()
        self.beats = 0
        self.streamed_fills = 0  # fills booked on a trades-stream update, not at a bar

    @property
    def trader(self):
        return self.session.trader

    async def run(self, *, bars: int | None = None) -> int:
        """Take the lease, restore, trade until cancelled or ``bars`` bars closed; returns
        the bars traded. The lease is released at the end."""
        await self.lease.acquire()
        loops: list[asyncio.Task] = []
        try:
            loops = [
                asyncio.create_task(self._renew_loop()),
                asyncio.create_task(self._control_loop()),
                asyncio.create_task(self._heartbeat_loop()),
            ]
            if self.spec.live and self.feed.ws.has.get("watchMyTrades"):
                loops.append(asyncio.create_task(self._fills_loop()))
            trading = asyncio.create_task(
                self.session.run(
                    self.feed,
                    warm_up_bars=self.spec.warm_up_bars,
                    bars=bars,
                    lock=self.lock,
                    on_closed=self.sink.put_candle,
                )
            )
            loops.append(trading)
            # the loops run for good: one that ends (a lost lease) ends the session too
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_COMPLETED)
            return await next(iter(done))
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            self.lease.release()

    async def _renew_loop(self) -> None:
        """Renew every third of the lease's time; a lease lost to another owner ends the
        process, a failed call is tried again while the lease still has time."""
        from tradpal.trading.store import LeaseNotHeld

        while True:
            await asyncio.sleep(self.lease.ttl_s / 3)
            while True:
                try:
                    await asyncio.to_thread(self.lease.renew)
                    break
                except LeaseNotHeld:
                    raise
                except Exception:
                    log.exception("trader %s: renewing the lease failed", self.spec.trader_id)
                    await asyncio.sleep(1.0)

    async def _fills_loop(self) -> None:
        """Book fills as the exchange reports them (``watch_my_trades``) rather than at the
        next bar: an update only triggers a REST sync, the record the trader trusts, since
        websocket order streams are known to miss and repeat updates."""
        from tradpal.trading.feed import Backoff

        backoff = Backoff()
        while True:
            try:
                await self.feed.ws.watch_my_trades(self.spec.symbol)
                backoff.reset()
            except Exception as exc:  # a dropped stream: the bars' syncs go on meanwhile
                log.warning("trader %s: the trades stream failed (%s)", self.spec.trader_id, exc)
                await asyncio.sleep(backoff.next())
                continue
            async with self.lock:
                self.streamed_fills += await asyncio.to_thread(self.trader.sync)

    async def _control_loop(self) -> None:
        while True:
            try:
                await self.apply_control()
            except Exception:  # the store or the exchange failed: the next poll tries again
                log.exception("trader %s: a control command failed", self.spec.trader_id)
            await asyncio.sleep(self.control_poll_s)

    async def apply_control(self) -> bool:
        """Read the control item and apply a new version (under the trader lock)."""
        control = await asyncio.to_thread(self.store.control)
        if control is None or control.version <= self.trader.control_version:
            return False
        async with self.lock:
            return await asyncio.to_thread(self.trader.apply_control, control)

    async def _heartbeat_loop(self) -> None:
        while True:
            self.beat()
            await asyncio.sleep(self.heartbeat_s)

    def beat(self) -> None:
        """One heartbeat: the EMF line the alarm watches and a ``system_health`` event."""
        from tradpal.trading.trader import _iso

        now = self.now_ms()
        self.emit(json.dumps(heartbeat_emf(self.spec.trader_id, now)))
        trader = self.trader
        checks = {
            "status": trader.status,
            "last_bar_ms": trader.last_bar_ms,
            "reconnects": self.feed.reconnects,
            "events_dropped": self.sink.dropped,
            "paused_reason": trader.paused,
        }
        status = "ok" if trader.status == "running" else "degraded"
        self.sink.publish(
            "system_health",
            {
                "status": status,
                "checks": checks,
                "time": _iso(now),
                "trader_id": self.spec.trader_id,
            },
        )
        self.beats += 1


def _cancel_on_signals(main: asyncio.Task) -> None:
    """SIGTERM (ECS stopping the task) and SIGINT cancel ``main``."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # not possible off the main thread, or on Windows
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, main.cancel)


def _keys(secret: str, *, wait: bool, retry_s: float = 60.0) -> dict[str, str]:
    """:func:`read_credentials`, or with ``wait`` (a deployed task, whose secret is filled
    in after the first deploy) the same every ``retry_s`` until the keys are there: no
    heartbeat meanwhile, so the trader's alarm says it is not trading."""
    while True:
        try:
            return read_credentials(secret)
        except ConfigError as exc:
            if not wait:
                raise
            log.error("%s (%s); trying again in %.0f s", exc.message, exc.hint, retry_s)
            time.sleep(retry_s)


def run_trader(spec: TraderSpec, *, secret: str | None = None, bars: int | None = None,
               wait_for_keys: bool | None = None) -> dict:  # fmt: skip
    """Run ``spec``'s trader until SIGTERM/SIGINT (or ``bars`` closed bars); returns its
    summary (:func:`tradpal.trading.session.summary`). A live trader reads its keys from
    the Secrets Manager secret ``secret``; ``wait_for_keys`` (default: when it runs as an
    ECS task) waits for a secret that has none yet instead of failing."""
    if wait_for_keys is None:
        wait_for_keys = "ECS_CONTAINER_METADATA_URI_V4" in os.environ
    from tradpal.trading.session import summary

    credentials = None
    if spec.live:
        if not secret:
            raise ConfigError(
                "a live trader needs its exchange keys, and no exchange_secret is set",
                hint="set exchange_secret (TRADPAL_EXCHANGE_SECRET) to the Secrets Manager "
                "secret that holds them",
            )
        credentials = _keys(secret, wait=wait_for_keys)
    rest, ws = exchange_clients(spec, credentials)
    store = open_store(spec.trader_id, live=spec.live)
    sink = default_sink(spec)
    process = TraderProcess(spec, rest=rest, ws=ws, store=store, sink=sink)

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        _cancel_on_signals(task)
        try:
            await process.run(bars=bars)
        except asyncio.CancelledError:
            log.info("trader %s: stopping", spec.trader_id)
        finally:
            await ws.close()

    try:
        asyncio.run(main())
    finally:
        sink.close()
    return summary(process.session)


__all__ = [
    "EventSink",
    "LeaseKeeper",
    "TraderProcess",
    "TraderSpec",
    "default_trader_id",
    "exchange_clients",
    "open_store",
    "read_credentials",
    "run_trader",
]
