"""Risk management: position sizing, stop rules, the drawdown guard and the leverage clamp.

Pure functions and immutable values, shared by the backtest engine and live trading:
:class:`Sizing` and :func:`position_size` (how much), :class:`StopRule` (where to get
out), :func:`kelly_fraction`, :class:`DrawdownGuard` (the kill switch) and
:func:`leverage_cap` (volatility-adjusted leverage). Conventions are in
:mod:`tradpal.risk.sizing` and :mod:`tradpal.risk.guards`.
"""

from __future__ import annotations

from tradpal.errors import RiskError
from tradpal.risk.guards import DrawdownGuard, leverage_cap
from tradpal.risk.sizing import (
    KELLY_MIN_TRADES,
    Sizing,
    StopRule,
    kelly_fraction,
    kelly_from_trades,
    position_size,
)

__all__ = [
    "KELLY_MIN_TRADES",
    "DrawdownGuard",
    "RiskError",
    "Sizing",
    "StopRule",
    "kelly_fraction",
    "kelly_from_trades",
    "leverage_cap",
    "position_size",
]
