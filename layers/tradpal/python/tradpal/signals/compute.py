"""A strategy's signals over a frame, the position it wants after each bar, and its changes.

The position after a bar is :func:`tradpal.strategies.positions.positions` of the signals
(the engine's own signal rules, shorts allowed, no protective exits): +1 long, 0 flat,
-1 short. A *change* is a bar after whose close the position differs from the bar before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from tradpal.strategies import Signals, Strategy, get_strategy, resolve_params
from tradpal.strategies.positions import SIDES, Side, changes, positions
from tradpal.strategies.signals import BOOL_FIELDS


@dataclass(frozen=True)
class StrategySignals:
    """One strategy run over a frame: the params used (defaults filled in), the signals,
    the position after every bar (int8) and the indices of the bars where it changes."""

    strategy: Strategy
    params: dict[str, Any]
    signals: Signals
    position: np.ndarray
    changes: np.ndarray


def compute_signals(
    frame: pd.DataFrame, strategy: Strategy | str, params: Mapping[str, Any] | None = None
) -> StrategySignals:
    """``strategy`` (or the one its reference names) over ``frame`` with ``params`` over the
    frame's timeframe defaults."""
    strat = get_strategy(strategy) if isinstance(strategy, str) else strategy
    used = resolve_params(strat, frame, params)
    signals = strat.generate(frame, used)
    pos = positions(signals)
    return StrategySignals(strat, used, signals, pos, changes(pos))


@dataclass(frozen=True)
class PositionChange:
    """The desired position changed at the close of bar ``bar`` (an index of the frame)."""

    bar: int
    time: str
    side: Side
    previous: Side
    price: float
    stop_price: float | None
    target_price: float | None


def _finite(values: np.ndarray | None, t: int) -> float | None:
    if values is None:
        return None
    value = float(values[t])
    return value if np.isfinite(value) else None


def position_changes(
    frame: pd.DataFrame, run: StrategySignals, bars: np.ndarray | None = None
) -> list[PositionChange]:
    """The changes at ``bars`` (default: all of ``run.changes``): open time (ISO 8601 UTC),
    sides, the bar's close and the signal's stop and target prices (None where unset)."""
    close = frame["close"].to_numpy()
    out = []
    for t in (run.changes if bars is None else bars).tolist():
        out.append(
            PositionChange(
                bar=t,
                time=frame.index[t].isoformat(),
                side=SIDES[int(run.position[t])],
                previous=SIDES[int(run.position[t - 1]) if t else 0],
                price=float(close[t]),
                stop_price=_finite(run.signals.stop_price, t),
                target_price=_finite(run.signals.target_price, t),
            )
        )
    return out


class SignalsReport(BaseModel):
    """A strategy run as the API answers it: signal flags as bar indices, the position after
    every bar (+1 long, 0 flat, -1 short), its changes and the current side."""

    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any] = Field(description="the params used (defaults filled in)")
    bars: int
    first: str | None = Field(description="open time of the first bar")
    last: str | None
    long_entry: list[int] = Field(description="indices of bars with a long entry")
    long_exit: list[int]
    short_entry: list[int]
    short_exit: list[int]
    position: list[int] = Field(description="+1 long, 0 flat, -1 short after each bar's close")
    changes: list[PositionChange]
    current: Side

    @classmethod
    def of(cls, frame: pd.DataFrame, run: StrategySignals, **labels: Any) -> SignalsReport:
        """The report of ``run`` over ``frame``; ``labels``: symbol, timeframe, strategy and
        any extra fields of a subclass."""
        n = len(frame)
        flags = {k: np.flatnonzero(getattr(run.signals, k)).tolist() for k in BOOL_FIELDS}
        return cls(
            **labels,
            **flags,
            params=run.params,
            bars=n,
            first=frame.index[0].isoformat() if n else None,
            last=frame.index[-1].isoformat() if n else None,
            position=run.position.tolist(),
            changes=position_changes(frame, run),
            current=SIDES[int(run.position[-1])] if n else "flat",
        )
