"""Swing points and Fibonacci retracement and extension levels, without look-ahead.

Swing definition (``width`` = w bars on each side): bar j is a *swing high* when
its high is strictly above the highs of the w bars before it and not below the
highs of the w bars after it (of equal highs, the first is the swing); a *swing
low* mirrors this on the lows. A swing is only known once the w bars after it
have closed, so it is *confirmed* at bar j + w and used from there on: the value
at bar t depends on bars up to t only.

The *leg* at bar t runs between the latest confirmed swing high and swing low:
an up-leg when the low came first (low -> high), a down-leg when the high came
first (a bar that is both counts as an up-leg). With the leg going from price
``a`` to price ``b``:

* retracement level r: ``b - r * (b - a)`` (r = 0.5 is the leg's midpoint);
* extension level e: ``a + e * (b - a)`` (e = 1.618 lies beyond ``b``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from tradpal.indicators import _native as nat
from tradpal.indicators._validate import IndicatorInputError, check_period, prepare

RETRACEMENTS: tuple[float, ...] = (0.236, 0.382, 0.5, 0.618, 0.786)
EXTENSIONS: tuple[float, ...] = (1.272, 1.618, 2.0, 2.618)


class Swings(NamedTuple):
    """Latest confirmed swing at each bar: price (NaN before the first) and bar index (-1)."""

    high: np.ndarray
    high_index: np.ndarray
    low: np.ndarray
    low_index: np.ndarray


class Fibonacci(NamedTuple):
    """Levels at each bar; ``retracement[i]`` is for ``retracement_ratios[i]``."""

    swing_high: np.ndarray
    swing_low: np.ndarray
    trend: np.ndarray  # +1 up-leg, -1 down-leg, NaN before both swings exist
    retracement: np.ndarray  # (len(retracement_ratios), n)
    extension: np.ndarray  # (len(extension_ratios), n)
    retracement_ratios: tuple[float, ...]
    extension_ratios: tuple[float, ...]


def swings(high: object, low: object, width: int = 5) -> Swings:
    """The latest swing high and low confirmed by each bar (see the module docstring)."""
    (h, lo), n, s = prepare({"high": high, "low": low})
    w = check_period(width, "width", n)
    sh = np.full(n, np.nan)
    sl = np.full(n, np.nan)
    shi = np.full(n, -1, np.int64)
    sli = np.full(n, -1, np.int64)
    m = n - s
    if m:
        nat.tp_swings(h[s:], lo[s:], m, w, sh[s:], shi[s:], sl[s:], sli[s:])
        shi[s:][shi[s:] >= 0] += s
        sli[s:][sli[s:] >= 0] += s
    return Swings(sh, shi, sl, sli)


def _ratios(values: object, name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise IndicatorInputError(
            f"{name} must be a sequence of numbers", hint="e.g. (0.382, 0.5, 0.618)"
        ) from None
    if not all(np.isfinite(out)):
        raise IndicatorInputError(f"{name} must be finite numbers", hint="e.g. (0.382, 0.5)")
    return out


def fibonacci(
    high: object,
    low: object,
    width: int = 5,
    retracements: object = RETRACEMENTS,
    extensions: object = EXTENSIONS,
) -> Fibonacci:
    """Fibonacci retracement and extension levels of the latest confirmed swing leg.

    Price units; NaN until a swing high and a swing low have both been confirmed.
    """
    rr = _ratios(retracements, "retracements")
    er = _ratios(extensions, "extensions")
    sw = swings(high, low, width)
    both = (sw.high_index >= 0) & (sw.low_index >= 0)
    up = sw.low_index <= sw.high_index
    trend = np.where(both, np.where(up, 1.0, -1.0), np.nan)
    start = np.where(up, sw.low, sw.high)  # a
    end = np.where(up, sw.high, sw.low)  # b
    start[~both] = np.nan
    end[~both] = np.nan
    leg = end - start
    n = len(leg)
    ret = np.array([end - r * leg for r in rr]) if rr else np.empty((0, n))
    ext = np.array([start + e * leg for e in er]) if er else np.empty((0, n))
    return Fibonacci(sw.high, sw.low, trend, ret, ext, rr, er)
