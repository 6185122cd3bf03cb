"""Strategies: pure functions from an OHLCV frame and parameters to signals.

* :class:`Signals`: per-bar long/short entries and exits, optional stop and
  target prices and confidence; :meth:`Signals.from_frame` reads them from a table.
* :class:`ParamSpace` of :class:`Param` and :class:`Constraint`: what a strategy
  can be tuned over (validate, grid, seeded sample, plain JSON).
* :class:`Strategy` (protocol), the built-ins in :data:`STRATEGIES`
  (``ema_crossover``, ``confluence``, ``rsi_reversal``, ``bb_reversal``,
  ``regime``; each module documents its exact rule), :func:`get_strategy`,
  and the wrappers :func:`mtf_filter` and :func:`with_atr_stops`.
* Per-timeframe defaults: :data:`TIMEFRAME_DEFAULTS`, :func:`timeframe_defaults`.
* :func:`check_lookahead`: signals must not change when later data is added.
"""

from __future__ import annotations

from tradpal.errors import StrategyError
from tradpal.strategies.base import DeclaredStrategy, Strategy, resolve_params
from tradpal.strategies.defaults import TIMEFRAME_DEFAULTS, TimeframeDefaults, timeframe_defaults
from tradpal.strategies.lookahead import LookaheadChange, LookaheadReport, check_lookahead
from tradpal.strategies.registry import STRATEGIES, get_strategy
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import Constraint, Param, ParamSpace
from tradpal.strategies.trend import crossover_signals
from tradpal.strategies.wrappers import htf_trend, mtf_filter, with_atr_stops

__all__ = [
    "STRATEGIES",
    "TIMEFRAME_DEFAULTS",
    "Constraint",
    "DeclaredStrategy",
    "LookaheadChange",
    "LookaheadReport",
    "Param",
    "ParamSpace",
    "Signals",
    "Strategy",
    "StrategyError",
    "TimeframeDefaults",
    "check_lookahead",
    "crossover_signals",
    "get_strategy",
    "htf_trend",
    "mtf_filter",
    "resolve_params",
    "timeframe_defaults",
    "with_atr_stops",
]
