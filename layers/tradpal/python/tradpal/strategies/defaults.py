"""TradPal's per-timeframe defaults: EMA periods, RSI thresholds, ATR stop and
target multiples and maximum leverage, by bar size.

The table (TradPal's):

=====  ========  =========  ============  =============
tf     EMA       RSI        SL/TP (ATR)   max leverage
=====  ========  =========  ============  =============
1m     9/21      30/70      1.0/2.0       10x
5m     12/26     35/65      1.2/2.5       8x
15m    15/30     35/65      1.5/3.0       6x
1h     20/50     40/60      1.5/3.0       5x
1d     50/200    40/60      2.0/4.0       3x
=====  ========  =========  ============  =============

Other timeframes take the row of the nearest listed timeframe at or below them
(3m -> 1m, 30m -> 15m, 2h/4h/6h/12h -> 1h, 1w -> 1d): a coarser bar never
inherits the shorter periods and tighter thresholds of a finer one's row
above it. The values apply only where a run does not give a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from tradpal.timeframes import Timeframe, parse_timeframe


@dataclass(frozen=True)
class TimeframeDefaults:
    """One row of the table: EMA periods (bars), RSI thresholds (0-100), stop and
    target distances (multiples of ATR) and the maximum leverage (x equity)."""

    ema_fast: int
    ema_slow: int
    rsi_oversold: float
    rsi_overbought: float
    sl_atr: float
    tp_atr: float
    max_leverage: float

    def to_dict(self) -> dict[str, float]:
        # plain fields: no deep copy (asdict's costs more than a validation, per run)
        return {f.name: getattr(self, f.name) for f in fields(self)}


TIMEFRAME_DEFAULTS: Mapping[str, TimeframeDefaults] = MappingProxyType(
    {
        "1m": TimeframeDefaults(9, 21, 30.0, 70.0, 1.0, 2.0, 10.0),
        "5m": TimeframeDefaults(12, 26, 35.0, 65.0, 1.2, 2.5, 8.0),
        "15m": TimeframeDefaults(15, 30, 35.0, 65.0, 1.5, 3.0, 6.0),
        "1h": TimeframeDefaults(20, 50, 40.0, 60.0, 1.5, 3.0, 5.0),
        "1d": TimeframeDefaults(50, 200, 40.0, 60.0, 2.0, 4.0, 3.0),
    }
)


def timeframe_defaults(timeframe: str | Timeframe) -> TimeframeDefaults:
    """The row for ``timeframe``: its own, else the nearest listed one at or below it."""
    tf = parse_timeframe(timeframe)
    listed = sorted(TIMEFRAME_DEFAULTS, key=lambda name: parse_timeframe(name).seconds)
    best = listed[0]
    for name in listed:
        if parse_timeframe(name).seconds <= tf.seconds:
            best = name
    return TIMEFRAME_DEFAULTS[best]


__all__ = ["TIMEFRAME_DEFAULTS", "TimeframeDefaults", "timeframe_defaults"]
