"""A backtest from names: strategy, parameters and settings in, a result out.

What the command line, the API handlers and walk-forward share, so that "run
ema_crossover on this frame with these overrides" means the same everywhere:

* :func:`config_for` builds a :class:`BacktestConfig` whose ATR stop and target
  multiples and maximum leverage come from the per-timeframe table
  (:func:`tradpal.strategies.timeframe_defaults`) unless the caller overrides them;
* :func:`backtest_strategy` resolves the strategy and its parameters (given
  values over the timeframe's defaults over the space's defaults), generates the
  signals and runs the engine, recording strategy and parameters in the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from tradpal.backtest.config import BacktestConfig, BacktestError
from tradpal.backtest.engine import BacktestResult, run_backtest

_CONFIG_FIELDS = frozenset(f.name for f in fields(BacktestConfig))


def config_for(timeframe: str | None, **overrides: Any) -> BacktestConfig:
    """A config with the per-timeframe defaults of ``timeframe`` and ``overrides`` on top.

    From the table: ``stop_loss`` = ATR x sl_atr, ``take_profit`` = ATR x tp_atr,
    ``max_leverage``. Overrides equal to ``None`` are ignored (an unset flag); to
    turn a stop off pass ``stop_loss="none"``. Unknown names are an error.
    """
    from tradpal.strategies import timeframe_defaults

    unknown = sorted(set(overrides) - _CONFIG_FIELDS)
    if unknown:
        raise BacktestError(
            f"unknown backtest setting(s) {', '.join(unknown)}",
            hint=f"known: {', '.join(sorted(_CONFIG_FIELDS))}",
        )
    values: dict[str, Any] = {}
    if timeframe is not None:
        table = timeframe_defaults(timeframe)
        values = {
            "stop_loss": f"atr:{table.sl_atr}",
            "take_profit": f"atr:{table.tp_atr}",
            "max_leverage": table.max_leverage,
        }
    for name, value in overrides.items():
        if value is None:
            continue
        values[name] = None if isinstance(value, str) and value.lower() == "none" else value
    return BacktestConfig(**values)


def resolve_run(
    frame: pd.DataFrame, strategy: Any, config: BacktestConfig | None
) -> tuple[Any, BacktestConfig]:
    """The :class:`~tradpal.strategies.Strategy` that ``strategy`` names (or is) and the
    config a run on ``frame`` uses: ``config``, else :func:`config_for` the frame's
    timeframe. Shared by single runs, sweeps and walk-forward so they agree."""
    from tradpal.data.resample import frame_timeframe
    from tradpal.strategies import get_strategy

    strat = get_strategy(strategy) if isinstance(strategy, str) else strategy
    return strat, config if config is not None else config_for(frame_timeframe(frame).name)


@dataclass
class StrategyRun:
    """A strategy backtest and what produced it (for reports and charts)."""

    result: BacktestResult
    signals: Any
    params: dict[str, Any]
    indicators: dict[str, np.ndarray]


def backtest_strategy(
    frame: pd.DataFrame,
    strategy: Any,
    params: Mapping[str, Any] | None = None,
    config: BacktestConfig | None = None,
) -> StrategyRun:
    """Run ``strategy`` (a name such as ``"ema_crossover"`` or ``"regime@4h"``, or a
    :class:`~tradpal.strategies.Strategy`) on ``frame``.

    ``config`` defaults to :func:`config_for` the frame's timeframe. The
    result's meta records the strategy's name and the parameters used.
    """
    from tradpal.strategies import resolve_params

    strat, config = resolve_run(frame, strategy, config)
    used = resolve_params(strat, frame, params)
    signals = strat.generate(frame, used)
    result = run_backtest(frame, signals, config, meta={"strategy": strat.name, "params": used})
    return StrategyRun(result, signals, used, dict(strat.indicators(frame, used)))
