"""Candles from any exchange that ccxt supports.

:class:`CcxtSource` implements :class:`~tradpal.data.sources.base.OhlcvSource`
for a ccxt exchange id (``binance``, ``kraken``, ``coinbase``, ...). It loads
the exchange's markets, checks the symbol and timeframe against them, then
pages through ``fetch_ohlcv`` by ``since`` and ``limit`` over the requested
range ``[start, end)``:

* each page starts one timeframe after the open time of the newest candle of
  the page before, so a short page (fewer candles than ``limit``, which some
  exchanges send in the middle of a range) does not end the download; only an
  empty page, or reaching ``end`` or the present, does (ccxt drops candles
  older than ``since``, so a page holding only those reads as empty: an empty
  answer to a page smaller than the exchange's maximum is therefore asked
  again once with a full page before the download ends);
* candles repeated across pages are dropped (the first copy is kept), and
  candles outside ``[start, end)`` are trimmed;
* the candle still forming (open time + timeframe > now) is dropped, so every
  bar returned is final and a later download never contradicts it.

Requests are paced by ccxt's own rate limiter (``enableRateLimit`` is always
on; it waits ``exchange.rateLimit`` ms times each endpoint's weight between
requests). Transient failures (ccxt's ``NetworkError`` family: timeouts, 5xx,
429/418 rate limiting and bans, maintenance, and ``OperationFailed`` answers
such as Binance's "internal error, try again") are retried with exponential
backoff and full jitter, waiting at least as long as a ``Retry-After`` header
asks (see :mod:`tradpal.data.sources.retry`). Other errors (unknown symbol, bad
request, authentication) fail at once with a :class:`~tradpal.errors.SourceError`.

Downloads can resume: :meth:`CcxtSource.iter_pages` yields one contract frame
per page, so a caller can store pages as they come; after an interruption it
calls again with ``resume_from`` set to the last stored bar's open time (or
with ``start`` one timeframe after it) and receives exactly the rest.
"""

from __future__ import annotations

import difflib
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import ccxt
import numpy as np
import pandas as pd

from tradpal.data.contract import MarketMeta, make_ohlcv, to_utc_timestamp
from tradpal.data.sources.base import ProgressCallback
from tradpal.data.sources.retry import (
    RetryPolicy,
    call_with_retries,
    make_rng,
    parse_retry_after,
)
from tradpal.errors import ConfigError, SourceError
from tradpal.timeframes import TIMEFRAMES, Timeframe, parse_timeframe

T = TypeVar("T")

_NS_PER_MS = 1_000_000
Candle = list[Any]  # ccxt's [open ms, open, high, low, close, volume]


def is_transient(exc: BaseException) -> bool:
    """Whether a ccxt error may go away on retry.

    ccxt splits its errors into ``ExchangeError`` (the request is wrong:
    unknown symbol, bad parameters, authentication) and ``OperationFailed``
    (the request was fine but the exchange could not serve it now: network
    errors, timeouts, rate limits, maintenance, internal errors). The latter
    is retried, except ``InvalidNonce``, which only signed requests get and
    which repeating does not fix.
    """
    return isinstance(exc, ccxt.OperationFailed) and not isinstance(exc, ccxt.InvalidNonce)


def _iso(ms: int) -> str:
    return pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%dT%H:%MZ")


class CcxtSource:
    """OHLCV candles from the ccxt exchange ``exchange_id``.

    ``config`` is passed to the ccxt exchange's constructor (API keys, ``urls``,
    ``options``, ``timeout`` in ms, ``rateLimit`` in ms between requests);
    ``enableRateLimit`` is always on. ``page_limit`` is the number of candles
    asked for per request; by default the exchange's documented maximum
    (ccxt's ``features``), else the exchange's own default. Transient errors
    are retried at most ``max_retries`` times, waiting ``backoff_base *
    2**retry`` seconds at most (capped at ``backoff_max``, full jitter), and at
    least a server's ``Retry-After`` unless it asks for more than
    ``max_retry_after`` seconds, which gives up at once. ``sleep`` (seconds),
    ``rng`` (a :class:`random.Random` or an int seed for the jitter) and
    ``clock`` (Unix seconds, decides which candle is still forming) are
    injectable so tests are fast and deterministic.
    """

    def __init__(
        self,
        exchange_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        page_limit: int | None = None,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        exchange_id = str(exchange_id).strip().lower()
        if exchange_id not in ccxt.exchanges:
            near = difflib.get_close_matches(exchange_id, ccxt.exchanges, n=3)
            guess = f"did you mean {', '.join(near)}? " if near else ""
            raise SourceError(
                f"ccxt does not know the exchange {exchange_id!r}",
                hint=f"{guess}ccxt exchange ids are lowercase, such as binance, kraken or "
                'coinbase; list them all with: python -c "import ccxt; print(ccxt.exchanges)"',
            )
        settings = dict(config or {})
        if settings.get("enableRateLimit", True) is not True:
            raise ConfigError(
                "enableRateLimit cannot be turned off for a data source",
                hint="exchanges ban clients that ignore their rate limits; lower 'rateLimit' "
                "(ms between requests) instead if the exchange allows it",
            )
        settings["enableRateLimit"] = True
        if page_limit is not None and (not isinstance(page_limit, int) or page_limit < 1):
            raise ConfigError(
                f"page_limit must be a whole number >= 1, got {page_limit!r}",
                hint="leave it unset to use the exchange's maximum page size",
            )
        self.exchange_id = exchange_id
        self.name = f"ccxt:{exchange_id}"
        self.exchange: ccxt.Exchange = getattr(ccxt, exchange_id)(settings)
        self.page_limit = page_limit
        self.policy = RetryPolicy(max_retries, backoff_base, backoff_max, max_retry_after)
        self._sleep = sleep
        self._rng = make_rng(rng)
        self._clock = clock

    def __repr__(self) -> str:
        return f"CcxtSource({self.exchange_id!r})"

    # ------------------------------------------------------------------ public
    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        progress: ProgressCallback | None = None,
        resume_from: pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """Completed candles of ``symbol`` with open time in ``[start, end)``, as one frame.

        ``symbol`` is ccxt's unified form (``BTC/USDT``) or the exchange's own
        market id (``BTCUSDT``); the frame's metadata carries the unified one.
        ``resume_from`` is the open time of the last bar a caller already has:
        only bars after it are fetched. ``progress(done_bars, total_estimate)``
        is called after each page. Raises :class:`~tradpal.errors.SourceError`
        when the data cannot be had.
        """
        meta, pages = self._plan(symbol, timeframe, start, end, resume_from, progress)
        rows = [row for page in pages for row in page]
        return self._frame(rows, meta)

    def iter_pages(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        progress: ProgressCallback | None = None,
        resume_from: pd.Timestamp | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Like :meth:`fetch`, one contract frame per non-empty page, oldest first.

        The symbol, timeframe and range are checked before this returns; the
        pages are fetched as the iterator advances. The pages never overlap and
        together equal what :meth:`fetch` returns, so a caller that stores each
        page can resume after an interruption with ``resume_from`` = the open
        time of the last stored bar.
        """
        meta, pages = self._plan(symbol, timeframe, start, end, resume_from, progress)
        return (self._frame(page, meta) for page in pages)

    def markets(self) -> dict[str, Any]:
        """The exchange's markets by unified symbol (loaded once, with retries)."""
        if not self.exchange.markets:
            self._call(self.exchange.load_markets, what=f"{self.exchange_id} load_markets")
        return self.exchange.markets

    # ---------------------------------------------------------------- planning
    def _plan(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: Any,
        end: Any,
        resume_from: Any,
        progress: ProgressCallback | None,
    ) -> tuple[MarketMeta, Iterator[list[Candle]]]:
        """Check everything up front; return the metadata and a lazy page iterator."""
        tf = parse_timeframe(timeframe)
        start_ts = to_utc_timestamp(start, "start", error=SourceError)
        end_ts = to_utc_timestamp(end, "end", error=SourceError)
        if end_ts < start_ts:
            raise SourceError(
                f"the range ends ({end_ts}) before it starts ({start_ts})",
                hint="give start <= end; the range is half-open [start, end)",
            )
        if resume_from is not None:
            after = to_utc_timestamp(resume_from, "resume_from", error=SourceError) + pd.Timedelta(
                seconds=tf.seconds
            )
            start_ts = min(max(start_ts, after), end_ts)
        if not self.exchange.has.get("fetchOHLCV"):
            raise SourceError(
                f"{self.exchange_id} offers no candles (ccxt has no fetchOHLCV for it)",
                hint="pick an exchange whose ccxt client has fetchOHLCV, such as binance",
            )
        self._check_timeframe(tf)  # before the symbol: needs no request
        unified = self._resolve_symbol(symbol)
        meta = MarketMeta(unified, tf.name, self.name)
        start_ns, end_ns = int(start_ts.value), int(end_ts.value)
        return meta, self._pages(unified, tf, start_ns, end_ns, progress)

    def _resolve_symbol(self, symbol: str) -> str:
        markets = self.markets()
        if symbol in markets:
            return symbol
        by_id = (self.exchange.markets_by_id or {}).get(symbol) or []
        if len(by_id) == 1:
            return by_id[0]["symbol"]
        near = difflib.get_close_matches(str(symbol).upper(), list(markets), n=3, cutoff=0.6)
        guess = f"did you mean {', '.join(near)}? " if near else ""
        raise SourceError(
            f"{self.exchange_id} has no market {symbol!r}",
            hint=f"{guess}use ccxt's unified symbol BASE/QUOTE (BTC/USDT; BTC/USDT:USDT for "
            f'a USDT perpetual); list them with: python -c "import ccxt; '
            f'print(list(ccxt.{self.exchange_id}().load_markets()))"',
        )

    def _check_timeframe(self, tf: Timeframe) -> None:
        offered = self.exchange.timeframes or {}
        if tf.name not in offered:
            both = [name for name in TIMEFRAMES if name in offered]
            raise SourceError(
                f"{self.exchange_id} has no {tf.name} candles",
                hint=f"use one of {', '.join(both)}, or fetch a finer timeframe and resample"
                if both
                else "this exchange lists no timeframe TradPal knows",
            )

    def _limit(self, market: Mapping[str, Any]) -> int | None:
        """Candles per request: the configured page limit, else the exchange's maximum."""
        if self.page_limit is not None:
            return self.page_limit
        features = getattr(self.exchange, "features", None) or {}
        section = features.get(market.get("type") or "spot") or {}
        if market.get("subType") in section:  # swap/future: split by linear/inverse
            section = section.get(market["subType"]) or {}
        limit = (section.get("fetchOHLCV") or {}).get("limit")
        return int(limit) if isinstance(limit, int | float) and limit > 0 else None

    # ------------------------------------------------------------------ paging
    def _pages(
        self,
        symbol: str,
        tf: Timeframe,
        start_ns: int,
        end_ns: int,
        progress: ProgressCallback | None,
    ) -> Iterator[list[Candle]]:
        """Pages of new, completed candles in [start, end), each sorted by time."""
        tf_ms = tf.milliseconds
        now_ms = int(self._clock() * 1000)
        limit = self._limit(self.markets()[symbol])
        since = -(-start_ns // _NS_PER_MS)  # first ms at or after start
        end_ms = -(-end_ns // _NS_PER_MS)  # open (ms) < end_ms  <=>  open (ns) < end_ns
        # a candle is complete when open + tf <= now: later ones are still forming
        stop_ms = min(end_ms, now_ms - tf_ms + 1)
        total = max(0, math.ceil((stop_ms - since) / tf_ms))
        done = 0
        last = since - 1  # newest open time delivered so far
        while since < stop_ms:
            # ask for no more than the range still needs; with no known maximum, let
            # the exchange use its default page size
            want = math.ceil((stop_ms - since) / tf_ms)
            page_limit = None if limit is None else min(limit, want)
            raw = self._fetch_page(symbol, tf, since, page_limit)
            if not raw and page_limit is not None and limit is not None and page_limit < limit:
                # An exchange that starts pages a few candles before `since` can fill a
                # small page with old candles only, which ccxt drops: an empty answer
                # then does not mean the end of the data. Ask once more for a full page.
                raw = self._fetch_page(symbol, tf, since, limit)
            if not raw:
                break
            raw = sorted((c for c in raw if c and c[0] is not None), key=lambda c: c[0])
            if not raw:
                break
            newest = int(raw[-1][0])
            if newest < since:
                raise SourceError(
                    f"{self.exchange_id} answered fetch_ohlcv {symbol} {tf.name} since "
                    f"{_iso(since)} with older candles only (newest {_iso(newest)})",
                    hint="this exchange seems to ignore 'since'; it cannot be paged through "
                    "history, try another exchange",
                )
            page = []
            for candle in raw:
                t = int(candle[0])
                if t <= last or t < since or t >= stop_ms or t * _NS_PER_MS < start_ns:
                    continue  # repeated, before the range, past the end or still forming
                page.append([t, *candle[1:6]])
                last = t
            if page:
                done += len(page)
                if progress is not None:
                    progress(done, max(total, done))
                yield page
            since = newest + tf_ms
        if progress is not None and done != total:
            progress(done, done)  # the estimate assumed no gaps; report the real end

    def _fetch_page(self, symbol: str, tf: Timeframe, since: int, limit: int | None) -> list:
        what = f"{self.exchange_id} fetch_ohlcv {symbol} {tf.name} since {_iso(since)}"
        return self._call(
            lambda: self.exchange.fetch_ohlcv(symbol, tf.name, since=since, limit=limit),
            what=what,
        )

    def _frame(self, rows: list[Candle], meta: MarketMeta) -> pd.DataFrame:
        if rows:
            arr = np.array([r[1:6] for r in rows], dtype=np.float64)
            times = np.array([r[0] for r in rows], dtype=np.int64) * _NS_PER_MS
        else:
            arr = np.empty((0, 5), dtype=np.float64)
            times = np.empty(0, dtype=np.int64)
        return make_ohlcv(times, *arr.T, meta=meta)

    # ---------------------------------------------------------------- requests
    def _call(self, call: Callable[[], T], *, what: str) -> T:
        """One ccxt call with retries; ccxt errors become SourceError."""

        def attempt() -> T:
            # forget the previous answer's headers so a Retry-After is never stale
            self.exchange.last_response_headers = None
            return call()

        try:
            return call_with_retries(
                attempt,
                what=what,
                policy=self.policy,
                is_transient=is_transient,
                retry_after=self._retry_after,
                sleep=self._sleep,
                rng=self._rng,
            )
        except ccxt.BadSymbol as exc:
            raise SourceError(
                f"{what} failed: the exchange does not know the symbol ({exc})",
                hint="check the symbol against the exchange's markets; it may be delisted",
            ) from exc
        except ccxt.AuthenticationError as exc:
            raise SourceError(
                f"{what} failed: the exchange refused the credentials ({exc})",
                hint="public candles need no API key; check or remove apiKey/secret in config",
            ) from exc
        except ccxt.BaseError as exc:
            raise SourceError(
                f"{what} failed: {type(exc).__name__}: {exc}",
                hint="the exchange rejected the request, which a retry does not fix; check the "
                "symbol, timeframe and range",
            ) from exc

    def _retry_after(self, exc: BaseException) -> float | None:
        headers = self.exchange.last_response_headers
        if not headers:
            return None
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
        return parse_retry_after(value, now=self._clock())
