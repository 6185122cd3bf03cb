"""Evaluate many parameter sets of one strategy on one frame, fast.

:func:`sweep` runs each candidate through the engine's lean path with the work
shared across candidates (see :mod:`tradpal.optimize.span`): indicators are
computed once per batch with the many-periods kernels, the engine's ATR and
volatility once per frame. Every row equals, bit for bit, the metrics of
``run_backtest(frame, strategy.generate(frame, params), config)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import pandas as pd

from tradpal.backtest import BacktestConfig, Metrics
from tradpal.backtest.strategy_run import resolve_run
from tradpal.errors import OptimizeError
from tradpal.optimize.objectives import best_index, check_min_trades, check_objective, scores
from tradpal.optimize.span import SpanRunner
from tradpal.strategies import Strategy

METRIC_COLUMNS = tuple(f.name for f in fields(Metrics))


def check_candidates(candidates: object) -> list[Mapping[str, Any]]:
    """``candidates`` as a list of mappings, else :class:`OptimizeError`."""
    if isinstance(candidates, Mapping) or not isinstance(candidates, Sequence):
        raise OptimizeError(
            "candidates must be a list of parameter mappings",
            hint="e.g. [{'fast': 9, 'slow': 21}, ...] or strategy.space.grid()",
        )
    out = list(candidates)
    if not out:
        raise OptimizeError("no candidates to evaluate", hint="give at least one parameter set")
    for i, c in enumerate(out):
        if not isinstance(c, Mapping):
            raise OptimizeError(f"candidate {i} is {c!r}, not a mapping of parameters")
    return out


def results_table(
    rows: Sequence[tuple[Mapping[str, Any], Metrics]], objective: str, min_trades: int
) -> pd.DataFrame:
    """One row per ``(params, metrics)``: the params, every metric and ``score`` (the
    objective, NaN below ``min_trades``), in the given order."""
    names = list(dict.fromkeys(k for params, _ in rows for k in params))
    clash = set(names) & {*METRIC_COLUMNS, "score"}
    if clash:
        raise OptimizeError(f"param name(s) {sorted(clash)} clash with metric columns")
    data: dict[str, list[Any]] = {k: [p.get(k) for p, _ in rows] for k in names}
    for f in METRIC_COLUMNS:
        data[f] = [getattr(m, f) for _, m in rows]
    table = pd.DataFrame(data)
    table["score"] = scores(table[objective].to_numpy(), table["num_trades"], min_trades)
    table.attrs["tradpal_sweep"] = {"objective": objective, "min_trades": min_trades}
    return table


def sweep(
    frame: pd.DataFrame,
    strategy: Strategy | str,
    candidates: Sequence[Mapping[str, Any]],
    config: BacktestConfig | None = None,
    *,
    objective: str = "sharpe",
    min_trades: int = 0,
) -> pd.DataFrame:
    """Backtest every candidate parameter set of ``strategy`` on ``frame``.

    Returns one row per candidate, in the given order: the complete params (the
    strategy's per-timeframe defaults fill in what a candidate leaves out), every
    :class:`~tradpal.backtest.Metrics` field, and ``score``: the ``objective``
    (:data:`~tradpal.optimize.objectives.OBJECTIVES`, higher is better), NaN for a
    candidate with fewer than ``min_trades`` trades. :func:`best` picks the winner.
    ``strategy`` may be a name; ``config=None`` is
    :func:`~tradpal.backtest.strategy_run.config_for` the frame's timeframe.
    """
    objective = check_objective(objective)
    min_trades = check_min_trades(min_trades)
    todo = check_candidates(candidates)
    strategy, config = resolve_run(frame, strategy, config)
    batch = SpanRunner(frame, strategy, config)
    return results_table(batch.evaluate(todo), objective, min_trades)


def best(table: pd.DataFrame) -> pd.Series | None:
    """The row of a :func:`sweep` table with the highest ``score`` (the first of equal
    ones), or None when no candidate is eligible."""
    i = best_index(table["score"].to_numpy())
    return None if i is None else table.iloc[i]


__all__ = ["METRIC_COLUMNS", "best", "check_candidates", "results_table", "sweep"]
