"""Result files, HTML reports, several symbols in one run, comparison tables.

* :func:`write_backtest_outputs` writes ``result.json``, ``trades.csv``, ``equity.csv`` and
  ``report.html`` of one backtest (formats in :mod:`tradpal.reports.outputs`).
* :func:`backtest_report_html` and :func:`walkforward_report_html`: self-contained offline
  HTML pages (plotly.js inlined, no CDN; :mod:`tradpal.reports.html`).
* :func:`run_many` runs one strategy over several symbols and aggregates them as an
  equal-weight portfolio (:class:`MultiResult`); :func:`comparison_table` puts the key
  metrics of several runs side by side (:mod:`tradpal.reports.multi`).
"""

from __future__ import annotations

from tradpal.errors import ReportError
from tradpal.reports.html import backtest_report_html
from tradpal.reports.multi import KEY_METRICS, MultiResult, aggregate, comparison_table, run_many
from tradpal.reports.outputs import (
    OUTPUT_FILES,
    RESULT_SCHEMA,
    buy_and_hold_equity,
    equity_frame,
    result_document,
    write_backtest_outputs,
)
from tradpal.reports.walkforward import BELIEVE_OOS, walkforward_report_html
from tradpal.serialize import dumps, to_jsonable

__all__ = [
    "BELIEVE_OOS",
    "KEY_METRICS",
    "OUTPUT_FILES",
    "RESULT_SCHEMA",
    "MultiResult",
    "ReportError",
    "aggregate",
    "backtest_report_html",
    "buy_and_hold_equity",
    "comparison_table",
    "dumps",
    "equity_frame",
    "result_document",
    "run_many",
    "to_jsonable",
    "walkforward_report_html",
    "write_backtest_outputs",
]
