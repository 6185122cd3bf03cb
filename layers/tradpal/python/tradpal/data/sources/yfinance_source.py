"""Yahoo Finance as an OHLCV source, through the ``yfinance`` library.

Yahoo serves stocks, indices, currencies and crypto, with limits that this
module states up front instead of silently returning less:

* **Symbols.** Stock and index tickers pass through (``AAPL``, ``^GSPC``,
  ``0700.HK``, ``EURUSD=X``). Unified crypto pairs become Yahoo tickers:
  ``ETH/BTC`` -> ``ETH-BTC``. Yahoo quotes crypto against fiat, not against
  stablecoins, so a stablecoin quote is mapped to USD: ``BTC/USDT`` and
  ``BTC/USD`` both become ``BTC-USD``. The mapping is recorded in
  ``MarketMeta.extra`` (``ticker``, ``quote_mapped``) so the user is told that
  the prices are in USD, not USDT.
* **Intervals.** Timeframes Yahoo serves natively are fetched as they are
  (1m, 5m, 15m, 1h, 1d, 1w as ``1wk``). The others are *built* here by
  resampling a finer native interval with
  :func:`tradpal.data.resample.resample_ohlcv` and ``extra["built_from"]``
  says so: 3m from 1m; 2h, 4h, 6h, 12h from 1h; and 30m from 15m, because
  Yahoo's own 30m interval is unreliable (yfinance itself fetches 15m and
  resamples), so the metadata should name what was really fetched.
* **History limits.** 1m bars only for the last 30 days and at most 7 days per
  request (longer 1m ranges are fetched in 7-day requests); other intraday
  intervals only for the last 60 days; 1h for the last 730 days. A range
  outside them raises :class:`~tradpal.errors.SourceError` with a hint before
  any request is made.
* **Time.** Intraday bars keep their true open instant, converted from the
  exchange's time zone to UTC. Daily and weekly bars are labelled by the
  exchange's trading date at 00:00 UTC, the contract's daily grid (weekly
  bars open on Monday, as :mod:`tradpal.timeframes` says). Intraday stock
  bars may open off the UTC grid (a New York 1h bar opens at 09:30 local);
  they are kept at their true open time and ``extra["off_grid"]`` says so.
* **Adjustment.** ``auto_adjust=False`` (the default here, unlike yfinance's)
  keeps Yahoo's prices as traded, which Yahoo already adjusts for splits but
  not for dividends; ``Adj Close`` is then dropped. Unadjusted prices never
  change after the fact, so stored history stays consistent with bars
  appended later. ``auto_adjust=True`` scales open, high, low and close by
  ``Adj Close / Close`` (dividend-adjusted total-return series).
* **Volume.** Stocks in shares (base units). For crypto Yahoo reports volume
  in the quote currency (USD); ``extra["volume_unit"]`` says which.
* The still-forming last bar (its close lies after *now*) is dropped.

Tests point yfinance at a local fake of Yahoo's chart API (tests/fakes/fake_yahoo.py)
by passing a ``session`` (a ``curl_cffi`` session whose DNS and port lead to
127.0.0.1); production leaves ``session=None`` and yfinance makes its own.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradpal.data.contract import (
    OHLCV_COLUMNS,
    MarketMeta,
    ensure_ohlcv,
    make_ohlcv,
    to_utc_timestamp,
    with_meta,
)
from tradpal.data.sources.base import ProgressCallback
from tradpal.errors import DataContractError, SourceError, TradPalError
from tradpal.timeframes import Timeframe, parse_timeframe

SOURCE_NAME = "yfinance"

# Stablecoins Yahoo has no pairs against: their pairs are fetched against USD.
STABLECOIN_QUOTES: frozenset[str] = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "TUSD", "DAI"})

_TICKER_RE = re.compile(r"^[A-Z0-9^.=\-]{1,32}$")
_ASSET_RE = re.compile(r"^[A-Z0-9]{1,20}$")
_DAY = pd.Timedelta(days=1)


@dataclass(frozen=True, slots=True)
class YahooSymbol:
    """How a user's symbol is asked of Yahoo.

    ``symbol`` is what the user asked for, ``ticker`` the Yahoo ticker,
    ``quote_mapped`` the ``(from, to)`` quote currencies when a stablecoin
    quote was replaced by USD, ``crypto`` whether it is a ``BASE/QUOTE`` pair.
    """

    symbol: str
    ticker: str
    crypto: bool
    quote_mapped: tuple[str, str] | None = None


def yahoo_symbol(symbol: str) -> YahooSymbol:
    """Map a unified pair (``BTC/USDT``) or a ticker (``AAPL``) to Yahoo's ticker.

    Raises :class:`SourceError` for symbols Yahoo cannot have (derivatives such
    as ``BTC/USDT:USDT``, empty or malformed names).
    """
    text = str(symbol).strip()
    if not text:
        raise SourceError(
            "empty symbol", hint="give a ticker such as AAPL or a pair such as BTC/USD"
        )
    if "/" in text:
        base, _, quote = text.upper().partition("/")
        if ":" in quote:
            raise SourceError(
                f"Yahoo Finance has no derivative contracts such as {text!r}",
                hint=f"ask for the spot pair {base}/{quote.partition(':')[0]} or use a ccxt source",
            )
        if not (_ASSET_RE.match(base) and _ASSET_RE.match(quote)):
            raise SourceError(
                f"malformed pair {text!r}", hint="write pairs as BASE/QUOTE, such as BTC/USD"
            )
        mapped = (quote, "USD") if quote in STABLECOIN_QUOTES else None
        ticker = f"{base}-{'USD' if mapped else quote}"
        return YahooSymbol(symbol=text, ticker=ticker, crypto=True, quote_mapped=mapped)
    ticker = text.upper()
    if not _TICKER_RE.match(ticker):
        raise SourceError(
            f"malformed Yahoo ticker {text!r}",
            hint="use Yahoo's spelling: letters, digits and . - ^ = "
            "(AAPL, ^GSPC, 0700.HK, BTC-USD)",
        )
    return YahooSymbol(symbol=text, ticker=ticker, crypto=False)


@dataclass(frozen=True, slots=True)
class IntervalPlan:
    """How one timeframe is obtained from Yahoo.

    ``native`` is the timeframe fetched (``yf_interval`` in yfinance's
    spelling); when it differs from ``timeframe`` the bars are built by
    resampling. ``max_age`` is how far back Yahoo serves ``native`` (``None``:
    no limit); ``max_span`` the longest range one request may cover.
    """

    timeframe: Timeframe
    native: Timeframe
    yf_interval: str
    max_age: pd.Timedelta | None
    max_span: pd.Timedelta | None

    @property
    def built(self) -> bool:
        return self.native != self.timeframe


# Native interval: (yfinance interval, days back Yahoo serves, days per request).
_NATIVE: dict[str, tuple[str, int | None, int | None]] = {
    "1m": ("1m", 30, 7),
    "5m": ("5m", 60, None),
    "15m": ("15m", 60, None),
    "1h": ("1h", 730, None),
    "1d": ("1d", None, None),
    "1w": ("1wk", None, None),
}
# Timeframes built here from a finer native one (see the module docstring on 30m).
_BUILT_FROM: dict[str, str] = {
    "3m": "1m",
    "30m": "15m",
    "2h": "1h",
    "4h": "1h",
    "6h": "1h",
    "12h": "1h",
}


def plan_interval(timeframe: str | Timeframe) -> IntervalPlan:
    """The :class:`IntervalPlan` for ``timeframe`` (every TradPal timeframe has one)."""
    tf = parse_timeframe(timeframe)
    native = parse_timeframe(_BUILT_FROM.get(tf.name, tf.name))
    yf_interval, age, span = _NATIVE[native.name]
    return IntervalPlan(
        timeframe=tf,
        native=native,
        yf_interval=yf_interval,
        max_age=None if age is None else pd.Timedelta(days=age),
        max_span=None if span is None else pd.Timedelta(days=span),
    )


def check_limits(
    plan: IntervalPlan, symbol: str, fetch_start: pd.Timestamp, now: pd.Timestamp
) -> None:
    """Raise :class:`SourceError` when Yahoo would refuse or truncate the range."""
    if plan.max_age is None or fetch_start >= now - plan.max_age:
        return
    days = plan.max_age.days
    what = (
        f"{plan.timeframe.name} bars (built from {plan.native.name})"
        if plan.built
        else f"{plan.timeframe.name} bars"
    )
    coarser = {
        "1m": "5m or 15m (60 days) or 1h (730 days)",
        "5m": "1h (730 days) or 1d",
        "15m": "1h (730 days) or 1d",
        "1h": "1d",
    }[plan.native.name]
    oldest = now - plan.max_age
    raise SourceError(
        f"Yahoo Finance serves {what} for {symbol} only for the last {days} days; the range "
        f"starts {fetch_start:%Y-%m-%d %H:%M} UTC, before {oldest:%Y-%m-%d %H:%M} UTC",
        hint=f"start after {oldest:%Y-%m-%d}, use a coarser timeframe such as "
        f"{coarser}, or another source (ccxt for crypto)",
    )


def _floor(t: pd.Timestamp, tf: Timeframe) -> pd.Timestamp:
    return pd.Timestamp(int(tf.floor_ns(t.value)), tz="UTC")


def _ceil(t: pd.Timestamp, tf: Timeframe) -> pd.Timestamp:
    floor = _floor(t, tf)
    return floor if floor == t else floor + pd.Timedelta(seconds=tf.seconds)


def _chunks(
    start: pd.Timestamp, end: pd.Timestamp, span: pd.Timedelta | None
) -> Iterator[tuple[pd.Timestamp, pd.Timestamp]]:
    if span is None:
        yield start, end
        return
    a = start
    while a < end:
        b = min(a + span, end)
        yield a, b
        a = b


def normalize_yfinance_frame(raw: pd.DataFrame, *, ticker: str, daily: bool) -> pd.DataFrame:
    """Turn what yfinance returns into a contract frame (no metadata attached).

    Accepts ``Ticker.history`` output and ``yf.download`` output with its
    ``(Price, Ticker)`` column MultiIndex. Intraday timestamps (exchange time)
    become UTC instants; daily and weekly ones become the trading date at
    00:00 UTC. ``Adj Close``, dividends and splits columns are dropped (see
    the module docstring on adjustment); volume becomes float64.
    """
    frame = raw
    if isinstance(frame.columns, pd.MultiIndex):
        level = next(
            (
                i
                for i in range(frame.columns.nlevels)
                if ticker in frame.columns.get_level_values(i)
            ),
            None,
        )
        if level is None:
            raise SourceError(
                f"yfinance returned columns for other tickers than {ticker}",
                hint="report this: the yfinance output format may have changed",
            )
        frame = frame.xs(ticker, axis=1, level=level)
    columns = {str(c).lower(): c for c in frame.columns}
    missing = [c for c in OHLCV_COLUMNS if c not in columns]
    if missing:
        raise SourceError(
            f"yfinance returned no {', '.join(missing)} column(s) for {ticker}",
            hint="report this: the yfinance output format may have changed",
        )
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        raise SourceError(f"yfinance returned a {type(index).__name__} index for {ticker}")
    if daily:
        # The trading date in the exchange's own calendar, labelled at 00:00 UTC.
        local = index if index.tz is None else index.tz_localize(None)
        utc_index = pd.DatetimeIndex(local.normalize()).tz_localize("UTC")
    else:
        if index.tz is None:
            raise SourceError(
                f"yfinance returned intraday times without a time zone for {ticker}",
                hint="do not pass ignore_tz=True to yfinance",
            )
        utc_index = index.tz_convert("UTC")
    return make_ohlcv(
        utc_index,
        *(frame[columns[c]].to_numpy(dtype=np.float64) for c in OHLCV_COLUMNS),
    )


# yfinance reports errors through one process-wide switch; this lock keeps our
# change of it (raise instead of log) from interleaving between threads.
_YF_LOCK = threading.Lock()


class YFinanceSource:
    """OHLCV from Yahoo Finance via yfinance (implements ``OhlcvSource``).

    ``session``: an HTTP session handed to ``yfinance.Ticker`` (``None``: yfinance
    makes its own, the production default). ``auto_adjust``: see the module
    docstring. ``timeout``: seconds per HTTP request. ``clock``: returns *now*
    as a UTC timestamp; it decides the history limits and which bar is still
    forming (injectable so results are reproducible).
    """

    name = SOURCE_NAME

    def __init__(
        self,
        *,
        session: Any = None,
        auto_adjust: bool = False,
        timeout: float = 10.0,
        clock: Callable[[], pd.Timestamp] | None = None,
    ) -> None:
        self._session = session
        self.auto_adjust = bool(auto_adjust)
        self.timeout = float(timeout)
        self._clock = clock or (lambda: pd.Timestamp.now(tz="UTC"))

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe | str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        progress: ProgressCallback | None = None,
    ) -> pd.DataFrame:
        """Bars of ``symbol`` opening in ``[start, end)`` (UTC), as a contract frame.

        Raises :class:`SourceError` for unknown symbols, ranges outside
        Yahoo's limits, empty results and network failures.
        """
        ys = yahoo_symbol(symbol)
        plan = plan_interval(timeframe)
        tf = plan.timeframe
        start, end = (
            to_utc_timestamp(start, "start", error=SourceError),
            to_utc_timestamp(end, "end", error=SourceError),
        )
        now = to_utc_timestamp(self._clock(), "now", error=SourceError)
        if start >= end:
            raise SourceError(
                f"empty range: start {start} is not before end {end}",
                hint="give start < end",
            )
        if start >= now:
            raise SourceError(
                f"the range for {ys.symbol} starts at {start}, "
                f"after now ({now:%Y-%m-%d %H:%M} UTC)",
                hint="ask for bars that have already closed",
            )
        # Whole bars of the requested timeframe, never past the native bar forming now.
        fetch_start = _floor(start, tf)
        fetch_end = min(_ceil(end, tf), _ceil(now, plan.native))
        check_limits(plan, ys.symbol, fetch_start, now)

        parts: list[pd.DataFrame] = []
        info: dict[str, Any] = {}
        daily = plan.native.seconds >= 86400
        total = max(1, int((fetch_end - fetch_start) / pd.Timedelta(seconds=plan.native.seconds)))
        # A daily bar carries its session's opening instant, which lies on the day
        # before its trading date in UTC for exchanges east of UTC (Sydney opens at
        # 23:00 UTC): ask a day more on each side and keep the labels in [a, b).
        pad = _DAY if daily else pd.Timedelta(0)
        for a, b in _chunks(fetch_start, fetch_end, plan.max_span):
            raw, got = self._history(ys, plan, a - pad, b + pad)
            info = got or info
            if not raw.empty:
                part = normalize_yfinance_frame(raw, ticker=ys.ticker, daily=daily)
                parts.append(part[(part.index >= a) & (part.index < b)])
            if progress is not None:
                done = int((b - fetch_start) / pd.Timedelta(seconds=plan.native.seconds))
                progress(min(done, total), total)

        native = pd.concat(parts) if parts else make_ohlcv([], [], [], [], [], [])
        try:
            ensure_ohlcv(native, what=f"Yahoo data for {ys.ticker}")
        except DataContractError as exc:
            raise SourceError(
                f"Yahoo returned unusable bars for {ys.ticker}: {exc.message}"
            ) from exc

        closed = native.index + pd.Timedelta(seconds=plan.native.seconds) <= now
        extra = self._extra(ys, plan, info, native[closed & (native.index < end)])
        if plan.built and len(native):
            from tradpal.data.resample import resample_ohlcv

            with_meta(native, MarketMeta(ys.symbol, plan.native.name, SOURCE_NAME))
            frame = resample_ohlcv(native, tf)
        else:
            frame = native
        closes = frame.index + pd.Timedelta(seconds=tf.seconds)
        frame = frame[(closes <= now) & (frame.index >= start) & (frame.index < end)]
        if frame.empty:
            raise SourceError(
                f"no data for {ys.symbol} in range "
                f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) UTC at {tf.name}",
                hint=f"Yahoo has no closed {tf.name} bars for {ys.ticker} there: check the "
                "ticker on Yahoo Finance, the range (markets closed, bar still forming?) "
                "or use another source",
            )
        frame = frame.copy()
        return with_meta(frame, MarketMeta(ys.symbol, tf.name, SOURCE_NAME, extra=extra))

    def _history(
        self, ys: YahooSymbol, plan: IntervalPlan, a: pd.Timestamp, b: pd.Timestamp
    ) -> tuple[pd.DataFrame, dict[str, Any]]:
        """One call into yfinance for ``[a, b)``: the raw frame and Yahoo's metadata."""
        import yfinance as yf  # imported here: a heavy import only the yfinance path needs
        from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

        with _YF_LOCK:
            saved = yf.config.debug.hide_exceptions
            yf.config.debug.hide_exceptions = False  # raise Yahoo's reasons instead of logging
            try:
                ticker = yf.Ticker(ys.ticker, session=self._session)
                raw = ticker.history(
                    start=int(a.timestamp()),
                    end=int(b.timestamp()),
                    interval=plan.yf_interval,
                    prepost=False,
                    actions=False,
                    auto_adjust=self.auto_adjust,
                    back_adjust=False,
                    repair=False,
                    keepna=False,
                    rounding=False,
                    timeout=self.timeout,
                )
                md = ticker.get_history_metadata()
                info = {
                    k: md.get(k) for k in ("instrumentType", "exchangeTimezoneName", "currency")
                }
            except YFRateLimitError as exc:
                raise SourceError(
                    f"Yahoo Finance rate-limited the request for {ys.ticker}",
                    hint="wait a few minutes, or use another source",
                ) from exc
            except YFPricesMissingError as exc:
                reason = exc.yahoo_reason
                if reason is None or "no data found" in reason.lower():
                    return pd.DataFrame(), {}
                raise SourceError(
                    f"Yahoo Finance refused {plan.native.name} bars for {ys.ticker}: {reason}",
                    hint="shorten or move the range, or use a coarser timeframe",
                ) from exc
            except YFTzMissingError as exc:
                raise SourceError(
                    f"no data for {ys.symbol}: Yahoo Finance does not know the ticker {ys.ticker}",
                    hint="check the spelling on Yahoo Finance (stocks: AAPL, ^GSPC, 0700.HK; "
                    "crypto: BTC/USD)",
                ) from exc
            except OSError as exc:  # curl_cffi's and requests' network errors derive from it
                raise SourceError(
                    f"could not reach Yahoo Finance for {ys.ticker}: {exc}",
                    hint="check the network connection, or use another source",
                ) from exc
            except TradPalError:
                raise
            except Exception as exc:  # yfinance's other failures: name them, keep the cause
                raise SourceError(
                    f"yfinance failed for {ys.ticker}: {type(exc).__name__}: {exc}",
                    hint="retry later or use another source",
                ) from exc
            finally:
                yf.config.debug.hide_exceptions = saved
        return raw, info

    def _extra(
        self, ys: YahooSymbol, plan: IntervalPlan, info: dict[str, Any], native: pd.DataFrame
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {"ticker": ys.ticker, "yf_interval": plan.yf_interval}
        if plan.built:
            extra["built_from"] = plan.native.name
        if ys.quote_mapped:
            src, dst = ys.quote_mapped
            extra["quote_mapped"] = {"from": src, "to": dst}
            extra["note"] = (
                f"Yahoo Finance has no {src} pairs: prices are {ys.ticker}, quoted in {dst}"
            )
        if info.get("exchangeTimezoneName"):
            extra["exchange_timezone"] = str(info["exchangeTimezoneName"])
        if info.get("currency"):
            extra["currency"] = str(info["currency"])
        crypto = ys.crypto or info.get("instrumentType") == "CRYPTOCURRENCY"
        quote = str(info.get("currency") or ys.ticker.rpartition("-")[2])
        extra["volume_unit"] = f"quote ({quote})" if crypto else "base (shares)"
        extra["adjusted"] = "splits+dividends" if self.auto_adjust else "splits"
        if len(native):
            ns = native.index.asi8
            off = int(np.count_nonzero(plan.native.floor_ns(ns) != ns))
            if off:
                extra["off_grid"] = (
                    f"{off} of {len(ns)} {plan.native.name} bars open off the UTC grid "
                    "(the exchange's session times); kept at their true open time"
                    + (
                        f", each counted in the {plan.timeframe.name} bar holding its open"
                        if plan.built
                        else ""
                    )
                )
        return extra
