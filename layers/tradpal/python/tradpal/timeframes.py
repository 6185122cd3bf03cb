"""Candle timeframes with exact durations.

A timeframe names the length of one bar. Bars are labelled by their *open* time
(UTC) and cover the half-open interval ``[open, open + duration)``. Bars of every
timeframe up to one day are aligned to the Unix epoch; weekly bars open on
Monday 00:00 UTC, as exchanges such as Binance do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from tradpal.errors import TimeframeError

_MINUTE = 60
_HOUR = 3600
_DAY = 86400

# 1970-01-05 was the first Monday after the epoch: the origin of weekly bars.
_MONDAY_ORIGIN_S = 4 * _DAY


@dataclass(frozen=True, slots=True)
class Timeframe:
    """One bar size: ``name`` (such as ``"1h"``) and its exact length in seconds."""

    name: str
    seconds: int

    @property
    def milliseconds(self) -> int:
        return self.seconds * 1000

    @property
    def nanoseconds(self) -> int:
        return self.seconds * 1_000_000_000

    @property
    def origin_seconds(self) -> int:
        """Unix time (s) of a bar boundary: bars open at ``origin + k * seconds``."""
        return _MONDAY_ORIGIN_S if self.seconds == 7 * _DAY else 0

    @property
    def pandas_freq(self) -> str:
        """A pandas frequency string of exactly this duration (``"3600s"``)."""
        return f"{self.seconds}s"

    @property
    def bars_per_day(self) -> float:
        return _DAY / self.seconds

    def floor_ns(self, t_ns: np.ndarray | int) -> np.ndarray | int:
        """Open time (ns since epoch) of the bar that contains each ``t_ns``."""
        origin = self.origin_seconds * 1_000_000_000
        return (np.asarray(t_ns) - origin) // self.nanoseconds * self.nanoseconds + origin

    def __str__(self) -> str:
        return self.name


TIMEFRAMES: dict[str, Timeframe] = {
    tf.name: tf
    for tf in (
        Timeframe("1m", _MINUTE),
        Timeframe("3m", 3 * _MINUTE),
        Timeframe("5m", 5 * _MINUTE),
        Timeframe("15m", 15 * _MINUTE),
        Timeframe("30m", 30 * _MINUTE),
        Timeframe("1h", _HOUR),
        Timeframe("2h", 2 * _HOUR),
        Timeframe("4h", 4 * _HOUR),
        Timeframe("6h", 6 * _HOUR),
        Timeframe("12h", 12 * _HOUR),
        Timeframe("1d", _DAY),
        Timeframe("1w", 7 * _DAY),
    )
}

# Spellings seen in file names and other tools, mapped to the canonical names.
_ALIASES = {
    "1min": "1m",
    "3min": "3m",
    "5min": "5m",
    "15min": "15m",
    "30min": "30m",
    "60m": "1h",
    "60min": "1h",
    "1H": "1h",
    "2H": "2h",
    "4H": "4h",
    "6H": "6h",
    "12H": "12h",
    "1D": "1d",
    "24h": "1d",
    "1W": "1w",
    "7d": "1w",
    "1wk": "1w",
}


TimeframeName = Literal[tuple(TIMEFRAMES)]  # type: ignore[valid-type]
"""A canonical timeframe name, for request models (an enum in the OpenAPI document)."""


def parse_timeframe(value: str | Timeframe) -> Timeframe:
    """Return the :class:`Timeframe` named ``value`` (``"1h"``, ``"30min"``, ...).

    Raises :class:`TimeframeError` naming the valid choices for anything else.
    """
    if isinstance(value, Timeframe):
        return value
    key = str(value).strip()
    key = _ALIASES.get(key, key)
    try:
        return TIMEFRAMES[key]
    except KeyError:
        raise TimeframeError(
            f"unknown timeframe {value!r}",
            hint=f"use one of {', '.join(TIMEFRAMES)}",
        ) from None
