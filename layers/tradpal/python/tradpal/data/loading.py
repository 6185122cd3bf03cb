"""One way to say where candles come from: ``store``, ``sample``, a file, or a source.

Commands and handlers that work on market data (indicators, backtests,
discovery) take a *data reference* and call :func:`load_ohlcv`:

* ``store``: the dataset already in the market data store;
* ``sample``: the seeded synthetic market (offline, labelled SYNTHETIC);
* a path to a CSV, Parquet or Feather file (any importer's format, detected);
* a source spec such as ``ccxt:binance`` or ``yfinance``, fetched directly
  (nothing stored; ``tradpal data download`` stores).

Every frame returned passed the quality policy and follows the contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tradpal.data.contract import ensure_ohlcv, to_utc_timestamp
from tradpal.data.quality import Policy, enforce_quality
from tradpal.errors import ConfigError
from tradpal.timeframes import parse_timeframe

SAMPLE_SYMBOL = "SYN/USD"
"""The symbol of the offline sample (a synthetic market, never a real one)."""
SAMPLE_BARS = 5000


def sample_range(
    timeframe: str, bars: int = SAMPLE_BARS, end: Any = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the last ``bars`` closed bars before ``end`` (default: now)."""
    tf = parse_timeframe(timeframe)
    if bars < 1:
        raise ConfigError(f"bars must be at least 1, got {bars}", hint="e.g. --bars 5000")
    t_end = pd.Timestamp.now(tz="UTC") if end is None else to_utc_timestamp(end)
    end_ns = int(tf.floor_ns(t_end.value))
    return pd.Timestamp(end_ns - bars * tf.nanoseconds, tz="UTC"), pd.Timestamp(end_ns, tz="UTC")


def load_ohlcv(
    data: str,
    *,
    symbol: str | None = None,
    timeframe: str = "1h",
    start: Any = None,
    end: Any = None,
    store: Any = None,
    policy: Policy | str = Policy.REJECT,
    seed: int = 42,
    bars: int = SAMPLE_BARS,
) -> pd.DataFrame:
    """The candles that ``data`` names (see the module docstring), in ``[start, end)``.

    ``store`` is a :class:`~tradpal.data.store.MarketStore` (default: the one
    the settings name). For ``sample`` without ``start``, the last ``bars``
    bars before ``end`` (default: now). Raises a :class:`~tradpal.errors.TradPalError`
    that says what is missing and how to get it.
    """
    tf = parse_timeframe(timeframe)
    if data == "store":
        if store is None:
            from tradpal.data.store import MarketStore

            store = MarketStore()
        if symbol is None:
            raise ConfigError("loading from the store needs a symbol", hint="pass --symbol")
        frame = store.read(symbol, tf, start, end)
    elif data == "sample":
        from tradpal.data.sources.synthetic import SyntheticSource

        lo, hi = (
            sample_range(tf.name, bars, end)
            if start is None
            else (to_utc_timestamp(start), _end(end))
        )
        frame = SyntheticSource(seed=seed).fetch(symbol or SAMPLE_SYMBOL, tf, lo, hi)
    elif _looks_like_path(data):
        from tradpal.data.importers import import_ohlcv

        frame, _ = import_ohlcv(Path(data), symbol=symbol, policy=policy)
        return ensure_ohlcv(_slice(frame, start, end))  # the importer applied the policy
    else:
        from tradpal.data.sources.registry import make_source

        if symbol is None or start is None:
            raise ConfigError(
                f"fetching from {data} needs a symbol and a start time",
                hint="pass --symbol and --start",
            )
        frame = make_source(data).fetch(symbol, tf, to_utc_timestamp(start), _end(end))
    frame, _ = enforce_quality(frame, policy, timeframe=tf)
    return ensure_ohlcv(frame)


def _looks_like_path(data: str) -> bool:
    return Path(data).suffix.lower() in (".csv", ".parquet", ".feather", ".pq", ".txt") or (
        Path(data).exists()
    )


def _slice(frame: pd.DataFrame, start: Any, end: Any) -> pd.DataFrame:
    if start is None and end is None:
        return frame
    lo = None if start is None else to_utc_timestamp(start)
    hi = None if end is None else to_utc_timestamp(end)
    mask = (frame.index >= lo if lo is not None else True) & (
        frame.index < hi if hi is not None else True
    )
    out = frame.loc[mask]
    out.attrs = dict(frame.attrs)
    return out


def _end(value: Any) -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC") if value is None else to_utc_timestamp(value)
