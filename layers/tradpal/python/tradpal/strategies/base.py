"""The Strategy protocol, the concrete declared strategy and shared signal helpers.

A strategy is a pure function ``(frame, params) -> Signals`` with its
:class:`~tradpal.strategies.space.ParamSpace` declared beside it. The signal
at bar t may use the frame's data up to the close of bar t only.

Parameters a run does not give take the strategy's per-timeframe defaults
(:mod:`tradpal.strategies.defaults`) for the frame's timeframe, then the
space's own defaults; every given parameter overrides both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from tradpal.errors import StrategyError
from tradpal.strategies import lines
from tradpal.strategies.defaults import timeframe_defaults
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import ParamSpace
from tradpal.timeframes import Timeframe


@runtime_checkable
class Strategy(Protocol):
    """What the engine, sweeps and the command line need from a strategy."""

    name: str
    description: str
    space: ParamSpace

    def generate(self, frame: pd.DataFrame, params: Mapping[str, Any]) -> Signals:
        """Signals for every bar of ``frame`` (pure; no look-ahead)."""
        ...

    def defaults_for(self, timeframe: str) -> dict[str, Any]:
        """The space's defaults overlaid with the per-timeframe table's values."""
        ...


class Prices:
    """A frame's open, high, low and close as float64 arrays, each read on first use.

    Reading a column of a frame copies its ``attrs``, which costs more than an EMA
    of 10,000 bars, so a rule that needs only the close reads only the close. The
    arrays are views of the frame's memory where its columns are float64.
    """

    __slots__ = ("_frame", "_read")
    FIELDS = ("open", "high", "low", "close")

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame
        self._read: dict[str, np.ndarray] = {}

    def _column(self, name: str) -> np.ndarray:
        arr = self._read.get(name)
        if arr is None:
            arr = lines.provided_column(self._frame, name)  # a sweep's shared arrays
            if arr is None:
                arr = np.asarray(self._frame[name], dtype=np.float64)
            self._read[name] = arr
        return arr

    @property
    def open(self) -> np.ndarray:
        return self._column("open")

    @property
    def high(self) -> np.ndarray:
        return self._column("high")

    @property
    def low(self) -> np.ndarray:
        return self._column("low")

    @property
    def close(self) -> np.ndarray:
        return self._column("close")

    def __len__(self) -> int:
        return len(self._frame)


Rule = Callable[[Prices, Mapping[str, Any]], tuple[Signals, dict[str, np.ndarray]]]


@dataclass(frozen=True)
class DeclaredStrategy:
    """A strategy made of a rule and its space.

    ``rule(prices, params)`` returns the signals and the indicator lines it
    used (named arrays for charts). ``timeframe_params`` maps a param name to
    the :class:`~tradpal.strategies.defaults.TimeframeDefaults` field that
    gives its per-timeframe default (``{"fast": "ema_fast"}``).
    """

    name: str
    description: str
    space: ParamSpace
    rule: Rule = field(repr=False)
    timeframe_params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "timeframe_params", MappingProxyType(dict(self.timeframe_params)))
        for p in self.timeframe_params:
            self.space.param(p)  # raises on a name the space lacks

    def defaults_for(self, timeframe: str | Timeframe) -> dict[str, Any]:
        row = timeframe_defaults(timeframe).to_dict()
        table = {p: row[f] for p, f in self.timeframe_params.items()}
        return self.space.validate(table)

    def params_for(self, frame: pd.DataFrame, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """The complete, validated params a run on ``frame`` uses (see module docstring)."""
        return resolve_params(self, frame, params)

    def generate(self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> Signals:
        return self.rule(prices_of(frame), self.params_for(frame, params))[0]

    def indicators(
        self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        """The indicator lines the strategy trades on, one value per bar (for charts)."""
        return self.rule(prices_of(frame), self.params_for(frame, params))[1]


def resolve_params(
    strategy: Strategy, frame: pd.DataFrame, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``params`` over the per-timeframe defaults of ``frame``'s timeframe, validated.

    A frame whose timeframe cannot be told (no meta, irregular bars) uses the
    space's plain defaults.
    """
    tf = frame_timeframe_or_none(frame)
    base = strategy.defaults_for(tf.name) if tf is not None else strategy.space.defaults()
    given = dict(params or {})
    unknown = [k for k in given if k not in strategy.space]
    if unknown:  # validate() says the same, but before the defaults hide which were given
        strategy.space.validate(given)
    try:
        return strategy.space.validate({**base, **given})
    except StrategyError as exc:
        filled = {k: v for k, v in base.items() if k not in given}
        if tf is None or not given or not filled:
            raise
        shown = ", ".join(f"{k}={v}" for k, v in filled.items())
        raise StrategyError(
            f"{exc.message}; the params not given came from the {tf.name} defaults ({shown})",
            hint="give the other params of the constraint too",
        ) from None


def frame_timeframe_or_none(frame: pd.DataFrame) -> Timeframe | None:
    """The frame's timeframe from its meta or bar spacing, None when unknown."""
    from tradpal.data.resample import frame_timeframe
    from tradpal.errors import TradPalError

    try:
        return frame_timeframe(frame)
    except (TradPalError, AttributeError, TypeError, ValueError):
        return None


def prices_of(frame: pd.DataFrame) -> Prices:
    """``frame``'s prices, read lazily (:class:`Prices`); missing columns are an error."""
    if not isinstance(frame, pd.DataFrame):
        raise StrategyError(f"a strategy needs an OHLCV DataFrame, not {type(frame).__name__}")
    missing = [c for c in Prices.FIELDS if c not in frame.columns]
    if missing:
        raise StrategyError(
            f"the data lacks the column(s) {', '.join(missing)}",
            hint="strategies read open, high, low and close from an OHLCV frame",
        )
    return Prices(frame)


# --- vectorised helpers (no loops over bars) --------------------------------------------------


def prev(x: np.ndarray, fill: Any = False) -> np.ndarray:
    """``x`` shifted one bar later: ``out[t] = x[t-1]``, ``out[0] = fill``."""
    out = np.empty_like(x)
    if len(x):
        out[0] = fill
        out[1:] = x[:-1]
    return out


def crossed_above(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """True at t where ``a[t] > b[t]`` and ``a[t-1] <= b[t-1]`` (NaN never crosses)."""
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    with np.errstate(invalid="ignore"):
        return (a > b) & prev(a <= b)


def crossed_below(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """True at t where ``a[t] < b[t]`` and ``a[t-1] >= b[t-1]`` (NaN never crosses)."""
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    with np.errstate(invalid="ignore"):
        return (a < b) & prev(a >= b)


def onset(cond: np.ndarray) -> np.ndarray:
    """True at the first bar of each run of True in ``cond`` (bar 0 counts when True)."""
    return cond & ~prev(cond)


__all__ = [
    "DeclaredStrategy",
    "Prices",
    "Strategy",
    "crossed_above",
    "crossed_below",
    "frame_timeframe_or_none",
    "onset",
    "prev",
    "prices_of",
    "resolve_params",
]
