"""What a search optimises: objectives (higher is better), who is eligible, the Pareto front
and the deflated Sharpe ratio. Sweeps, walk-forward analysis and discovery all rank by this
one module.

An objective names a field of the engine's ``Metrics`` (:func:`tradpal.backtest.compute_metrics`
gives the exact definitions; fractions, not percent), or ``fitness``, TradPal's composite
score (:func:`composite_fitness`).

Eligibility, the same everywhere: a candidate with fewer than ``min_trades`` closed trades
is not eligible, and neither is an objective value that is not a finite number (NaN: an
undefined metric, such as the Sharpe ratio of a flat curve; +-inf: a ratio over nothing,
such as the profit factor of a run without a losing trade, which says more about too few
trades than about skill). Such a value is NaN here, ``null`` in JSON, never ranked, never
chosen and never on a Pareto front. Among eligible candidates the highest score wins and ties
go to the earliest, so a ranking is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from tradpal.errors import OptimizeError

METRIC_OBJECTIVES: Mapping[str, str] = {
    "sharpe": "annualised Sharpe ratio of the per-bar equity returns",
    "sortino": "annualised Sortino ratio of the per-bar equity returns",
    "calmar": "CAGR divided by the maximum drawdown",
    "total_return": "final equity / initial capital - 1",
    "profit_factor": "gross profit / gross loss of the closed trades",
}
"""The objectives that are ``Metrics`` fields (what a sweep's table holds)."""
OBJECTIVES: Mapping[str, str] = {
    **METRIC_OBJECTIVES,
    "fitness": "TradPal's composite: 0.3 sharpe + 0.3 pnl/1000 + 0.2 win rate - 0.2 drawdown",
}
"""Every objective by name, all higher-better."""


def check_objective(name: object, known: Mapping[str, str] = METRIC_OBJECTIVES) -> str:
    """``name`` if it is one of ``known`` (default: the metric objectives), else
    :class:`OptimizeError` listing them."""
    if not isinstance(name, str) or name not in known:
        raise OptimizeError(f"unknown objective {name!r}", hint=f"use one of: {', '.join(known)}")
    return name


def check_objectives(objectives: Any) -> list[str]:
    """``objectives`` as a list of known (:data:`OBJECTIVES`), distinct names, else
    :class:`OptimizeError`."""
    if isinstance(objectives, str):
        objectives = [objectives]
    if not isinstance(objectives, Sequence) or not objectives:
        raise OptimizeError(
            f"objectives must be a non-empty list of names, not {objectives!r}",
            hint=f'e.g. ["sharpe"]; known: {", ".join(OBJECTIVES)}',
        )
    out = [check_objective(name, OBJECTIVES) for name in objectives]
    if len(set(out)) != len(out):
        raise OptimizeError(f"objectives {out} name one twice")
    return out


def check_min_trades(value: object) -> int:
    """``value`` if it is a trade count >= 0, else :class:`OptimizeError`."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise OptimizeError(
            f"min_trades must be an integer >= 0, not {value!r}",
            hint="e.g. min_trades=5 ignores candidates with fewer than 5 trades",
        )
    return int(value)


def scores(values: object, num_trades: object, min_trades: int = 0) -> np.ndarray:
    """Objective values with ineligible candidates (module docstring) set to NaN."""
    v = np.array(values, dtype=np.float64, copy=True)
    t = np.asarray(num_trades)
    v[(t < min_trades) | ~np.isfinite(v)] = np.nan
    return v


def best_index(score: object) -> int | None:
    """Position of the best score (first of equal ones), or None when none is eligible."""
    s = np.asarray(score, dtype=np.float64)
    ok = np.isfinite(s)
    if not ok.any():
        return None
    top = s[ok].max()
    return int(np.flatnonzero(ok & (s == top))[0])


def _as_mapping(metrics: Any) -> Mapping[str, Any]:
    if isinstance(metrics, Mapping):
        return metrics
    if is_dataclass(metrics) and not isinstance(metrics, type):
        return asdict(metrics)
    raise OptimizeError(f"metrics must be a Metrics or a mapping, not {type(metrics).__name__}")


def _num(m: Mapping[str, Any], key: str) -> float:
    v = m.get(key)
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise OptimizeError(f"metric {key!r} is {v!r}, not a number")
    return float(v)


def composite_fitness(metrics: Any, capital: float) -> float:
    """TradPal's fitness: ``0.3 sharpe + 0.3 pnl / 1000 + 0.2 win_rate - 0.2 max_drawdown``.

    ``sharpe`` annualised; ``pnl = final_equity - capital`` in currency (so 1,000 of
    profit weighs as much as a Sharpe of 1); ``win_rate`` and ``max_drawdown`` are
    fractions (0.55, 0.2), as the engine reports them. With fewer than 10 trades
    the score is penalised by half its size (a positive score is halved, a negative
    one made half again worse, so few trades never help). NaN when a term is undefined.
    """
    m = _as_mapping(metrics)
    pnl = _num(m, "final_equity") - float(capital)
    f = (
        0.3 * _num(m, "sharpe")
        + 0.3 * pnl / 1000.0
        + 0.2 * _num(m, "win_rate")
        - 0.2 * _num(m, "max_drawdown")
    )
    if _num(m, "num_trades") < 10:
        f -= abs(f) / 2.0
    return f


def objective_values(
    metrics: Any, objectives: Sequence[str], *, capital: float, min_trades: int
) -> list[float]:
    """The value of each of ``objectives`` for ``metrics``, NaN where not eligible (module
    docstring)."""
    names = check_objectives(objectives)
    m = _as_mapping(metrics)
    if _num(m, "num_trades") < min_trades:
        return [math.nan] * len(names)
    values = [composite_fitness(m, capital) if n == "fitness" else _num(m, n) for n in names]
    return [v if math.isfinite(v) else math.nan for v in values]


# Euler-Mascheroni constant, in the expected maximum of N standard normal draws.
_EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def pareto_front(values: Any) -> np.ndarray:
    """Indices (ascending) of the rows of ``values`` (n x k, maximised) that no other
    row dominates (at least as good in every column and better in one). A row with a
    value that is not finite is never on the front and dominates nothing; equal rows are
    all on it."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2:
        raise OptimizeError(f"pareto_front needs an n x k array, got shape {v.shape}")
    ok = np.isfinite(v).all(axis=1)
    idx = np.flatnonzero(ok)
    w = v[idx]
    keep = np.ones(len(idx), dtype=bool)
    for i in range(len(idx)):
        ge = (w >= w[i]).all(axis=1)
        gt = (w > w[i]).any(axis=1)
        if (ge & gt).any():
            keep[i] = False
    return idx[keep]


def expected_max_sharpe(n_trials: int, sharpe_std: float) -> float:
    """The Sharpe ratio the best of ``n_trials`` unskilled trials reaches by luck:
    ``std * ((1 - g) Z(1 - 1/N) + g Z(1 - 1/(N e)))`` with ``g`` the Euler-Mascheroni
    constant and ``Z`` the standard normal quantile; 0 for a single trial."""
    if n_trials == 1 or sharpe_std == 0:
        return 0.0
    n = float(n_trials)
    return sharpe_std * (
        (1 - _EULER_GAMMA) * _N.inv_cdf(1 - 1 / n) + _EULER_GAMMA * _N.inv_cdf(1 - 1 / (n * math.e))
    )


def deflated_sharpe(
    sharpe: float,
    *,
    n_trials: int,
    n_obs: int,
    skew: float,
    kurtosis: float,
    sharpe_std: float,
) -> float:
    """Bailey and Lopez de Prado's (2014) deflated Sharpe ratio: the probability in
    [0, 1] that the true Sharpe ratio exceeds the best one ``n_trials`` unskilled
    trials would show.

    ``sharpe`` and ``sharpe_std`` (the standard deviation of the trials' Sharpe
    ratios) are per observation, not annualised; ``n_obs`` the number of returns;
    ``skew`` and ``kurtosis`` those of the returns (Pearson kurtosis: 3 for a normal
    law). ``DSR = Z[(SR - SR0) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1)/4 SR^2)]``
    with ``SR0`` :func:`expected_max_sharpe`.
    """
    vals = {"sharpe": sharpe, "skew": skew, "kurtosis": kurtosis, "sharpe_std": sharpe_std}
    for name, v in vals.items():
        if (
            isinstance(v, bool)
            or not isinstance(v, int | float | np.number)
            or not math.isfinite(v)
        ):
            raise OptimizeError(f"deflated_sharpe: {name} must be a finite number, not {v!r}")
    for name, v, low in (("n_trials", n_trials, 1), ("n_obs", n_obs, 2)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise OptimizeError(f"deflated_sharpe: {name} must be an integer >= {low}, not {v!r}")
    if sharpe_std < 0:
        raise OptimizeError(f"deflated_sharpe: sharpe_std must be >= 0, not {sharpe_std}")
    sr = float(sharpe)
    sr0 = expected_max_sharpe(int(n_trials), float(sharpe_std))
    var = 1 - skew * sr + (kurtosis - 1) / 4 * sr * sr
    if var <= 0:
        raise OptimizeError(
            f"deflated_sharpe: skew {skew} and kurtosis {kurtosis} give a non-positive "
            f"variance for a Sharpe ratio of {sr}",
            hint="pass the per-observation Sharpe ratio and Pearson kurtosis (3 = normal)",
        )
    return _N.cdf((sr - sr0) * math.sqrt(n_obs - 1) / math.sqrt(var))


__all__ = [
    "METRIC_OBJECTIVES",
    "OBJECTIVES",
    "best_index",
    "check_min_trades",
    "check_objective",
    "check_objectives",
    "composite_fitness",
    "deflated_sharpe",
    "expected_max_sharpe",
    "objective_values",
    "pareto_front",
    "scores",
]
