"""A backtest run on the platform: the request checked, and the state machine's tasks.

The request (``POST /v1/backtests``, also the execution's input)::

    {"strategy": "ema_crossover", "params": {...},
     "data": {"source": "store"|"sample", "symbol", "timeframe", "start", "end"},
     "config": {BacktestConfig overrides: fees, slippage, stop_loss, ...}}

The tasks take ``(run_id, state)`` and return the next state, which holds only small values
and S3 keys (Step Functions passes at most 256 KB between states):

* ``validate``: the request checked again (:class:`~tradpal.runs.requests.BacktestRequest`,
  as the API checked it) -> ``{"run_id", "request"}``;
* ``ensure_data``: the candles load and are not empty -> adds ``data`` (bars, first, last);
* ``run``: :func:`tradpal.backtest.strategy_run.backtest_strategy` with :func:`config_for` as the
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

from pydantic import BaseModel, Field

from tradpal.errors import StoreError
from tradpal.fields import validated
from tradpal.platform.market_data import load_data
from tradpal.platform.results import ResultStore
from tradpal.runs.api import RunView, page_cursor, read_cursor
from tradpal.runs.orchestration import reconcile
from tradpal.runs.requests import BacktestRequest
from tradpal.runs.store import RunRecord, RunStore

log = logging.getLogger(__name__)

PREFIX = "backtests"
FILES: dict[str, tuple[str, str]] = {
    "result": ("result.json", "application/json"),
    "trades": ("trades.csv", "text/csv"),
    "equity": ("equity.csv", "text/csv"),
    "report": ("report.html", "text/html"),
}
"""The run's files: name -> (file name, content type), as ``tradpal backtest`` writes them."""


def key_of(run_id: str, name: str) -> str:
    """The S3 key of file ``name`` (``"result"``, ``"trades"``...) of run ``run_id``."""
    return f"{PREFIX}/{run_id}/{FILES[name][0]}"


def checked(request: Mapping[str, Any]) -> dict[str, Any]:
    """``request`` (the execution's input, as the API accepted it) checked again and as
    plain JSON: a request changed on its way fails the run naming the field."""
    return validated(BacktestRequest, request).to_json()


def validate(run_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``validate``: the execution input checked -> ``{"run_id", "request"}``."""
    return {"run_id": run_id, "request": checked(request)}


def ensure_data(run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``ensure_data``: the requested bars exist -> ``data``: bars, first, last."""
    frame = load_data(state["request"]["data"])
    first, last = frame.index[0].isoformat(), frame.index[-1].isoformat()
    return {**state, "data": {"bars": len(frame), "first": first, "last": last}}


def backtest(request: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(StrategyRun, frame)`` of a checked request, exactly as ``tradpal backtest`` runs it
    (same loading, :func:`config_for` the timeframe with the overrides, symbol in the meta)."""
    from tradpal.backtest.strategy_run import backtest_strategy, config_for

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
    results = ResultStore()
    for name, body in output_files(strategy_run, frame).items():
        results.put_bytes(key_of(run_id, name), body, FILES[name][1])
    metrics = to_jsonable(strategy_run.result.metrics.to_dict())
    key = key_of(run_id, "result")
    return {**state, "result": {"bucket": results.bucket, "key": key, "metrics": metrics}}


def store(run_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Task ``store``: the run is SUCCEEDED with its result's key (after checking it is
    there: a result that is not stored must not be reported)."""
    key = state["result"]["key"]
    if not ResultStore().exists(key):
        raise StoreError(f"run {run_id}: {key} is not stored", hint="retry the execution")
    RunStore().succeed(run_id, "backtest", key)  # a run cancelled meanwhile stays CANCELLED
    return dict(state)


class Offloaded(BaseModel):
    """A value given inline, or (when large) as a pre-signed URL to its JSON."""

    inline: Any = None
    url: str | None = None
    key: str | None = None
    bytes: int | None = None
    expires_in_s: int | None = None


class RunSummary(BaseModel):
    """A backtest run in a list."""

    run_id: str
    status: str
    created_at: str | None
    strategy: str | None
    data: dict[str, Any] | None
    links: dict[str, str]


class BacktestView(RunView):
    """A backtest run: status, and the results once SUCCEEDED."""

    metrics: dict[str, Any] | None = None
    period: dict[str, Any] | None = None
    trades: Offloaded | None = None


class BacktestList(BaseModel):
    """A page of runs, newest first; ``next`` continues the list (null on the last page)."""

    runs: list[RunSummary]
    next: str | None = Field(None, description="pass it as ?after=; null on the last page")


MAX_LIST = 200
"""Most runs one page of the list holds."""


def list_page(path: str, limit: int, status: str | None, after: str | None) -> dict[str, Any]:
    """A page of backtest runs, newest first: ``{"runs": [RunSummary], "next": cursor}``
    (``next`` is None on the last page; ``after`` is the previous page's ``next``)."""
    position = read_cursor(after) if after is not None else None
    # one more than asked: whether another page follows
    page = RunStore().list("backtest", limit=limit + 1, status=status, after=position)
    more = len(page) > limit
    page = page[:limit]
    out = []
    for record in page:
        record = reconcile(record)
        if status is not None and record.status != status:
            continue  # its execution ended without the state machine recording it
        out.append(
            RunSummary(
                run_id=record.run_id,
                status=record.status,
                created_at=record.created_at or None,
                strategy=record.request.get("strategy"),
                data=record.request.get("data"),
                links={"self": f"{path}/{record.run_id}"},
            ).model_dump()
        )
    return {"runs": out, "next": page_cursor(page[-1]) if more else None}


def result_view(record: RunRecord, links: dict[str, str]) -> dict[str, Any]:
    """A SUCCEEDED run's ``metrics``, ``period``, ``trades`` (inline when small, else a
    pre-signed URL to ``trades.json``: :meth:`ResultStore.offload`) and ``links`` (``links``
    and pre-signed GET URLs of the run's stored files, by name: :data:`FILES`); nothing for
    a run that has not succeeded."""
    if record.status != "SUCCEEDED":
        return {}
    results = ResultStore()
    document = results.get_json(record.result_key)
    trades = results.offload(f"{PREFIX}/{record.run_id}/trades.json", document["trades"])
    keys = {name: key_of(record.run_id, name) for name in FILES}
    files = {name: results.presign(key) for name, key in keys.items() if results.exists(key)}
    return {
        "metrics": document["metrics"],
        "period": document["period"],
        "trades": trades,
        "links": {**links, **files},
    }


TASKS = {"validate": validate, "ensure_data": ensure_data, "run": run, "store": store}
"""The state machine's tasks by name (the ``task`` of the Lambda payload)."""
