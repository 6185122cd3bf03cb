"""The signals capability: strategy signals on demand, and on every new candle of the stream.

``POST /v1/signals`` runs a strategy (:mod:`tradpal.strategies`) over posted candles or a
stored range and answers the signals, the desired position after every bar
(:func:`tradpal.strategies.positions.positions`) and the bars where it changes.

The market-data Kinesis stream delivers :class:`~tradpal.events.schemas.CandleRecord` JSON.
Per symbol and timeframe, the new candles are appended to the stored history before them
(enough bars for the strategy's warm-up, :func:`history_bars`), each strategy of the
``signal_strategies`` setting runs, and every bar of the batch where the desired position
changes is published as ``trading_signal``, unless its bar had closed more than
``signal_max_age_bars`` bars before the record arrived on the stream: the first ingest of a
dataset streams its whole history, and signals from months ago are not news (they are
counted, not published). A signal's id is a hash of symbol, timeframe,
strategy, params and bar time, and publishing is idempotent on it (Powertools Idempotency in
the idempotency table), so a replayed record never publishes twice. A malformed record is
reported as a batch item failure (retried, then sent to the dead-letter queue by the event
source mapping); records of a dataset whose processing failed are reported too.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any, Literal

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import (
    KinesisStreamRecord,
)
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tradpal.platform.api_docs import responses
from tradpal.platform.candles import (
    MAX_CANDLES,
    Candle,
    CandlesRequest,
    QualitySummary,
    TimeframeName,
    candles_frame,
    quality_summary,
    stored_frame,
    time_text,
)
from tradpal.platform.http import ApiError, make_app
from tradpal.platform.observability import for_capability

obs = for_capability("signals")
router = APIGatewayHttpRouter()
ERRORS: dict[int, str] = {
    400: "unknown strategy, invalid params or data the library refuses",
    404: "the dataset is not stored, or holds no bars in the range (details say what is)",
    422: "invalid request or candles failing the quality rules (details name the fields)",
}


Side = Literal["long", "short", "flat"]
MIN_HISTORY_BARS = 250
MAX_HISTORY_BARS = 5_000
WARMUP_FACTOR = 5  # EMA-type lines settle to float precision after about 5 periods
IDEMPOTENCY_TTL_S = 8 * 86_400  # longer than the stream's retention: replays stay no-ops


class SignalsRequest(CandlesRequest):
    """A strategy over ``candles`` or, without them, the stored ``symbol`` at ``timeframe``
    in ``[start, end)``."""

    model_config = ConfigDict(extra="forbid")
    symbol: str = Field(default="CUSTOM", min_length=1, examples=["BTC/USDT"])
    timeframe: TimeframeName = "1h"
    strategy: str = Field(
        default="ema_crossover",
        description="a built-in strategy; NAME@TF adds a higher-timeframe filter, +atr stops",
        examples=["ema_crossover", "rsi_reversal+atr"],
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="overrides of the timeframe's default params"
    )
    candles: list[Candle] | None = Field(default=None, max_length=MAX_CANDLES)
    start: datetime | None = None
    end: datetime | None = None
    policy: Literal["reject", "repair"] = "reject"

    @model_validator(mode="after")
    def _candles_or_symbol(self) -> SignalsRequest:
        if self.candles is None and self.symbol == "CUSTOM":
            raise ValueError("give candles, or the symbol (and range) of stored data")
        if self.candles is not None and (self.start or self.end):
            raise ValueError("give candles or a stored range (start/end), not both")
        return self


class PositionChange(BaseModel):
    """The desired position changed at the close of bar ``bar`` (an index of the bars)."""

    bar: int
    time: str = Field(description="open time of the bar")
    side: Side
    previous: Side
    price: float = Field(description="close of the bar")
    stop_price: float | None = None
    target_price: float | None = None


class SignalsResponse(BaseModel):
    """The strategy's signals: flags as bar indices, the position after every bar, changes."""

    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any] = Field(description="the params used (defaults filled in)")
    bars: int
    first: str | None
    last: str | None
    long_entry: list[int] = Field(description="indices of bars with a long entry")
    long_exit: list[int]
    short_entry: list[int]
    short_exit: list[int]
    position: list[int] = Field(description="+1 long, 0 flat, -1 short after each bar's close")
    changes: list[PositionChange]
    current: Side
    quality: QualitySummary


def run_strategy(frame: Any, name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """``name``'s resolved params, signals, positions and position changes over ``frame``."""
    from tradpal.strategies import get_strategy, resolve_params
    from tradpal.strategies.positions import changes, positions

    strategy = get_strategy(name)
    resolved = resolve_params(strategy, frame, params)
    signals = strategy.generate(frame, resolved)
    pos = positions(signals)
    return {
        "params": resolved,
        "signals": signals,
        "position": pos,
        "changes": changes(pos),
    }


def change_rows(frame: Any, run: dict[str, Any], bars: Any) -> list[PositionChange]:
    """The position changes at ``bars`` (indices into ``frame``)."""
    from tradpal.strategies.positions import SIDES

    pos, signals = run["position"], run["signals"]
    close = frame["close"].to_numpy()
    out = []
    for t in bars:
        t = int(t)
        out.append(
            PositionChange(
                bar=t,
                time=time_text(frame.index[t]),
                side=SIDES[int(pos[t])],
                previous=SIDES[int(pos[t - 1]) if t else 0],
                price=float(close[t]),
                stop_price=_finite(signals.stop_price, t),
                target_price=_finite(signals.target_price, t),
            )
        )
    return out


def _finite(arr: Any, t: int) -> float | None:
    if arr is None:
        return None
    value = float(arr[t])
    return value if value == value and abs(value) != float("inf") else None


@router.post(
    "/v1/signals",
    summary="A strategy's signals over posted candles or a stored range",
    response_description="signals, positions and position changes",
    responses=responses(SignalsResponse, "signals, positions and position changes", ERRORS),
)
def post_signals(request: SignalsRequest) -> SignalsResponse:
    import numpy as np

    from tradpal.data.quality import check_quality
    from tradpal.platform.backtest_runs import RequestError, strategy_for
    from tradpal.strategies.positions import SIDES

    try:  # before any data is read: the strategy and its filter timeframe must fit
        strategy_for(request.strategy, request.timeframe)
    except RequestError as exc:
        raise ApiError(400, "bad_request", exc.message, exc.details()) from None
    if request.candles is not None:
        frame, quality = candles_frame(
            request.candles,
            symbol=request.symbol,
            timeframe=request.timeframe,
            policy=request.policy,
        )
    else:
        frame = stored_frame(request.symbol, request.timeframe, request.start, request.end)
        quality = check_quality(frame, timeframe=request.timeframe)
    run = run_strategy(frame, request.strategy, request.params)
    signals, pos = run["signals"], run["position"]
    n = len(frame)
    obs.metrics.add_metric(name="SignalBars", unit="Count", value=n)
    return SignalsResponse(
        symbol=request.symbol,
        timeframe=request.timeframe,
        strategy=request.strategy,
        params=run["params"],
        bars=n,
        first=time_text(frame.index[0]) if n else None,
        last=time_text(frame.index[-1]) if n else None,
        long_entry=np.flatnonzero(signals.long_entry).tolist(),
        long_exit=np.flatnonzero(signals.long_exit).tolist(),
        short_entry=np.flatnonzero(signals.short_entry).tolist(),
        short_exit=np.flatnonzero(signals.short_exit).tolist(),
        position=pos.tolist(),
        changes=change_rows(frame, run, run["changes"]),
        current=SIDES[int(pos[-1])] if n else "flat",
        quality=quality_summary(quality),
    )


# --- the market-data stream -----------------------------------------------------------------


def history_bars(strategy: Any, timeframe: str) -> int:
    """Stored bars to load before new candles: ``WARMUP_FACTOR`` times the longest integer
    param of the timeframe's defaults (times the timeframe ratio of a higher-timeframe
    filter), at least ``MIN_HISTORY_BARS`` and at most ``MAX_HISTORY_BARS``."""
    from tradpal.timeframes import parse_timeframe

    defaults = strategy.defaults_for(timeframe)
    longest = max(
        (int(v) for v in defaults.values() if isinstance(v, int) and not isinstance(v, bool)),
        default=0,
    )
    ratio = 1
    name = getattr(strategy, "name", "")
    if "@" in name:
        higher = name.rpartition("@")[2].removesuffix("+atr")
        ratio = max(1, parse_timeframe(higher).seconds // parse_timeframe(timeframe).seconds)
    return min(MAX_HISTORY_BARS, max(MIN_HISTORY_BARS, WARMUP_FACTOR * longest * ratio))


def signal_id(symbol: str, timeframe: str, strategy: str, params: dict[str, Any], time: str) -> str:
    """The stable id of a signal: the same bar, strategy and params always give the same id."""
    key = json.dumps([symbol, timeframe, strategy, params, time], sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@cache
def _idempotency_config() -> Any:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    return IdempotencyConfig(
        event_key_jmespath="signal_id",
        expires_after_seconds=IDEMPOTENCY_TTL_S,
        raise_on_no_idempotency_key=True,
    )


@cache
def _publisher(table: str, dynamodb: Any) -> Callable[..., dict[str, Any]]:
    """``publish(signal=detail)``, run at most once per ``signal_id`` (per idempotency table
    and client; the cache holds one per test server)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        idempotent_function,
    )

    from tradpal.events import EventPublisher

    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb)
    publisher = EventPublisher("signals")

    @idempotent_function(
        data_keyword_argument="signal",
        persistence_store=persistence,
        config=_idempotency_config(),
    )
    def publish(signal: dict[str, Any]) -> dict[str, Any]:
        return {"event_id": publisher.publish("trading_signal", signal)}

    return publish


def publish_signal(detail: dict[str, Any]) -> None:
    """Publish ``trading_signal`` once per ``detail["signal_id"]``."""
    from tradpal.platform.clients import client
    from tradpal.platform.environment import platform_env

    table = platform_env().require("idempotency_table")
    _publisher(table, client("dynamodb"))(signal=detail)


class _Record:
    __slots__ = ("arrived", "candle", "seq")

    def __init__(self, seq: str, candle: Any, arrived: float) -> None:
        self.seq, self.candle, self.arrived = seq, candle, arrived


def _decode(record: dict[str, Any]) -> Any:
    from tradpal.events.schemas import parse_candle
    from tradpal.timeframes import parse_timeframe

    candle = parse_candle(base64.b64decode(record["kinesis"]["data"]))
    parse_timeframe(candle.timeframe)  # ConfigError naming the known ones
    return candle


def stream_signals(symbol: str, timeframe: str, records: list[_Record]) -> dict[str, Exception]:
    """Signals for one dataset's new candles; returns the failures by sequence number."""
    import numpy as np
    import pandas as pd

    from tradpal.config import load_settings
    from tradpal.data.contract import MarketMeta, make_ohlcv
    from tradpal.data.quality import check_quality
    from tradpal.errors import DataQualityError
    from tradpal.platform.environment import platform_env
    from tradpal.strategies import get_strategy
    from tradpal.strategies.positions import SIDES
    from tradpal.timeframes import parse_timeframe

    failed: dict[str, Exception] = {}
    # one candle per bar time, the later record winning (a re-sent bar is the newer copy)
    by_time: dict[int, _Record] = {}
    for rec in records:
        by_time[pd.Timestamp(rec.candle.time).value] = rec
    times = np.array(sorted(by_time), dtype=np.int64)
    recs = [by_time[int(t)] for t in times]
    fields = ("open", "high", "low", "close", "volume")
    values = np.array([[getattr(r.candle, f) for f in fields] for r in recs]).reshape(-1, 5)
    meta = MarketMeta(symbol=symbol, timeframe=timeframe, source=recs[0].candle.source)
    batch = make_ohlcv(times, *values.T, meta=meta)
    report = check_quality(batch, timeframe=timeframe)
    bad_rows: set[int] = set()
    for rule in report.failed:
        if rule.count > len(rule.first_rows):
            raise DataQualityError(f"new candles fail {rule.name}: {rule.message}", report=report)
        for label in rule.first_rows:
            bad_rows.update(np.flatnonzero(times == pd.Timestamp(label).value).tolist())
    for i in sorted(bad_rows):
        failed[recs[i].seq] = DataQualityError(
            f"candle {symbol} {timeframe} {recs[i].candle.time} fails the quality rules",
            report=report,
        )
    keep = np.array([i not in bad_rows for i in range(len(recs))], dtype=bool)
    if not keep.any():
        return failed
    batch = batch.iloc[np.flatnonzero(keep)]
    arrived = np.array([recs[i].arrived for i in np.flatnonzero(keep)])
    tf = parse_timeframe(timeframe)
    settings = load_settings()
    names = settings.signal_strategies
    # a bar closing at open + tf that arrived later than this is a backfill's history
    max_age_s = settings.signal_max_age_bars * tf.seconds or float("inf")
    closes_s = batch.index.asi8 / 1e9 + tf.seconds
    strategies = [get_strategy(name) for name in names]
    store = platform_env().market_store()
    stored = store.range(symbol, tf)
    first = batch.index[0]
    need = max(history_bars(s, tf.name) for s in strategies)
    history = None
    if stored is not None and stored[0] < first:
        history = store.read(symbol, tf, first - need * pd.Timedelta(seconds=tf.seconds), first)
    frame = batch
    if history is not None and len(history):
        frame = pd.concat([history[list(batch.columns)], batch])
        frame.attrs = dict(batch.attrs)
    offset = len(frame) - len(batch)
    close = frame["close"].to_numpy()
    published = stale = 0
    for name in names:
        run = run_strategy(frame, name, None)
        params = run["params"]
        pos = run["position"]
        for t in run["changes"][run["changes"] >= offset]:
            t = int(t)
            if arrived[t - offset] - closes_s[t - offset] > max_age_s:
                stale += 1
                continue
            when = time_text(frame.index[t])
            detail = {
                "signal_id": signal_id(symbol, tf.name, name, params, when),
                "symbol": symbol,
                "timeframe": tf.name,
                "strategy": name,
                "params": params,
                "time": when,
                "side": SIDES[int(pos[t])],
                "previous": SIDES[int(pos[t - 1]) if t else 0],
                "price": float(close[t]),
            }
            publish_signal(detail)
            published += 1
    obs.metrics.add_metric(name="SignalsPublished", unit="Count", value=published)
    if stale:
        obs.metrics.add_metric(name="SignalsNotPublishedAsHistory", unit="Count", value=stale)
    return failed


def process_stream(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Kinesis batch -> ``{"batchItemFailures": [...]}`` (see the module docstring)."""
    if context is not None:
        _idempotency_config().register_lambda_context(context)
    failures: dict[str, Exception] = {}
    groups: dict[tuple[str, str], list[_Record]] = defaultdict(list)
    for record in event.get("Records", ()):
        seq = record["kinesis"]["sequenceNumber"]
        try:
            candle = _decode(record)
        except Exception as exc:  # malformed: reported, never dropped, never fatal
            obs.logger.warning("malformed market-data record %s: %s", seq, exc)
            failures[seq] = exc
            continue
        # when the stream took it (seconds since the epoch): fixed, so retries decide alike
        arrived = float(record["kinesis"].get("approximateArrivalTimestamp") or time.time())
        groups[(candle.symbol, candle.timeframe)].append(_Record(seq, candle, arrived))
    for (symbol, timeframe), records in groups.items():
        try:
            failures.update(stream_signals(symbol, timeframe, records))
        except Exception as exc:  # this dataset's records are retried; others go on
            obs.logger.exception("signals for %s %s failed", symbol, timeframe)
            failures.update({r.seq: exc for r in records})

    def record_handler(record: KinesisStreamRecord) -> None:
        exc = failures.get(record.kinesis.sequence_number)
        if exc is not None:
            raise exc

    return process_partial_response(
        event=event,
        record_handler=record_handler,
        processor=BatchProcessor(event_type=EventType.KinesisDataStreams),
        context=context,
    )


app = make_app()
app.include_router(router)


def _is_stream(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and records[0].get("eventSource") == "aws:kinesis"


@obs.logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@obs.metrics.log_metrics
@obs.tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point: HTTP API v2 events and market-data Kinesis batches."""
    if _is_stream(event):
        return process_stream(event, context)
    return app.resolve(event, context)
