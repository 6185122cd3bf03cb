"""The Strategy protocol, the concrete declared strategy and shared signal helpers.

A strategy is a pure function ``(frame, params) -> Signals`` with its
:class:`~tradpal.strategies.space.ParamSpace` declared beside it. The signal
at bar t may use the frame's data up to the close of bar t only.

Parameters a run does not give take the strategy's per-timeframe defaults
(:mod:`tradpal.strategies.defaults`) for the frame's timeframe, then the
space's own defaults; every given parameter overrides both.

Besides the protocol, TradPal's strategies (the built-ins, the wrappers and
your own, :mod:`tradpal.strategies.user`) answer two questions callers would
otherwise work out by hand:

* ``reference``: the text :func:`~tradpal.strategies.get_strategy` takes to
  build the same strategy again (``"ema_crossover@4h"``,
  ``"/abs/path/my.py:breakout+atr"``), for a worker process or a saved request;
* ``warmup_bars(timeframe, params=None)``: how many bars of history before the
  first bar that matters the strategy needs for its indicators to settle,
  :data:`WARMUP_SETTLE` times its longest integer param (a period, in bars) at
  that timeframe's defaults (``params`` over them); a higher-timeframe filter
  counts its EMA in base bars. Use :func:`warmup_bars` and :func:`reference_of`
  for any strategy, including ones that lack the methods.
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

# EMA-type lines (EMA, RSI and ATR's Wilder smoothing) forget their seed to float
# precision after about five periods: history of five times the longest period makes a
# signal on the last bar the one a run over all of history gives.
WARMUP_SETTLE = 5


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
    """A frame's open, high, low, close (and volume) as float64 arrays, one value per
    bar in time order, each read on first use.

    Reading a column of a frame copies its ``attrs``, which costs more than an EMA
    of 10,000 bars, so a rule that needs only the close reads only the close. The
    arrays are views of the frame's memory where its columns are float64; with
    ``read_only`` (what strategies of your own get) they cannot be written, since
    a sweep shares them between parameter sets. ``index`` holds the bars' open
    times (UTC) and ``frame`` the OHLCV DataFrame itself.
    """

    __slots__ = ("_frame", "_read", "_read_only")
    FIELDS = ("open", "high", "low", "close")

    def __init__(self, frame: pd.DataFrame, *, read_only: bool = False) -> None:
        self._frame = frame
        self._read: dict[str, np.ndarray] = {}
        self._read_only = read_only

    def _column(self, name: str) -> np.ndarray:
        arr = self._read.get(name)
        if arr is None:
            arr = lines.provided_column(self._frame, name)  # a sweep's shared arrays
            if arr is None:
                if name not in self._frame.columns:
                    raise StrategyError(
                        f"the data has no {name} column",
                        hint="strategies read open, high, low, close and volume from an "
                        "OHLCV frame",
                    )
                arr = np.asarray(self._frame[name], dtype=np.float64)
            if self._read_only:
                arr = arr.view()
                arr.flags.writeable = False
            self._read[name] = arr
        return arr

    @property
    def frame(self) -> pd.DataFrame:
        return self._frame

    @property
    def index(self) -> pd.Index:
        return self._frame.index

    @property
    def volume(self) -> np.ndarray:
        return self._column("volume")

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

    @property
    def reference(self) -> str:
        """The text :func:`~tradpal.strategies.get_strategy` builds this strategy from."""
        return self.name

    def warmup_bars(
        self, timeframe: str | Timeframe, params: Mapping[str, Any] | None = None
    ) -> int:
        """Bars of history the strategy needs (module docstring): :data:`WARMUP_SETTLE`
        times the longest integer param of ``params`` over ``timeframe``'s defaults."""
        return WARMUP_SETTLE * longest_period(self.space.validate(
            {**self.defaults_for(timeframe), **dict(params or {})}
        ))  # fmt: skip


def longest_period(params: Mapping[str, Any]) -> int:
    """The largest integer value among ``params`` (booleans are no periods), 0 if none."""
    ints = (v for v in params.values() if isinstance(v, int) and not isinstance(v, bool))
    return max(ints, default=0)


def warmup_bars(
    strategy: Strategy, timeframe: str | Timeframe, params: Mapping[str, Any] | None = None
) -> int:
    """``strategy.warmup_bars(timeframe, params)``, or for a strategy without the method
    the same rule over its defaults: :data:`WARMUP_SETTLE` times its longest integer
    param. Bars of ``timeframe``; 0 for a strategy without integer params."""
    method = getattr(strategy, "warmup_bars", None)
    if method is not None:
        return int(method(timeframe, params))
    tf = timeframe if isinstance(timeframe, str) else timeframe.name
    resolved = strategy.space.validate({**strategy.defaults_for(tf), **dict(params or {})})
    return WARMUP_SETTLE * longest_period(resolved)


def source_file_of(strategy: Strategy) -> Any:
    """The file a strategy of your own was declared in (through any wrappers), else None."""
    inner: Any = strategy
    while inner is not None:
        source = getattr(inner, "source_file", None)
        if source is not None:
            return source
        inner = getattr(inner, "inner", None)
    return None


def label_of(strategy: Strategy) -> str:
    """How messages name ``strategy``: its name, and the file of one of your own."""
    source = source_file_of(strategy)
    return strategy.name if source is None else f"{strategy.name} ({source})"


def reference_of(strategy: Strategy) -> str:
    """The text :func:`~tradpal.strategies.get_strategy` rebuilds ``strategy`` from: its
    ``reference``, else its name."""
    return str(getattr(strategy, "reference", None) or strategy.name)


def resolve_params(
    strategy: Strategy, frame: pd.DataFrame, params: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``params`` over the per-timeframe defaults of ``frame``'s timeframe, validated.

    A frame whose timeframe cannot be told (no meta, irregular bars) uses the
    space's plain defaults.
    Errors name the strategy (and, for one of your own, its file).
    """
    tf = frame_timeframe_or_none(frame)
    base = strategy.defaults_for(tf.name) if tf is not None else strategy.space.defaults()
    given = dict(params or {})
    who = label_of(strategy)
    unknown = [k for k in given if k not in strategy.space]
    try:
        if unknown:  # validate() says the same, but before the defaults hide which were given
            strategy.space.validate(given)
        return strategy.space.validate({**base, **given})
    except StrategyError as exc:
        filled = {k: v for k, v in base.items() if k not in given}
        # the defaults matter to a broken constraint only, not to a value out of range
        if unknown or tf is None or not given or not filled or "constraint" not in exc.message:
            raise StrategyError(f"{who}: {exc.message}", hint=exc.hint) from None
        shown = ", ".join(f"{k}={v}" for k, v in filled.items())
        raise StrategyError(
            f"{who}: {exc.message}; the params not given came from the {tf.name} defaults "
            f"({shown})",
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


def prices_of(frame: pd.DataFrame, *, read_only: bool = False) -> Prices:
    """``frame``'s prices, read lazily (:class:`Prices`); missing columns are an error."""
    if not isinstance(frame, pd.DataFrame):
        raise StrategyError(f"a strategy needs an OHLCV DataFrame, not {type(frame).__name__}")
    missing = [c for c in Prices.FIELDS if c not in frame.columns]
    if missing:
        raise StrategyError(
            f"the data lacks the column(s) {', '.join(missing)}",
            hint="strategies read open, high, low and close from an OHLCV frame",
        )
    return Prices(frame, read_only=read_only)


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
    "WARMUP_SETTLE",
    "DeclaredStrategy",
    "Prices",
    "Strategy",
    "crossed_above",
    "crossed_below",
    "frame_timeframe_or_none",
    "label_of",
    "longest_period",
    "onset",
    "prev",
    "prices_of",
    "reference_of",
    "resolve_params",
    "source_file_of",
    "warmup_bars",
]
