"""``regime``: follow the trend in bull and bear markets, revert to the mean in
sideways ones, with the regime from SMA20/SMA50.

Regime rule at bar t (close, ``sma_fast`` and ``sma_slow`` at the close of t):

* raw bull (+1): ``sma_fast > sma_slow`` and ``close > sma_fast``;
* raw bear (-1): ``sma_fast < sma_slow`` and ``close < sma_fast``;
* raw sideways (0): anything else once both SMAs exist; unknown during warm-up.

Hysteresis: the regime switches to a raw state only after that state has held
for ``confirm`` consecutive bars (including t) and keeps its previous value
meanwhile, so a single bar poking through the fast SMA does not flip it. Before
the first confirmed state the regime is unknown and nothing is traded. Every
step reads bars up to t only.

Trading:

* bull: long entry on the bar the regime turns bull; long exit on the bar it
  stops being bull. Bear: the mirror with shorts.
* sideways: Bollinger re-entry (see :func:`~tradpal.strategies.reversal.band_reentry`):
  long when the close comes back above the lower band, exit at the middle band;
  short when it comes back below the upper band, exit at the middle band. A
  position from sideways trading is also closed when the regime turns against
  it (a long on turning bear, a short on turning bull) and kept, as the trend
  trade, when the regime turns its way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradpal.strategies import lines
from tradpal.strategies.base import DeclaredStrategy, Prices, onset, prev
from tradpal.strategies.params import bollinger_params
from tradpal.strategies.reversal import band_reentry
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import Param, ParamSpace

BULL, SIDEWAYS, BEAR = 1.0, 0.0, -1.0


def raw_regime(close: np.ndarray, fast: np.ndarray, slow: np.ndarray) -> np.ndarray:
    """+1 bull, -1 bear, 0 sideways, NaN while either SMA is undefined (module rule)."""
    with np.errstate(invalid="ignore"):
        bull = (fast > slow) & (close > fast)
        bear = (fast < slow) & (close < fast)
    out = np.where(bull, BULL, np.where(bear, BEAR, SIDEWAYS))
    out[np.isnan(fast) | np.isnan(slow)] = np.nan
    return out


def confirm_regime(raw: np.ndarray, confirm: int) -> np.ndarray:
    """``raw`` with hysteresis: a state is adopted once it has held ``confirm`` bars in
    a row; until then the previous adopted state stays (NaN before the first one)."""
    n = len(raw)
    if n == 0:
        return raw.copy()
    code = np.where(np.isnan(raw), 9.0, raw)  # NaN as a state of its own for run lengths
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    run_start = starts[np.searchsorted(starts, np.arange(n), side="right") - 1]
    held = np.arange(n) - run_start + 1
    adopt = (held >= confirm) & ~np.isnan(raw)
    # forward-fill the adopted states: index of the latest adopting bar at or before t
    last = np.maximum.accumulate(np.where(adopt, np.arange(n), -1))
    out = np.where(last >= 0, raw[np.maximum(last, 0)], np.nan)
    out[np.isnan(raw)] = np.nan  # unknown while the SMAs are (never after warm-up)
    return out


def _regime(px: Prices, p: Mapping[str, Any]) -> tuple[Signals, dict[str, np.ndarray]]:
    close = px.close
    fast, slow = lines.sma(close, p["sma_fast"]), lines.sma(close, p["sma_slow"])
    regime = confirm_regime(raw_regime(close, fast, slow), p["confirm"])
    bull, bear, side = regime == BULL, regime == BEAR, regime == SIDEWAYS
    bb = lines.bollinger(close, p["bb_period"], p["bb_k"])
    up, down = band_reentry(close, bb.lower, bb.upper)
    with np.errstate(invalid="ignore"):
        mr_long_exit = side & (close >= bb.middle)
        mr_short_exit = side & (close <= bb.middle)
    long_exit = (prev(bull) & ~bull) | mr_long_exit | onset(bear)
    short_exit = (prev(bear) & ~bear) | mr_short_exit | onset(bull)
    long_entry = (onset(bull) | (side & up)) & ~long_exit
    short_entry = (onset(bear) | (side & down)) & ~short_exit
    drawn = {
        f"sma_{p['sma_fast']}": fast,
        f"sma_{p['sma_slow']}": slow,
        "bb_upper": bb.upper,
        "bb_middle": bb.middle,
        "bb_lower": bb.lower,
        "regime": regime,
    }
    return Signals(long_entry, long_exit, short_entry, short_exit), drawn


REGIME = DeclaredStrategy(
    name="regime",
    description=(
        "SMA20/50 regime: bull when SMA20 > SMA50 and close > SMA20, bear when SMA20 < "
        "SMA50 and close < SMA20, sideways otherwise, switching after `confirm` bars in a "
        "row. Follows the trend (long in bull, short in bear) and trades Bollinger "
        "re-entries back to the middle band in sideways markets."
    ),
    space=ParamSpace(
        (
            Param("sma_fast", "int", 5, 100, 5, default=20, description="fast SMA, bars"),
            Param("sma_slow", "int", 10, 300, 10, default=50, description="slow SMA, bars"),
            Param(
                "confirm",
                "int",
                1,
                10,
                default=3,
                description="bars a new regime must hold before it is adopted (1 = none)",
            ),
            *bollinger_params(),
        ),
        ("sma_fast < sma_slow",),
    ),
    rule=_regime,
)

__all__ = ["BEAR", "BULL", "REGIME", "SIDEWAYS", "confirm_regime", "raw_regime"]
