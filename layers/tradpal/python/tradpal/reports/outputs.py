"""The files of one backtest run: ``result.json``, ``trades.csv``, ``equity.csv``, ``report.html``.

* ``result.json``: strict JSON (see :mod:`tradpal.serialize`: NaN and infinities
  are ``null``, times ISO 8601 UTC) with ``schema`` (``"tradpal.backtest/1"``), ``metrics``,
  ``config``, ``meta`` (symbol, timeframe, strategy, params, ... as the engine recorded
  them), ``data`` (the frame's :class:`~tradpal.data.contract.MarketMeta`, or ``null``),
  ``period`` (``start``, ``end`` bar open times and ``bars``) and ``trades`` (one object per
  trade, the columns of ``result.trades``).
* ``trades.csv``: ``result.trades`` as is, one row per trade; times ISO 8601 with offset.
* ``equity.csv``: one row per bar, ``time`` (bar open time, UTC; the values are marked at
  that bar's close), ``equity`` and ``drawdown`` (fraction <= 0) from the result, and
  ``buy_and_hold`` (see :func:`buy_and_hold_equity`).
* ``report.html``: :func:`tradpal.reports.html.backtest_report_html`.

Floats in the CSV files are written with Python's shortest round-trip form, so reading them
back gives the same float64 values bit for bit. Each file is written to a temporary name
and renamed into place, so an interrupted write never leaves a half-written file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradpal.data.contract import ensure_ohlcv, get_meta
from tradpal.errors import ReportError
from tradpal.files import replace_file
from tradpal.serialize import dumps, to_jsonable

if TYPE_CHECKING:
    from tradpal.backtest import BacktestResult

RESULT_SCHEMA = "tradpal.backtest/1"
OUTPUT_FILES: dict[str, str] = {
    "result": "result.json",
    "trades": "trades.csv",
    "equity": "equity.csv",
    "report": "report.html",
}


def buy_and_hold_equity(frame: pd.DataFrame, capital: float) -> pd.Series:
    """Equity of putting all of ``capital`` into the asset at the first bar's close and
    holding it: ``capital * close / close[0]`` per bar, no fees (the benchmark line)."""
    close = frame["close"].to_numpy(dtype=np.float64)
    if len(close) == 0:
        return pd.Series([], index=frame.index, name="buy_and_hold", dtype=np.float64)
    return pd.Series(capital * close / close[0], index=frame.index, name="buy_and_hold")


def equity_frame(result: BacktestResult, frame: pd.DataFrame) -> pd.DataFrame:
    """Per bar: ``equity``, ``drawdown`` and ``buy_and_hold`` indexed by ``time``."""
    check_aligned(result, frame)
    out = pd.DataFrame(
        {
            "equity": result.equity.to_numpy(dtype=np.float64),
            "drawdown": result.drawdown.to_numpy(dtype=np.float64),
            "buy_and_hold": buy_and_hold_equity(frame, result.config.capital).to_numpy(),
        },
        index=frame.index.rename("time"),
    )
    return out


def result_document(result: BacktestResult, frame: pd.DataFrame) -> dict[str, Any]:
    """The content of ``result.json`` as plain JSON values (see the module docstring)."""
    meta = get_meta(frame)
    index = frame.index
    body = result.to_dict()  # metrics, config, meta, trades
    return to_jsonable(
        {
            "schema": RESULT_SCHEMA,
            "metrics": body["metrics"],
            "config": body["config"],
            "meta": body["meta"],
            "data": meta.to_dict() if meta is not None else None,
            "period": {
                "start": index[0] if len(index) else None,
                "end": index[-1] if len(index) else None,
                "bars": len(index),
            },
            "trades": body["trades"],
        }
    )


def write_backtest_outputs(
    result: BacktestResult,
    frame: pd.DataFrame,
    folder: str | Path,
    *,
    indicators: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Path]:
    """Write ``result.json``, ``trades.csv``, ``equity.csv`` and ``report.html`` into
    ``folder`` (created if missing; existing files of those names are replaced).

    ``frame`` is the OHLCV frame the backtest ran on (one equity value per bar);
    ``indicators`` (name -> array of one value per bar) are drawn in the report.
    Returns ``{"result": path, "trades": path, "equity": path, "report": path}``.
    """
    from tradpal.reports.html import backtest_report_html

    ensure_ohlcv(frame, what="the backtest's data")
    check_aligned(result, frame)
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(
            f"cannot create the output folder {folder}: {exc.strerror or exc}",
            hint="choose a folder you can write to",
        ) from None
    paths = {key: folder / name for key, name in OUTPUT_FILES.items()}
    replace_file(paths["result"], dumps(result_document(result, frame)) + "\n")
    replace_file(paths["trades"], result.trades.to_csv(index=False))
    replace_file(paths["equity"], equity_frame(result, frame).to_csv(index=True))
    replace_file(paths["report"], backtest_report_html(result, frame, indicators))
    return paths


def check_aligned(result: BacktestResult, frame: pd.DataFrame) -> None:
    """Raise :class:`ReportError` unless the result holds one equity value per bar of ``frame``."""
    n = len(frame)
    if len(result.equity) != n or len(result.drawdown) != n:
        raise ReportError(
            f"the result has {len(result.equity)} equity values for {n} bars of data",
            hint="pass the same frame that the backtest ran on",
        )
    if isinstance(result.equity.index, pd.DatetimeIndex) and not result.equity.index.equals(
        frame.index
    ):
        raise ReportError(
            "the result's equity curve is indexed by other times than the data",
            hint="pass the same frame that the backtest ran on",
        )
