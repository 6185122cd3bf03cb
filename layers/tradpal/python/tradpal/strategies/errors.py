"""The error strategies raise on bad parameters, signals or names."""

from __future__ import annotations

from tradpal.errors import TradPalError


class StrategyError(TradPalError, ValueError):
    """A strategy, its parameters or its signals are unusable as given."""


__all__ = ["StrategyError"]
