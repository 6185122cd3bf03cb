"""A fake Binance spot exchange to trade on: REST (public and signed) and websockets on
127.0.0.1, driven by the real ``ccxt.binance`` and ``ccxt.pro.binance`` clients.

:class:`FakeBinanceTrading` is :class:`~fakes.fake_binance.FakeBinance` (exchangeInfo, klines,
time, scripted REST faults, the request log) plus

* ``market``: the :class:`~fakes.fake_binance_market.SpotMarket` (balances, orders, trades,
  matching; the test moves the price with ``market.set_price`` / ``market.push_candle``);
* the signed endpoints of ``fake_binance_signed`` (orders, trades, account), checked against
  the one API key and secret the fake is made with;
* ``ws``: the :class:`~fakes.fake_binance_ws.BinanceWsServer` (kline streams, the user data
  stream of the WebSocket API), with its own scripted faults;
* :meth:`FakeBinanceTrading.pause` / :meth:`~FakeBinanceTrading.resume` /
  :meth:`~FakeBinanceTrading.restart`: the servers go down and come back on the same ports
  with the account, open orders and trades kept, as an exchange restart or a network
  partition looks to a client.

Typical use::

    with FakeBinanceTrading(balances={"USDT": "10000"}) as fake:
        fake.market.set_price("BTC/USDT", "40000")
        client = ccxt.binance(fake.ccxt_config())          # or ccxt.pro.binance(...)
        client.create_order("BTC/USDT", "limit", "buy", 0.01, 39000,
                            {"clientOrderId": "my-1"})
        fake.market.set_price("BTC/USDT", "38900")          # the order fills

Pushed candles are also served by ``GET /api/v3/klines``, so ``fetch_ohlcv`` and
``watch_ohlcv`` agree. Everything stops when the ``with`` block ends, or after
``lifetime_s`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from fakes.fake_binance import FakeBinance, HttpRequest, Kline
from fakes.fake_binance_market import CandleUpdate, Event, SpotMarket
from fakes.fake_binance_signed import Credentials, signed_answer
from fakes.fake_binance_ws import BinanceWsServer, WsFault

DEFAULT_API_KEY = "fake-binance-api-key"
DEFAULT_SECRET = "fake-binance-secret"


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, dicts key by key (so options can be added to)."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class FakeBinanceTrading(FakeBinance):
    """A fake Binance spot exchange with an account to trade on.

    ``symbols`` are the unified symbols listed (``"BTC/USDT"``); ``klines`` optionally seeds
    candles as for :class:`FakeBinance`. ``balances`` maps an asset to its free amount (a
    decimal string). ``commission_rate`` is the fee per fill (0.001 = 0.1 %). ``clock``
    gives the exchange's time in ms (order and trade times, serverTime and the recvWindow
    check); the wall clock by default, which ccxt's timestamps agree with.
    """

    def __init__(
        self,
        klines: Mapping[tuple[str, str], Sequence[Kline]] | None = None,
        *,
        symbols: Iterable[str] = ("BTC/USDT",),
        balances: Mapping[str, Decimal | str | int] | None = None,
        api_key: str = DEFAULT_API_KEY,
        secret: str = DEFAULT_SECRET,
        commission_rate: Decimal | str = "0.001",
        clock: Callable[[], int] | None = None,
        lifetime_s: float = 60.0,
    ) -> None:
        super().__init__(klines or {}, extra_symbols=symbols, lifetime_s=lifetime_s)
        self.credentials = Credentials(api_key, secret)
        self.market = SpotMarket(
            self._symbols, balances=balances, commission_rate=commission_rate, clock=clock
        )
        self.ws = BinanceWsServer(self.market, self.credentials)
        self.market.subscribe(self._serve_candle)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        super().start()
        try:
            self.ws.start()
        except BaseException:
            super().stop()
            raise

    def stop(self) -> None:
        self.ws.stop()
        super().stop()

    def pause(self, *, abrupt: bool = True) -> None:
        """Take both servers down, keeping the market: new connections are refused and
        open websockets are cut (``abrupt``, as a partition does) or closed with 1001."""
        self.ws.stop(abrupt=abrupt)
        self._close_http()

    def resume(self) -> None:
        """Serve again on the same ports (after :meth:`pause`)."""
        self._serve_http()
        self.ws.start()

    def restart(self, down_s: float = 0.0, *, abrupt: bool = False) -> None:
        """An exchange restart: down for ``down_s`` seconds, back on the same ports with the
        account, open orders and trades as they were."""
        self.pause(abrupt=abrupt)
        if down_s:
            time.sleep(down_s)
        self.resume()

    @property
    def ws_url(self) -> str:
        """``ws://127.0.0.1:PORT`` of the websocket server."""
        return self.ws.url

    # ----------------------------------------------------------------- ccxt config
    def ccxt_config(self, **overrides: Any) -> dict[str, Any]:
        """Settings for an authenticated ``ccxt.binance`` or ``ccxt.pro.binance`` client:
        the API key and secret, every REST URL on this server, and the websocket URLs on
        the websocket server: spot streams at ``/ws``, the WebSocket API at ``/ws-api/v3``,
        every other websocket (futures, options) at a path the fake refuses (404), so a
        client never leaves 127.0.0.1. ``overrides`` are merged in (dicts key by key)."""
        import ccxt.pro  # the client under test, imported where it is needed

        config = super().ccxt_config()
        config["urls"]["api"]["ws"] = self._ws_urls(ccxt.pro.binance().urls["api"]["ws"])
        config["apiKey"] = self.credentials.api_key
        config["secret"] = self.credentials.secret
        return _merge(config, overrides)

    def _ws_urls(self, tree: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            if isinstance(value, Mapping):
                out[key] = self._ws_urls(value)
                continue
            parts = urlsplit(value)
            host = parts.hostname or ""
            # Binance's spot stream and WebSocket API hosts are served; the rest is not
            served = host.startswith("stream.") or (host.startswith("ws-api.") and key == "spot")
            out[key] = self.ws_url + (parts.path if served else f"/{host}{parts.path}")
        return out

    # ----------------------------------------------------------------- ws faults
    def script_ws(self, *faults: WsFault) -> None:
        """Queue websocket faults (``swallow``, ``duplicate``, ``drop_on``): each used once."""
        self.ws.script(*faults)

    def drop_ws(
        self, which: Literal["all", "market", "api"] = "all", *, abrupt: bool = True
    ) -> int:
        """Cut the websocket connections now; returns how many were cut."""
        return self.ws.drop_connections(which, abrupt=abrupt)

    # ---------------------------------------------------------------------- REST
    def _route_request(self, request: HttpRequest, params: dict[str, str]) -> tuple[int, Any]:
        answered = signed_answer(
            self.market,
            self.credentials,
            request.method,
            request.path,
            request.query,
            request.body,
            params,
            request.headers,
        )
        if answered is not None:
            return answered
        if request.method == "GET" and request.path == "/api/v3/time":
            return 200, {"serverTime": self.market.now()}  # the exchange's own clock
        return super()._route_request(request, params)

    def _serve_candle(self, event: Event) -> None:
        if isinstance(event, CandleUpdate):
            self.add_kline(event.symbol, event.interval, event.kline)


__all__ = ["DEFAULT_API_KEY", "DEFAULT_SECRET", "FakeBinanceTrading"]
