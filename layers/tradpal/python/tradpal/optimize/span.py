"""Run many parameter sets of one strategy over one span of a frame, sharing the work.

A :class:`SpanRunner` is the unit sweeps and walk-forward windows are made of. Its frame
holds the bars the strategy sees; trading starts at bar ``start`` of it, so the bars
before ``start`` warm up the strategy's indicators (and the ATR and volatility the
engine's rules use) without being traded. Nothing after the frame's last bar is read:
a runner over a window cut from a longer series cannot see past the window.

Per runner, once: the price arrays, the engine inputs (ATR for ATR stops, realised
volatility for the leverage clamp) and an :class:`~tradpal.optimize.cache.IndicatorCache`
that every candidate's indicator lines come from (the first candidate's requests plan
a many-periods prefetch for all of them). Per candidate: the strategy's signals and
the engine's lean path (:func:`tradpal.backtest.simulate`). With ``start=0`` a runner
computes exactly what :func:`tradpal.backtest.run_backtest` computes on the same
frame and signals, bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradpal.backtest import BacktestConfig, Metrics, SimOutput, simulate
from tradpal.backtest.engine import engine_atr, engine_volatility, require_stop_for_risk
from tradpal.data.contract import ensure_ohlcv
from tradpal.data.resample import frame_timeframe
from tradpal.errors import OptimizeError, TradPalError
from tradpal.optimize.cache import IndicatorCache, plan_prefetch
from tradpal.strategies import Signals, Strategy, lines, resolve_params
from tradpal.timeframes import Timeframe, parse_timeframe


class SpanRunner:
    """Candidates of ``strategy`` on ``frame``, trading bars ``start`` to the end."""

    def __init__(
        self,
        frame: pd.DataFrame,
        strategy: Strategy,
        config: BacktestConfig,
        *,
        start: int = 0,
        timeframe: Timeframe | str | None = None,
    ) -> None:
        if not isinstance(config, BacktestConfig):
            raise OptimizeError(
                f"config must be a BacktestConfig, not {type(config).__name__}",
                hint="build one with tradpal.backtest.BacktestConfig(...)",
            )
        ensure_ohlcv(frame)
        n = len(frame)
        if not 0 <= start < n:
            raise OptimizeError(f"trading start {start} is outside the frame's {n} bars")
        self.frame, self.strategy, self.config, self.start = frame, strategy, config, start
        tf = frame_timeframe(frame) if timeframe is None else parse_timeframe(timeframe)
        self.timeframe = tf
        self.bars_per_year = config.year_days * 86_400 / tf.seconds
        self.cache = IndicatorCache(frame)
        o, h, lo, c = (self.cache.column(x) for x in ("open", "high", "low", "close"))
        s = slice(start, None)
        self._prices = (o[s], h[s], lo[s], c[s])
        # The engine's own helpers, on the whole frame: warmed up before `start`, equal to
        # what run_backtest computes when start is 0.
        self._atr = engine_atr(h, lo, c, config.atr_period)[s] if config.uses_atr else None
        self._vol = None
        if config.target_volatility is not None:
            self._vol = engine_volatility(c, config.vol_lookback, self.bars_per_year)[s]
        self._planned = False

    @property
    def index(self) -> pd.DatetimeIndex:
        """The traded bars' times."""
        return self.frame.index[self.start :]

    def params(self, candidate: Mapping[str, Any]) -> dict[str, Any]:
        """The complete params a candidate runs with (per-timeframe defaults filled in)."""
        return resolve_params(self.strategy, self.frame, candidate)

    def signals(self, params: Mapping[str, Any]) -> Signals:
        """The strategy's signals on the whole frame, lines served by the batch cache."""
        with lines.using(self.cache):
            return self.strategy.generate(self.frame, params)

    def prefetch(self, candidates: Sequence[Mapping[str, Any]]) -> None:
        """Compute the lines of all ``candidates`` ahead, planned from the first one's."""
        if self._planned or not candidates:
            return
        self._planned = True
        self.cache.record = True
        try:
            self.signals(candidates[0])
        finally:
            self.cache.record = False
        self.cache.prefetch(plan_prefetch(self.cache.seen, candidates[0], candidates))
        self.cache.seen.clear()

    def run(
        self,
        params: Mapping[str, Any],
        config: BacktestConfig | None = None,
        *,
        flatten: bool = False,
    ) -> SimOutput:
        """Simulate ``params`` over the traded bars (``config`` overrides the batch's,
        e.g. another starting capital; its ATR period and volatility settings must match).

        ``flatten`` ends the run without a position: the strategy's entries are dropped
        from the closing bar on and both exits are signalled there, the closing bar
        being the last one (``fill="close"``: the exit fills at its close) or the one
        before it (``"next_open"``: the exit fills at the last bar's open), so the exit
        pays fees and slippage like any other instead of being marked at the last close.
        """
        cfg = config or self.config
        sig = self.signals(params)
        if len(sig) != len(self.frame):
            raise OptimizeError(
                f"strategy {self.strategy.name!r} returned {len(sig)} signals for "
                f"{len(self.frame)} bars",
                hint="a strategy must give one signal per bar of the frame it is given",
            )
        require_stop_for_risk(cfg, sig)
        s = slice(self.start, None)
        le, lx, se, sx = (a[s] for a in (sig.long_entry, sig.long_exit, sig.short_entry,
                                         sig.short_exit))  # fmt: skip
        if flatten:
            last = len(le) - (2 if cfg.fill == "next_open" and len(le) > 1 else 1)
            le, se, lx, sx = (a.copy() for a in (le, se, lx, sx))
            le[last:] = se[last:] = False
            lx[last:] = sx[last:] = True

        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[s]

        return simulate(
            *self._prices,
            le,
            lx,
            se,
            sx,
            cfg,
            stop_price=cut(sig.stop_price),
            target_price=cut(sig.target_price),
            atr=self._atr,
            volatility=self._vol,
            bars_per_year=self.bars_per_year,
        )

    def metrics(self, out: SimOutput) -> Metrics:
        return out.metrics(bars_per_year=self.bars_per_year, bar_seconds=self.timeframe.seconds)

    def evaluate(
        self, candidates: Sequence[Mapping[str, Any]], *, resolved: bool = False
    ) -> list[tuple[dict, Metrics]]:
        """``(params, metrics)`` of every candidate, in order (``resolved``: the candidates
        are already complete params from :meth:`params`, for the same timeframe).

        A candidate the strategy refuses raises :class:`OptimizeError` naming it.
        """
        out: list[tuple[dict, Metrics]] = []
        for i, candidate in enumerate(candidates):
            try:
                if not self._planned:
                    self.prefetch(candidates)
                params = dict(candidate) if resolved else self.params(candidate)
                out.append((params, self.metrics(self.run(params))))
            except TradPalError as exc:
                if isinstance(exc, OptimizeError):
                    raise
                raise OptimizeError(
                    f"candidate {i} {dict(candidate)!r}: {exc.message}", hint=exc.hint
                ) from exc
        return out


__all__ = ["SpanRunner"]
