"""Strategies that wrap another: a higher-timeframe trend filter and ATR stops."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from tradpal.errors import StrategyError
from tradpal.strategies import lines
from tradpal.strategies.base import (
    WARMUP_SETTLE,
    Strategy,
    prev,
    prices_of,
    reference_of,
    resolve_params,
    warmup_bars,
)
from tradpal.strategies.defaults import timeframe_defaults
from tradpal.strategies.signals import Signals
from tradpal.strategies.space import Param, ParamSpace
from tradpal.timeframes import Timeframe, parse_timeframe


def _inner_indicators(
    inner: Strategy, frame: pd.DataFrame, params: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    func = getattr(inner, "indicators", None)
    return dict(func(frame, params)) if func is not None else {}


def htf_trend(frame: pd.DataFrame, timeframe: str | Timeframe, ema_period: int) -> np.ndarray:
    """The higher timeframe's trend at each bar of ``frame``: +1 where the last closed
    ``timeframe`` bar closed above its EMA(``ema_period``), -1 below, 0 on it, NaN
    before the first closed bar with an EMA.

    The higher-timeframe closes are those of
    :func:`tradpal.data.resample.resample_ohlcv` (the last bar of each non-empty
    bin) and each value is aligned to the base bars that may know it with
    :func:`tradpal.indicators.mtf.align` (closed bins only), so a value never changes
    when later bars arrive and equals :func:`tradpal.indicators.mtf.htf_apply` of
    the same rule bit for bit. It reads only the close: this runs once per strategy
    run, thousands of times in a look-ahead check, and resampling the whole frame
    cost three times the rest of the strategy.
    """
    from tradpal.data.resample import check_coarser, frame_timeframe
    from tradpal.indicators.mtf import align

    if not isinstance(frame.index, pd.DatetimeIndex) or not frame.index.is_monotonic_increasing:
        raise StrategyError(
            "a higher-timeframe filter needs bars indexed by increasing open times",
            hint="load the data through tradpal.data (an OHLCV frame), or sort it by time",
        )
    base, htf = frame_timeframe(frame), parse_timeframe(timeframe)
    check_coarser(base, htf)
    t = frame.index.asi8
    if not len(t):
        return np.full(0, np.nan)
    close = prices_of(frame).close
    keys = np.asarray(htf.floor_ns(t), dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    htf_close = close[np.r_[starts[1:], len(t)] - 1]
    trend = np.sign(htf_close - lines.ema(htf_close, ema_period))
    return align(trend, keys[starts], htf, t, base)


@dataclass(frozen=True)
class MtfFilter:
    """``inner``'s signals, entries kept only in the direction of the higher timeframe's
    trend (:func:`htf_trend`): long entries where it is up, short entries where it is
    down. Exits pass through, and a position is also closed on the bar the trend stops
    pointing its way (a long when the trend is no longer up). Stops, targets and
    confidence pass through unchanged."""

    inner: Strategy
    higher_timeframe: Timeframe
    ema_period: int = 50
    name: str = field(init=False)
    description: str = field(init=False)
    space: ParamSpace = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.inner.name}@{self.higher_timeframe.name}")
        object.__setattr__(
            self,
            "description",
            f"{self.inner.name}, trading only in the direction of the "
            f"{self.higher_timeframe.name} trend (close vs EMA{self.ema_period} of closed "
            f"{self.higher_timeframe.name} bars). {self.inner.description}",
        )
        object.__setattr__(self, "space", self.inner.space)

    def defaults_for(self, timeframe: str | Timeframe) -> dict[str, Any]:
        return self.inner.defaults_for(timeframe)

    @property
    def reference(self) -> str:
        """``"<inner reference>@<timeframe>"``: what :func:`get_strategy` builds this from."""
        return f"{reference_of(self.inner)}@{self.higher_timeframe.name}"

    def warmup_bars(
        self, timeframe: str | Timeframe, params: Mapping[str, Any] | None = None
    ) -> int:
        """The inner strategy's warm-up, or the higher timeframe's EMA counted in base
        bars if longer: :data:`~tradpal.strategies.base.WARMUP_SETTLE` x ``ema_period``
        x (higher timeframe / ``timeframe``), since the filter's EMA runs on
        higher-timeframe bars, each ``ratio`` base bars long."""
        tf = parse_timeframe(timeframe)
        ratio = max(1, self.higher_timeframe.seconds // tf.seconds)
        own = WARMUP_SETTLE * self.ema_period * ratio
        return max(warmup_bars(self.inner, tf.name, params), own)

    def params_for(self, frame: pd.DataFrame, params: Mapping[str, Any] | None) -> dict[str, Any]:
        return resolve_params(self, frame, params)

    def generate(self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> Signals:
        sig = self.inner.generate(frame, self.params_for(frame, params))
        trend = htf_trend(frame, self.higher_timeframe, self.ema_period)
        up, down = trend > 0, trend < 0
        return replace(
            sig,
            long_entry=sig.long_entry & up,
            short_entry=sig.short_entry & down,
            long_exit=sig.long_exit | (prev(up) & ~up),
            short_exit=sig.short_exit | (prev(down) & ~down),
        )

    def indicators(
        self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        from tradpal.indicators.mtf import htf_apply

        out = _inner_indicators(self.inner, frame, self.params_for(frame, params))
        tf = self.higher_timeframe
        out[f"ema_{self.ema_period}_{tf.name}"] = htf_apply(
            frame, tf, lambda h: lines.ema(np.asarray(h["close"], np.float64), self.ema_period)
        )
        return out


def mtf_filter(strategy: Strategy, higher_timeframe: str, *, ema_period: int = 50) -> Strategy:
    """``strategy`` trading only in the direction of ``higher_timeframe``'s trend
    (see :class:`MtfFilter`); named ``"<strategy>@<timeframe>"``. The data it runs on
    must have a timeframe that ``higher_timeframe`` is a whole multiple of."""
    if isinstance(ema_period, bool) or not isinstance(ema_period, int) or ema_period < 1:
        raise StrategyError(
            f"ema_period {ema_period!r} is not a positive integer",
            hint="give the higher timeframe's EMA period in its bars, such as 50",
        )
    return MtfFilter(strategy, parse_timeframe(higher_timeframe), ema_period)


ATR_PARAMS = (
    Param("sl_atr", "float", 0.25, 10.0, 0.25, default=1.5, description="stop, x ATR"),
    Param("tp_atr", "float", 0.25, 20.0, 0.25, default=3.0, description="target, x ATR"),
    Param("atr_period", "int", 2, 100, default=14, description="ATR period, bars"),
)


@dataclass(frozen=True)
class AtrStops:
    """``inner``'s signals with per-bar stop and target prices from the ATR.

    On a long-entry bar t: ``stop = close[t] - sl_atr * ATR[t]`` and ``target =
    close[t] + tp_atr * ATR[t]``; on a short-entry bar the mirror; NaN on every
    other bar (and where the ATR is still warming up). The prices are absolute
    and reference the signal bar's close, the default fill; with fills at the
    next open they keep their price level, not their distance. ``sl_atr`` and
    ``tp_atr`` default to the per-timeframe table (1h: 1.5 and 3.0).
    """

    inner: Strategy
    name: str = field(init=False)
    description: str = field(init=False)
    space: ParamSpace = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", f"{self.inner.name}+atr")
        object.__setattr__(
            self, "description", f"{self.inner.description} Stops and targets at k x ATR."
        )
        clash = [p.name for p in ATR_PARAMS if p.name in self.inner.space]
        if clash:
            raise StrategyError(f"{self.inner.name} already has the param(s) {clash}")
        object.__setattr__(self, "space", self.inner.space.merge(ParamSpace(ATR_PARAMS)))

    def defaults_for(self, timeframe: str | Timeframe) -> dict[str, Any]:
        row = timeframe_defaults(timeframe)
        own = {"sl_atr": row.sl_atr, "tp_atr": row.tp_atr}
        return self.space.validate({**self.inner.defaults_for(timeframe), **own})

    def params_for(self, frame: pd.DataFrame, params: Mapping[str, Any] | None) -> dict[str, Any]:
        return resolve_params(self, frame, params)

    @property
    def reference(self) -> str:
        """``"<inner reference>+atr"``: what :func:`get_strategy` builds this from."""
        return f"{reference_of(self.inner)}+atr"

    def warmup_bars(
        self, timeframe: str | Timeframe, params: Mapping[str, Any] | None = None
    ) -> int:
        """The inner strategy's warm-up, or the ATR's (:data:`WARMUP_SETTLE` x
        ``atr_period``) if longer."""
        tf = parse_timeframe(timeframe)
        p = self.space.validate({**self.defaults_for(tf), **dict(params or {})})
        inner = warmup_bars(self.inner, tf.name, self._split(p))
        return max(inner, WARMUP_SETTLE * p["atr_period"])

    def _split(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in p.items() if k in self.inner.space}

    def generate(self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None) -> Signals:
        p = self.params_for(frame, params)
        sig = self.inner.generate(frame, self._split(p))
        px = prices_of(frame)
        a = lines.atr(px.high, px.low, px.close, p["atr_period"])
        side = np.where(sig.long_entry & ~sig.short_entry, 1.0, np.nan)
        side[sig.short_entry & ~sig.long_entry] = -1.0
        return replace(
            sig,
            stop_price=px.close - side * p["sl_atr"] * a,
            target_price=px.close + side * p["tp_atr"] * a,
        )

    def indicators(
        self, frame: pd.DataFrame, params: Mapping[str, Any] | None = None
    ) -> dict[str, np.ndarray]:
        p = self.params_for(frame, params)
        return _inner_indicators(self.inner, frame, self._split(p))


def with_atr_stops(strategy: Strategy) -> Strategy:
    """``strategy`` with ATR stop and target prices (see :class:`AtrStops`); adds the
    params ``sl_atr``, ``tp_atr`` and ``atr_period`` to its space."""
    return AtrStops(strategy)


__all__ = ["AtrStops", "MtfFilter", "htf_trend", "mtf_filter", "with_atr_stops"]
