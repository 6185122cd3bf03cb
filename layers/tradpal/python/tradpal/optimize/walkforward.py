"""Walk-forward analysis: optimise in sample, trade the winner out of sample, repeat.

For each window of a :func:`~tradpal.optimize.windows.plan_windows` plan:

1. **In sample**: every candidate parameter set is backtested on the in-sample bars
   (:class:`~tradpal.optimize.span.SpanRunner`) and the one with the best ``objective``
   among those with at least ``min_trades`` trades wins (the first of equal scores).
   Candidates are the strategy's whole grid (``method="grid"``; more than
   ``n_candidates`` points is an error, not a silent cut) or ``n_candidates`` points
   drawn with ``seed`` (``method="random"``); the same candidates serve every window.
2. **Out of sample**: the winner trades the next ``out_sample`` bars, starting with the
   equity the previous window ended with (the first with ``config.capital``) and ending
   flat: a position still open is closed at the window's last close (``fill="close"``)
   or last open (``"next_open"``) with fees and slippage, so the next window starts
   from cash a trader would really hold. A window where no candidate is eligible, or
   that starts with no equity left, does not trade (its equity stays flat).
3. **Warm-up without look-ahead**: the strategy (and the engine's ATR and volatility)
   sees the bars before a window, as a live run would have, but never a bar after it:
   each window's signals are computed on a frame that ends at the window's last bar.
   ``warmup`` bounds how many bars before the window it sees (None: all of them).

The out-of-sample segments are stitched into one equity curve (each segment starts
from the previous one's final equity, so stitching is concatenation) and measured as
one run: :func:`~tradpal.backtest.compute_metrics` of the stitched equity and all
out-of-sample trades, with the exposure over all out-of-sample bars and the
buy-and-hold return compounded over the windows (bought at each window's first
close, sold at its last). That stitched result is the one to believe; the in-sample
figures are what the optimiser saw and are always better than they deserve.
:func:`~tradpal.optimize.stability.stability` rates the per-window returns.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradpal.backtest import (
    TRADE_FRAME_COLUMNS,
    BacktestConfig,
    Metrics,
    compute_metrics,
    trades_frame,
)
from tradpal.backtest.strategy_run import resolve_run
from tradpal.data.contract import ensure_ohlcv
from tradpal.data.resample import frame_timeframe
from tradpal.errors import OptimizeError
from tradpal.optimize.objectives import best_index, check_min_trades, check_objective, scores
from tradpal.optimize.span import SpanRunner
from tradpal.optimize.stability import Stability, stability
from tradpal.optimize.windows import (
    DEFAULT_IN_SAMPLE,
    DEFAULT_OUT_SAMPLE,
    DEFAULT_STEP,
    Window,
    WindowPlan,
    plan_windows,
)
from tradpal.strategies import Strategy, StrategyError, resolve_params

METHODS = ("grid", "random")
BELIEVE_OOS = (
    "The stitched out-of-sample result is the one to believe: each window traded "
    "parameters chosen on earlier data only. In-sample figures are what the optimiser "
    "saw and overstate what the strategy can do."
)


@dataclass(frozen=True)
class WindowResult:
    """One window: its bars, the in-sample winner and how it did out of sample."""

    window: Window
    is_range: tuple[pd.Timestamp, pd.Timestamp]  # first and last in-sample bar (open times)
    oos_range: tuple[pd.Timestamp, pd.Timestamp]
    best_params: dict[str, Any] | None  # None: no candidate had min_trades in sample
    eligible: int  # candidates with at least min_trades trades in sample
    is_metrics: Metrics | None  # the winner's in-sample metrics
    oos_metrics: Metrics
    start_equity: float
    end_equity: float

    @property
    def oos_return(self) -> float:
        """end_equity / start_equity - 1 (0 when the window started without equity)."""
        return self.end_equity / self.start_equity - 1.0 if self.start_equity > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.window.to_dict(),
            "is_first": self.is_range[0].isoformat(),
            "is_last": self.is_range[1].isoformat(),
            "oos_first": self.oos_range[0].isoformat(),
            "oos_last": self.oos_range[1].isoformat(),
            "best_params": self.best_params,
            "eligible": self.eligible,
            "is_metrics": None if self.is_metrics is None else self.is_metrics.to_dict(),
            "oos_metrics": self.oos_metrics.to_dict(),
            "start_equity": self.start_equity,
            "end_equity": self.end_equity,
            "oos_return": self.oos_return,
        }


@dataclass
class WalkForwardResult:
    """The windows, the stitched out-of-sample equity, trades and metrics, and the
    stability rating (see the module docstring)."""

    strategy: str
    plan: WindowPlan
    windows: list[WindowResult]
    oos_equity: pd.Series
    oos_trades: pd.DataFrame
    oos_metrics: Metrics
    stability: Stability
    config: BacktestConfig
    settings: dict[str, Any]

    @property
    def window_returns(self) -> np.ndarray:
        return np.array([w.oos_return for w in self.windows], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: settings, plan, windows, stitched metrics, stability and equity."""
        trades = self.oos_trades.copy()
        for col in ("entry_time", "exit_time"):
            trades[col] = [t.isoformat() for t in trades[col]]
        for col in ("stop_price", "target_price"):
            trades[col] = [None if not math.isfinite(v) else float(v) for v in trades[col]]
        return {
            "strategy": self.strategy,
            "note": BELIEVE_OOS,
            "settings": dict(self.settings),
            "config": self.config.to_dict(),
            "plan": self.plan.to_dict(),
            "oos_metrics": self.oos_metrics.to_dict(),
            "stability": self.stability.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "oos_equity": {
                "time": [t.isoformat() for t in self.oos_equity.index],
                "equity": [float(v) for v in self.oos_equity.to_numpy()],
            },
            "oos_trades": trades.to_dict(orient="records"),
        }


def candidates_for(
    strategy: Strategy, method: str, n_candidates: int, seed: int
) -> list[dict[str, Any]]:
    """The parameter sets a walk-forward tries in every window (module docstring)."""
    if method not in METHODS:
        raise OptimizeError(f"unknown method {method!r}", hint=f"use one of: {', '.join(METHODS)}")
    if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 1:
        raise OptimizeError(
            f"n_candidates must be a positive integer, not {n_candidates!r}",
            hint="e.g. n_candidates=50",
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise OptimizeError(f"seed must be an integer, not {seed!r}", hint="e.g. seed=0")
    space = strategy.space
    try:
        if method == "random":
            return space.sample(n_candidates, seed=seed)
        return space.grid(max_points=n_candidates)
    except StrategyError as exc:
        if method == "grid" and "more than" in exc.message:
            size = space.grid_size()
            raise OptimizeError(
                f"the {strategy.name} grid has {size} points, more than "
                f"n_candidates={n_candidates}",
                hint=f"use method='random' to try {n_candidates} points, or "
                f"n_candidates={size} to run the whole grid",
            ) from None
        raise OptimizeError(exc.message, hint=exc.hint) from None


def _flat_metrics(batch: SpanRunner, equity: float) -> Metrics:
    c = batch.cache.column("close")[batch.start :]
    empty = np.empty(0, dtype=np.float64)
    return compute_metrics(
        np.full(len(c), equity),
        empty,
        empty,
        0.0,
        bars_per_year=batch.bars_per_year,
        buy_and_hold_return=float(c[-1] / c[0] - 1.0),
        initial_capital=equity,
        bar_seconds=batch.timeframe.seconds,
    )


def walk_forward(
    frame: pd.DataFrame,
    strategy: Strategy | str,
    config: BacktestConfig | None = None,
    *,
    in_sample: int = DEFAULT_IN_SAMPLE,
    out_sample: int = DEFAULT_OUT_SAMPLE,
    step: int = DEFAULT_STEP,
    anchored: bool = False,
    method: str = "grid",
    n_candidates: int = 50,
    objective: str = "sharpe",
    seed: int = 0,
    min_trades: int = 0,
    warmup: int | None = None,
) -> WalkForwardResult:
    """Walk-forward analysis of ``strategy`` on ``frame`` (see the module docstring).

    Window sizes are in bars; ``objective`` is one of
    :data:`~tradpal.optimize.objectives.OBJECTIVES`; ``warmup`` is the number of bars
    before each window the strategy may see (None: all). The same inputs and ``seed``
    give the same result, bit for bit. ``strategy`` may be a name (``"regime@4h"``);
    ``config=None`` is :func:`~tradpal.backtest.strategy_run.config_for` the frame's timeframe.
    """
    ensure_ohlcv(frame)
    strategy, config = resolve_run(frame, strategy, config)
    objective = check_objective(objective)
    min_trades = check_min_trades(min_trades)
    if warmup is not None and (isinstance(warmup, bool) or not isinstance(warmup, int) or
                               warmup < 0):  # fmt: skip
        raise OptimizeError(
            f"warmup must be a number of bars >= 0 or None, not {warmup!r}",
            hint="None lets each window see all earlier bars",
        )
    ensure_ohlcv(frame)
    tf = frame_timeframe(frame)
    plan = plan_windows(
        len(frame), in_sample=in_sample, out_sample=out_sample, step=step, anchored=anchored
    )
    candidates = candidates_for(strategy, method, n_candidates, seed)
    index = frame.index
    try:  # complete params once (per-timeframe defaults), not once per window
        candidates = [resolve_params(strategy, frame, c) for c in candidates]
    except StrategyError as exc:
        raise OptimizeError(exc.message, hint=exc.hint) from None

    def batch(start: int, end: int) -> SpanRunner:
        lo = 0 if warmup is None else max(0, start - warmup)
        return SpanRunner(frame.iloc[lo:end], strategy, config, start=start - lo, timeframe=tf)

    equity = float(config.capital)
    results: list[WindowResult] = []
    curves: list[np.ndarray] = []
    trades: list[pd.DataFrame] = []
    pnl: list[np.ndarray] = []
    rets: list[np.ndarray] = []
    in_market = 0
    bh = 1.0
    for w in plan:
        ins = batch(w.is_start, w.is_end)
        evaluated = ins.evaluate(candidates, resolved=True)
        score = scores(
            [getattr(m, objective) for _, m in evaluated],
            [m.num_trades for _, m in evaluated],
            min_trades,
        )
        k = best_index(score)
        oos = batch(w.oos_start, w.oos_end)
        start_equity = equity
        if k is None or equity <= 0:
            curve = np.full(w.oos_end - w.oos_start, equity)
            metrics = _flat_metrics(oos, equity)
        else:
            out = oos.run(
                evaluated[k][0], dataclasses.replace(config, capital=equity), flatten=True
            )
            metrics = oos.metrics(out)
            curve = out.equity
            trades.append(trades_frame(out, oos.index))
            pnl.append(out.column("pnl"))
            rets.append(out.column("return"))
            in_market += out.bars_in_market
            equity = out.final_equity
        bh *= 1.0 + metrics.buy_and_hold_return
        curves.append(curve)
        results.append(
            WindowResult(
                window=w,
                is_range=(index[w.is_start], index[w.is_end - 1]),
                oos_range=(index[w.oos_start], index[w.oos_end - 1]),
                best_params=None if k is None else evaluated[k][0],
                eligible=int(np.count_nonzero(~np.isnan(score))),
                is_metrics=None if k is None else evaluated[k][1],
                oos_metrics=metrics,
                start_equity=start_equity,
                end_equity=equity,
            )
        )
    stitched = np.concatenate(curves)
    oos_index = index[np.concatenate([np.arange(w.oos_start, w.oos_end) for w in plan])]
    empty = np.empty(0, dtype=np.float64)
    oos_metrics = compute_metrics(
        stitched,
        np.concatenate(pnl) if pnl else empty,
        np.concatenate(rets) if rets else empty,
        in_market / len(stitched),
        bars_per_year=config.year_days * 86_400 / tf.seconds,
        buy_and_hold_return=bh - 1.0,
        initial_capital=config.capital,
        bar_seconds=tf.seconds,
    )
    if not trades:
        trades.append(pd.DataFrame(columns=list(TRADE_FRAME_COLUMNS)))
    return WalkForwardResult(
        strategy=strategy.name,
        plan=plan,
        windows=results,
        oos_equity=pd.Series(stitched, index=oos_index, name="equity"),
        oos_trades=pd.concat(trades, ignore_index=True),
        oos_metrics=oos_metrics,
        stability=stability([r.oos_return for r in results]),
        config=config,
        settings={
            "in_sample": plan.in_sample,
            "out_sample": plan.out_sample,
            "step": plan.step,
            "anchored": plan.anchored,
            "method": method,
            "n_candidates": len(candidates),
            "objective": objective,
            "seed": seed,
            "min_trades": min_trades,
            "warmup": warmup,
            "timeframe": tf.name,
        },
    )


__all__ = [
    "BELIEVE_OOS",
    "METHODS",
    "WalkForwardResult",
    "WindowResult",
    "candidates_for",
    "walk_forward",
]
