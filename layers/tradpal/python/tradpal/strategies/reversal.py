"""Mean-reversion strategies: ``rsi_reversal`` and ``bb_reversal``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradpal.strategies import lines
from tradpal.strategies.base import DeclaredStrategy, Prices, crossed_above, crossed_below, prev
from tradpal.strategies.params import RSI_ORDER, RSI_TABLE, bollinger_params, rsi_params
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import Param, ParamSpace


def _rsi_reversal(px: Prices, p: Mapping[str, Any]) -> tuple[Signals, dict[str, np.ndarray]]:
    r = lines.rsi(px.close, p["rsi_period"])
    lo, hi = p["rsi_oversold"], p["rsi_overbought"]
    with np.errstate(invalid="ignore"):
        sig = Signals(
            long_entry=crossed_above(r, lo),
            long_exit=r >= hi,
            short_entry=crossed_below(r, hi),
            short_exit=r <= lo,
        )
    return sig, {f"rsi_{p['rsi_period']}": r}


RSI_REVERSAL = DeclaredStrategy(
    name="rsi_reversal",
    description=(
        "RSI mean reversion. Long entry where RSI crosses back above rsi_oversold "
        "(RSI[t-1] <= oversold < RSI[t]); long exit at any bar with RSI >= rsi_overbought. "
        "Short entry where RSI crosses back below rsi_overbought; short exit at RSI <= "
        "rsi_oversold."
    ),
    space=ParamSpace(rsi_params(), (RSI_ORDER,)),
    rule=_rsi_reversal,
    timeframe_params=RSI_TABLE,
)


def band_reentry(
    close: np.ndarray, lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(from below, from above): bars whose close is back inside the bands after the
    previous close was outside (``close[t-1] < lower[t-1]`` and ``close[t] >= lower[t]``,
    mirrored for the upper band)."""
    with np.errstate(invalid="ignore"):
        up = prev(close < lower) & (close >= lower)
        down = prev(close > upper) & (close <= upper)
    return up, down


def _bb_reversal(px: Prices, p: Mapping[str, Any]) -> tuple[Signals, dict[str, np.ndarray]]:
    close = px.close
    bb = lines.bollinger(close, p["bb_period"], p["bb_k"])
    long_entry, short_entry = band_reentry(close, bb.lower, bb.upper)
    long_target = bb.middle if p["exit"] == "middle" else bb.upper
    short_target = bb.middle if p["exit"] == "middle" else bb.lower
    with np.errstate(invalid="ignore"):
        long_exit = close >= long_target
        short_exit = close <= short_target
    # a bar that re-enters and already reaches the exit line in one move is no entry
    sig = Signals(long_entry & ~long_exit, long_exit, short_entry & ~short_exit, short_exit)
    drawn = {"bb_upper": bb.upper, "bb_middle": bb.middle, "bb_lower": bb.lower}
    return sig, drawn


BB_REVERSAL = DeclaredStrategy(
    name="bb_reversal",
    description=(
        "Bollinger Band touch and re-entry. Long entry where the close comes back inside "
        "the bands from below (close[t-1] < lower[t-1] and close[t] >= lower[t]); long "
        "exit at any bar with close >= the middle band (exit=middle) or the upper band "
        "(exit=opposite). Short mirrored at the upper band. A re-entry bar that already "
        "meets its exit is not an entry."
    ),
    space=ParamSpace(
        (
            *bollinger_params(),
            Param(
                "exit",
                "categorical",
                choices=("middle", "opposite"),
                default="middle",
                description="exit at the middle band or at the opposite band",
            ),
        )
    ),
    rule=_bb_reversal,
)

__all__ = ["BB_REVERSAL", "RSI_REVERSAL", "band_reentry"]
