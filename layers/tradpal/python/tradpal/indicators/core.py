"""Single-period indicators on numpy arrays (or anything ``np.asarray`` reads).

Each function validates its input (see :mod:`tradpal.indicators._validate`),
computes past the leading NaN of its inputs in a C kernel, and returns float64
arrays of the input length with NaN during the warm-up. The conventions and
deliberate differences from TA-Lib are listed in :mod:`tradpal.indicators`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tradpal.indicators import _native as nat
from tradpal.indicators._validate import (
    IndicatorInputError,
    check_period,
    nan_rows,
    out_rows,
    prepare,
)
from tradpal.timeframes import parse_timeframe


class MACD(NamedTuple):
    macd: np.ndarray
    signal: np.ndarray
    hist: np.ndarray


class Bollinger(NamedTuple):
    upper: np.ndarray
    middle: np.ndarray
    lower: np.ndarray
    bandwidth: np.ndarray
    percent_b: np.ndarray


class ADX(NamedTuple):
    adx: np.ndarray
    plus_di: np.ndarray
    minus_di: np.ndarray


class Stochastic(NamedTuple):
    k: np.ndarray
    d: np.ndarray


def _one(x: object, period: int, kernel, *extra) -> np.ndarray:
    (a,), n, s = prepare({"x": x})
    p = check_period(period, "period", n)
    out = out_rows(1, n, s)[0]
    kernel(a[s:], n - s, p, *extra, out[s:])
    return out


def sma(x: object, period: int) -> np.ndarray:
    """Simple moving average of the last ``period`` values; first value at ``period-1``.

    Numerics: a running window sum that carries a bound on its own rounding and is
    recomputed from the window (compensated) when that bound passes ~1.5e-11 of the
    window's sum, so a small window sum after large ones (a quiet stretch of volume,
    a window without any) keeps its digits instead of earlier windows' residue.
    """
    return _one(x, period, nat.tp_sma)


def ema(x: object, period: int) -> np.ndarray:
    """Exponential moving average, k = 2/(period+1), seeded with the SMA of the first
    ``period`` values (TA-Lib); first value at ``period-1``."""
    (a,), n, s = prepare({"x": x})
    p = check_period(period, "period", n)
    out = out_rows(1, n, s)[0]
    nat.tp_ema(a[s:], n - s, p, 2.0 / (p + 1), out[s:])
    return out


def wma(x: object, period: int) -> np.ndarray:
    """Linearly weighted moving average (weight ``period`` on the newest value).

    Numerics: a running form (the weighted sum loses the plain window sum
    each bar), whose plain-sum error re-enters every later bar, so both sums are
    recomputed exactly every ``max(256, 4 * period)`` bars: errors stay ~1e-13
    relative on price series of any length instead of growing with it (1.6e-8
    after 200,000 bars before).
    """
    return _one(x, period, nat.tp_wma)


def rsi(close: object, period: int = 14) -> np.ndarray:
    """Wilder's relative strength index in [0, 100]; first value at index ``period``.

    Averages are Wilder-smoothed (k = 1/period) from the mean gain and loss of the
    first ``period`` changes. A window without any change gives 50 (TA-Lib gives 0).
    """
    (a,), n, s = prepare({"close": close})
    p = check_period(period, "period", n)
    out = out_rows(1, n, s)[0]
    nat.tp_rsi(a[s:], n - s, p, out[s:])
    return out


def macd(close: object, fast: int = 12, slow: int = 26, signal: int = 9) -> MACD:
    """MACD line (EMA fast - EMA slow), its signal EMA and the histogram (line - signal).

    TA-Lib's arithmetic: both EMAs start at index ``slow-1``; the fast one is seeded
    with the SMA of the ``fast`` values ending there. All three outputs start at
    ``slow + signal - 2``. ``fast`` and ``slow`` are swapped when fast > slow.
    """
    (a,), n, s = prepare({"close": close})
    f = check_period(fast, "fast", n)
    sl = check_period(slow, "slow", n)
    g = check_period(signal, "signal", n)
    out = out_rows(3, n, s)
    nat.tp_macd(a[s:], n - s, f, sl, g, out[0, s:], out[1, s:], out[2, s:])
    return MACD(out[0], out[1], out[2])


def bollinger(close: object, period: int = 20, k: float = 2.0) -> Bollinger:
    """Bollinger Bands: SMA middle band +- ``k`` population standard deviations.

    Also ``bandwidth = (upper - lower) / middle`` and
    ``percent_b = (close - lower) / (upper - lower)`` (0.5 when the bands coincide).

    Numerics: the variance comes from sums of deviations about a recent window
    mean, updated per bar and recomputed from the window when their rounding bound
    passes ~1.5e-11 of the spread (windows of up to 4 values are computed directly,
    by two passes), not from TA-Lib's running mean of squares minus
    squared mean, which loses ~(price / std)^2 in cancellation (all digits of some
    period-2 stds on ETH/BTC). The std is within ~1e-11 relative of the exact
    population std of each window, however small its spread against the price; a
    window of equal values has std exactly 0 and its middle band is that value.
    """
    (a,), n, s = prepare({"close": close})
    p = check_period(period, "period", n)
    kk = _multiplier(k)
    out = out_rows(5, n, s)
    nat.tp_bbands(a[s:], n - s, p, kk, *(out[r, s:] for r in range(5)))
    return Bollinger(*out)


def _multiplier(k: object) -> float:
    if isinstance(k, bool) or not isinstance(k, int | float | np.integer | np.floating):
        raise IndicatorInputError(f"k must be a number, not {k!r}", hint="use e.g. k=2.0")
    kk = float(k)
    if not np.isfinite(kk) or kk < 0:
        raise IndicatorInputError(f"k={kk} must be finite and >= 0", hint="use e.g. k=2.0")
    return kk


def true_range(high: object, low: object, close: object) -> np.ndarray:
    """max(high - low, |high - previous close|, |low - previous close|); NaN at index 0."""
    (h, lo, c), n, s = prepare({"high": high, "low": low, "close": close})
    out = out_rows(1, n, s)[0]
    nat.tp_trange(h[s:], lo[s:], c[s:], n - s, out[s:])
    return out


def atr(high: object, low: object, close: object, period: int = 14) -> np.ndarray:
    """Average true range, Wilder-smoothed, seeded with the mean of the first
    ``period`` true ranges; first value at index ``period`` (price units)."""
    (h, lo, c), n, s = prepare({"high": high, "low": low, "close": close})
    p = check_period(period, "period", n)
    out = out_rows(1, n, s)[0]
    nat.tp_atr(h[s:], lo[s:], c[s:], n - s, p, out[s:])
    return out


def adx(high: object, low: object, close: object, period: int = 14) -> ADX:
    """Average directional index with +DI and -DI (all in [0, 100]).

    +DI/-DI start at index ``period`` (TA-Lib's PLUS_DI/MINUS_DI), ADX at
    ``2*period - 1``. A zero smoothed true range gives DI 0; where DX is undefined
    ADX keeps its previous value.
    """
    (h, lo, c), n, s = prepare({"high": high, "low": low, "close": close})
    p = check_period(period, "period", n)
    out = out_rows(3, n, s)
    nat.tp_adx(h[s:], lo[s:], c[s:], n - s, p, out[0, s:], out[1, s:], out[2, s:])
    return ADX(out[0], out[1], out[2])


def stochastic(
    high: object, low: object, close: object, k: int = 14, smooth_k: int = 3, d: int = 3
) -> Stochastic:
    """Slow stochastic oscillator in [0, 100]: %K = SMA(fast %K, smooth_k), %D = SMA(%K, d).

    Fast %K = 100 * (close - lowest low) / (highest high - lowest low) over ``k`` bars,
    50 when that range is zero (TA-Lib gives 0). Both outputs start at
    ``k-1 + smooth_k-1 + d-1``, as in TA-Lib.
    """
    (h, lo, c), n, s = prepare({"high": high, "low": low, "close": close})
    kp = check_period(k, "k", n)
    sk = check_period(smooth_k, "smooth_k", n)
    dp = check_period(d, "d", n)
    out = out_rows(2, n, s)
    nat.check(nat.tp_stoch(h[s:], lo[s:], c[s:], n - s, kp, sk, dp, out[0, s:], out[1, s:]))
    return Stochastic(out[0], out[1])


def williams_r(high: object, low: object, close: object, period: int = 14) -> np.ndarray:
    """Williams %R in [-100, 0] over ``period`` bars; -50 when the range is zero
    (TA-Lib gives 0). First value at ``period-1``."""
    (h, lo, c), n, s = prepare({"high": high, "low": low, "close": close})
    p = check_period(period, "period", n)
    out = out_rows(1, n, s)[0]
    nat.check(nat.tp_willr(h[s:], lo[s:], c[s:], n - s, p, out[s:]))
    return out


def obv(close: object, volume: object) -> np.ndarray:
    """On-balance volume, starting at ``volume[0]`` (TA-Lib); volume units."""
    (c, v), n, s = prepare({"close": close, "volume": volume})
    out = out_rows(1, n, s)[0]
    nat.tp_obv(c[s:], v[s:], n - s, out[s:])
    return out


def cmf(high: object, low: object, close: object, volume: object, period: int = 20) -> np.ndarray:
    """Chaikin money flow in [-1, 1] over ``period`` bars; first value at ``period-1``.

    A bar with high == low adds no money flow; a window without volume gives 0
    (exactly, also after traded bars: the running sums are recomputed from the
    window when their rounding bound says they would leave residue).
    """
    (h, lo, c, v), n, s = prepare({"high": high, "low": low, "close": close, "volume": volume})
    p = check_period(period, "period", n)
    out = out_rows(1, n, s)[0]
    nat.tp_cmf(h[s:], lo[s:], c[s:], v[s:], n - s, p, out[s:])
    return out


def vwap(
    high: object,
    low: object,
    close: object,
    volume: object,
    period: int | None = None,
    *,
    time: object = None,
    session: object = None,
    anchor: str = "1d",
) -> np.ndarray:
    """Volume-weighted average of the typical price (high + low + close) / 3.

    * ``period`` given: rolling VWAP over the last ``period`` bars (``time`` unused).
    * otherwise anchored VWAP, accumulated from the first bar of each session:
      ``session`` is an array with one label per bar (a new session starts where
      the label changes); without it, sessions are the ``anchor`` timeframe's UTC
      periods (default ``"1d"``: reset at 00:00 UTC each day) of the bar open times
      ``time`` (datetime64 values, a DatetimeIndex or epoch nanoseconds), taken
      from ``high.index`` when ``high`` is a pandas Series and ``time`` is omitted.

    A window or session without volume so far gives NaN (the average is undefined).
    The rolling sums are recomputed from the window when their rounding bound passes
    ~1.5e-11 of their value, so a zero-volume window is NaN, not a ratio of residues.
    """
    (h, lo, c, v), n, s = prepare({"high": high, "low": low, "close": close, "volume": volume})
    out = out_rows(1, n, s)[0]
    if period is not None:
        if session is not None:
            raise IndicatorInputError(
                "vwap takes either a rolling period or sessions, not both",
                hint="drop period= for an anchored VWAP, or session= for a rolling one",
            )
        p = check_period(period, "period", n)
        nat.tp_vwap_rolling(h[s:], lo[s:], c[s:], v[s:], n - s, p, out[s:])
        return out
    ids = _session_ids(high, n, time, session, anchor)
    nat.tp_vwap_session(h[s:], lo[s:], c[s:], v[s:], np.ascontiguousarray(ids[s:]), n - s, out[s:])
    return out


def _session_ids(high: object, n: int, time: object, session: object, anchor: str) -> np.ndarray:
    """int64 labels that change exactly where a new session starts."""
    if session is not None:
        if time is not None:
            raise IndicatorInputError(
                "give vwap either session= or time=, not both",
                hint="session= labels each bar; time= derives daily sessions from timestamps",
            )
        labels = np.asarray(session)
        if labels.shape != (n,):
            raise IndicatorInputError(
                f"session has shape {labels.shape}, expected one label per bar ({n})",
                hint="pass a 1-D array of session labels as long as the prices",
            )
        change = np.zeros(n, np.int64)
        change[1:] = labels[1:] != labels[:-1]
        return np.cumsum(change)
    if time is None:
        time = getattr(high, "index", None)
        if time is None or not hasattr(time, "asi8"):
            raise IndicatorInputError(
                "an anchored vwap needs bar times or session labels",
                hint="pass period= for a rolling VWAP, time= (bar open times) or session=",
            )
    tf = parse_timeframe(anchor)
    return tf.floor_ns(_epoch_ns(time, n))


def _epoch_ns(time: object, n: int) -> np.ndarray:
    """Bar open times as int64 nanoseconds since the epoch (UTC)."""
    if hasattr(time, "as_unit"):  # a pandas DatetimeIndex: asi8 is UTC, in its own unit
        time = time.as_unit("ns")
    if hasattr(time, "asi8"):
        arr = np.asarray(time.asi8)
    else:
        arr = np.asarray(time)
        if arr.dtype.kind == "M":
            arr = arr.astype("datetime64[ns]").view(np.int64)
        elif arr.dtype.kind not in "iu":
            raise IndicatorInputError(
                f"time has dtype {arr.dtype}; expected datetimes or epoch nanoseconds",
                hint="pass frame.index (a UTC DatetimeIndex)",
            )
    if arr.shape != (n,):
        raise IndicatorInputError(
            f"time has shape {arr.shape}, expected one timestamp per bar ({n})",
            hint="pass the bar open times of the same frame",
        )
    return arr.astype(np.int64, copy=False)


def bars_per_year(timeframe: str) -> float:
    """Bars in a 365-day year of a market that trades around the clock (crypto)."""
    return 365.0 * parse_timeframe(timeframe).bars_per_day


def rolling_volatility(
    close: object, period: int = 20, *, annualize: float | str | None = None, ddof: int = 1
) -> np.ndarray:
    """Standard deviation of the last ``period`` log returns ln(close[i] / close[i-1]).

    ``ddof=1`` (sample std, as pandas' ``rolling().std()``) by default. With
    ``annualize`` the result is multiplied by sqrt(bars per year): give the number
    (e.g. 252 for daily stock bars) or a timeframe name, counted as a 365-day,
    24-hour market (``"1h"`` -> 8760 bars). The first value is at index ``period``
    (a return needs two prices). Prices must be positive.

    Numerics: the same centred, self-checking window sums as :func:`bollinger`
    (within ~1e-11 relative of the exact std of each window of returns; a window of
    equal returns gives exactly 0). The windowed Welford update used before drifted
    with the mean's rounding, up to 1.4e-3 relative at period 2 on real candles.
    """
    (c,), n, s = prepare({"close": close})
    p = check_period(period, "period", n)
    if ddof not in (0, 1):
        raise IndicatorInputError(f"ddof must be 0 or 1, not {ddof!r}", hint="use ddof=1")
    if p - ddof < 1:
        raise IndicatorInputError(
            f"period={p} leaves no degrees of freedom with ddof={ddof}", hint="use period >= 2"
        )
    tail = c[s:]
    if tail.size and not (tail > 0).all():
        bad = s + int(np.argmax(~(tail > 0)))
        raise IndicatorInputError(
            f"close has a non-positive price {c[bad]} at index {bad}",
            hint="log returns need prices above 0",
        )
    scale = 1.0
    if annualize is not None:
        per_year = bars_per_year(annualize) if isinstance(annualize, str) else annualize
        if isinstance(per_year, bool) or not np.isfinite(per_year) or per_year <= 0:
            raise IndicatorInputError(
                f"annualize={annualize!r} is not a positive number of bars per year",
                hint="use a timeframe name such as '1h' or a number such as 252",
            )
        scale = float(np.sqrt(per_year))
    out = nan_rows(2, n)
    ret, res = out[0], out[1]
    m = n - s
    if m >= 2:
        nat.tp_log_returns(tail, m, ret[s:])
        nat.tp_rolling_std(ret[s + 1 :], m - 1, p, ddof, res[s + 1 :])
    if scale != 1.0:
        res *= scale
    return res
