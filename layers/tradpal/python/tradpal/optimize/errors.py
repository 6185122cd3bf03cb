"""The error parameter sweeps and walk-forward runs raise on unusable input."""

from __future__ import annotations

from tradpal.errors import TradPalError


class OptimizeError(TradPalError, ValueError):
    """A sweep or walk-forward request cannot run as given (windows, objective, candidates)."""


__all__ = ["OptimizeError"]
