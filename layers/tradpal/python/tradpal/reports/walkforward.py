"""The walk-forward report: stitched out-of-sample equity, windows, stability.

Reads a :class:`tradpal.optimize.WalkForwardResult` through its agreed parts: ``oos_equity``
(the stitched out-of-sample equity, one value per bar), ``oos_metrics``, ``stability``
(``cv``, ``share_positive``, ``rating``) and ``windows`` (each with its in- and out-of-sample
ranges, the parameters chosen in sample, and the in- and out-of-sample metrics). The window
table shows every plain field of a window and, of its metrics, :data:`WINDOW_METRICS`, as
"IS ..." and "OOS ..." columns side by side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tradpal.errors import ReportError
from tradpal.optimize.walkforward import BELIEVE_OOS
from tradpal.reports.charts import equity_figure
from tradpal.reports.html import (
    SYNTHETIC_LABEL,
    _run_title,
    esc,
    figure_block,
    format_metric,
    key_value_table,
    metrics_table,
    page,
    records_table,
)
from tradpal.serialize import to_jsonable

WINDOW_METRICS: tuple[str, ...] = ("total_return", "sharpe", "max_drawdown", "num_trades")
"""Metrics shown per window, in sample and out of sample."""


def _side_of(key: str) -> str | None:
    k = key.lower()
    if k.startswith(("oos", "out")) or "out_sample" in k or "out_of_sample" in k:
        return "OOS"
    if k.startswith(("is_", "in_")) or k in ("is", "in_sample") or "in_sample" in k:
        return "IS"
    return None


def window_rows(windows: Any) -> tuple[list[str], list[list[Any]]]:
    """The per-window table: columns and rows (module docstring)."""
    columns: list[str] = []
    rows: list[dict[str, Any]] = []
    for window in windows:
        plain = to_jsonable(window)
        if not isinstance(plain, Mapping):
            raise ReportError(
                f"a walk-forward window is a {type(window).__name__}, not a record",
                hint="pass the WalkForwardResult from tradpal.optimize.walk_forward",
            )
        row: dict[str, Any] = {}
        for key, value in plain.items():
            side = _side_of(key)
            if isinstance(value, Mapping) and side is not None and "metric" in key.lower():
                for m in WINDOW_METRICS:
                    row[f"{side} {m}"] = value.get(m)
            elif isinstance(value, Mapping | list):
                row[key] = json.dumps(value, separators=(", ", ": "))
            else:
                row[key] = value
        for key in row:
            if key not in columns:
                columns.append(key)
        rows.append(row)
    # in-sample and out-of-sample metrics side by side, after the plain fields
    metric_cols = [f"{s} {m}" for m in WINDOW_METRICS for s in ("IS", "OOS")]
    ordered = [c for c in columns if c not in metric_cols]
    ordered += [c for c in metric_cols if c in columns]
    return ordered, [[r.get(c) for c in ordered] for r in rows]


def walkforward_report_html(wf_result: Any, frame: pd.DataFrame) -> str:
    """The walk-forward result as one self-contained offline HTML page: the stitched
    out-of-sample equity against buy-and-hold over the same bars, its drawdown, the
    out-of-sample metrics, the stability rating, and the per-window table of in-sample
    versus out-of-sample metrics with the chosen parameters, led by the sentence that the
    stitched out-of-sample result is the one to believe (:data:`BELIEVE_OOS`)."""
    equity = getattr(wf_result, "oos_equity", None)
    if not isinstance(equity, pd.Series):
        raise ReportError(
            f"a {type(wf_result).__name__} has no stitched out-of-sample equity (oos_equity)",
            hint="pass the WalkForwardResult from tradpal.optimize.walk_forward",
        )
    meta = dict(getattr(wf_result, "meta", None) or {})
    title, synthetic = _run_title(meta, frame, "walk-forward")
    curves: dict[str, pd.Series] = {"Out-of-sample equity (stitched)": equity}
    if len(equity) and equity.index.isin(frame.index).all():
        close = frame["close"].reindex(equity.index)
        capital = float(getattr(getattr(wf_result, "config", None), "capital", equity.iloc[0]))
        curves["Buy and hold (same bars)"] = capital * close / close.iloc[0]
    peak = equity.cummax()
    drawdown = equity / peak - 1.0 if len(equity) else equity
    chart_title = f"{title} {SYNTHETIC_LABEL}" if synthetic else title
    fig = equity_figure(curves, title=chart_title, drawdown=drawdown)
    stability = to_jsonable(getattr(wf_result, "stability", None)) or {}
    stab_items = {
        "rating": stability.get("rating", "n/a"),
        "windows": stability.get("windows", len(getattr(wf_result, "windows", []))),
        "share of positive windows": format_metric("share_positive",
                                                   stability.get("share_positive")),
        "coefficient of variation": format_metric("cv", stability.get("cv")),
    }  # fmt: skip
    columns, rows = window_rows(getattr(wf_result, "windows", []))
    body = (
        f"<p class='believe'><strong>{esc(BELIEVE_OOS)}</strong></p>\n"
        f"<p class='note'>Stability: <strong id='stability-rating'>"
        f"{esc(stab_items['rating'])}</strong></p>\n"
        f"{figure_block(fig, 'walkforward-chart')}\n"
        "<div class='grid'><div><h2>Out-of-sample metrics (stitched)</h2>\n"
        f"{metrics_table(to_jsonable(getattr(wf_result, 'oos_metrics', {})) or {})}</div>\n"
        f"<div><h2>Stability</h2>\n{key_value_table(stab_items, css_class='stability')}</div>"
        "</div>\n"
        "<h2>Windows: in sample (optimised) vs out of sample</h2>\n"
        f"{records_table(columns, rows, css_class='windows')}\n"
    )
    return page(title, body, synthetic=synthetic)
