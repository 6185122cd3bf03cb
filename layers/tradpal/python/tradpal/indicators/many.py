"""Indicators for many periods at once, for parameter searches.

Each function returns an array of shape ``(len(periods), n)`` (a NamedTuple of
such arrays for Bollinger), row ``r`` for ``periods[r]``, equal bit for bit to
the single-period function. One C call covers every period: the input is
validated once, shared terms (price changes, true range, runs of equal values)
are computed once, and the recursions of four periods advance side by side.
"""

from __future__ import annotations

import numpy as np

from tradpal.indicators import _native as nat
from tradpal.indicators._validate import check_periods, nan_rows, out_rows, prepare
from tradpal.indicators.core import Bollinger, _multiplier


def _rows(x: object, periods: object, kernel) -> np.ndarray:
    (a,), n, s = prepare({"x": x})
    ps = check_periods(periods, "periods", n)
    if s == 0:
        out = out_rows(len(ps), n, 0)
        nat.check(kernel(a, n, ps, len(ps), out))
        return out
    # leading NaN: compute on the valid tail, then place it
    out = nan_rows(len(ps), n)
    tail = out_rows(len(ps), n - s, 0)
    nat.check(kernel(a[s:], n - s, ps, len(ps), tail))
    out[:, s:] = tail
    return out


def sma_many(x: object, periods: object) -> np.ndarray:
    """:func:`~tradpal.indicators.sma` for each period; shape (len(periods), n)."""
    return _rows(x, periods, nat.tp_sma_many)


def ema_many(x: object, periods: object) -> np.ndarray:
    """:func:`~tradpal.indicators.ema` for each period; shape (len(periods), n)."""
    return _rows(x, periods, nat.tp_ema_many)


def rsi_many(close: object, periods: object) -> np.ndarray:
    """:func:`~tradpal.indicators.rsi` for each period; shape (len(periods), n)."""
    return _rows(close, periods, nat.tp_rsi_many)


def atr_many(high: object, low: object, close: object, periods: object) -> np.ndarray:
    """:func:`~tradpal.indicators.atr` for each period; shape (len(periods), n)."""
    (h, lo, c), n, s = prepare({"high": high, "low": low, "close": close})
    ps = check_periods(periods, "periods", n)
    tail = out_rows(len(ps), n - s, 0)
    nat.check(nat.tp_atr_many(h[s:], lo[s:], c[s:], n - s, ps, len(ps), tail))
    if s == 0:
        return tail
    out = nan_rows(len(ps), n)
    out[:, s:] = tail
    return out


def bollinger_many(close: object, periods: object, k: float = 2.0) -> Bollinger:
    """:func:`~tradpal.indicators.bollinger` for each period with one ``k``;
    each field has shape (len(periods), n)."""
    (a,), n, s = prepare({"close": close})
    ps = check_periods(periods, "periods", n)
    kk = _multiplier(k)
    m = len(ps)
    tail = out_rows(5 * m, n - s, 0)
    parts = [tail[i * m : (i + 1) * m] for i in range(5)]
    nat.check(nat.tp_bbands_many(a[s:], n - s, ps, m, kk, *parts))
    if s == 0:
        return Bollinger(*parts)
    out = nan_rows(5 * m, n)
    out[:, s:] = tail
    return Bollinger(*(out[i * m : (i + 1) * m] for i in range(5)))
