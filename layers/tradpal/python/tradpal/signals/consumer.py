"""The market-data stream consumer: new candles -> ``trading_signal`` events, each once.

For a Lambda Kinesis batch, the records are decoded and grouped per dataset; per dataset the
stored history before the new candles is read from the market store, each strategy of the
``signal_strategies`` setting runs (:func:`tradpal.signals.stream.trading_signals`), and each
signal is published at most once per id (:func:`tradpal.platform.idempotency.run_once` on
the idempotency table, kept longer than the stream's retention, so a replayed record never
publishes twice). A malformed record, a candle failing the quality rules, and every record
of a dataset whose processing failed are reported as batch item failures (retried, then sent
to the on-failure queue by the event source mapping), never dropped.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tradpal.events.market_stream import decode_record
from tradpal.platform.idempotency import run_once
from tradpal.signals.stream import (
    StreamedCandle,
    batch_frame,
    history_bars,
    trading_signals,
)

IDEMPOTENCY_TTL_S = 8 * 86_400
"""How long a published signal is remembered: longer than the stream's retention."""
_log = logging.getLogger(__name__)


@dataclass
class StreamResult:
    """What one batch did: the failed records by sequence number and the counts."""

    failed: dict[str, Exception]
    published: int = 0
    stale: int = 0


def publish_signal(detail: Mapping[str, Any], context: Any = None) -> None:
    """Publish ``trading_signal`` once per ``detail["signal_id"]``."""
    from tradpal.events import EventPublisher

    run_once(
        "signals.publish",
        detail,
        lambda: {"event_id": EventPublisher("signals").publish("trading_signal", dict(detail))},
        ttl_s=IDEMPOTENCY_TTL_S,
        key="signal_id",
        context=context,
    )


def dataset_signals(
    symbol: str, timeframe: str, records: list[StreamedCandle], context: Any = None
) -> StreamResult:
    """The signals of one dataset's new candles, published (module docstring)."""
    from tradpal.config import load_settings
    from tradpal.platform.environment import platform_env
    from tradpal.strategies import get_strategy
    from tradpal.timeframes import parse_timeframe

    tf = parse_timeframe(timeframe)
    batch = batch_frame(symbol, tf, records)
    result = StreamResult(dict(batch.failed))
    if batch.frame.empty:
        return result
    settings = load_settings()
    strategies = [get_strategy(name) for name in settings.signal_strategies]
    store = platform_env().market_store()
    first = batch.frame.index[0]
    stored = store.range(symbol, tf)
    frame = batch.frame
    if stored is not None and stored[0] < first:
        need = history_bars(strategies, tf) * pd.Timedelta(seconds=tf.seconds)
        history = store.read(symbol, tf, first - need, first)
        if len(history):
            frame = pd.concat([history[list(batch.frame.columns)], batch.frame])
            frame.attrs = dict(batch.frame.attrs)
    details, result.stale = trading_signals(
        frame,
        len(frame) - len(batch.frame),
        batch.arrived,
        strategies,
        symbol=symbol,
        timeframe=tf,
        max_age_bars=settings.signal_max_age_bars,
    )
    for detail in details:
        publish_signal(detail, context)
    result.published = len(details)
    return result


def consume(event: Mapping[str, Any], context: Any = None) -> StreamResult:
    """A Kinesis batch: every dataset's signals published; the records that failed."""
    result = StreamResult({})
    groups: dict[tuple[str, str], list[StreamedCandle]] = defaultdict(list)
    for record in event.get("Records", ()):
        seq = record["kinesis"]["sequenceNumber"]
        try:
            candle = decode_record(record)
        except Exception as exc:  # malformed: reported, never dropped, never fatal
            _log.warning("malformed market-data record %s: %s", seq, exc)
            result.failed[seq] = exc
            continue
        # when the stream took it (epoch s): fixed, so retries decide alike
        arrived = float(record["kinesis"].get("approximateArrivalTimestamp") or time.time())
        groups[(candle.symbol, candle.timeframe)].append(StreamedCandle(seq, candle, arrived))
    for (symbol, timeframe), records in groups.items():
        try:
            done = dataset_signals(symbol, timeframe, records, context)
        except Exception as exc:  # this dataset's records are retried; others go on
            _log.exception("signals for %s %s failed", symbol, timeframe)
            result.failed.update({r.seq: exc for r in records})
            continue
        result.failed.update(done.failed)
        result.published += done.published
        result.stale += done.stale
    return result
