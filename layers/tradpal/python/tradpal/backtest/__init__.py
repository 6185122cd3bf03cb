"""Backtesting: the compiled bar-by-bar engine, its configuration and the metrics.

:func:`run_backtest` (frame + signals -> :class:`BacktestResult`) and :func:`simulate`
(arrays -> :class:`SimOutput`, the lean path for sweeps). The engine's rules are in
:mod:`tradpal.backtest.engine`, the metrics' definitions in :mod:`tradpal.backtest.metrics`.
"""

from __future__ import annotations

from tradpal.backtest.config import BacktestConfig, BacktestError
from tradpal.backtest.engine import (
    EXIT_REASONS,
    TRADE_FRAME_COLUMNS,
    BacktestResult,
    SimOutput,
    run_backtest,
    simulate,
    trades_frame,
)
from tradpal.backtest.metrics import Metrics, compute_metrics, drawdown_series

__all__ = [
    "EXIT_REASONS",
    "TRADE_FRAME_COLUMNS",
    "BacktestConfig",
    "BacktestError",
    "BacktestResult",
    "Metrics",
    "SimOutput",
    "compute_metrics",
    "drawdown_series",
    "run_backtest",
    "simulate",
    "trades_frame",
]
