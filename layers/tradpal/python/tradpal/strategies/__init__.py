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
* Strategies of your own: the :func:`strategy` decorator on a function
  ``(prices, params) -> Signals`` in a Python file, used as ``PATH.py:NAME`` or by
  name from the ``strategy_dirs`` setting (:mod:`tradpal.strategies.user`); helpers
  for their rules: :mod:`lines` (indicator lines), :func:`crossed_above`,
  :func:`crossed_below`, :func:`onset`, :func:`prev`.
* References (``[PATH.py:]NAME[@TF|+atr]``) are parsed in one place,
  :func:`parse_reference`; every strategy tells the text that rebuilds it
  (:func:`reference_of`) and the history it needs (:func:`warmup_bars`).
"""

from __future__ import annotations

from tradpal.errors import StrategyError
from tradpal.strategies import lines
from tradpal.strategies.base import (
    WARMUP_SETTLE,
    DeclaredStrategy,
    Prices,
    Strategy,
    crossed_above,
    crossed_below,
    onset,
    prev,
    reference_of,
    resolve_params,
    warmup_bars,
)
from tradpal.strategies.defaults import TIMEFRAME_DEFAULTS, TimeframeDefaults, timeframe_defaults
from tradpal.strategies.lookahead import LookaheadChange, LookaheadReport, check_lookahead
from tradpal.strategies.reference import StrategyRef, parse_reference
from tradpal.strategies.registry import STRATEGIES, get_strategy, list_strategies
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import Constraint, Param, ParamSpace
from tradpal.strategies.trend import crossover_signals
from tradpal.strategies.user import UserStrategy, strategy
from tradpal.strategies.wrappers import AtrStops, MtfFilter, htf_trend, mtf_filter, with_atr_stops

__all__ = [
    "STRATEGIES",
    "TIMEFRAME_DEFAULTS",
    "WARMUP_SETTLE",
    "AtrStops",
    "Constraint",
    "DeclaredStrategy",
    "LookaheadChange",
    "LookaheadReport",
    "MtfFilter",
    "Param",
    "ParamSpace",
    "Prices",
    "Signals",
    "Strategy",
    "StrategyError",
    "StrategyRef",
    "TimeframeDefaults",
    "UserStrategy",
    "check_lookahead",
    "crossed_above",
    "crossed_below",
    "crossover_signals",
    "get_strategy",
    "htf_trend",
    "lines",
    "list_strategies",
    "mtf_filter",
    "onset",
    "parse_reference",
    "prev",
    "reference_of",
    "resolve_params",
    "strategy",
    "timeframe_defaults",
    "warmup_bars",
    "with_atr_stops",
]
