"""The error risk settings raise when they are unusable."""

from __future__ import annotations

from tradpal.errors import ConfigError


class RiskError(ConfigError, ValueError):
    """A sizing rule, stop rule or risk limit is malformed or out of range."""


__all__ = ["RiskError"]
