"""Strategies: pure functions from an OHLCV frame and parameters to signals."""

from __future__ import annotations

from tradpal.strategies.errors import StrategyError
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import Constraint, Param, ParamSpace

__all__ = ["Constraint", "Param", "ParamSpace", "Signals", "StrategyError"]
