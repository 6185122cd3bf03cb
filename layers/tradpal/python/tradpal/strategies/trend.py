"""Trend strategies: ``ema_crossover`` and ``confluence``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradpal.strategies import lines
from tradpal.strategies.base import DeclaredStrategy, Prices, crossed_above, crossed_below, onset
from tradpal.strategies.params import (
    RSI_ORDER,
    RSI_TABLE,
    bollinger_params,
    ema_periods,
    rsi_params,
)
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import ParamSpace


def crossover_signals(fast_line: np.ndarray, slow_line: np.ndarray) -> Signals:
    """Signals of a two-line cross, given the lines (for sweeps that compute many
    EMAs at once with :func:`tradpal.indicators.ema_many`).

    Long entry and short exit where ``fast`` crosses above ``slow``
    (``fast[t] > slow[t]`` and ``fast[t-1] <= slow[t-1]``); long exit and short
    entry where it crosses below. No signal while either line is NaN.
    """
    up = crossed_above(fast_line, slow_line)
    down = crossed_below(fast_line, slow_line)
    return Signals(up, down, down.copy(), up.copy())


def _ema_crossover(px: Prices, p: Mapping[str, Any]) -> tuple[Signals, dict[str, np.ndarray]]:
    fast, slow = lines.ema(px.close, p["fast"]), lines.ema(px.close, p["slow"])
    return crossover_signals(fast, slow), {f"ema_{p['fast']}": fast, f"ema_{p['slow']}": slow}


EMA_CROSSOVER = DeclaredStrategy(
    name="ema_crossover",
    description="Fast/slow EMA cross: long when the fast EMA crosses above the slow one, "
    "short when it crosses below; each cross closes the opposite position.",
    space=ParamSpace(
        ema_periods("fast", "slow", fast_default=9, slow_default=21), ("fast < slow",)
    ),
    rule=_ema_crossover,
    timeframe_params={"fast": "ema_fast", "slow": "ema_slow"},
)


def _confluence(px: Prices, p: Mapping[str, Any]) -> tuple[Signals, dict[str, np.ndarray]]:
    close = px.close
    fast, slow = lines.ema(close, p["ema_fast"]), lines.ema(close, p["ema_slow"])
    r = lines.rsi(close, p["rsi_period"])
    bb = lines.bollinger(close, p["bb_period"], p["bb_k"])
    lo, hi = p["rsi_oversold"], p["rsi_overbought"]
    with np.errstate(invalid="ignore"):  # NaN compares False: no signal in the warm-up
        long_setup = (fast > slow) & (close <= bb.lower) & (r <= lo)
        short_setup = (fast < slow) & (close >= bb.upper) & (r >= hi)
        long_exit = (close >= bb.upper) | (r >= hi) | crossed_below(fast, slow)
        short_exit = (close <= bb.lower) | (r <= lo) | crossed_above(fast, slow)
    sig = Signals(onset(long_setup), long_exit, onset(short_setup), short_exit)
    drawn = {
        f"ema_{p['ema_fast']}": fast,
        f"ema_{p['ema_slow']}": slow,
        "bb_upper": bb.upper,
        "bb_middle": bb.middle,
        "bb_lower": bb.lower,
        f"rsi_{p['rsi_period']}": r,
    }
    return sig, drawn


CONFLUENCE = DeclaredStrategy(
    name="confluence",
    description=(
        "Buy the dip in an uptrend, sell the rally in a downtrend. Long entry at the first "
        "bar where all three hold: fast EMA > slow EMA (trend up), close <= lower Bollinger "
        "band and RSI <= rsi_oversold; long exit at any bar with close >= upper band, RSI >= "
        "rsi_overbought, or the fast EMA crossing below the slow one. Short entry and exit "
        "mirror it (fast < slow, close >= upper band, RSI >= rsi_overbought; exit at close "
        "<= lower band, RSI <= rsi_oversold or a cross up)."
    ),
    space=ParamSpace(
        (
            *ema_periods("ema_fast", "ema_slow", fast_default=20, slow_default=50),
            *rsi_params(),
            *bollinger_params(),
        ),
        ("ema_fast < ema_slow", RSI_ORDER),
    ),
    rule=_confluence,
    timeframe_params={"ema_fast": "ema_fast", "ema_slow": "ema_slow", **RSI_TABLE},
)

__all__ = ["CONFLUENCE", "EMA_CROSSOVER", "crossover_signals"]
