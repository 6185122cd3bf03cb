"""Indicator lines for strategies: :mod:`tradpal.indicators` kernels that give
all-NaN instead of an error when the data is shorter than the period.

A strategy run on fewer bars than its warm-up (a short download, an early
truncation in the look-ahead check) then has no signal, which is what the
indicator's own NaN warm-up would give on a longer series.
"""

from __future__ import annotations

import numpy as np

from tradpal import indicators as ind


def ema(close: np.ndarray, period: int) -> np.ndarray:
    return ind.ema(close, period) if period <= len(close) else np.full(len(close), np.nan)


def sma(close: np.ndarray, period: int) -> np.ndarray:
    return ind.sma(close, period) if period <= len(close) else np.full(len(close), np.nan)


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    return ind.rsi(close, period) if period <= len(close) else np.full(len(close), np.nan)


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    if period <= len(close):
        return ind.atr(high, low, close, period)
    return np.full(len(close), np.nan)


def bollinger(close: np.ndarray, period: int, k: float) -> ind.Bollinger:
    if period <= len(close):
        return ind.bollinger(close, period, k)
    return ind.Bollinger(*(np.full(len(close), np.nan) for _ in ind.Bollinger._fields))


__all__ = ["atr", "bollinger", "ema", "rsi", "sma"]
