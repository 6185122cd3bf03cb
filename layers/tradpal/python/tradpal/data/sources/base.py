"""The interface every market data source implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import pandas as pd

from tradpal.timeframes import Timeframe

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` in bars (``total`` may be an estimate)."""


@runtime_checkable
class OhlcvSource(Protocol):
    """Delivers candles for one symbol and timeframe over a time range.

    ``name`` identifies the source in metadata and logs (``ccxt:binance``,
    ``yfinance``, ``synthetic``). :meth:`fetch` returns a contract frame (see
    :mod:`tradpal.data.contract`) with :class:`~tradpal.data.contract.MarketMeta`
    attached, holding the bars whose open time lies in ``[start, end)``; both
    bounds are UTC timestamps. It raises :class:`~tradpal.errors.SourceError`
    with a clear message when the data cannot be had.
    """

    name: str

    def fetch(
        self,
        symbol: str,
        timeframe: Timeframe,
        start: pd.Timestamp,
        end: pd.Timestamp,
        *,
        progress: ProgressCallback | None = None,
    ) -> pd.DataFrame: ...
