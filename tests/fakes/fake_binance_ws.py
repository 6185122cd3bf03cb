"""The websocket side of the fake Binance spot exchange, as ``ccxt.pro.binance`` speaks it.

One server on 127.0.0.1 (the ``websockets`` package, its own asyncio loop in a background
thread) serves both of Binance's spot websocket services, told apart by path:

* market streams: ``/ws`` (and ``/ws/<stream>/...``: ccxt connects to ``/ws/<n>``, a
  connection number that is no stream, and Binance ignores it) send each event bare;
  ``/stream?streams=a/b`` wraps it as ``{"stream": name, "data": event}``. Streams are
  (un)subscribed with ``{"method": "SUBSCRIBE", "params": [...], "id": N}``, answered
  ``{"result": null, "id": N}``; LIST_SUBSCRIPTIONS and the ``combined`` property work as on
  Binance. The fake publishes ``<symbol>@kline_<interval>`` streams (events with Binance's
  field names, ``x`` true once the candle closed); a stream it does not publish is refused
  with an error instead of staying silent.
* the WebSocket API: ``/ws-api/v3``. ccxt 4.5 takes the spot user data stream from here:
  ``userDataStream.subscribe.signature`` with ``apiKey``, ``timestamp`` and ``signature``
  (HMAC-SHA256 of the other params sorted by name, joined as ``k=v&...``) is answered
  ``{"id", "status": 200, "result": {"subscriptionId": N}}``; then every order update comes
  as ``{"subscriptionId": N, "event": {"e": "executionReport", ...}}`` and every balance
  change as an ``outboundAccountPosition`` event. ``ping``, ``time``, ``session.subscriptions``
  and ``userDataStream.unsubscribe`` are answered too. (No listenKey: ccxt 4.5 does not use
  one for spot.)

Any other path is refused at the handshake (HTTP 404), so a client pointed at a websocket the
fake does not serve fails loudly.

Faults: :meth:`BinanceWsServer.script` queues :class:`WsFault` s, each used once by the next
event of its kind that has a recipient: ``swallow`` it (sent to nobody), ``duplicate`` it (sent
twice), or ``drop`` the recipients' connections instead of sending it.
:meth:`BinanceWsServer.drop_connections` cuts connections at once (abruptly, as a network
partition does, or with a close frame). Prices and quantities are Binance's 8-decimal
strings; times are ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from fakes.fake_binance import VALID_INTERVALS
from fakes.fake_binance_market import (
    BalanceUpdate,
    BinanceError,
    CandleUpdate,
    Event,
    OrderUpdate,
    SpotMarket,
)
from fakes.fake_binance_signed import Credentials, check_api_key, check_timestamp, fmt, hmac_hex
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

EventName = Literal["executionReport", "outboundAccountPosition", "kline"]
_KLINE_STREAM = re.compile(
    r"^[a-z0-9]+@kline_(" + "|".join(re.escape(i) for i in VALID_INTERVALS) + r")$"
)
_ABORT = object()  # queued after a connection's last message: cut it there
_CLOSE = object()  # the same, with a close frame (1001 going away)


@dataclass(frozen=True)
class WsFault:
    """One scripted misbehaviour for the next ``event`` that has a recipient:
    ``swallow`` (nobody gets it), ``duplicate`` (everyone gets it twice) or ``drop``
    (the recipients' connections are cut instead, abruptly)."""

    action: Literal["swallow", "duplicate", "drop"]
    event: EventName = "executionReport"


def swallow(event: EventName = "executionReport") -> WsFault:
    """The next such update is lost (a client must reconcile over REST)."""
    return WsFault("swallow", event)


def duplicate(event: EventName = "executionReport") -> WsFault:
    """The next such update arrives twice (a client must be idempotent)."""
    return WsFault("duplicate", event)


def drop_on(event: EventName = "executionReport") -> WsFault:
    """The next such update never leaves: its recipients' connections are cut first."""
    return WsFault("drop", event)


@dataclass(frozen=True)
class SentEvent:
    """An event the server published: how many copies each recipient got (0 when a fault
    swallowed it or dropped the connections) and to how many connections."""

    name: str
    payload: dict[str, Any]
    copies: int
    recipients: int


@dataclass(eq=False)
class _Conn:
    ws: ServerConnection
    kind: Literal["market", "api"]
    combined: bool = False
    streams: set[str] = field(default_factory=set)
    subscriptions: set[int] = field(default_factory=set)
    next_subscription: int = 0
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)


def execution_report(update: OrderUpdate, execution_id: int) -> dict[str, Any]:
    """An order update as Binance's ``executionReport`` event."""
    order, trade = update.order, update.trade
    cancel_id = update.cancel_client_order_id
    zero = Decimal(0)
    return {
        "e": "executionReport",
        "E": update.time,
        "s": order.symbol,
        # a cancel reports the cancel request's client id as c, the order's as C
        "c": cancel_id or order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt(order.quantity),
        "p": fmt(order.price),
        "P": fmt(order.stop_price),
        "F": fmt(zero),
        "g": -1,
        "C": order.client_order_id if cancel_id else "",
        "x": update.execution_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": fmt(trade.qty if trade else zero),
        "z": fmt(order.executed_qty),
        "L": fmt(trade.price if trade else zero),
        "n": fmt(trade.commission) if trade else "0",
        "N": trade.commission_asset if trade else None,
        "T": trade.time if trade else update.time,
        "t": trade.id if trade else -1,
        "I": execution_id,
        "w": order.is_open and order.working and order.type != "MARKET",
        "m": trade.is_maker if trade else False,
        "M": False,
        "O": order.time,
        "Z": fmt(order.cumulative_quote_qty),
        "Y": fmt(trade.quote_qty if trade else zero),
        "Q": fmt(order.quote_order_qty),
        "W": order.working_time,
        "V": "NONE",
    }


def account_position(update: BalanceUpdate) -> dict[str, Any]:
    """A balance change as Binance's ``outboundAccountPosition`` event."""
    return {
        "e": "outboundAccountPosition",
        "E": update.time,
        "u": update.time,
        "B": [{"a": a, "f": fmt(free), "l": fmt(locked)} for a, free, locked in update.balances],
    }


def kline_event(update: CandleUpdate) -> dict[str, Any]:
    """A pushed candle as Binance's ``kline`` event (its values as the row has them)."""
    row = [v if isinstance(v, str | int) else str(v) for v in update.kline]
    return {
        "e": "kline",
        "E": update.time,
        "s": update.symbol,
        "k": {
            "t": row[0],
            "T": row[6],
            "s": update.symbol,
            "i": update.interval,
            "f": update.first_trade_id,
            "L": update.last_trade_id,
            "o": row[1],
            "c": row[4],
            "h": row[2],
            "l": row[3],
            "v": row[5],
            "n": row[8],
            "x": update.closed,
            "q": row[7],
            "V": row[9],
            "Q": row[10],
            "B": "0",
        },
    }


def _param_text(value: Any) -> str:
    # how ccxt (and Binance's docs) write a WS-API param into the signature payload
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class BinanceWsServer:
    """Binance's spot market streams and WebSocket API for one :class:`SpotMarket`.

    Started, it listens on 127.0.0.1 (the port of an earlier start, or a free one) and
    publishes the market's events to the connections that subscribed to them.
    """

    def __init__(self, market: SpotMarket, credentials: Credentials) -> None:
        self._market = market
        self._credentials = credentials
        self._port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Server | None = None
        self._stop_event: asyncio.Event | None = None
        self._conns: set[_Conn] = set()
        self._faults: list[WsFault] = []
        self._lock = threading.Lock()
        self._execution_id = 0
        self.sent: list[SentEvent] = []
        self.user_subscriptions = 0  # userDataStream subscriptions granted, ever
        # the market lives across restarts of this server: listen once, publish when up
        self._unsubscribe = market.subscribe(self._on_event)

    # ------------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT``."""
        if self._loop is None:
            raise RuntimeError("the fake Binance websocket server is not running")
        return f"ws://127.0.0.1:{self._port}"

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._main(ready))
            except BaseException as exc:  # reported to start(), which raises it
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-binance-ws", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        self._loop = loop

    def stop(self, *, abrupt: bool = False) -> None:
        """Stop serving: connections get a close frame (1001), or are cut with ``abrupt``."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        if abrupt:
            self._call(loop, self._drop("all", True))
        loop.call_soon_threadsafe(self._stop_event.set)  # type: ignore[union-attr]
        if self._thread is not None:
            self._thread.join(10)

    async def _main(self, ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        self._server = await serve(
            self._handle, "127.0.0.1", self._port, process_request=self._check_path
        )
        self._port = self._server.sockets[0].getsockname()[1]
        ready.set()
        await self._stop_event.wait()
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._conns.clear()

    # ---------------------------------------------------------------------- faults
    def script(self, *faults: WsFault) -> None:
        """Queue faults; each is used once by the next event of its kind with a recipient."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def drop_connections(
        self, which: Literal["all", "market", "api"] = "all", *, abrupt: bool = True
    ) -> int:
        """Cut the connections now (after what was already queued for them); returns how
        many. ``abrupt`` closes the TCP connection without a close frame, as a network
        partition does; otherwise they get a 1001 close frame, as at a server restart."""
        if self._loop is None:
            return 0
        return self._call(self._loop, self._drop(which, abrupt))

    def connections(self, which: Literal["all", "market", "api"] = "all") -> int:
        """How many connections are open."""
        if self._loop is None:
            return 0

        async def count() -> int:
            return sum(1 for c in self._conns if which in ("all", c.kind))

        return self._call(self._loop, count())

    def streams(self) -> set[str]:
        """The market streams some open connection is subscribed to."""
        if self._loop is None:
            return set()

        async def collect() -> set[str]:
            return {s for c in self._conns for s in c.streams}

        return self._call(self._loop, collect())

    def sent_events(self, name: str | None = None) -> list[SentEvent]:
        return [e for e in list(self.sent) if name in (None, e.name)]

    @staticmethod
    def _call(loop: asyncio.AbstractEventLoop, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(10)

    async def _drop(self, which: str, abrupt: bool) -> int:
        conns = [c for c in self._conns if which in ("all", c.kind)]
        for conn in conns:
            conn.queue.put_nowait(_ABORT if abrupt else _CLOSE)
        for conn in conns:
            with contextlib.suppress(TimeoutError):  # abort closes at once; a close frame waits
                await asyncio.wait_for(conn.ws.wait_closed(), 5)
        return len(conns)

    # ----------------------------------------------------------------- connections
    def _check_path(self, connection: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path == "/ws" or path.startswith("/ws/") or path in ("/stream", "/ws-api/v3"):
            return None
        return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")

    async def _handle(self, ws: ServerConnection) -> None:
        split = urlsplit(ws.request.path if ws.request else "/ws")
        if split.path == "/ws-api/v3":
            conn = _Conn(ws, "api")
        else:
            conn = _Conn(ws, "market", combined=split.path == "/stream")
            named = split.path.split("/")[2:] if split.path.startswith("/ws/") else []
            combined = parse_qs(split.query).get("streams", [""])[0].split("/")
            conn.streams = {s for s in [*named, *combined] if _KLINE_STREAM.match(s)}
        self._conns.add(conn)
        writer = asyncio.create_task(self._write(conn))
        try:
            async for raw in ws:
                reply = self._answer(conn, raw)
                if reply is not None:
                    conn.queue.put_nowait(json.dumps(reply))
        except ConnectionClosed:
            pass
        finally:
            self._conns.discard(conn)
            writer.cancel()

    async def _write(self, conn: _Conn) -> None:
        """Send a connection's messages in order; a drop marker cuts it there."""
        try:
            while True:
                message = await conn.queue.get()
                if message is _ABORT:
                    conn.ws.transport.abort()
                    return
                if message is _CLOSE:
                    await conn.ws.close(1001, "going away")
                    return
                await conn.ws.send(message)
        except ConnectionClosed:
            pass

    def _answer(self, conn: _Conn, raw: str | bytes) -> dict[str, Any] | None:
        try:
            message = json.loads(raw)
        except ValueError as exc:
            return {"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}, "id": None}
        if not isinstance(message, dict):
            return {"error": {"code": 3, "msg": "Invalid JSON: expected an object"}, "id": None}
        if conn.kind == "api":
            return self._api_answer(conn, message)
        return self._stream_answer(conn, message)

    def _stream_answer(self, conn: _Conn, message: dict[str, Any]) -> dict[str, Any]:
        method, params, rid = message.get("method"), message.get("params") or [], message.get("id")
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": rid}
            unserved = [p for p in params if not _KLINE_STREAM.match(p)]
            if method == "SUBSCRIBE" and unserved:
                # Binance would accept these; the fake has nothing to send on them
                msg = f"Invalid request: the fake publishes kline streams only, not {unserved}"
                return {"error": {"code": 2, "msg": msg}, "id": rid}
            if method == "SUBSCRIBE":
                conn.streams.update(params)
            else:
                conn.streams.difference_update(params)
            return {"result": None, "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": rid}
        if method == "SET_PROPERTY" and len(params) == 2 and params[0] == "combined":
            if not isinstance(params[1], bool):
                return {
                    "error": {"code": 1, "msg": "Invalid value type: expected Boolean"},
                    "id": rid,
                }
            conn.combined = params[1]
            return {"result": None, "id": rid}
        if method == "GET_PROPERTY" and params == ["combined"]:
            return {"result": conn.combined, "id": rid}
        msg = (
            f"Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, "
            "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
        )
        return {"error": {"code": 2, "msg": msg}, "id": rid}

    def _api_answer(self, conn: _Conn, message: dict[str, Any]) -> dict[str, Any]:
        rid, method = message.get("id"), message.get("method")
        params = message.get("params") or {}
        try:
            if not isinstance(params, dict):
                raise BinanceError(-1100, "Illegal characters found in parameter 'params'.")
            result = self._api_call(conn, method, dict(params))
        except BinanceError as error:
            return {"id": rid, "status": error.status, "error": error.body()}
        return {"id": rid, "status": 200, "result": result}

    def _api_call(self, conn: _Conn, method: Any, params: dict[str, Any]) -> Any:
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self._market.now()}
        if method == "userDataStream.subscribe.signature":
            self._verify(params)
            sid = conn.next_subscription
            conn.next_subscription += 1
            conn.subscriptions.add(sid)
            self.user_subscriptions += 1
            return {"subscriptionId": sid}
        if method == "userDataStream.unsubscribe":
            sid = params.get("subscriptionId")
            if sid is None:
                conn.subscriptions.clear()
            elif int(sid) in conn.subscriptions:
                conn.subscriptions.discard(int(sid))
            else:
                raise BinanceError(-2035, "User Data Stream subscription not active.")
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": s} for s in sorted(conn.subscriptions)]
        raise BinanceError(-1020, "This operation is not supported.")

    def _verify(self, params: dict[str, Any]) -> None:
        check_api_key(self._credentials, params.get("apiKey"))
        check_timestamp(params, self._market.now())
        signature = params.pop("signature", None)
        if not signature:
            raise BinanceError(
                -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
            )
        payload = "&".join(f"{k}={_param_text(v)}" for k, v in sorted(params.items()))
        if str(signature).lower() != hmac_hex(self._credentials.secret, payload):
            raise BinanceError(-1022, "Signature for this request is not valid.")

    # ---------------------------------------------------------------------- events
    def _on_event(self, event: Event) -> None:
        """Called by the market (any thread, its lock held): hand over to the loop."""
        loop = self._loop
        if loop is None:
            return  # down: an event nobody could receive
        with contextlib.suppress(RuntimeError):  # the loop closed since the check
            loop.call_soon_threadsafe(self._publish, event)

    def _publish(self, event: Event) -> None:
        deliveries: list[tuple[_Conn, dict[str, Any]]]
        if isinstance(event, CandleUpdate):
            name: str = "kline"
            payload = kline_event(event)
            stream = f"{event.symbol.lower()}@kline_{event.interval}"
            deliveries = [
                (c, {"stream": stream, "data": payload} if c.combined else payload)
                for c in self._conns
                if c.kind == "market" and stream in c.streams
            ]
        else:
            if isinstance(event, OrderUpdate):
                self._execution_id += 1
                name, payload = "executionReport", execution_report(event, self._execution_id)
            else:
                name, payload = "outboundAccountPosition", account_position(event)
            deliveries = [
                (c, {"subscriptionId": sid, "event": payload})
                for c in self._conns
                if c.kind == "api"
                for sid in sorted(c.subscriptions)
            ]
        if not deliveries:
            return
        fault = self._take_fault(name)
        copies = {None: 1, "swallow": 0, "duplicate": 2, "drop": 0}[fault and fault.action]
        recipients = {id(c) for c, _ in deliveries}
        self.sent.append(SentEvent(name, payload, copies, len(recipients)))
        if fault is not None and fault.action == "drop":
            for conn in {id(c): c for c, _ in deliveries}.values():
                conn.queue.put_nowait(_ABORT)
            return
        for conn, message in deliveries:
            text = json.dumps(message)
            for _ in range(copies):
                conn.queue.put_nowait(text)

    def _take_fault(self, name: str) -> WsFault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.event == name:
                    return self._faults.pop(i)
        return None


__all__ = [
    "BinanceWsServer",
    "SentEvent",
    "WsFault",
    "account_position",
    "drop_on",
    "duplicate",
    "execution_report",
    "kline_event",
    "swallow",
]
