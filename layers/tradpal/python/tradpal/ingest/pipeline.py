"""One ingest: the store updated from the sources, the datasets table, the stream, the event.

:func:`ingest` downloads ``[start, end)`` of a dataset through the configured sources
(``Settings.sources``, constructor options ``Settings.source_options``) with
:meth:`MarketStore.update` (only bars not stored yet are fetched; only closed bars are
stored), writes the dataset's item to the datasets table, puts the new bars on the
market-data stream and publishes ``market_data_update`` for them, deciding what is new from
the watermarks (:mod:`tradpal.ingest.watermarks`): a retry stores, streams and announces
nothing twice. :func:`scheduled_ingest` brings every dataset of ``Settings.watchlist`` up to
the last closed bar.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from tradpal.errors import FieldError, StoreError
from tradpal.ingest.datasets_table import DatasetRecord, DatasetsTable
from tradpal.ingest.watermarks import Watermarks, plan_outflow, starting_marks

_log = logging.getLogger(__name__)
BACKFILL_BARS = 1_000
"""Bars the scheduled ingest fetches for a watched dataset that is not stored yet."""


class IngestResult(BaseModel):
    """What an ingest stored and announced."""

    symbol: str
    timeframe: str
    source: str = Field(description="the source the dataset's bars came from")
    fetched: list[list[str]] = Field(description="[start, end) ranges asked of the source")
    bars_written: int = Field(description="bars written to the store (new or re-fetched)")
    new_bars: int = Field(description="bars put on the market-data stream by this call")
    first_new: str | None = None
    last_new: str | None = None
    first: str | None = Field(default=None, description="first stored bar after the ingest")
    last: str | None = Field(default=None, description="last stored bar after the ingest")
    rows: int = 0
    quality_score: float | None = None
    event_id: str | None = Field(default=None, description="the market_data_update event")


def check_range(
    start: datetime, end: datetime | None, now: Any = None, *, field: str = "body"
) -> None:
    """Refuse ``[start, end)`` when it can hold no closed bar: ``start`` after ``now`` (UTC;
    default: the current time) or ``end`` not after ``start`` (:class:`FieldError` naming
    ``<field>.start`` / ``<field>.end``). Naive times are UTC."""
    from tradpal.data.contract import to_utc_timestamp

    lo = to_utc_timestamp(start, "start")
    now = pd.Timestamp.now(tz="UTC") if now is None else to_utc_timestamp(now, "now")
    if end is not None and (hi := to_utc_timestamp(end, "end")) <= lo:
        raise FieldError(
            f"{field}.end",
            f"end {hi.isoformat()} is not after start {lo.isoformat()}",
            "give an end after start (end is exclusive), or leave it out for now",
        )
    if lo > now:
        raise FieldError(
            f"{field}.start",
            f"start {lo.isoformat()} is in the future",
            "give a start in the past: only closed bars are stored",
        )


def source_for(settings: Any, spec: str | None) -> Any:
    """The source named by ``spec``, or the configured fallback chain, built with the options
    of ``settings.source_options``."""
    from tradpal.data.sources.fallback import FallbackSource
    from tradpal.data.sources.registry import make_source

    specs = [spec] if spec else list(settings.sources)
    sources = [make_source(s, **settings.source_options.get(s, {})) for s in specs]
    return sources[0] if len(sources) == 1 else FallbackSource(sources)


def ingest(
    symbol: str,
    timeframe: str,
    start: Any,
    end: Any = None,
    *,
    source: str | None = None,
    settings: Any = None,
) -> IngestResult:
    """Update the dataset from its source, write its datasets-table item, put its new bars on
    the stream and announce them (module docstring)."""
    from tradpal.config import load_settings
    from tradpal.data.quality import check_quality
    from tradpal.events import EventPublisher
    from tradpal.events.market_stream import put_candles
    from tradpal.platform.environment import platform_env
    from tradpal.timeframes import parse_timeframe

    settings = settings or load_settings()
    tf = parse_timeframe(timeframe)
    store, table = platform_env().market_store(), DatasetsTable()
    before = store.range(symbol, tf)
    kept = table.get(symbol, tf.name)
    result = store.update(
        source_for(settings, source), symbol, tf, start, end, policy=settings.quality_policy
    )
    fetched = [[a.isoformat(), b.isoformat()] for a, b in result.fetched]
    if store.range(symbol, tf) is None:  # nothing at the source in the range, nothing before
        return IngestResult(
            symbol=symbol, timeframe=tf.name, source="", fetched=fetched, bars_written=0,
            new_bars=0,
        )  # fmt: skip
    marks = starting_marks(kept.marks if kept else None, before)
    data = store.read(symbol, tf)
    listed = next(e for e in store.datasets() if e.symbol == symbol and e.timeframe == tf.name)
    table.put(DatasetRecord.of(listed, check_quality(data, timeframe=tf), marks))

    plan = plan_outflow(data.index, marks)
    new = data.iloc[plan.stream.start : plan.stream.stop]
    if len(new):
        put_candles(new, symbol, tf.name, listed.source)
        table.set_marks(symbol, tf.name, Watermarks(streamed_last=new.index[-1]))
    event_id = None
    if plan.announce:
        told = data.index[plan.announce.start : plan.announce.stop]
        event_id = EventPublisher("data").publish(
            "market_data_update",
            {
                "symbol": symbol,
                "timeframe": tf.name,
                "source": listed.source,
                "first": told[0].isoformat(),
                "last": told[-1].isoformat(),
                "bars": len(told),
            },
        )
        table.set_marks(symbol, tf.name, Watermarks(announced_last=told[-1]))
    return IngestResult(
        symbol=symbol,
        timeframe=tf.name,
        source=listed.source,
        fetched=fetched,
        bars_written=result.bars_written,
        new_bars=len(new),
        first_new=new.index[0].isoformat() if len(new) else None,
        last_new=new.index[-1].isoformat() if len(new) else None,
        first=listed.first.isoformat(),
        last=listed.last.isoformat(),
        rows=listed.rows,
        quality_score=listed.quality_score,
        event_id=event_id,
    )


def reconcile_datasets() -> list[DatasetRecord]:
    """Make the datasets table mirror the store again after an ingest was cut off (a crash,
    a timeout) between storing bars and writing the dataset's item; the items rewritten.

    An item whose range or rows differ from the store's listing is rewritten from the
    stored bars, with its watermarks kept (the next ingest streams and announces the bars
    after them). A stored dataset without an item gets one without watermarks: the item is
    written before any bar goes out, so none of its bars did (the next ingest streams and
    announces them all). Items of datasets that are not stored are left alone."""
    from tradpal.data.quality import check_quality
    from tradpal.platform.environment import platform_env
    from tradpal.timeframes import parse_timeframe

    store, table = platform_env().market_store(), DatasetsTable()
    items = {(r.symbol, r.timeframe): r for r in table.list()}
    repaired = []
    for listed in store.datasets():
        kept = items.get((listed.symbol, listed.timeframe))
        if kept is not None and (kept.first, kept.last, kept.rows) == (
            listed.first.isoformat(),
            listed.last.isoformat(),
            listed.rows,
        ):
            continue
        tf = parse_timeframe(listed.timeframe)
        report = check_quality(store.read(listed.symbol, tf), timeframe=tf)
        record = DatasetRecord.of(listed, report, kept.marks if kept else Watermarks())
        table.put(record)
        _log.warning(
            "the datasets table said %s of %s %s; it now says what is stored: %s to %s, %d bars",
            f"{kept.first} to {kept.last}, {kept.rows} bars" if kept else "nothing",
            listed.symbol,
            listed.timeframe,
            record.first,
            record.last,
            record.rows,
        )
        repaired.append(record)
    return repaired


def scheduled_ingest() -> dict[str, Any]:
    """Bring every watched dataset up to the last closed bar; after trying them all, raise
    :class:`StoreError` if any failed (the schedule's retry then stores only what is still
    missing); each failure is logged with its traceback."""
    from tradpal.config import load_settings
    from tradpal.platform.environment import platform_env
    from tradpal.timeframes import parse_timeframe

    settings = load_settings()
    results, errors = [], []
    for symbol, timeframe in settings.watched_datasets:
        tf = parse_timeframe(timeframe)
        try:
            stored = platform_env().market_store().range(symbol, tf)
            now = pd.Timestamp(tf.floor_ns(time.time_ns()), tz="UTC")
            start = stored[0] if stored else now - BACKFILL_BARS * pd.Timedelta(seconds=tf.seconds)
            results.append(ingest(symbol, tf.name, start, None, settings=settings).model_dump())
        except Exception as exc:
            _log.exception("scheduled ingest of %s %s failed", symbol, timeframe)
            errors.append(f"{symbol}@{timeframe}: {exc}")
    if errors:
        raise StoreError(
            f"scheduled ingest failed for {len(errors)} dataset(s): " + "; ".join(errors),
            hint="the retry stores and streams only what is still missing",
        )
    return {"results": results}
