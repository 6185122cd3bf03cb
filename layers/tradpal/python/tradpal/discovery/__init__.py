"""Discovery: searching a strategy's params and risk settings at scale.

* :class:`SearchSpace` (strategy params + risk params, split into strategy params
  and :class:`~tradpal.backtest.BacktestConfig` overrides);
* objectives (:data:`OBJECTIVES`, :func:`composite_fitness`, :func:`objective_values`,
  :func:`pareto_front`, :func:`deflated_sharpe`);
* methods (:data:`METHODS`: grid, random, genetic, tpe, nsga2);
* stateless plan / batches / reduce over plain-JSON state (:mod:`tradpal.discovery.state`);
* :func:`evaluate` (score one JSON batch: pure, idempotent, runs anywhere) and
  :func:`run_discovery` (the local loop over a process pool, checkpointed and resumable).
"""

from __future__ import annotations

from tradpal.discovery.evaluate import evaluate
from tradpal.discovery.methods import METHODS
from tradpal.discovery.runner import run_discovery
from tradpal.discovery.search_space import RISK_PARAMS, SearchSpace
from tradpal.discovery.state import MAX_BATCH_BYTES, batches, plan, reduce, validate_request
from tradpal.optimize.objectives import (
    OBJECTIVES,
    composite_fitness,
    deflated_sharpe,
    objective_values,
    pareto_front,
)

__all__ = [
    "MAX_BATCH_BYTES",
    "METHODS",
    "OBJECTIVES",
    "RISK_PARAMS",
    "SearchSpace",
    "batches",
    "composite_fitness",
    "deflated_sharpe",
    "evaluate",
    "objective_values",
    "pareto_front",
    "plan",
    "reduce",
    "run_discovery",
    "validate_request",
]
