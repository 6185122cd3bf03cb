"""Plotly figures for the reports: price with indicators and trades, equity, drawdown.

Display decimation (documented, so a chart never silently hides what matters): above
:data:`MAX_DISPLAY_BARS` bars, candlesticks are drawn as aggregates of ``k`` consecutive bars
(``k = ceil(n / MAX_DISPLAY_BARS)``; open of the first, highest high, lowest low, close of the
last, placed at the first bar's open time), and every line (indicators, equity, buy-and-hold,
drawdown) keeps, per block of ``k`` bars, the points where it is lowest and highest, plus the
first and last bar, so peaks, troughs and the maximum drawdown stay visible exactly. Trade
markers are never decimated: every entry and exit is drawn at its own time and price (as a
WebGL trace above :data:`WEBGL_MARKERS` markers). The metrics always use every bar.

Indicators (name -> one value per bar) are placed by :func:`classify_indicators`: known
oscillator names (:data:`OSCILLATOR_NAMES`: RSI, stochastics, ADX, MACD, ATR, ...) get their
own panel; any other indicator goes on the price panel when at least 90 % of its finite values
lie within half the lowest low and twice the highest high (moving averages, bands, VWAP,
stops), else in its own panel. Names that share their first word (``macd``, ``macd_signal``,
``macd_hist``) share a panel.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tradpal.errors import ReportError

MAX_DISPLAY_BARS = 5000
"""Candles drawn at most; longer series are aggregated for display (module docstring)."""
WEBGL_MARKERS = 2000
"""Above this many trade markers of one kind, they are drawn as a WebGL (``scattergl``) trace."""
OSCILLATOR_NAMES: frozenset[str] = frozenset(
    [
        "rsi",
        "stoch",
        "stochrsi",
        "willr",
        "williams",
        "adx",
        "adxr",
        "di",
        "plus_di",
        "minus_di",
        "pdi",
        "mdi",
        "macd",
        "cci",
        "mfi",
        "obv",
        "atr",
        "natr",
        "cmf",
        "roc",
        "mom",
        "momentum",
        "bbp",
        "percent_b",
        "pctb",
        "zscore",
        "volume",
        "confidence",
        "aroon",
        "trix",
        "ultosc",
        "kdj",
    ]
)
PRICE_TOLERANCE = 0.9
"""Share of an indicator's finite values that must lie in the price range to overlay it."""

COLORS = {
    "long": "#1a9850",
    "short": "#d73027",
    "equity": "#2c7fb8",
    "benchmark": "#7f7f7f",
    "drawdown": "#d73027",
}
_LINE_PALETTE = ("#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#1f77b4")


@dataclass(frozen=True)
class Decimation:
    """How a series of ``n`` bars is shown: blocks of ``k`` bars (``k == 1``: every bar)."""

    n: int
    k: int

    @classmethod
    def for_length(cls, n: int, max_points: int = MAX_DISPLAY_BARS) -> Decimation:
        return cls(n, max(1, math.ceil(n / max_points)) if n else 1)

    @property
    def active(self) -> bool:
        return self.k > 1

    @property
    def starts(self) -> np.ndarray:
        return np.arange(0, self.n, self.k)

    def candles(self, frame: pd.DataFrame) -> pd.DataFrame:
        """OHLC per block of ``k`` bars, indexed by the block's first open time."""
        if not self.active:
            return frame[["open", "high", "low", "close"]]
        starts = self.starts
        last = np.minimum(starts + self.k - 1, self.n - 1)
        return pd.DataFrame(
            {
                "open": frame["open"].to_numpy()[starts],
                "high": np.maximum.reduceat(frame["high"].to_numpy(), starts),
                "low": np.minimum.reduceat(frame["low"].to_numpy(), starts),
                "close": frame["close"].to_numpy()[last],
            },
            index=frame.index[starts],
        )

    def line_indices(self, values: np.ndarray) -> np.ndarray:
        """Indices to draw of a line: per block its lowest and highest point, first and last."""
        if not self.active:
            return np.arange(self.n)
        y = np.asarray(values, dtype=np.float64)
        nb = len(self.starts)
        padded = np.full(nb * self.k, np.nan)
        padded[: self.n] = y
        blocks = padded.reshape(nb, self.k)
        nan = np.isnan(blocks)
        lo = np.argmin(np.where(nan, np.inf, blocks), axis=1)
        hi = np.argmax(np.where(nan, -np.inf, blocks), axis=1)
        idx = np.concatenate([self.starts + lo, self.starts + hi, [0, self.n - 1]])
        return np.unique(idx[idx < self.n])


def classify_indicators(
    indicators: Mapping[str, np.ndarray], frame: pd.DataFrame
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """Split ``indicators`` into price overlays and oscillator panels (module docstring).

    Returns ``(overlays, panels)``: ``overlays`` name -> values; ``panels`` panel name ->
    (name -> values), in the order first seen. Raises :class:`ReportError` for an indicator
    that is not one number per bar.
    """
    n = len(frame)
    lo = float(np.nanmin(frame["low"].to_numpy())) if n else 0.0
    hi = float(np.nanmax(frame["high"].to_numpy())) if n else 0.0
    overlays: dict[str, np.ndarray] = {}
    panels: dict[str, dict[str, np.ndarray]] = {}
    for name, raw in indicators.items():
        values = np.asarray(raw, dtype=np.float64)
        if values.shape != (n,):
            raise ReportError(
                f"indicator {name!r} has shape {values.shape} for {n} bars",
                hint="give one value per bar of the data (NaN during warm-up)",
            )
        group = _group_of(name)
        finite = values[np.isfinite(values)]
        on_price = (
            group not in OSCILLATOR_NAMES
            and finite.size > 0
            and np.mean((finite >= 0.5 * lo) & (finite <= 2.0 * hi)) >= PRICE_TOLERANCE
        )
        if on_price:
            overlays[name] = values
        else:
            panels.setdefault(group, {})[name] = values
    return overlays, panels


def _group_of(name: str) -> str:
    words = re.split(r"[^a-z]+", name.lower())
    words = [w for w in words if w]
    if not words:
        return name.lower()
    if len(words) >= 2 and f"{words[0]}_{words[1]}" in OSCILLATOR_NAMES:
        return f"{words[0]}_{words[1]}"
    return words[0]


def _side_is_long(side: object) -> bool:
    if isinstance(side, str):
        return side.strip().lower() in ("long", "buy", "l", "1", "+1")
    return float(side) > 0  # type: ignore[arg-type]


def _fmt(value: object, spec: str = ",.6g") -> str:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return "n/a" if not math.isfinite(number) else format(number, spec)


def trade_marker_traces(trades: pd.DataFrame) -> list[go.Scatter | go.Scattergl]:
    """Entry and exit markers: long entries ▲ green, short entries ▼ red, exits ✕ in the
    side's colour; hover text with price, quantity, PnL, return, fees and exit reason."""
    traces: list[go.Scatter | go.Scattergl] = []
    if trades is None or len(trades) == 0:
        return traces
    is_long = np.array([_side_is_long(s) for s in trades["side"]], dtype=bool)
    for side, mask in (("long", is_long), ("short", ~is_long)):
        part = trades[mask]
        if len(part) == 0:
            continue
        color = COLORS[side]
        entries_text = [
            f"{side} entry<br>price {_fmt(r.entry_price)}<br>qty {_fmt(r.quantity)}"
            f"<br>trade PnL {_fmt(r.pnl, ',.2f')} ({_fmt(r.ret, '+.2%')})"
            for r in _rows(part)
        ]
        traces.append(
            _scatter(len(part))(
                x=_time_ms(part["entry_time"]),
                y=part["entry_price"].to_numpy(dtype=np.float64),
                mode="markers",
                name=f"{side.capitalize()} entry",
                marker={
                    "symbol": "triangle-up" if side == "long" else "triangle-down",
                    "size": 10,
                    "color": color,
                    "line": {"width": 1, "color": "#000"},
                },
                hovertext=entries_text,
                hoverinfo="text+x",
                legendgroup=f"trades-{side}",
            )
        )
        closed = part[part["exit_time"].notna()]
        if len(closed) == 0:
            continue
        exits_text = [
            f"{side} exit ({r.exit_reason})<br>price {_fmt(r.exit_price)}<br>qty "
            f"{_fmt(r.quantity)}<br>PnL {_fmt(r.pnl, ',.2f')} ({_fmt(r.ret, '+.2%')})"
            f"<br>fees {_fmt(r.fees, ',.2f')}"
            for r in _rows(closed)
        ]
        traces.append(
            _scatter(len(closed))(
                x=_time_ms(closed["exit_time"]),
                y=closed["exit_price"].to_numpy(dtype=np.float64),
                mode="markers",
                name=f"{side.capitalize()} exit",
                marker={
                    "symbol": "x",
                    "size": 9,
                    "color": color,
                    "line": {"width": 1, "color": "#000"},
                },
                hovertext=exits_text,
                hoverinfo="text+x",
                legendgroup=f"trades-{side}",
            )
        )
    return traces


def _scatter(count: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if count > WEBGL_MARKERS else go.Scatter


@dataclass(frozen=True)
class _TradeRow:
    entry_price: float
    exit_price: float
    quantity: float
    pnl: float
    ret: float
    fees: float
    exit_reason: str


def _rows(trades: pd.DataFrame) -> list[_TradeRow]:
    def col(name: str, default: object = np.nan) -> list:
        return trades[name].tolist() if name in trades.columns else [default] * len(trades)

    return [
        _TradeRow(*vals)
        for vals in zip(
            col("entry_price"),
            col("exit_price"),
            col("quantity"),
            col("pnl"),
            col("return"),
            col("fees"),
            col("exit_reason", ""),
            strict=True,
        )
    ]


def _time_ms(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Times as float milliseconds since the epoch (UTC), which plotly.js date axes read
    directly: an eighth of the size of ISO text in the page, and no time-zone shift."""
    idx = pd.DatetimeIndex(times)
    ns = idx.as_unit("ns").asi8.astype(np.float64)
    ns[idx.isna()] = np.nan
    return ns / 1e6


def _line(x: pd.DatetimeIndex, y: np.ndarray, dec: Decimation, **kwargs: object) -> go.Scatter:
    keep = dec.line_indices(y)
    return go.Scatter(x=_time_ms(x[keep]), y=np.asarray(y, dtype=np.float64)[keep], **kwargs)


def backtest_figure(
    frame: pd.DataFrame,
    equity: pd.Series,
    drawdown: pd.Series,
    benchmark: pd.Series,
    trades: pd.DataFrame,
    indicators: Mapping[str, np.ndarray] | None,
    *,
    title: str,
) -> tuple[go.Figure, Decimation]:
    """One figure with shared time axis: price (candles, overlays, trades), one panel per
    oscillator group, equity against buy-and-hold, drawdown (fraction, shown in %)."""
    overlays, panels = classify_indicators(indicators or {}, frame)
    dec = Decimation.for_length(len(frame))
    rows = 1 + len(panels) + 2
    heights = [0.5] + [0.12] * len(panels) + [0.22, 0.12]
    titles = ["Price" + (f" ({dec.k}-bar candles)" if dec.active else "")]
    titles += [name.upper() for name in panels] + ["Equity vs buy-and-hold", "Drawdown"]
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[h / sum(heights) for h in heights],
                        subplot_titles=titles)  # fmt: skip
    index = frame.index
    candles = dec.candles(frame)
    fig.add_trace(
        go.Candlestick(
            x=_time_ms(candles.index),
            open=candles["open"].to_numpy(),
            high=candles["high"].to_numpy(),
            low=candles["low"].to_numpy(),
            close=candles["close"].to_numpy(),
            name="Price",
            increasing_line_color=COLORS["long"],
            decreasing_line_color=COLORS["short"],
            showlegend=False,
        ),
        row=1,
        col=1,
    )
    colors = iter(_LINE_PALETTE * (1 + len(indicators or {}) // len(_LINE_PALETTE)))
    for name, values in overlays.items():
        fig.add_trace(_line(index, values, dec, name=name, mode="lines",
                            line={"width": 1.2, "color": next(colors)}), row=1, col=1)  # fmt: skip
    for trace in trade_marker_traces(trades):
        fig.add_trace(trace, row=1, col=1)
    for row, series in enumerate(panels.values(), start=2):
        for name, values in series.items():
            fig.add_trace(_line(index, values, dec, name=name, mode="lines",
                                line={"width": 1.2, "color": next(colors)}),
                          row=row, col=1)  # fmt: skip
    eq_row = rows - 1
    fig.add_trace(_line(index, equity.to_numpy(), dec, name="Strategy equity", mode="lines",
                        line={"color": COLORS["equity"], "width": 1.6}),
                  row=eq_row, col=1)  # fmt: skip
    fig.add_trace(_line(index, benchmark.to_numpy(), dec, name="Buy and hold", mode="lines",
                        line={"color": COLORS["benchmark"], "width": 1.2, "dash": "dot"}),
                  row=eq_row, col=1)  # fmt: skip
    fig.add_trace(_line(index, drawdown.to_numpy(), dec, name="Drawdown", mode="lines",
                        fill="tozeroy", line={"color": COLORS["drawdown"], "width": 1}),
                  row=rows, col=1)  # fmt: skip
    fig.update_yaxes(tickformat=".0%", row=rows, col=1)
    fig.update_layout(
        title={"text": title},
        template="plotly_white",
        height=520 + 150 * len(panels) + 360,
        hovermode="x",
        xaxis_rangeslider_visible=False,
        legend={"orientation": "h", "yanchor": "top", "y": -0.03},
        margin={"l": 60, "r": 20, "t": 70, "b": 40},
    )
    # ms numbers on every x axis: tell plotly.js they are dates (times are UTC)
    fig.update_xaxes(type="date")
    return fig, dec


def equity_figure(
    curves: Mapping[str, pd.Series], *, title: str, drawdown: pd.Series | None = None
) -> go.Figure:
    """Equity lines (name -> series) on one panel, and optionally a drawdown panel."""
    rows = 2 if drawdown is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.05,
                        row_heights=[0.7, 0.3] if rows == 2 else [1.0])  # fmt: skip
    palette = iter((COLORS["equity"], COLORS["benchmark"], *_LINE_PALETTE) * 4)
    for name, series in curves.items():
        dec = Decimation.for_length(len(series))
        fig.add_trace(_line(series.index, series.to_numpy(), dec, name=name, mode="lines",
                            line={"color": next(palette), "width": 1.4}),
                      row=1, col=1)  # fmt: skip
    if drawdown is not None:
        dec = Decimation.for_length(len(drawdown))
        fig.add_trace(_line(drawdown.index, drawdown.to_numpy(), dec, name="Drawdown",
                            mode="lines", fill="tozeroy",
                            line={"color": COLORS["drawdown"], "width": 1}),
                      row=2, col=1)  # fmt: skip
        fig.update_yaxes(tickformat=".0%", row=2, col=1)
    fig.update_layout(title={"text": title}, template="plotly_white", height=560,
                      hovermode="x", legend={"orientation": "h", "yanchor": "top", "y": -0.06},
                      margin={"l": 60, "r": 20, "t": 60, "b": 40})  # fmt: skip
    fig.update_xaxes(type="date")
    return fig
