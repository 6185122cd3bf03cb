"""A backtest run on the platform: the request checked, and the state machine's tasks.

The request (``POST /v1/backtests``, also the execution's input)::

    {"strategy": "ema_crossover", "params": {...},
     "data": {"source": "store"|"sample", "symbol", "timeframe", "start", "end"},
     "config": {BacktestConfig overrides: fees, slippage, stop_loss, ...}}

The tasks take ``(run_id, state)`` and return the next state, which holds only small values
and S3 keys (Step Functions passes at most 256 KB between states):

* ``validate``: the request checked (:func:`check_request`) -> ``{"run_id", "request"}``;
* ``ensure_data``: the candles load and are not empty -> adds ``data`` (bars, first, last);
* ``run``: :func:`tradpal.backtest.runs.backtest_strategy` with :func:`config_for` as the
  command line runs it, and the run's files as ``tradpal backtest`` writes them (result.json,
  trades.csv, equity.csv, report.html) under ``backtests/<run_id>/`` -> adds ``result``
  (``{"bucket", "key", "metrics"}``, what ``backtest_complete`` carries);
* ``store``: checks the result is stored and marks the run SUCCEEDED with its key (the
  commit: cheap and safe to retry).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tradpal.errors import StoreError, TradPalError
from tradpal.platform.environment import platform_env
from tradpal.platform.market_data import load_data, pin_end
from tradpal.platform.results import ResultStore
from tradpal.platform.runs import RunStore

log = logging.getLogger(__name__)

PREFIX = "backtests"
FILES: dict[str, tuple[str, str]] = {
    "result": ("result.json", "application/json"),
    "trades": ("trades.csv", "text/csv"),
    "equity": ("equity.csv", "text/csv"),
    "report": ("report.html", "text/html"),
}
"""The run's files: name -> (file name, content type), as ``tradpal backtest`` writes them."""


class RequestError(TradPalError):
    """A request field the library refuses; ``field`` names it (``body.strategy``)."""

    def __init__(self, field: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{field}: {message}", hint=hint)
        self.field, self.reason = field, message

    def details(self) -> list[dict[str, Any]]:
        detail = {"field": self.field, "message": self.reason}
        return [detail | {"hint": self.hint}] if self.hint else [detail]


def key_of(run_id: str, name: str) -> str:
    """The S3 key of file ``name`` (``"result"``, ``"trades"``...) of run ``run_id``."""
    return f"{PREFIX}/{run_id}/{FILES[name][0]}"


def _field(field: str, call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except TradPalError as exc:
        raise RequestError(field, exc.message, exc.hint) from None


def strategy_for(name: Any, timeframe: str, field: str = "body.strategy") -> Any:
    """The strategy ``name`` names, for data at ``timeframe``; :class:`RequestError` naming
    ``field`` when it is unknown or when a higher-timeframe filter (``NAME@TF``) cannot be
    made from the data: TF must be ``timeframe`` or coarser, and a whole multiple of it."""
    from tradpal.data.resample import check_coarser
    from tradpal.strategies import get_strategy
    from tradpal.timeframes import parse_timeframe

    strategy = _field(field, get_strategy, name)
    tf = parse_timeframe(timeframe)
    inner = strategy
    while inner is not None:  # NAME@TF+atr wraps the filter in the stops
        higher = getattr(inner, "higher_timeframe", None)
        if higher is not None:
            try:
                check_coarser(tf, higher)
            except TradPalError as exc:
                raise RequestError(
                    field,
                    f"{strategy.name} filters on {higher.name} bars, which {tf.name} data "
                    f"cannot make ({exc.message})",
                    f"use a filter timeframe that is a multiple of {tf.name} (such as "
                    f"@4h on 1h data), or data at a finer timeframe",
                ) from None
        inner = getattr(inner, "inner", None)
    return strategy


def check_request(request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` checked without loading data, with an open ``data.end`` pinned
    (:func:`~tradpal.platform.market_data.pin_end`); :class:`RequestError` naming the field.

    Checks: the strategy exists and its higher-timeframe filter fits the data's timeframe
    (:func:`strategy_for`), the timeframe and times parse, a start is not in the future,
    ``store`` has a symbol, the params are the strategy's and valid over its timeframe
    defaults, the config overrides are BacktestConfig settings with valid values (an
    explicit null is refused: leave a setting out for its default). Whether the store holds
    the data is :func:`~tradpal.platform.market_data.require_stored_data` (I/O, done by the
    API when it accepts the run)."""
    from tradpal.backtest.runs import config_for
    from tradpal.data.contract import to_utc_timestamp
    from tradpal.timeframes import parse_timeframe

    data = dict(request.get("data") or {})
    data.setdefault("source", "store")
    tf = _field("body.data.timeframe", parse_timeframe, data.get("timeframe") or "1h")
    data["timeframe"] = tf.name
    strategy = strategy_for(request.get("strategy"), tf.name)
    if data["source"] == "store" and not data.get("symbol"):
        raise RequestError(
            "body.data.symbol", "reading the store needs a symbol", 'e.g. "BTC/USDT"'
        )
    times = {}
    for name in ("start", "end"):
        if data.get(name) is not None:
            times[name] = _field(f"body.data.{name}", to_utc_timestamp, data[name])
            data[name] = times[name].isoformat()
    if len(times) == 2 and times["start"] >= times["end"]:
        raise RequestError("body.data.end", f"end {data['end']} is not after start {data['start']}")
    pinned = pin_end(data)
    if "start" in times and "end" not in times and times["start"] >= pd.Timestamp(pinned["end"]):
        raise RequestError(
            "body.data.start",
            f"start {data['start']} is in the future (an open end reads the closed "
            f"{tf.name} bars before {pinned['end']})",
            "give a start in the past; without end the run reads up to now",
        )
    params = dict(request.get("params") or {})
    unknown = sorted(set(params) - set(strategy.space.names))
    if unknown:
        raise RequestError(
            "body.params",
            f"unknown param(s) {', '.join(unknown)} for {strategy.name}",
            f"{strategy.name} takes: {', '.join(strategy.space.names)}",
        )
    _field("body.params", strategy.space.validate, {**strategy.defaults_for(tf.name), **params})
    config = dict(request.get("config") or {})
    for name, value in config.items():
        if value is None:  # config_for skips None (an unset CLI flag): never a silent default
            raise RequestError(
                f"body.config.{name}",
                f"{name} is null; give a value, or leave the field out for the default",
                "to turn an optional setting off (stop_loss, take_profit, trailing_stop, "
                'time_stop_bars...) give "none"',
            )
    _field("body.config", config_for, tf.name, **config)
    return {
        "strategy": request["strategy"],
        "params": params,
        "data": pinned,
        "config": config,
    }


def _results() -> ResultStore:
    return ResultStore(platform_env().require("results_bucket"))


def validate(run_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``validate``: the execution input checked -> ``{"run_id", "request"}``."""
    return {"run_id": run_id, "request": check_request(request)}


def ensure_data(run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``ensure_data``: the requested bars exist -> ``data``: bars, first, last."""
    frame = load_data(state["request"]["data"])
    first, last = frame.index[0].isoformat(), frame.index[-1].isoformat()
    return {**state, "data": {"bars": len(frame), "first": first, "last": last}}


def backtest(request: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(StrategyRun, frame)`` of a checked request, exactly as ``tradpal backtest`` runs it
    (same loading, :func:`config_for` the timeframe with the overrides, symbol in the meta)."""
    from tradpal.backtest.runs import backtest_strategy, config_for

    data = request["data"]
    frame = load_data(data)
    config = config_for(data["timeframe"], **dict(request.get("config") or {}))
    run = backtest_strategy(frame, request["strategy"], request.get("params") or {}, config)
    run.result.meta.setdefault("symbol", data.get("symbol") or frame_symbol(frame))
    return run, frame


def frame_symbol(frame: Any) -> str | None:
    from tradpal.data.contract import get_meta

    meta = get_meta(frame)
    return None if meta is None else meta.symbol


def output_files(run: Any, frame: Any) -> dict[str, bytes]:
    """The run's files (:data:`FILES`) as ``tradpal backtest`` writes them; without plotly
    the report is left out (logged), the data files never are."""
    from tradpal.reports import dumps, equity_frame, result_document

    result = run.result
    out = {
        "result": (dumps(result_document(result, frame)) + "\n").encode(),
        "trades": result.trades.to_csv(index=False).encode(),
        "equity": equity_frame(result, frame).to_csv(index=True).encode(),
    }
    try:
        from tradpal.reports.html import backtest_report_html
    except ImportError as exc:  # the zip-packaged functions have no plotly; the image has
        log.warning("report.html skipped: %s", exc)
        return out
    out["report"] = backtest_report_html(result, frame, run.indicators).encode()
    return out


def run(run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``run``: the backtest and its files -> ``result``: bucket, key, metrics."""
    from tradpal.serialize import to_jsonable

    strategy_run, frame = backtest(state["request"])
    results = _results()
    for name, body in output_files(strategy_run, frame).items():
        results.put_bytes(key_of(run_id, name), body, FILES[name][1])
    metrics = to_jsonable(strategy_run.result.metrics.to_dict())
    key = key_of(run_id, "result")
    return {**state, "result": {"bucket": results.bucket, "key": key, "metrics": metrics}}


def store(run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``store``: the run is SUCCEEDED with its result's key (after checking it is
    there: a result that is not stored must not be reported)."""
    key = state["result"]["key"]
    if not _results().exists(key):
        raise StoreError(f"run {run_id}: {key} is not stored", hint="retry the execution")
    RunStore(platform_env().require("runs_table")).update(
        run_id, status="SUCCEEDED", kind="backtest", result_key=key
    )
    return dict(state)


def result_view(run_id: str, result_key: str) -> dict[str, Any]:
    """A SUCCEEDED run's ``metrics``, ``period`` and ``trades`` (inline when small, else a
    pre-signed URL to ``trades.json``: :meth:`ResultStore.offload`)."""
    results = _results()
    document = results.get_json(result_key)
    trades = results.offload(f"{PREFIX}/{run_id}/trades.json", document["trades"])
    return {"metrics": document["metrics"], "period": document["period"], "trades": trades}


def result_links(run_id: str) -> dict[str, str]:
    """Pre-signed GET URLs of the run's stored files, by name (:data:`FILES`)."""
    results = _results()
    keys = {name: key_of(run_id, name) for name in FILES}
    return {name: results.presign(key) for name, key in keys.items() if results.exists(key)}


TASKS = {"validate": validate, "ensure_data": ensure_data, "run": run, "store": store}
"""The state machine's tasks by name (the ``task`` of the Lambda payload)."""
