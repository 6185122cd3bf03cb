"""Several symbols in one run, and tables that compare runs.

:func:`run_many` runs one strategy with one parameter set and one configuration on each
symbol's frame (one independent backtest each, with the full ``config.capital``) and
aggregates them as an **equal-weight portfolio**: at the start the capital is split into
``N`` equal sub-accounts, sub-account ``i`` follows run ``i`` scaled by ``1/N``, and nothing
is rebalanced afterwards. So, on the aggregation grid,

    portfolio(t) = capital * mean_i( equity_i(t) / capital )

where ``equity_i(t)`` is run ``i``'s last mark-to-market equity at or before the end of grid
bar ``t``: ``capital`` before run ``i``'s first bar (cash waiting) and its final equity after
its last bar (cash kept). The grid is the coarsest timeframe among the runs (runs on 5m and
1h data aggregate on 1h; a grid bar holds a run's equity at the close of its last bar inside
it), from the earliest first bar of any run to the latest last bar, every bar.

The portfolio's metrics come from :func:`tradpal.backtest.compute_metrics` on that curve,
with the grid's bars per year, the trades of all runs (PnL scaled by ``1/N``, as the
sub-accounts hold them; returns per trade unchanged), the mean of the runs' exposures and
the mean of their buy-and-hold returns (the buy-and-hold return of the same equal-weight,
never rebalanced portfolio of the assets).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradpal.data.contract import ensure_ohlcv
from tradpal.errors import ReportError, TradPalError
from tradpal.serialize import frame_records, to_jsonable
from tradpal.timeframes import Timeframe

if TYPE_CHECKING:
    from tradpal.backtest import BacktestConfig, BacktestResult
    from tradpal.strategies import Strategy

KEY_METRICS: tuple[str, ...] = (
    "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate",
    "profit_factor", "expectancy", "num_trades", "exposure", "buy_and_hold_return",
    "final_equity",
)  # fmt: skip
"""Default columns of :func:`comparison_table`."""


@dataclass
class MultiResult:
    """The runs of :func:`run_many` and their equal-weight portfolio (module docstring).

    ``results``: symbol -> its :class:`~tradpal.backtest.BacktestResult`, in the order given;
    ``equity`` and ``drawdown`` (fraction <= 0): the portfolio per grid bar (indexed by grid
    bar open time); ``metrics``: the portfolio's :class:`~tradpal.backtest.Metrics`;
    ``timeframe``: the grid's; ``weights``: symbol -> initial share of the capital;
    ``trades``: every run's trades with a leading ``symbol`` column, as the runs hold them
    (PnL in full-capital terms).
    """

    results: dict[str, BacktestResult]
    equity: pd.Series
    drawdown: pd.Series
    metrics: Any
    timeframe: str
    weights: dict[str, float]
    trades: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, *, portfolio_name: str = "portfolio") -> pd.DataFrame:
        """:func:`comparison_table` of every run and, last, the portfolio."""
        return comparison_table({**self.results, portfolio_name: self})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: meta, weights, the portfolio's metrics and every run's ``to_dict()``."""
        return to_jsonable(
            {
                "meta": self.meta,
                "timeframe": self.timeframe,
                "weights": self.weights,
                "metrics": self.metrics,
                "runs": {symbol: r.to_dict() for symbol, r in self.results.items()},
                "trades": frame_records(self.trades),
            }
        )


def run_many(
    frames: Mapping[str, pd.DataFrame],
    strategy: Strategy | str,
    params: Mapping[str, Any] | None,
    config: BacktestConfig | None = None,
) -> MultiResult:
    """Backtest ``strategy`` with ``params`` on every frame (symbol -> OHLCV frame) and
    aggregate the runs as an equal-weight portfolio (module docstring).

    Each run is :func:`tradpal.backtest.strategy_run.backtest_strategy`: ``params`` over the
    per-timeframe defaults of that frame, and ``config=None`` means
    :func:`~tradpal.backtest.strategy_run.config_for` the frame's timeframe. Each run's ``meta``
    holds ``symbol`` (the mapping's key), ``strategy`` and the resolved ``params``
    besides the engine's entries. A failing run raises its error with the symbol named.
    """
    from tradpal.backtest.strategy_run import backtest_strategy
    from tradpal.strategies import get_strategy

    if not frames:
        raise ReportError("no frames given", hint="pass a mapping symbol -> OHLCV frame")
    strat = get_strategy(strategy) if isinstance(strategy, str) else strategy
    results: dict[str, BacktestResult] = {}
    for symbol, frame in frames.items():
        ensure_ohlcv(frame, what=f"the data of {symbol}")
        try:
            result = backtest_strategy(frame, strat, params, config).result
        except TradPalError as exc:
            if _plain(exc):
                raise type(exc)(f"{symbol}: {exc.message}", hint=exc.hint) from exc
            exc.add_note(f"while running {symbol}")
            raise
        result.meta["symbol"] = str(symbol)
        results[str(symbol)] = result
    first = next(iter(results.values()))
    return aggregate(results, first.config, strategy_name=strat.name)


def _plain(exc: TradPalError) -> bool:
    # Errors whose constructor is TradPalError's (message, hint) can be re-raised with the symbol.
    return type(exc).__init__ is TradPalError.__init__


def aggregate(
    results: Mapping[str, BacktestResult],
    config: BacktestConfig,
    *,
    strategy_name: str | None = None,
) -> MultiResult:
    """The equal-weight portfolio of ``results`` (symbol -> result), as :func:`run_many`
    builds it; usable on runs made elsewhere with one ``config``."""
    from tradpal.backtest import compute_metrics, drawdown_series

    if not results:
        raise ReportError("no results to aggregate", hint="run at least one backtest")
    capital = float(config.capital)
    grid_tf = max((_result_timeframe(r) for r in results.values()), key=lambda t: t.seconds)
    curves = [r.equity for r in results.values()]
    start = int(grid_tf.floor_ns(min(int(c.index.asi8[0]) for c in curves)))
    end = int(grid_tf.floor_ns(max(int(c.index.asi8[-1]) for c in curves)))
    # integer steps: np.arange(start, end + 1, step) sizes itself in float and can drop the end
    step = grid_tf.nanoseconds
    grid_ns = start + np.arange((end - start) // step + 1, dtype=np.int64) * step
    index = pd.DatetimeIndex(pd.to_datetime(grid_ns, unit="ns", utc=True), name="time")
    n = len(results)
    total = np.zeros(len(grid_ns))
    for curve in curves:
        total += _on_grid(curve, grid_tf, grid_ns, before=capital) / capital
    equity = pd.Series(capital * (total / n), index=index, name="equity")
    drawdown = pd.Series(drawdown_series(equity.to_numpy(), capital), index=index, name="drawdown")

    trades = pd.concat(
        [r.trades.assign(symbol=s)[["symbol", *r.trades.columns]] for s, r in results.items()],
        ignore_index=True,
    )
    metric_dicts = [to_jsonable(r.metrics) for r in results.values()]
    metrics = compute_metrics(
        equity.to_numpy(),
        trades["pnl"].to_numpy(dtype=np.float64) / n,
        trades["return"].to_numpy(dtype=np.float64),
        float(np.mean([m.get("exposure") or 0.0 for m in metric_dicts])),
        bars_per_year=_bars_per_year(grid_tf, config),
        buy_and_hold_return=float(
            np.mean([m.get("buy_and_hold_return") or 0.0 for m in metric_dicts])
        ),
        initial_capital=capital,
        bar_seconds=grid_tf.seconds,
    )
    meta = {"symbols": list(results), "strategy": strategy_name, "aggregation": "equal-weight",
            "grid_timeframe": grid_tf.name}  # fmt: skip
    return MultiResult(
        results=dict(results),
        equity=equity,
        drawdown=drawdown,
        metrics=metrics,
        timeframe=grid_tf.name,
        weights={s: 1.0 / n for s in results},
        trades=trades,
        meta=meta,
    )


def _on_grid(curve: pd.Series, tf: Timeframe, grid_ns: np.ndarray, *, before: float) -> np.ndarray:
    """Per grid bar, the last value of ``curve`` among its bars that open in that grid bar
    or earlier (carried forward over grid bars without one); ``before`` ahead of its first."""
    labels = np.asarray(tf.floor_ns(curve.index.asi8), dtype=np.int64)
    values = curve.to_numpy(dtype=np.float64)
    pos = np.searchsorted(labels, grid_ns, side="right") - 1
    return np.where(pos >= 0, values[np.clip(pos, 0, None)], before)


def _result_timeframe(result: BacktestResult) -> Timeframe:
    from tradpal.timeframes import parse_timeframe

    name = (result.meta or {}).get("timeframe")
    if name:
        return parse_timeframe(name)
    from tradpal.data.quality import infer_timeframe

    tf = infer_timeframe(result.equity.index.asi8)
    if tf is None:
        raise ReportError(
            "cannot tell a run's timeframe", hint="record meta['timeframe'] in its result"
        )
    return tf


def _bars_per_year(tf: Timeframe, config: BacktestConfig) -> float:
    return float(getattr(config, "year_days", 365)) * 86400.0 / tf.seconds


def comparison_table(
    results: Mapping[str, Any],
    *,
    columns: tuple[str, ...] = KEY_METRICS,
    sort_by: str | None = None,
) -> pd.DataFrame:
    """Key metrics of several runs side by side: one row per run (index ``run``, in the
    order given), one float column per metric in ``columns``, as the runs hold them
    (an infinite profit factor stays ``inf``); a metric a run lacks is NaN.

    A value of ``results`` is anything with ``.metrics`` (a BacktestResult, a
    :class:`MultiResult`), a ``Metrics`` object or a plain mapping of metrics. ``sort_by``
    sorts by that column, best first (descending; ``max_drawdown``, a fraction <= 0, too,
    so the shallowest drawdown comes first), NaN last.
    """
    if sort_by is not None and sort_by not in columns:
        raise ReportError(
            f"cannot sort by {sort_by!r}: not one of the table's columns",
            hint=f"use one of {', '.join(columns)}",
        )
    rows = {}
    for name, item in results.items():
        values = _metric_values(getattr(item, "metrics", item))
        if values is None:
            raise ReportError(
                f"run {name!r} is a {type(item).__name__}, which holds no metrics",
                hint="give backtest results, MultiResults, Metrics or dicts of metrics",
            )
        rows[str(name)] = [_as_float(values.get(col)) for col in columns]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(columns), dtype=np.float64)
    table.index.name = "run"
    if sort_by is not None:
        table = table.sort_values(sort_by, ascending=False, na_position="last", kind="stable")
    return table


def _metric_values(metrics: Any) -> Mapping[str, Any] | None:
    # Read a dataclass's fields directly: to_dict() writes an infinite profit factor as None.
    if isinstance(metrics, Mapping):
        return metrics
    if dataclasses.is_dataclass(metrics) and not isinstance(metrics, type):
        return {f.name: getattr(metrics, f.name) for f in dataclasses.fields(metrics)}
    to_dict = getattr(metrics, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def _as_float(value: Any) -> float:
    if value is None or isinstance(value, (dict, list, str)):
        return float("nan")
    return float(value)
