"""What a discovery maximises, its Pareto front and the deflated Sharpe ratio.

Every objective is higher-better and reads a backtest's metrics
(:class:`~tradpal.backtest.metrics.Metrics` or its ``to_dict()``, fractions not
percent). ``fitness`` is TradPal's composite score (:func:`composite_fitness`).

Eligibility: a candidate with fewer than ``min_trades`` closed trades gets NaN for
every objective, and so does an undefined metric (a ``None`` in a metrics dict,
e.g. the profit factor of a run without a losing trade); NaN is never ranked, never
on a Pareto front and travels as ``null`` in JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from tradpal.errors import DiscoveryError
from tradpal.optimize.objectives import OBJECTIVES as METRIC_OBJECTIVES

OBJECTIVES: Mapping[str, str] = {
    **METRIC_OBJECTIVES,
    "fitness": "TradPal's composite: 0.3 sharpe + 0.3 pnl/1000 + 0.2 win rate - 0.2 drawdown",
}
"""The objectives by name, all higher-better: the walk-forward ones (metrics) and fitness."""

# Euler-Mascheroni constant, in the expected maximum of N standard normal draws.
_EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def _as_mapping(metrics: Any) -> Mapping[str, Any]:
    if isinstance(metrics, Mapping):
        return metrics
    if is_dataclass(metrics) and not isinstance(metrics, type):
        return asdict(metrics)
    raise DiscoveryError(f"metrics must be a Metrics or a mapping, not {type(metrics).__name__}")


def _num(m: Mapping[str, Any], key: str) -> float:
    v = m.get(key)
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float | np.number):
        raise DiscoveryError(f"metric {key!r} is {v!r}, not a number")
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


def check_objectives(objectives: Any) -> list[str]:
    """``objectives`` as a list of known, distinct names, else :class:`DiscoveryError`."""
    if isinstance(objectives, str):
        objectives = [objectives]
    if not isinstance(objectives, Sequence) or not objectives:
        raise DiscoveryError(
            f"objectives must be a non-empty list of names, not {objectives!r}",
            hint=f'e.g. ["sharpe"]; known: {", ".join(OBJECTIVES)}',
        )
    out = list(objectives)
    for name in out:
        if not isinstance(name, str) or name not in OBJECTIVES:
            raise DiscoveryError(
                f"unknown objective {name!r}", hint=f"use one of: {', '.join(OBJECTIVES)}"
            )
    if len(set(out)) != len(out):
        raise DiscoveryError(f"objectives {out} name one twice")
    return out


def objective_values(
    metrics: Any, objectives: Sequence[str], *, capital: float, min_trades: int
) -> list[float]:
    """The value of each of ``objectives`` for ``metrics`` (module docstring for NaN)."""
    names = check_objectives(objectives)
    m = _as_mapping(metrics)
    if _num(m, "num_trades") < min_trades:
        return [math.nan] * len(names)
    return [composite_fitness(m, capital) if n == "fitness" else _num(m, n) for n in names]


def pareto_front(values: Any) -> np.ndarray:
    """Indices (ascending) of the rows of ``values`` (n x k, maximised) that no other
    row dominates (at least as good in every column and better in one). A row with a
    NaN is never on the front and dominates nothing; equal rows are all on it."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 1:
        v = v[:, None]
    if v.ndim != 2:
        raise DiscoveryError(f"pareto_front needs an n x k array, got shape {v.shape}")
    ok = ~np.isnan(v).any(axis=1)
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
            raise DiscoveryError(f"deflated_sharpe: {name} must be a finite number, not {v!r}")
    for name, v, low in (("n_trials", n_trials, 1), ("n_obs", n_obs, 2)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < low:
            raise DiscoveryError(f"deflated_sharpe: {name} must be an integer >= {low}, not {v!r}")
    if sharpe_std < 0:
        raise DiscoveryError(f"deflated_sharpe: sharpe_std must be >= 0, not {sharpe_std}")
    sr = float(sharpe)
    sr0 = expected_max_sharpe(int(n_trials), float(sharpe_std))
    var = 1 - skew * sr + (kurtosis - 1) / 4 * sr * sr
    if var <= 0:
        raise DiscoveryError(
            f"deflated_sharpe: skew {skew} and kurtosis {kurtosis} give a non-positive "
            f"variance for a Sharpe ratio of {sr}",
            hint="pass the per-observation Sharpe ratio and Pearson kurtosis (3 = normal)",
        )
    return _N.cdf((sr - sr0) * math.sqrt(n_obs - 1) / math.sqrt(var))


__all__ = [
    "OBJECTIVES",
    "check_objectives",
    "composite_fitness",
    "deflated_sharpe",
    "expected_max_sharpe",
    "objective_values",
    "pareto_front",
]
