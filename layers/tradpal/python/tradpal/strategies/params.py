"""Parameter declarations shared by several built-in strategies (one place for
each range, so the strategies agree on what ``bb_k`` or ``rsi_period`` may be)."""

from __future__ import annotations

from tradpal.strategies.space import Param


def ema_periods(fast: str, slow: str, *, fast_default: int, slow_default: int) -> tuple[Param, ...]:
    """A fast and a slow EMA period (bars); pair with the constraint ``fast < slow``."""
    return (
        Param(fast, "int", 2, 100, 2, default=fast_default, description="fast EMA period, bars"),
        Param(slow, "int", 5, 300, 5, default=slow_default, description="slow EMA period, bars"),
    )


def rsi_params() -> tuple[Param, ...]:
    """RSI period and thresholds; pair with ``rsi_oversold < rsi_overbought``."""
    return (
        Param("rsi_period", "int", 2, 50, 4, default=14, description="RSI period, bars"),
        Param(
            "rsi_oversold",
            "float",
            5.0,
            50.0,
            5.0,
            default=30.0,
            description="RSI level (0-100) at or below which the market is oversold",
        ),
        Param(
            "rsi_overbought",
            "float",
            50.0,
            95.0,
            5.0,
            default=70.0,
            description="RSI level (0-100) at or above which the market is overbought",
        ),
    )


RSI_ORDER = "rsi_oversold < rsi_overbought"


def bollinger_params() -> tuple[Param, ...]:
    """Bollinger Band period and width (population standard deviations)."""
    return (
        Param("bb_period", "int", 5, 100, 5, default=20, description="Bollinger period, bars"),
        Param(
            "bb_k",
            "float",
            0.5,
            4.0,
            0.25,
            default=2.0,
            description="band half-width in population standard deviations",
        ),
    )


RSI_TABLE = {"rsi_oversold": "rsi_oversold", "rsi_overbought": "rsi_overbought"}
