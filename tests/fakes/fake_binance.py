"""A local fake of Binance's public spot REST API, for testing the ccxt source.

It is a real HTTP server on 127.0.0.1 (a free port) that answers the requests
the real ccxt ``binance`` client makes to load spot markets and fetch candles:

* ``GET /api/v3/exchangeInfo``: the spot markets, in Binance's response shape;
* ``GET /api/v3/klines``: candles with Binance's semantics (``symbol`` and
  ``interval`` required; ``startTime``/``endTime`` in ms select bars by open
  time, both inclusive; ``limit`` defaults to 500 and must lie in 1..1000;
  ``startTime`` given: the oldest bars from there, otherwise the newest);
* ``GET /api/v3/time`` and ``GET /api/v3/ping``.

Anything else is answered 404, so an unexpected call fails loudly instead of
going out to the internet. :meth:`FakeBinance.ccxt_config` points every URL of
the ccxt client at this server and limits market loading to spot, so the
production code path runs unchanged.

Faults are scripted with :meth:`FakeBinance.script`: each :class:`Fault` is
used once, by the next request to its path (and method, where it names one), in
order (429 with Retry-After, 418 IP ban, 5xx, a short page, a slow answer; and,
for requests that change state, an answer that comes late, never, or not at all
because the connection is dropped after the request was carried out). Every
request is recorded. The server stops when its ``with`` block ends, or by
itself after ``lifetime_s`` seconds; stopped and started again it keeps its
port (see ``fake_binance_trading`` for the trading endpoints and websockets).
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import numpy as np

# Binance kline intervals and their lengths in ms (1M is calendar based: not served).
INTERVAL_MS: dict[str, int] = {
    "1s": 1_000,
    "1m": 60_000,
    "3m": 180_000,
    "5m": 300_000,
    "15m": 900_000,
    "30m": 1_800_000,
    "1h": 3_600_000,
    "2h": 7_200_000,
    "4h": 14_400_000,
    "6h": 21_600_000,
    "8h": 28_800_000,
    "12h": 43_200_000,
    "1d": 86_400_000,
    "3d": 259_200_000,
    "1w": 604_800_000,
}
VALID_INTERVALS = (*INTERVAL_MS, "1M")

Kline = list[Any]
"""One Binance kline: [open ms, "open", "high", "low", "close", "volume", close ms,
"quote volume", trades, "taker base volume", "taker quote volume", "0"]."""

# Binance's own error bodies (code and msg) for the answers the fake gives.
ERR_RATE_LIMIT = {
    "code": -1003,
    "msg": "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API.",
}
ERR_IP_BANNED = {
    "code": -1003,
    "msg": "Way too much request weight used; IP banned until 1700000000000. "
    "Please use WebSocket Streams for live updates to avoid bans.",
}
ERR_INTERNAL = {
    "code": -1001,
    "msg": "Internal error; unable to process your request. Please try again.",
}
ERR_BAD_SYMBOL = {"code": -1121, "msg": "Invalid symbol."}
ERR_BAD_INTERVAL = {"code": -1120, "msg": "Invalid interval."}
ERR_BAD_LIMIT = {"code": -1130, "msg": "Data sent for parameter 'limit' is not valid."}


def _missing(name: str) -> dict[str, Any]:
    return {
        "code": -1102,
        "msg": f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.",
    }


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, used by the next request to ``path``.

    ``status`` answers with that HTTP status and ``body`` (a dict is sent as
    JSON) instead of the real answer; ``retry_after`` adds a ``Retry-After``
    header; ``short`` serves only the first ``short`` rows of the real
    answer; ``rewind`` serves from ``rewind`` bars before the requested
    ``startTime`` (candles the client already has come again); ``delay_s``
    sleeps before answering (to make the client time out).

    The next two act after the request was carried out (an order placed is
    placed): ``late_s`` holds the answer back that many seconds (``math.inf``:
    until the server stops), ``drop`` closes the connection without an answer.
    ``method`` limits the fault to requests with that HTTP method (``None``: any).
    """

    status: int | None = None
    body: dict[str, Any] | str | None = None
    retry_after: str | None = None
    short: int | None = None
    rewind: int = 0
    delay_s: float = 0.0
    path: str = "/api/v3/klines"
    late_s: float = 0.0
    drop: bool = False
    method: str | None = None


def rate_limited(retry_after: float | str | None = 1) -> Fault:
    """HTTP 429 as Binance sends it when the request weight limit is exceeded."""
    ra = None if retry_after is None else str(retry_after)
    return Fault(status=429, body=ERR_RATE_LIMIT, retry_after=ra)


def ip_banned(retry_after: float | str | None = 120) -> Fault:
    """HTTP 418: Binance bans an IP that kept sending requests after a 429."""
    ra = None if retry_after is None else str(retry_after)
    return Fault(status=418, body=ERR_IP_BANNED, retry_after=ra)


def server_error(status: int = 500) -> Fault:
    """A 5xx: Binance's JSON error for 500, a gateway's HTML page for 502/503/504."""
    if status == 500:
        return Fault(status=500, body=ERR_INTERNAL)
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Time-out"}
    text = reason.get(status, "Error")
    return Fault(status=status, body=f"<html><body><h1>{status} {text}</h1></body></html>")


def short_page(rows: int) -> Fault:
    """A page with only the first ``rows`` candles (some exchanges page short)."""
    return Fault(short=rows)


def overlapping_page(bars: int) -> Fault:
    """A page that starts ``bars`` candles before the requested ``startTime``."""
    return Fault(rewind=bars)


def slow(delay_s: float) -> Fault:
    """An answer that arrives after ``delay_s`` seconds."""
    return Fault(delay_s=delay_s)


def late_answer(seconds: float, path: str = "/api/v3/order", method: str | None = "POST") -> Fault:
    """The request is carried out at once, its answer sent ``seconds`` later: a client
    whose timeout is shorter gives up although the order exists."""
    return Fault(late_s=seconds, path=path, method=method)


def no_answer(path: str = "/api/v3/order", method: str | None = "POST") -> Fault:
    """The request is carried out and never answered (the connection hangs until the
    client gives up or the server stops)."""
    return Fault(late_s=math.inf, path=path, method=method)


def dropped_answer(path: str = "/api/v3/order", method: str | None = "POST") -> Fault:
    """The request is carried out, then the connection is closed without an answer."""
    return Fault(drop=True, path=path, method=method)


@dataclass(frozen=True)
class RecordedRequest:
    """A request the fake received and the status it answered (``answered`` is false
    when a fault held the answer back or dropped the connection instead); recorded when
    the request was carried out, before a held-back answer goes out."""

    method: str
    path: str
    params: dict[str, str]
    status: int
    answered: bool = True


@dataclass(frozen=True)
class HttpRequest:
    """One request as received: ``query`` and ``body`` are the raw strings (signatures
    are computed over them); ``params`` merges both, the query winning as on Binance."""

    method: str
    path: str
    query: str = ""
    body: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def params(self) -> dict[str, str]:
        merged = dict(parse_qsl(self.body, keep_blank_values=True))
        merged.update(parse_qsl(self.query, keep_blank_values=True))
        return merged


@dataclass(frozen=True)
class Reply:
    """What to send back: status, body (a dict or list is sent as JSON) and headers, held
    back ``late_s`` seconds first, or not sent at all with ``drop``."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    late_s: float = 0.0
    drop: bool = False


def generated_klines(
    n: int,
    interval: str = "1h",
    *,
    seed: int,
    start_ms: int = 1_640_995_200_000,  # 2022-01-01 00:00 UTC
    price: float = 40_000.0,
) -> list[Kline]:
    """``n`` deterministic Binance klines: a seeded geometric random walk.

    Prices are formatted with 2 decimals and volumes with 5, as Binance sends
    BTCUSDT, so the client parses exactly the strings the test compares with.
    """
    step = INTERVAL_MS[interval]
    rng = np.random.default_rng(seed)
    closes = price * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    opens = np.concatenate(([price], closes[:-1]))
    wick_up = np.abs(rng.normal(0.0, 0.002, n))
    wick_dn = np.abs(rng.normal(0.0, 0.002, n))
    highs = np.maximum(opens, closes) * (1 + wick_up)
    lows = np.minimum(opens, closes) * (1 - wick_dn)
    volumes = rng.gamma(2.0, 400.0, n)
    trades = rng.integers(1_000, 50_000, n)
    rows = []
    for i in range(n):
        t = start_ms + i * step
        quote = volumes[i] * closes[i]
        rows.append(
            [
                t,
                f"{opens[i]:.2f}",
                f"{highs[i]:.2f}",
                f"{lows[i]:.2f}",
                f"{closes[i]:.2f}",
                f"{volumes[i]:.5f}",
                t + step - 1,
                f"{quote:.8f}",
                int(trades[i]),
                f"{volumes[i] / 2:.5f}",
                f"{quote / 2:.8f}",
                "0",
            ]
        )
    return rows


def klines_from_csv(path: Path) -> list[Kline]:
    """Klines from a Binance kline export (open_time, open, high, low, close, volume,
    close_time), keeping the price and volume text exactly as in the file."""
    rows = []
    with Path(path).open(newline="") as fh:
        for rec in csv.DictReader(fh):
            rows.append(
                [
                    int(rec["open_time"]),
                    rec["open"],
                    rec["high"],
                    rec["low"],
                    rec["close"],
                    rec["volume"],
                    int(rec["close_time"]),
                    "0",
                    0,
                    "0",
                    "0",
                    "0",
                ]
            )
    return rows


def _symbol_info(symbol: str) -> dict[str, Any]:
    base, quote = symbol.split("/")
    return {
        "symbol": base + quote,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": [
            "LIMIT",
            "LIMIT_MAKER",
            "MARKET",
            "STOP_LOSS",
            "STOP_LOSS_LIMIT",
            "TAKE_PROFIT",
            "TAKE_PROFIT_LIMIT",
        ],
        "icebergAllowed": True,
        "ocoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": "0.01000000",
                "maxPrice": "1000000.00000000",
                "tickSize": "0.01000000",
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": "0.00001000",
                "maxQty": "9000.00000000",
                "stepSize": "0.00001000",
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": "5.00000000",
                "applyMinToMarket": True,
                "maxNotional": "9000000.00000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


class FakeBinance:
    """A fake Binance spot REST server serving fixed kline series.

    ``klines`` maps ``(unified symbol, interval)`` such as ``("BTC/USDT", "1h")``
    to that market's klines in ascending open time. Every symbol named there is
    listed by ``exchangeInfo``; ``extra_symbols`` lists more markets that have
    no candles. Use as a context manager.
    """

    def __init__(
        self,
        klines: Mapping[tuple[str, str], Sequence[Kline]],
        *,
        extra_symbols: Iterable[str] = (),
        lifetime_s: float = 60.0,
    ) -> None:
        self._klines = {
            (sym.replace("/", ""), interval): list(rows) for (sym, interval), rows in klines.items()
        }
        self._open_times = {
            key: np.array([r[0] for r in rows], dtype=np.int64)
            for key, rows in self._klines.items()
        }
        symbols = dict.fromkeys([s for s, _ in klines] + list(extra_symbols))
        self._symbols = [_symbol_info(s) for s in symbols]
        self._symbol_ids = {info["symbol"] for info in self._symbols}
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._lifetime_s = lifetime_s
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._port = 0  # 0 until the first start: a restart binds the same port again
        # set while stopping: releases handlers holding an answer back (late_s)
        self._stopping = threading.Event()
        self.requests: list[RecordedRequest] = []

    # ----------------------------------------------------------------- control
    def __enter__(self) -> FakeBinance:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._serve_http()
        # stops by itself even if a test forgets to: bounded fault tests
        self._timer = threading.Timer(self._lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()
        self._close_http()

    def _serve_http(self) -> None:
        """Listen on 127.0.0.1 (the port of an earlier start, or a free one)."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._stopping.clear()
        server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        server.daemon_threads = True
        self._port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        with self._lock:
            self._server, self._thread = server, thread
        thread.start()

    def _close_http(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            self._stopping.set()  # before shutdown: server_close waits for the handlers
            server.shutdown()
            server.server_close()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._server is None:
            raise RuntimeError("the fake Binance server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def ccxt_config(self, **overrides: Any) -> dict[str, Any]:
        """ccxt ``binance`` settings that send every request to this server.

        Every API base URL keeps its path and gets this server as its host;
        markets are loaded for spot only (no futures or margin endpoints).
        """
        import ccxt  # the client under test, imported where it is needed

        api = {
            key: self.url + urlsplit(value).path
            for key, value in ccxt.binance().urls["api"].items()
        }
        config: dict[str, Any] = {
            "urls": {"api": api},
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "fetchCurrencies": False,
            },
        }
        config.update(overrides)
        return config

    def script(self, *faults: Fault) -> None:
        """Queue faults; each is used once by the next request to its path."""
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def klines_requests(self) -> list[RecordedRequest]:
        """The recorded ``/api/v3/klines`` requests, in order."""
        with self._lock:
            return [r for r in self.requests if r.path == "/api/v3/klines"]

    def series(self, symbol: str, interval: str) -> list[Kline]:
        with self._lock:
            return list(self._klines[(symbol.replace("/", ""), interval)])

    def add_kline(self, symbol: str, interval: str, kline: Sequence[Any]) -> None:
        """Serve ``kline`` from now on: it replaces the bar with its open time or joins the
        series in time order (a pushed candle, forming or closed, as Binance serves it)."""
        key = (symbol.replace("/", ""), interval)
        row = list(kline)
        with self._lock:
            rows = self._klines.setdefault(key, [])
            times = [r[0] for r in rows]
            i = bisect.bisect_left(times, row[0])
            if i < len(rows) and rows[i][0] == row[0]:
                rows[i] = row
            else:
                rows.insert(i, row)
                self._open_times[key] = np.array([r[0] for r in rows], dtype=np.int64)

    # ---------------------------------------------------------------- answers
    def _take_fault(self, path: str, method: str = "GET") -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.path == path and fault.method in (None, method):
                    return self._faults.pop(i)
        return None

    def _record(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        status: int,
        answered: bool = True,
    ) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, params, status, answered))

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """Status, body and extra headers for one GET (faults applied)."""
        reply = self.respond(HttpRequest("GET", path, urlencode(params)))
        return reply.status, reply.body, reply.headers

    def respond(self, request: HttpRequest) -> Reply:
        """The reply to one request, the next scripted fault for its path applied."""
        params = request.params
        fault = self._take_fault(request.path, request.method)
        if fault is None:
            return Reply(*self._route_request(request, params))
        if fault.delay_s:
            self._stopping.wait(fault.delay_s)
        if fault.status is not None:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return Reply(fault.status, fault.body, headers)
        if fault.rewind and "startTime" in params:
            step = INTERVAL_MS.get(params.get("interval", ""), 0)
            params = {**params, "startTime": str(int(params["startTime"]) - fault.rewind * step)}
        status, body = self._route_request(request, params)
        if fault.short is not None and isinstance(body, list):
            body = body[: fault.short]
        return Reply(status, body, late_s=fault.late_s, drop=fault.drop)

    def _route_request(self, request: HttpRequest, params: dict[str, str]) -> tuple[int, Any]:
        """Status and body for a request: the public GET endpoints (subclasses add more)."""
        if request.method != "GET":
            return 404, ""
        return self._route(request.path, params)

    def _route(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        now = int(time.time() * 1000)
        if path == "/api/v3/ping":
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": now}
        if path == "/api/v3/exchangeInfo":
            return 200, {
                "timezone": "UTC",
                "serverTime": now,
                "rateLimits": [
                    {
                        "rateLimitType": "REQUEST_WEIGHT",
                        "interval": "MINUTE",
                        "intervalNum": 1,
                        "limit": 6000,
                    },
                    {
                        "rateLimitType": "ORDERS",
                        "interval": "SECOND",
                        "intervalNum": 10,
                        "limit": 100,
                    },
                    {
                        "rateLimitType": "RAW_REQUESTS",
                        "interval": "MINUTE",
                        "intervalNum": 5,
                        "limit": 61000,
                    },
                ],
                "exchangeFilters": [],
                "symbols": self._symbols,
            }
        if path == "/api/v3/klines":
            return self._klines_answer(params)
        return 404, ""

    def _klines_answer(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol = params.get("symbol")
        if not symbol:
            return 400, _missing("symbol")
        interval = params.get("interval")
        if not interval:
            return 400, _missing("interval")
        if symbol not in self._symbol_ids:
            return 400, ERR_BAD_SYMBOL
        if interval not in VALID_INTERVALS:
            return 400, ERR_BAD_INTERVAL
        try:
            limit = int(params.get("limit", "500"))
            start = int(params["startTime"]) if "startTime" in params else None
            end = int(params["endTime"]) if "endTime" in params else None
        except ValueError:
            return 400, ERR_BAD_LIMIT
        if not 1 <= limit <= 1000:
            return 400, ERR_BAD_LIMIT
        with self._lock:  # pushed candles change both (add_kline)
            rows = list(self._klines.get((symbol, interval), []))
            times = self._open_times.get((symbol, interval), np.empty(0, dtype=np.int64))
        lo = 0 if start is None else int(np.searchsorted(times, start, side="left"))
        hi = len(rows) if end is None else int(np.searchsorted(times, end, side="right"))
        if start is not None:
            return 200, rows[lo : min(hi, lo + limit)]
        return 200, rows[max(lo, hi - limit) : hi]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBinance  # set on the subclass made in FakeBinance.start
    server_version = "FakeBinance/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        request = HttpRequest(method, split.path, split.query, body, self.headers)
        reply = self.fake.respond(request)
        # a held-back answer that the server's stop cuts short is never sent
        # recorded when carried out: a test sees the request while its answer is held back
        prompt = not reply.drop and reply.late_s <= 0
        self.fake._record(method, split.path, request.params, reply.status, prompt)
        wait = None if math.isinf(reply.late_s) else reply.late_s  # inf: until the stop
        cut = reply.late_s > 0 and self.fake._stopping.wait(wait)  # the server stopped
        if reply.drop or cut:
            self.close_connection = True  # closed without a byte of answer
            return
        if isinstance(reply.body, str):
            payload, ctype = reply.body.encode(), "text/html"
        else:
            payload = json.dumps(reply.body, separators=(",", ":")).encode()
            ctype = "application/json"
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a scripted slow answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; requests are recorded instead


__all__ = [
    "INTERVAL_MS",
    "FakeBinance",
    "Fault",
    "HttpRequest",
    "RecordedRequest",
    "Reply",
    "dropped_answer",
    "generated_klines",
    "ip_banned",
    "klines_from_csv",
    "late_answer",
    "no_answer",
    "overlapping_page",
    "rate_limited",
    "server_error",
    "short_page",
    "slow",
]
