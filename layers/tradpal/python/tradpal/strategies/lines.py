"""Indicator lines for strategies: :mod:`tradpal.indicators` kernels that give
all-NaN instead of an error when the data is shorter than the period.

A strategy run on fewer bars than its warm-up (a short download, an early
truncation in the look-ahead check) then has no signal, which is what the
indicator's own NaN warm-up would give on a longer series.

Sharing across runs: inside ``with using(provider):`` every line is first asked
of ``provider.lookup(kind, inputs, period, k)``, which returns the line or None
(then it is computed here as usual), and :class:`~tradpal.strategies.base.Prices`
asks ``provider.column_of(frame, name)`` for a price column before reading the
frame. Sweeps use this to compute the lines of a whole batch of parameter sets
once (:class:`tradpal.optimize.cache.IndicatorCache`, which answers only with
values equal bit for bit to the ones computed here), so rules call these
functions and need not know about it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import numpy as np

from tradpal import indicators as ind


class LineProvider(Protocol):
    def lookup(
        self, kind: str, inputs: Sequence[np.ndarray], period: int, k: float = 2.0
    ) -> Any | None: ...

    def column_of(self, frame: Any, name: str) -> np.ndarray | None: ...


_PROVIDER: ContextVar[LineProvider | None] = ContextVar("tradpal_line_provider", default=None)


@contextmanager
def using(provider: LineProvider | None) -> Iterator[None]:
    """Ask ``provider`` for lines within the block (None: compute every line)."""
    token = _PROVIDER.set(provider)
    try:
        yield
    finally:
        _PROVIDER.reset(token)


def _provided(kind: str, inputs: Sequence[np.ndarray], period: int, k: float = 2.0) -> Any:
    provider = _PROVIDER.get()
    return None if provider is None else provider.lookup(kind, inputs, period, k)


def provided_column(frame: Any, name: str) -> np.ndarray | None:
    """The active provider's copy of ``frame``'s price column ``name``, or None."""
    provider = _PROVIDER.get()
    return None if provider is None else provider.column_of(frame, name)


def ema(close: np.ndarray, period: int) -> np.ndarray:
    hit = _provided("ema", (close,), period)
    if hit is not None:
        return hit
    return ind.ema(close, period) if period <= len(close) else np.full(len(close), np.nan)


def sma(close: np.ndarray, period: int) -> np.ndarray:
    hit = _provided("sma", (close,), period)
    if hit is not None:
        return hit
    return ind.sma(close, period) if period <= len(close) else np.full(len(close), np.nan)


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    hit = _provided("rsi", (close,), period)
    if hit is not None:
        return hit
    return ind.rsi(close, period) if period <= len(close) else np.full(len(close), np.nan)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    hit = _provided("atr", (high, low, close), period)
    if hit is not None:
        return hit
    if period <= len(close):
        return ind.atr(high, low, close, period)
    return np.full(len(close), np.nan)


def bollinger(close: np.ndarray, period: int, k: float) -> ind.Bollinger:
    hit = _provided("bollinger", (close,), period, k)
    if hit is not None:
        return hit
    if period <= len(close):
        return ind.bollinger(close, period, k)
    return ind.Bollinger(*(np.full(len(close), np.nan) for _ in ind.Bollinger._fields))


__all__ = [
    "LineProvider",
    "atr",
    "bollinger",
    "ema",
    "provided_column",
    "rsi",
    "sma",
    "using",
]
