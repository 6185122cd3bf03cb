"""The ``trading_signal`` events of new candles (pure).

New candles arrive in batches per dataset (symbol and timeframe). :func:`batch_frame` makes
them a contract frame: one candle per bar time (a re-sent bar's later copy wins), and the
candles that fail the quality rules set aside with their error. The strategies then run over
the stored history before the batch (:func:`history_bars` of it, enough for their warm-up)
joined to the batch, and :func:`trading_signals` gives one event per strategy and new bar
where the desired position changes, unless that bar had closed more than ``max_age_bars``
bars before its candle arrived (the first ingest of a dataset streams its whole history;
signals from months ago are not news: they are counted, not sent).

A signal's id is a hash of symbol, timeframe, strategy, params and bar time
(:func:`signal_id`), so the same bar always gives the same id and a replayed record can be
published at most once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradpal.errors import DataContractError, DataQualityError
from tradpal.signals.compute import compute_signals
from tradpal.strategies import Strategy, warmup_bars
from tradpal.strategies.positions import SIDES
from tradpal.timeframes import Timeframe

MIN_HISTORY_BARS = 250
MAX_HISTORY_BARS = 5_000


@dataclass(frozen=True)
class StreamedCandle:
    """A candle from the stream: its record's sequence number, the
    :class:`~tradpal.events.schemas.CandleRecord`, and when the stream took it (epoch s)."""

    seq: str
    candle: Any
    arrived: float


def history_bars(strategies: Sequence[Strategy], timeframe: Timeframe) -> int:
    """Stored bars to load before new candles: the most any of ``strategies`` needs
    (:func:`tradpal.strategies.warmup_bars`), at least :data:`MIN_HISTORY_BARS` and at most
    :data:`MAX_HISTORY_BARS`."""
    need = max((warmup_bars(s, timeframe) for s in strategies), default=0)
    return min(MAX_HISTORY_BARS, max(MIN_HISTORY_BARS, need))


@dataclass(frozen=True)
class CandleBatch:
    """The usable candles of one dataset's batch as a contract frame, when each arrived
    (epoch s, aligned with the frame), and the records set aside with their error."""

    frame: pd.DataFrame
    arrived: np.ndarray
    failed: dict[str, Exception]


def batch_frame(
    symbol: str, timeframe: Timeframe, records: Sequence[StreamedCandle]
) -> CandleBatch:
    """The batch's candles checked by the quality rules (module docstring). A rule that
    fails on more rows than it names cannot say which records are bad: the whole batch is
    refused with :class:`DataQualityError`."""
    from tradpal.data.contract import MarketMeta, make_ohlcv
    from tradpal.data.quality import check_quality

    if not records:
        raise DataContractError("a batch of new candles needs at least one candle")
    by_time = {pd.Timestamp(r.candle.time).value: r for r in records}  # later copies win
    times = np.array(sorted(by_time), dtype=np.int64)
    recs = [by_time[int(t)] for t in times]
    fields = ("open", "high", "low", "close", "volume")
    values = np.array([[getattr(r.candle, f) for f in fields] for r in recs]).reshape(-1, 5)
    meta = MarketMeta(symbol=symbol, timeframe=timeframe.name, source=recs[0].candle.source)
    frame = make_ohlcv(times, *values.T, meta=meta)
    report = check_quality(frame, timeframe=timeframe)
    bad: set[int] = set()
    for rule in report.failed:
        if rule.count > len(rule.first_rows):
            raise DataQualityError(f"new candles fail {rule.name}: {rule.message}", report=report)
        for label in rule.first_rows:
            bad.update(np.flatnonzero(times == pd.Timestamp(label).value).tolist())
    failed: dict[str, Exception] = {
        recs[i].seq: DataQualityError(
            f"candle {symbol} {timeframe.name} {recs[i].candle.time} fails the quality rules",
            report=report,
        )
        for i in sorted(bad)
    }
    keep = np.array([i not in bad for i in range(len(recs))], dtype=bool)
    arrived = np.array([r.arrived for r in recs], dtype=np.float64)[keep]
    return CandleBatch(frame.iloc[np.flatnonzero(keep)], arrived, failed)


def signal_id(symbol: str, timeframe: str, strategy: str, params: dict[str, Any], time: str) -> str:
    """The stable id of a signal: the same bar, strategy and params always give the same id."""
    key = json.dumps([symbol, timeframe, strategy, params, time], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def trading_signals(
    frame: pd.DataFrame,
    new_from: int,
    arrived: np.ndarray,
    strategies: Sequence[Strategy],
    *,
    symbol: str,
    timeframe: Timeframe,
    max_age_bars: int,
) -> tuple[list[dict[str, Any]], int]:
    """``(details, stale)``: the ``trading_signal`` details of the position changes of each
    strategy on the bars ``frame[new_from:]`` (the history before them warms the strategies
    up; ``arrived[i]`` is when bar ``new_from + i`` arrived), and how many changes were left
    out as history (closed more than ``max_age_bars`` bars before they arrived; 0: none)."""
    max_age_s = max_age_bars * timeframe.seconds or float("inf")
    # a bar closes at its open time plus the timeframe
    late = arrived - (frame.index.asi8[new_from:] / 1e9 + timeframe.seconds) > max_age_s
    close = frame["close"].to_numpy()
    details, stale = [], 0
    for strategy in strategies:
        run = compute_signals(frame, strategy)
        for t in run.changes[run.changes >= new_from].tolist():
            if late[t - new_from]:
                stale += 1
                continue
            when = frame.index[t].isoformat()
            details.append(
                {
                    "signal_id": signal_id(symbol, timeframe.name, strategy.name, run.params, when),
                    "symbol": symbol,
                    "timeframe": timeframe.name,
                    "strategy": strategy.name,
                    "params": run.params,
                    "time": when,
                    "side": SIDES[int(run.position[t])],
                    "previous": SIDES[int(run.position[t - 1]) if t else 0],
                    "price": float(close[t]),
                }
            )
    return details, stale
