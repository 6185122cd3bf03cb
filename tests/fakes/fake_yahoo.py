"""A local fake of Yahoo Finance's chart API, for testing the real yfinance path offline.

How yfinance 1.7 fetches prices: ``Ticker.history`` asks
``https://query2.finance.yahoo.com/v8/finance/chart/<TICKER>`` (first with
``range=1d`` to learn the exchange time zone, then with ``period1``/``period2``
in Unix seconds and ``interval``), through a ``curl_cffi`` session, after
getting a cookie from ``https://fc.yahoo.com`` and a crumb from
``/v1/test/getcrumb``. All of that runs unchanged against this server.

The hook: yfinance accepts a ``session`` (``yf.Ticker(ticker, session=...)``,
which ``YFinanceSource(session=...)`` passes on). :meth:`FakeYahoo.session`
returns a real ``curl_cffi`` session whose only difference is where it
connects: ``CURLOPT_RESOLVE`` maps every host name to 127.0.0.1 and
``CURLOPT_PORT`` sends the connection to this server's port. URLs, TLS (a
self-signed certificate, hence ``verify=False``), cookies, crumb, retries and
JSON parsing are yfinance's and curl's own.

Answers have Yahoo's JSON shape (``chart.result[0]`` with ``meta``,
``timestamp``, ``indicators.quote[0]``, ``indicators.adjclose``; errors as
``chart.error`` with Yahoo's wording and HTTP status), computed from a
deterministic minute-by-minute price path, so every interval is a true
aggregation of the same minutes, as Yahoo's are. Stocks trade 09:30-16:00 on
weekdays in their exchange's time zone (holidays ignored); intraday bars are
anchored at the session open (so a New York 1h bar opens at 09:30 local),
daily bars carry the session-open instant, weekly bars Monday's. Crypto
trades around the clock in UTC. Yahoo's history limits (1m: 30 days back and
8 days per request; other intraday: 60 days; 1h: 730 days) are enforced
against the server's fixed clock, and the bar forming at that instant is
returned partial, as Yahoo does.

The server binds 127.0.0.1 only, runs on a daemon thread and shuts itself
down after ``max_lifetime_s`` even if a test forgets to stop it.
"""

from __future__ import annotations

import datetime as dt
import json
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np

MINUTE = 60
DAY = 86400
_MONDAY_ORIGIN = 4 * DAY  # 1970-01-05, the first Monday after the epoch


@dataclass(frozen=True)
class Instrument:
    """One ticker the fake serves."""

    ticker: str
    tz: str
    instrument_type: str  # EQUITY, CRYPTOCURRENCY, INDEX
    currency: str
    exchange: str
    base_price: float
    session: tuple[int, int] | None = None  # local minutes of day [open, close); None: 24/7
    dividend: tuple[int, float] | None = None  # (ex-date Unix s, adjclose factor before it)


INSTRUMENTS = {
    i.ticker: i
    for i in (
        Instrument("BTC-USD", "UTC", "CRYPTOCURRENCY", "USD", "CCC", 60000.0),
        Instrument("ETH-BTC", "UTC", "CRYPTOCURRENCY", "BTC", "CCC", 0.052),
        Instrument(
            "AAPL",
            "America/New_York",
            "EQUITY",
            "USD",
            "NMS",
            190.0,
            session=(9 * 60 + 30, 16 * 60),
            dividend=(int(dt.datetime(2024, 5, 10, 13, 30, tzinfo=dt.UTC).timestamp()), 0.9875),
        ),
        Instrument(
            "BHP.AX",
            "Australia/Sydney",
            "EQUITY",
            "AUD",
            "ASX",
            45.0,
            session=(10 * 60, 16 * 60),
        ),
        Instrument(
            "^GSPC",
            "America/New_York",
            "INDEX",
            "USD",
            "SNP",
            5200.0,
            session=(9 * 60 + 30, 16 * 60),
        ),
    )
}

# Yahoo's limits: interval -> days back it serves (intraday only).
_MAX_AGE_DAYS = {
    "1m": 30,
    "2m": 60,
    "5m": 60,
    "15m": 60,
    "30m": 60,
    "90m": 60,
    "60m": 730,
    "1h": 730,
}
_INTERVAL_MINUTES = {
    "1m": 1,
    "2m": 2,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "60m": 60,
    "1h": 60,
    "90m": 90,
}


def minute_path(inst: Instrument, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """Deterministic OHLCV of the one-minute bars opening at Unix seconds ``t``."""
    phase = sum(inst.ticker.encode()) % 17

    def price(s: np.ndarray) -> np.ndarray:
        x = s / MINUTE
        return inst.base_price * np.exp(
            0.08 * np.sin(2 * np.pi * x / (60 * 24 * 9.3))
            + 0.03 * np.sin(2 * np.pi * x / (60 * 7.7) + phase)
            + 0.004 * np.sin(2 * np.pi * x / 13.1)
        )

    o, c = price(t), price(t + MINUTE)
    wick = 0.0004 * (1.0 + np.sin(t / MINUTE * 0.37) ** 2)
    h, lo = np.maximum(o, c) * (1 + wick), np.minimum(o, c) * (1 - wick)
    v = 50 + ((t // MINUTE) * 7919) % 101
    return o, h, lo, c, v.astype(np.int64) * (100 if inst.session else 1)


def _local_days(inst: Instrument, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local midnight (Unix s) of the local day holding each ``t``, and its weekday (Monday 0)."""
    zone = ZoneInfo(inst.tz)
    hours, inverse = np.unique(np.asarray(t, dtype=np.int64) // 3600, return_inverse=True)
    day0 = np.empty(hours.size, dtype=np.int64)
    weekday = np.empty(hours.size, dtype=np.int64)
    for i, h in enumerate(hours.tolist()):
        local = dt.datetime.fromtimestamp(h * 3600, zone)
        day0[i] = int(dt.datetime(local.year, local.month, local.day, tzinfo=zone).timestamp())
        weekday[i] = local.weekday()
    return day0[inverse], weekday[inverse]


def bar_opens(inst: Instrument, interval: str, t: np.ndarray) -> np.ndarray:
    """The open (Unix s) of the ``interval`` bar holding each minute ``t``."""
    day0, weekday = _local_days(inst, t)
    if interval in ("1d", "1wk"):
        if interval == "1wk":
            # Monday's local midnight: noon minus whole days stays inside Monday across DST.
            day0 = _local_days(inst, day0 - weekday * DAY + 12 * 3600)[0]
        return day0 + (inst.session[0] * MINUTE if inst.session else 0)
    step = _INTERVAL_MINUTES[interval] * MINUTE
    if inst.session is None:
        return t // step * step
    anchor = day0 + inst.session[0] * MINUTE
    return anchor + (t - anchor) // step * step


def in_session(inst: Instrument, t: np.ndarray) -> np.ndarray:
    if inst.session is None:
        return np.ones(t.shape, dtype=bool)
    day0, weekday = _local_days(inst, t)
    minute_of_day = (t - day0) // MINUTE
    return (weekday < 5) & (minute_of_day >= inst.session[0]) & (minute_of_day < inst.session[1])


def make_bars(inst: Instrument, interval: str, p1: int, p2: int, now: int) -> dict[str, Any]:
    """Bars opening in ``[p1, p2)``, aggregated from the minute path up to ``now``."""
    reach = 8 * DAY if interval in ("1d", "1wk") else DAY
    t = np.arange((p1 - reach) // MINUTE * MINUTE, min(p2 + reach, now), MINUTE, dtype=np.int64)
    t = t[in_session(inst, t)]
    if t.size == 0:
        return {"timestamp": []}
    opens = bar_opens(inst, interval, t)
    keep = (opens >= p1) & (opens < p2)
    t, opens = t[keep], opens[keep]
    if t.size == 0:
        return {"timestamp": []}
    o, h, lo, c, v = minute_path(inst, t)
    starts = np.flatnonzero(np.r_[True, opens[1:] != opens[:-1]])
    ends = np.r_[starts[1:], t.size] - 1
    bars = {
        "timestamp": opens[starts].tolist(),
        "open": o[starts].tolist(),
        "high": np.maximum.reduceat(h, starts).tolist(),
        "low": np.minimum.reduceat(lo, starts).tolist(),
        "close": c[ends].tolist(),
        "volume": np.add.reduceat(v, starts).tolist(),
    }
    if interval in ("1d", "1wk"):
        factor = np.ones(starts.size)
        if inst.dividend is not None:
            factor[opens[starts] < inst.dividend[0]] = inst.dividend[1]
        bars["adjclose"] = (c[ends] * factor).tolist()
    return bars


def _period(inst: Instrument, start: int, end: int, zone: ZoneInfo) -> dict[str, Any]:
    offset = int(dt.datetime.fromtimestamp(start, zone).utcoffset().total_seconds())
    abbr = dt.datetime.fromtimestamp(start, zone).tzname()
    return {"timezone": abbr, "start": start, "end": end, "gmtoffset": offset}


def _session_bounds(inst: Instrument, day_start: int) -> tuple[int, int]:
    if inst.session is None:
        return day_start, day_start + DAY
    return day_start + inst.session[0] * MINUTE, day_start + inst.session[1] * MINUTE


def chart_meta(inst: Instrument, interval: str, p1: int, p2: int, now: int) -> dict[str, Any]:
    zone = ZoneInfo(inst.tz)
    today = int(_local_days(inst, np.array([now]))[0][0])
    reg = _session_bounds(inst, today)
    meta: dict[str, Any] = {
        "currency": inst.currency,
        "symbol": inst.ticker,
        "exchangeName": inst.exchange,
        "fullExchangeName": inst.exchange,
        "instrumentType": inst.instrument_type,
        "firstTradeDate": 345479400,
        "regularMarketTime": now,
        "hasPrePostMarketData": True,
        "gmtoffset": _period(inst, now, now, zone)["gmtoffset"],
        "timezone": _period(inst, now, now, zone)["timezone"],
        "exchangeTimezoneName": inst.tz,
        "regularMarketPrice": float(minute_path(inst, np.array([now // MINUTE * MINUTE]))[0][0]),
        "priceHint": 2,
        "currentTradingPeriod": {
            "pre": _period(inst, reg[0] - 5 * 3600 if inst.session else reg[0], reg[0], zone),
            "regular": _period(inst, reg[0], reg[1], zone),
            "post": _period(inst, reg[1], reg[1] + 4 * 3600 if inst.session else reg[1], zone),
        },
        "dataGranularity": interval,
        "range": "",
        "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "2y", "5y", "10y", "ytd", "max"],
    }
    if interval not in ("1d", "5d", "1wk", "1mo", "3mo"):
        days = np.arange(p1 - DAY, min(p2, now) + DAY, DAY, dtype=np.int64)
        starts = sorted(set(_local_days(inst, days)[0].tolist()))
        periods = []
        for d0 in starts:
            weekday = dt.datetime.fromtimestamp(d0, zone).weekday()
            if inst.session is not None and weekday >= 5:
                continue
            a, b = _session_bounds(inst, d0)
            periods.append([_period(inst, a, b, zone)])
        meta["tradingPeriods"] = periods
    return meta


def _error(code: str, description: str) -> dict[str, Any]:
    return {"chart": {"result": None, "error": {"code": code, "description": description}}}


def chart_response(ticker: str, params: dict[str, str], now: int) -> tuple[int, dict[str, Any]]:
    """HTTP status and JSON body of ``/v8/finance/chart/<ticker>``, as Yahoo answers."""
    inst = INSTRUMENTS.get(ticker.upper())
    if inst is None:
        return 404, _error("Not Found", "No data found, symbol may be delisted")
    interval = params.get("interval", "1d")
    if "period1" in params:
        p1, p2 = int(params["period1"]), int(params.get("period2", now))
    else:
        span = {"1d": DAY, "5d": 5 * DAY, "1mo": 31 * DAY}.get(params.get("range", "1mo"), 31 * DAY)
        p1, p2 = now - span, now
    if interval in _MAX_AGE_DAYS and p1 < now - _MAX_AGE_DAYS[interval] * DAY:
        return 422, _error(
            "Unprocessable Entity",
            f"{interval} data not available for startTime={p1} and endTime={p2}. "
            f"The requested range must be within the last {_MAX_AGE_DAYS[interval]} days.",
        )
    if interval == "1m" and p2 - p1 > 8 * DAY:
        return 422, _error(
            "Unprocessable Entity",
            "Only 8 days worth of 1m granularity data are allowed to be fetched per request.",
        )
    bars = make_bars(inst, interval, p1, p2, now)
    result: dict[str, Any] = {"meta": chart_meta(inst, interval, p1, p2, now)}
    if bars["timestamp"]:
        result["timestamp"] = bars["timestamp"]
        result["indicators"] = {
            "quote": [{k: bars[k] for k in ("open", "high", "low", "close", "volume")}]
        }
        if "adjclose" in bars:
            result["indicators"]["adjclose"] = [{"adjclose": bars["adjclose"]}]
    else:
        result["indicators"] = {"quote": [{}]}
    return 200, {"chart": {"result": [result], "error": None}}


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-yahoo.localhost")])
    born = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(born)
        .not_valid_after(born + dt.timedelta(days=365 * 60))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class FakeYahoo:
    """The fake server, used as ``with FakeYahoo(now) as fy: YFinanceSource(session=fy.session())``.

    ``requests`` logs ``(host, path, params)`` of every request, in order.
    """

    def __init__(self, now: int, *, max_lifetime_s: float = 600.0) -> None:
        self.now = int(now)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory(prefix="fake-yahoo-")
        cert, key = _self_signed(Path(self._dir.name))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timer = threading.Timer(max_lifetime_s, self.stop)
        self._timer.daemon = True
        self._stopped = False

    def start(self) -> FakeYahoo:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    def __enter__(self) -> FakeYahoo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def session(self) -> Any:
        """A ``curl_cffi`` session that reaches this server for any host name."""
        from curl_cffi import requests as curl_requests
        from curl_cffi.const import CurlOpt

        return curl_requests.Session(
            impersonate="chrome",
            verify=False,  # the certificate is self-signed
            curl_options={CurlOpt.PORT: self.port, CurlOpt.RESOLVE: [f"*:{self.port}:127.0.0.1"]},
        )

    def chart_requests(self, ticker: str | None = None) -> list[dict[str, str]]:
        """Params of the chart requests with a ``period1`` (the history calls), in order."""
        with self._lock:
            return [
                p
                for h, path, p in self.requests
                if path.startswith("/v8/finance/chart/")
                and "period1" in p
                and (ticker is None or path.rsplit("/", 1)[1] == ticker)
            ]

    def log(self, host: str, path: str, params: dict[str, str]) -> None:
        with self._lock:
            self.requests.append((host, path, params))


def _make_handler(fake: FakeYahoo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str, cookie: str | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            if cookie:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json;charset=utf-8")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.do_GET()

        def do_GET(self) -> None:
            host = (self.headers.get("Host") or "").split(":")[0]
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            fake.log(host, url.path, params)
            if host == "fc.yahoo.com":
                # Yahoo answers 404 but sets the A3 cookie yfinance wants.
                self._send(
                    404,
                    b"<html>not found</html>",
                    "text/html",
                    cookie="A3=d=fake&S=fake; Expires=Fri, 01 Jan 2055 00:00:00 GMT; "
                    "Domain=.yahoo.com; Path=/; Secure; HttpOnly",
                )
            elif url.path == "/v1/test/getcrumb":
                self._send(200, b"fakeCrumb123", "text/plain;charset=utf-8")
            elif url.path.startswith("/v8/finance/chart/"):
                status, payload = chart_response(url.path.rsplit("/", 1)[1], params, fake.now)
                self._json(status, payload)
            elif url.path.startswith("/v10/finance/quoteSummary/"):
                ticker = url.path.rsplit("/", 1)[1]
                self._json(
                    404,
                    {
                        "quoteSummary": {
                            "result": None,
                            "error": {
                                "code": "Not Found",
                                "description": f"Quote not found for symbol: {ticker}",
                            },
                        }
                    },
                )
            else:
                self._send(404, b"<html><body>not found</body></html>", "text/html")

    return Handler
