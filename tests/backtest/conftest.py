"""Helpers for the backtest tests: tiny hand-made bar series and signals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from tradpal.data.contract import MarketMeta, make_ohlcv, with_meta
from tradpal.strategies import Signals
from tradpal.timeframes import parse_timeframe


def _bars(rows: list[tuple[float, float, float, float]], timeframe: str = "1h") -> pd.DataFrame:
    o, h, lo, c = (np.array(col, dtype=float) for col in zip(*rows, strict=True))
    step = pd.Timedelta(seconds=parse_timeframe(timeframe).seconds)
    time = pd.date_range("2024-01-01", periods=len(rows), freq=step, tz="UTC")
    frame = make_ohlcv(time, o, h, lo, c, np.ones(len(rows)))
    return with_meta(frame, MarketMeta("TEST/USD", timeframe, "hand"))


def _signals(n: int, *, le=(), lx=(), se=(), sx=(), **extra) -> Signals:
    def flags(on) -> np.ndarray:
        a = np.zeros(n, dtype=bool)
        a[list(on)] = True
        return a

    return Signals(flags(le), flags(lx), flags(se), flags(sx), **extra)


@pytest.fixture
def bars() -> Callable[..., pd.DataFrame]:
    """``bars([(open, high, low, close), ...])``: a 1h contract frame from 2024-01-01."""
    return _bars


@pytest.fixture
def signals() -> Callable[..., Signals]:
    """``signals(n, le=[bars], lx=..., se=..., sx=..., stop_price=...)``."""
    return _signals
