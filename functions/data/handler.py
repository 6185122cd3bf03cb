"""The data capability: candle ingest into the market data store, and the data catalog.

``POST /v1/data/ingest`` (admin) downloads ``[start, end)`` of a dataset through the
configured sources (``Settings.sources``, constructor options from
``Settings.source_options``) with :meth:`MarketStore.update` (only bars not stored yet are
fetched; only closed bars are stored). ``GET /v1/data`` lists the catalog table with quality
scores and reports. The hourly schedule (input ``{"action": "ingest"}``) updates every
dataset of ``Settings.watchlist`` up to the last closed bar.

After storing, the dataset's catalog item is written to the catalog table (partition
``dataset`` = symbol, sort ``timeframe``), the new candles go on the market-data stream as
:class:`~tradpal.events.schemas.CandleRecord` JSON, and ``market_data_update`` is published.
Retries are safe: the catalog item keeps two watermarks, ``streamed_last`` (the last bar put
on the stream) and ``announced_last`` (the last bar a ``market_data_update`` covered), so a
retried ingest stores nothing twice, puts only bars after ``streamed_last`` on the stream, and
announces only what was not announced, even when the first attempt failed half-way.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel, ConfigDict, Field

from tradpal.errors import ConfigError, StoreError
from tradpal.platform.api_docs import responses
from tradpal.platform.candles import TimeframeName
from tradpal.platform.http import make_app
from tradpal.platform.observability import for_capability

obs = for_capability("data")
router = APIGatewayHttpRouter()
ERRORS: dict[int, str] = {
    400: "the source or the store refused the request, or the range is impossible (end not "
    "after start, start in the future): message, details and hint",
    422: "invalid request (details name the fields)",
}


KINESIS_BATCH = 500  # PutRecords' maximum
PUT_ATTEMPTS = 5
BACKFILL_BARS = 1_000
"""Bars the scheduled ingest fetches for a watched dataset that is not stored yet."""


class IngestRequest(BaseModel):
    """Download ``[start, end)`` of ``symbol`` at ``timeframe`` into the store."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(min_length=1, examples=["BTC/USDT"])
    timeframe: TimeframeName = "1h"
    start: datetime = Field(description="first bar open time wanted (inclusive)")
    end: datetime | None = Field(
        default=None, description="exclusive; default and cap: the open of the bar in progress"
    )
    source: str | None = Field(
        default=None,
        description="one source spec (ccxt:binance, yfinance); default: the configured chain",
    )


class IngestResponse(BaseModel):
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


class DatasetEntry(BaseModel):
    """One dataset of the catalog table."""

    symbol: str
    timeframe: str
    source: str
    first: str
    last: str
    rows: int
    quality_score: float = Field(description="0..100, row-weighted over the stored files")
    updated_at: str
    synthetic: bool
    files: int
    streamed_last: str | None = Field(default=None, description="last bar put on the stream")
    quality: dict[str, Any] | None = Field(
        default=None, description="the quality report of the whole dataset (rules, score)"
    )


class CatalogResponse(BaseModel):
    datasets: list[DatasetEntry]


# --- the catalog table ------------------------------------------------------------------------


def _table() -> str:
    from tradpal.platform.environment import platform_env

    return platform_env().require("catalog_table")


def _ddb() -> Any:
    from tradpal.platform.clients import client

    return client("dynamodb")


def _item_to_entry(item: dict[str, Any]) -> DatasetEntry:
    def s(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    quality = s("quality")
    return DatasetEntry(
        symbol=item["dataset"]["S"],
        timeframe=item["timeframe"]["S"],
        source=s("source") or "",
        first=s("first") or "",
        last=s("last") or "",
        rows=int(item.get("rows", {}).get("N", "0")),
        quality_score=float(item.get("quality_score", {}).get("N", "0")),
        updated_at=s("updated_at") or "",
        synthetic=bool(item.get("synthetic", {}).get("BOOL", False)),
        files=int(item.get("files", {}).get("N", "0")),
        streamed_last=s("streamed_last"),
        quality=json.loads(quality) if quality else None,
    )


def catalog_item(symbol: str, timeframe: str) -> dict[str, Any] | None:
    """The raw catalog item of a dataset, or None."""
    got = _ddb().get_item(
        TableName=_table(),
        Key={"dataset": {"S": symbol}, "timeframe": {"S": timeframe}},
        ConsistentRead=True,
    )
    return got.get("Item")


def put_catalog_item(entry: Any, report: Any, marks: dict[str, str | None]) -> None:
    """Mirror a store :class:`CatalogEntry` (with the report and watermarks) into the table."""
    item: dict[str, Any] = {
        "dataset": {"S": entry.symbol},
        "timeframe": {"S": entry.timeframe},
        "source": {"S": entry.source},
        "first": {"S": entry.first.isoformat()},
        "last": {"S": entry.last.isoformat()},
        "rows": {"N": str(entry.rows)},
        "quality_score": {"N": repr(float(entry.quality_score))},
        "updated_at": {"S": entry.updated_at.isoformat()},
        "synthetic": {"BOOL": bool(entry.synthetic)},
        "files": {"N": str(entry.files)},
        "quality": {"S": json.dumps(report.to_dict(), allow_nan=False, default=str)},
    }
    item.update({k: {"S": v} for k, v in marks.items() if v})
    _ddb().put_item(TableName=_table(), Item=item)


def set_marks(symbol: str, timeframe: str, **marks: str) -> None:
    """Advance watermarks of an existing catalog item."""
    names = {f"#{k}": k for k in marks}
    values = {f":{k}": {"S": v} for k, v in marks.items()}
    _ddb().update_item(
        TableName=_table(),
        Key={"dataset": {"S": symbol}, "timeframe": {"S": timeframe}},
        UpdateExpression="SET " + ", ".join(f"#{k} = :{k}" for k in marks),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


# --- the market-data stream -------------------------------------------------------------------


def put_candles(frame: Any, symbol: str, timeframe: str, source: str) -> int:
    """Put ``frame``'s bars on the market-data stream as CandleRecord JSON, in order, in chunks
    of 500; records the stream refuses are retried with backoff. Returns the count."""
    from tradpal.events.schemas import CandleRecord
    from tradpal.platform.clients import client
    from tradpal.platform.environment import platform_env

    stream = platform_env().require("market_stream")
    key = f"{symbol}|{timeframe}"
    cols = [frame[c].tolist() for c in ("open", "high", "low", "close", "volume")]
    records = [
        {
            "Data": CandleRecord(
                symbol=symbol, timeframe=timeframe, time=t.isoformat(), source=source,
                open=o, high=h, low=lo, close=c, volume=v,
            ).model_dump_json().encode(),
            "PartitionKey": key,
        }
        for t, o, h, lo, c, v in zip(frame.index, *cols, strict=True)
    ]  # fmt: skip
    kinesis = client("kinesis")
    for start in range(0, len(records), KINESIS_BATCH):
        pending = records[start : start + KINESIS_BATCH]
        error = ""
        for attempt in range(PUT_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, 0.1 * 2**attempt))  # full jitter
            answer = kinesis.put_records(StreamName=stream, Records=pending)
            if not answer.get("FailedRecordCount"):
                break
            failed = [
                (rec, res)
                for rec, res in zip(pending, answer["Records"], strict=True)
                if res.get("ErrorCode")
            ]
            error = f"{failed[0][1].get('ErrorCode')}: {failed[0][1].get('ErrorMessage')}"
            pending = [rec for rec, _ in failed]
        else:
            raise StoreError(
                f"the market-data stream refused {len(pending)} record(s) after "
                f"{PUT_ATTEMPTS} attempts ({error})",
                hint="the ingest can be retried: bars already put are not put again",
            )
    return len(records)


# --- ingest -----------------------------------------------------------------------------------


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
) -> IngestResponse:
    """Update the dataset from its source, mirror its catalog entry, put its new bars on the
    stream and announce them (see the module docstring)."""
    import pandas as pd

    from tradpal.config import load_settings
    from tradpal.data.quality import check_quality
    from tradpal.events import EventPublisher
    from tradpal.platform.environment import platform_env
    from tradpal.timeframes import parse_timeframe

    settings = settings or load_settings()
    tf = parse_timeframe(timeframe)
    store = platform_env().market_store()
    before = store.range(symbol, tf)
    item = catalog_item(symbol, tf.name) or {}
    result = store.update(
        source_for(settings, source), symbol, tf, start, end, policy=settings.quality_policy
    )
    after = store.range(symbol, tf)
    fetched = [[a.isoformat(), b.isoformat()] for a, b in result.fetched]
    if after is None:  # nothing at the source in the range, nothing stored before
        return IngestResponse(
            symbol=symbol, timeframe=tf.name, source="", fetched=fetched, bars_written=0,
            new_bars=0,
        )  # fmt: skip

    def mark(name: str) -> pd.Timestamp | None:
        text = item.get(name, {}).get("S")
        return pd.Timestamp(text) if text else None

    if item:  # a dataset this function keeps: its watermarks say what went out
        streamed, announced = mark("streamed_last"), mark("announced_last")
    else:  # stored by other means (the command line) before: only bars after it are new
        streamed = announced = before[1] if before else None
    data = store.read(symbol, tf)
    entry = next(e for e in store.catalog() if e.symbol == symbol and e.timeframe == tf.name)
    report = check_quality(data, timeframe=tf)
    marks = {
        "streamed_last": streamed.isoformat() if streamed is not None else None,
        "announced_last": announced.isoformat() if announced is not None else None,
    }
    put_catalog_item(entry, report, marks)

    new = data if streamed is None else data.loc[data.index > streamed]
    if len(new):
        put_candles(new, symbol, tf.name, entry.source)
        streamed = new.index[-1]
        set_marks(symbol, tf.name, streamed_last=streamed.isoformat())
    event_id = None
    unannounced = data.iloc[0:0]
    if streamed is not None:  # announce only what is on the stream
        unannounced = data if announced is None else data.loc[data.index > announced]
        unannounced = unannounced.loc[unannounced.index <= streamed]
    if len(unannounced):
        event_id = EventPublisher("data").publish(
            "market_data_update",
            {
                "symbol": symbol,
                "timeframe": tf.name,
                "source": entry.source,
                "first": unannounced.index[0].isoformat(),
                "last": unannounced.index[-1].isoformat(),
                "bars": len(unannounced),
            },
        )
        set_marks(symbol, tf.name, announced_last=unannounced.index[-1].isoformat())
    obs.metrics.add_metric(name="BarsIngested", unit="Count", value=len(new))
    return IngestResponse(
        symbol=symbol,
        timeframe=tf.name,
        source=entry.source,
        fetched=fetched,
        bars_written=result.bars_written,
        new_bars=len(new),
        first_new=new.index[0].isoformat() if len(new) else None,
        last_new=new.index[-1].isoformat() if len(new) else None,
        first=after[0].isoformat(),
        last=after[1].isoformat(),
        rows=entry.rows,
        quality_score=entry.quality_score,
        event_id=event_id,
    )


def scheduled_ingest() -> dict[str, Any]:
    """Bring every watched dataset up to the last closed bar; raises after trying them all
    if any failed (so the schedule's retry picks them up; the others store nothing twice)."""
    import pandas as pd

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
            obs.logger.exception("scheduled ingest of %s %s failed", symbol, timeframe)
            errors.append({"dataset": f"{symbol}@{timeframe}", "error": str(exc)})
    if errors:
        raise StoreError(
            f"scheduled ingest failed for {len(errors)} dataset(s): "
            + "; ".join(f"{e['dataset']}: {e['error']}" for e in errors),
            hint="the retry stores and streams only what is still missing",
        )
    return {"results": results}


# --- routes -----------------------------------------------------------------------------------


def check_ingest_range(start: datetime, end: datetime | None, now: Any = None) -> None:
    """400 naming the field when ``[start, end)`` can hold no closed bar: ``start`` after
    ``now`` (UTC; default: the current time), or ``end`` not after ``start``. Naive times
    are UTC."""
    import pandas as pd

    from tradpal.data.contract import to_utc_timestamp
    from tradpal.platform.http import field_error

    lo = to_utc_timestamp(start, "start")
    now = pd.Timestamp.now(tz="UTC") if now is None else to_utc_timestamp(now, "now")
    if end is not None and to_utc_timestamp(end, "end") <= lo:
        hi = to_utc_timestamp(end, "end")
        raise field_error(
            "body.end",
            f"end {hi.isoformat()} is not after start {lo.isoformat()}",
            "give an end after start (end is exclusive), or leave it out for now",
        )
    if lo > now:
        raise field_error(
            "body.start",
            f"start {lo.isoformat()} is in the future",
            "give a start in the past: only closed bars are stored",
        )


@router.post(
    "/v1/data/ingest",
    summary="Download a range of candles into the store (admin)",
    response_description="what was stored and put on the stream",
    responses=responses(IngestResponse, "what was stored and put on the stream", ERRORS),
)
def post_ingest(request: IngestRequest) -> IngestResponse:
    check_ingest_range(request.start, request.end)
    return ingest(
        request.symbol, request.timeframe, request.start, request.end, source=request.source
    )


@router.get(
    "/v1/data",
    summary="The data catalog with quality scores and reports",
    response_description="stored datasets",
    responses=responses(CatalogResponse, "stored datasets", ERRORS),
)
def get_catalog(
    symbol: Annotated[str | None, Query(min_length=1, description="only this symbol")] = None,
    timeframe: Annotated[TimeframeName | None, Query(description="only this timeframe")] = None,
) -> CatalogResponse:
    ddb, table = _ddb(), _table()
    items: list[dict[str, Any]] = []
    if symbol is not None:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "dataset = :d",
            "ExpressionAttributeValues": {":d": {"S": symbol}},
        }
        pages = ddb.get_paginator("query").paginate(**kwargs)
    else:
        pages = ddb.get_paginator("scan").paginate(TableName=table)
    for page in pages:
        items.extend(page.get("Items", ()))
    entries = [_item_to_entry(i) for i in items]
    if timeframe is not None:
        entries = [e for e in entries if e.timeframe == timeframe]
    return CatalogResponse(datasets=sorted(entries, key=lambda e: (e.symbol, e.timeframe)))


app = make_app()
app.include_router(router)


@obs.logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: HTTP API v2 events and the ingest schedule (``{"action":
    "ingest"}``, or an EventBridge ``Scheduled Event``)."""
    if isinstance(event, dict) and "requestContext" in event:
        return app.resolve(event, context)
    if isinstance(event, dict) and (
        event.get("action") == "ingest" or event.get("detail-type") == "Scheduled Event"
    ):
        return scheduled_ingest()
    raise ConfigError(
        f"the data function cannot handle this event ({type(event).__name__})",
        hint='send HTTP API events or the schedule input {"action": "ingest"}',
    )
