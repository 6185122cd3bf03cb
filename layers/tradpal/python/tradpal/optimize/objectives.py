"""What a sweep or a walk-forward optimises: one metric, higher is better, with a trade floor.

An objective names a field of the engine's ``Metrics`` (see
:func:`tradpal.backtest.compute_metrics` for the exact definitions). A candidate
with fewer than ``min_trades`` closed trades is not eligible: its score is NaN and
it is never chosen. Among eligible candidates the highest score wins and ties go to
the earliest candidate, so a ranking is deterministic. ``+inf`` (e.g. the profit
factor of a run without a losing trade) counts as the highest score; NaN never wins.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tradpal.errors import OptimizeError

OBJECTIVES: Mapping[str, str] = {
    "sharpe": "annualised Sharpe ratio of the per-bar equity returns",
    "sortino": "annualised Sortino ratio of the per-bar equity returns",
    "calmar": "CAGR divided by the maximum drawdown",
    "total_return": "final equity / initial capital - 1",
    "profit_factor": "gross profit / gross loss of the closed trades",
}
"""The objectives, each a ``Metrics`` field where higher is better."""


def check_objective(name: object) -> str:
    """Return ``name`` if it is a known objective, else raise :class:`OptimizeError`."""
    if not isinstance(name, str) or name not in OBJECTIVES:
        raise OptimizeError(
            f"unknown objective {name!r}",
            hint=f"use one of: {', '.join(OBJECTIVES)}",
        )
    return name


def check_min_trades(value: object) -> int:
    """Return ``value`` if it is a trade count >= 0, else raise :class:`OptimizeError`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise OptimizeError(
            f"min_trades must be an integer >= 0, not {value!r}",
            hint="e.g. min_trades=5 ignores candidates with fewer than 5 trades",
        )
    return int(value)


def scores(values: object, num_trades: object, min_trades: int = 0) -> np.ndarray:
    """Objective values with ineligible candidates (fewer than ``min_trades``) set to NaN."""
    v = np.array(values, dtype=np.float64, copy=True)
    t = np.asarray(num_trades)
    v[t < min_trades] = np.nan
    return v


def best_index(score: object) -> int | None:
    """Position of the best score (first of equal ones), or None when every score is NaN."""
    s = np.asarray(score, dtype=np.float64)
    ok = ~np.isnan(s)
    if not ok.any():
        return None
    top = s[ok].max()
    return int(np.flatnonzero(ok & (s == top))[0])


__all__ = ["OBJECTIVES", "best_index", "check_min_trades", "check_objective", "scores"]
