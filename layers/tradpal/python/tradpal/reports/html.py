"""Self-contained HTML reports that work offline.

Each page carries plotly.js itself (the bundle shipped with the ``plotly`` package, inlined
once in a ``<script>`` element): no CDN, no external script, style sheet or font, so a report
opens from disk, from an e-mail attachment or on an air-gapped machine. Figures are embedded
as JSON in ``<script type="application/json">`` elements and drawn by a few lines of inline
script; the numbers use plotly's compact binary array encoding. The page is about 4.8 MB of
plotly.js plus the data, which :mod:`tradpal.reports.charts` keeps bounded on long series.
Data marked synthetic (:attr:`MarketMeta.synthetic`) is labelled ``[SYNTHETIC DATA]`` in the
page title, the chart title and a banner.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tradpal.data.contract import ensure_ohlcv, get_meta
from tradpal.reports.charts import backtest_figure
from tradpal.reports.outputs import buy_and_hold_equity, check_aligned
from tradpal.serialize import to_jsonable

if TYPE_CHECKING:
    from tradpal.backtest import BacktestResult

SYNTHETIC_LABEL = "[SYNTHETIC DATA]"
MAX_TRADE_ROWS = 500
"""Trades listed in the page's trade table (all of them are in the chart and trades.csv)."""

PERCENT_METRICS = frozenset(
    [
        "total_return",
        "cagr",
        "annual_volatility",
        "max_drawdown",
        "win_rate",
        "exposure",
        "buy_and_hold_return",
        "best_trade",
        "worst_trade",
        "avg_win",
        "avg_loss",
        "expectancy",
        "kelly",
        "return",
        "oos_return",
        "is_return",
        "share_positive",
    ]
)
"""Metrics that are fractions and shown as percentages (the files keep the fractions)."""
METRIC_LABELS: dict[str, str] = {
    "total_return": "Total return",
    "cagr": "CAGR",
    "annual_volatility": "Annual volatility",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "calmar": "Calmar ratio",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration": "Max drawdown duration (bars)",
    "max_drawdown_duration_days": "Max drawdown duration (days)",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "expectancy": "Expectancy",
    "avg_win": "Average win",
    "avg_loss": "Average loss",
    "best_trade": "Best trade",
    "worst_trade": "Worst trade",
    "exposure": "Exposure time",
    "num_trades": "Trades",
    "sqn": "SQN",
    "kelly": "Kelly fraction",
    "buy_and_hold_return": "Buy-and-hold return",
    "final_equity": "Final equity",
}

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;margin:0 auto;
max-width:1400px;padding:16px 24px;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.4em 0 .4em}
.banner{background:#fff3cd;border:2px solid #d39e00;padding:8px 12px;font-weight:600;
margin:8px 0}
.note{color:#555;font-size:.9em}
table{border-collapse:collapse;font-size:.9em;margin:4px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
.pos{color:#1a7f37}.neg{color:#c62828}
"""

_RENDER_JS = """
(function(){
  var specs = document.querySelectorAll('script[type="application/json"][data-figure]');
  for (var i = 0; i < specs.length; i++) {
    var fig = JSON.parse(specs[i].textContent);
    Plotly.newPlot(specs[i].getAttribute('data-figure'), fig.data, fig.layout,
                   {responsive: true, displaylogo: false});
  }
})();
"""


@cache
def plotly_js() -> str:
    """The plotly.js bundle shipped with the ``plotly`` package (read once per process)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def esc(value: object) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def format_metric(name: str, value: Any) -> str:
    """``value`` formatted for display: fractions in :data:`PERCENT_METRICS` as percentages,
    counts as integers, money and ratios with thousands separators; ``None``/NaN as "n/a"."""
    name = name.rsplit(" ", 1)[-1]  # "OOS sharpe" formats as "sharpe"
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return "n/a" if math.isnan(v) else ("∞" if v > 0 else "-∞")
        if name in PERCENT_METRICS:
            return f"{v:+.2%}" if name.endswith("return") or name == "cagr" else f"{v:.2%}"
        if name.endswith("_bars") or name in ("num_trades", "max_drawdown_duration"):
            return f"{v:,.0f}"
        return f"{v:,.4f}" if abs(v) < 1000 else f"{v:,.2f}"
    return str(value)


def metrics_table(metrics: Mapping[str, Any], *, labels: Mapping[str, str] = METRIC_LABELS) -> str:
    """A two-column HTML table (metric, value) with a ``data-metric`` attribute per row."""
    rows = []
    for name, value in metrics.items():
        label = labels.get(name, name.replace("_", " "))
        cls = ""
        if name in ("total_return", "cagr") and isinstance(value, (int, float)):
            cls = " class='pos'" if value > 0 else " class='neg'" if value < 0 else ""
        rows.append(
            f"<tr data-metric='{esc(name)}'><td class='l'>{esc(label)}</td>"
            f"<td{cls}>{esc(format_metric(name, value))}</td></tr>"
        )
    return (
        "<table class='metrics'><thead><tr><th class='l'>Metric</th><th>Value</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def key_value_table(items: Mapping[str, Any], *, css_class: str = "kv") -> str:
    """A two-column HTML table of plain values (nested values as compact JSON)."""
    rows = []
    for key, value in items.items():
        shown = value if isinstance(value, str) else json.dumps(to_jsonable(value))
        rows.append(f"<tr><td class='l'>{esc(key)}</td><td class='l'>{esc(shown)}</td></tr>")
    return f"<table class='{esc(css_class)}'><tbody>{''.join(rows)}</tbody></table>"


def records_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    css_class: str = "records",
    formats: Mapping[str, str] | None = None,
) -> str:
    """An HTML table with a header row; cells formatted by :func:`format_metric` using the
    column name (or ``formats[column]`` as a ``format()`` spec for floats)."""
    formats = formats or {}
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for col, value in zip(columns, row, strict=True):
            spec = formats.get(col)
            if spec and isinstance(value, (float, np.floating)) and math.isfinite(value):
                text = format(float(value), spec)
            elif isinstance(value, pd.Timestamp):
                text = "" if value is pd.NaT else value.strftime("%Y-%m-%d %H:%M")
            else:
                text = format_metric(col, value)
            cells.append(f"<td>{esc(text)}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<table class='{esc(css_class)}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def figure_block(fig: go.Figure, div_id: str) -> str:
    """A ``<div>`` and the figure's JSON for the page's render script."""
    spec = fig.to_json()
    # JSON inside <script>: '<' escaped so no '</script>' (or '<!--') can end the element.
    spec = spec.replace("<", "\\u003c")
    return (
        f"<div id='{esc(div_id)}' class='figure'></div>\n"
        f"<script type='application/json' data-figure='{esc(div_id)}'>{spec}</script>"
    )


def page(title: str, body: str, *, synthetic: bool = False) -> str:
    """A complete offline HTML document: the plotly.js bundle inline, then ``body``, then the
    script that draws every embedded figure."""
    full_title = f"{title} {SYNTHETIC_LABEL}" if synthetic else title
    banner = (
        f"<div class='banner' id='synthetic-banner'>{SYNTHETIC_LABEL} This report was computed on "
        "generated (synthetic) prices, not market data. Its numbers say nothing about any real "
        "market.</div>"
        if synthetic
        else ""
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>\n"
        f"<title>{esc(full_title)}</title>\n<style>{_CSS}</style>\n"
        f"<script type='text/javascript'>{plotly_js()}</script>\n</head>\n<body>\n"
        f"<h1>{esc(full_title)}</h1>\n{banner}\n{body}\n"
        f"<script type='text/javascript'>{_RENDER_JS}</script>\n</body>\n</html>\n"
    )


def _run_title(meta: Mapping[str, Any], frame: pd.DataFrame, what: str) -> tuple[str, bool]:
    data_meta = get_meta(frame)
    symbol = meta.get("symbol") or (data_meta.symbol if data_meta else None) or "data"
    timeframe = meta.get("timeframe") or (data_meta.timeframe if data_meta else "")
    strategy = meta.get("strategy")
    synthetic = bool(meta.get("synthetic")) or bool(data_meta and data_meta.synthetic)
    parts = [str(symbol), str(timeframe)]
    title = " ".join(p for p in parts if p)
    if strategy:
        title += f" · {strategy}"
    return f"{title} — {what}", synthetic


def _period_line(frame: pd.DataFrame) -> str:
    if len(frame) == 0:
        return "no bars"
    data_meta = get_meta(frame)
    source = f", source {data_meta.source}" if data_meta else ""
    return (
        f"{len(frame):,} bars from {frame.index[0]:%Y-%m-%d %H:%M} to "
        f"{frame.index[-1]:%Y-%m-%d %H:%M} UTC (bar open times){source}"
    )


def trades_table(trades: pd.DataFrame, *, limit: int = MAX_TRADE_ROWS) -> str:
    """The first ``limit`` trades as an HTML table, with a note when more exist."""
    if trades is None or len(trades) == 0:
        return "<p class='note'>No trades.</p>"
    cols = [c for c in trades.columns if c in (
        "entry_time", "exit_time", "side", "quantity", "entry_price", "exit_price", "fees",
        "pnl", "return", "exit_reason", "bars_held")]  # fmt: skip
    shown = trades[cols].head(limit)
    formats = {"quantity": ",.6g", "entry_price": ",.6g", "exit_price": ",.6g",
               "fees": ",.2f", "pnl": ",.2f", "return": "+.2%"}  # fmt: skip
    note = (
        f"<p class='note'>Showing the first {limit:,} of {len(trades):,} trades; trades.csv and "
        "the chart hold them all.</p>"
        if len(trades) > limit
        else ""
    )
    table = records_table(cols, shown.itertuples(index=False, name=None), css_class="trades",
                          formats=formats)  # fmt: skip
    return note + table


def backtest_report_html(
    result: BacktestResult,
    frame: pd.DataFrame,
    indicators: Mapping[str, np.ndarray] | None = None,
) -> str:
    """The report of one backtest as one self-contained HTML document (module docstring).

    Candlesticks with ``indicators`` (name -> one value per bar; placement rules in
    :mod:`tradpal.reports.charts`) and every trade's entry and exit (long/short told apart,
    hover text with price, quantity, PnL and exit reason); equity against buy-and-hold
    (:func:`~tradpal.reports.outputs.buy_and_hold_equity`); drawdown; the metrics, the
    configuration and the trade list as HTML tables.
    """
    ensure_ohlcv(frame, what="the backtest's data")
    check_aligned(result, frame)
    meta = dict(result.meta or {})
    title, synthetic = _run_title(meta, frame, "backtest")
    chart_title = f"{title} {SYNTHETIC_LABEL}" if synthetic else title
    benchmark = buy_and_hold_equity(frame, result.config.capital)
    fig, dec = backtest_figure(frame, result.equity, result.drawdown, benchmark, result.trades,
                               indicators, title=chart_title)  # fmt: skip
    metrics = to_jsonable(result.metrics)
    decimation_note = (
        f"<p class='note'>The chart shows {dec.k}-bar candles ({math.ceil(dec.n / dec.k):,} of "
        f"{dec.n:,} bars) and, for the lines, the lowest and highest point of each {dec.k}-bar "
        "block; trade markers and all numbers use every bar.</p>"
        if dec.active
        else ""
    )
    params = meta.get("params")
    body = (
        f"<p class='note'>{esc(_period_line(frame))}</p>\n"
        + (
            f"<p class='note'>Parameters: {esc(json.dumps(to_jsonable(params)))}</p>\n"
            if params
            else ""
        )
        + f"{figure_block(fig, 'backtest-chart')}\n{decimation_note}\n"
        "<div class='grid'><div><h2>Metrics</h2>\n"
        f"{metrics_table(metrics)}</div>\n"
        "<div><h2>Configuration</h2>\n"
        f"{key_value_table(to_jsonable(result.config), css_class='config')}</div>\n"
        "<div><h2>Run</h2>\n"
        f"{key_value_table({k: v for k, v in meta.items() if k != 'params'}, css_class='meta')}"
        "</div></div>\n"
        f"<h2>Trades</h2>\n{trades_table(result.trades)}\n"
    )
    return page(title, body, synthetic=synthetic)
