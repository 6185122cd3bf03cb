"""Indicators of one frame, computed once and shared by every candidate of a batch.

A sweep runs one strategy with many parameter sets over one frame, and most of
them ask for the same indicators (an EMA crossover grid of 4,851 points needs
only 99 EMAs). :class:`IndicatorCache` memoises the indicators of one frame,
keyed by ``(kind, source column, period, k)``, and :meth:`IndicatorCache.prefetch`
computes all periods of a kind in one call of the many-periods kernels
(:mod:`tradpal.indicators.many`, equal to the single-period functions bit for
bit). Cached arrays are read-only, so no candidate can change another's input.

Strategies do not change to use it: their indicator lines
(:mod:`tradpal.strategies.lines`) and price columns ask the active provider
first, and :func:`tradpal.strategies.lines.using` makes a cache active for a
block. The cache answers only for its own frame (the same object) and for arrays
that are that frame's columns (the same memory), and only for periods it can
compute; everything else returns None and is computed as usual, so results never
depend on whether a cache is active.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradpal.errors import OptimizeError
from tradpal.indicators import (
    Bollinger,
    atr_many,
    bollinger_many,
    ema_many,
    rsi_many,
    sma_many,
)

SOURCES = ("open", "high", "low", "close", "volume")
_ONE_INPUT = {"ema": ema_many, "sma": sma_many, "rsi": rsi_many}
KINDS = ("ema", "sma", "rsi", "atr", "bollinger")
"""The kinds a cache serves: those with a many-periods kernel."""


@dataclass(frozen=True)
class IndicatorRequest:
    """One indicator: ``kind`` in :data:`KINDS`, its ``period``, the ``source`` column
    (ema, sma, rsi, bollinger; ATR reads high, low and close) and Bollinger's ``k``."""

    kind: str
    period: int
    source: str = "close"
    k: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OptimizeError(
                f"indicator kind {self.kind!r} has no many-periods kernel",
                hint=f"request one of {', '.join(KINDS)}",
            )
        try:
            period = operator.index(self.period)
        except TypeError:
            raise OptimizeError(f"{self.kind} period {self.period!r} is not an integer") from None
        if self.source not in SOURCES:
            raise OptimizeError(
                f"source {self.source!r} is not a price column", hint=f"use one of {SOURCES}"
            )
        object.__setattr__(self, "period", period)
        object.__setattr__(self, "k", float(self.k) if self.kind == "bollinger" else 2.0)
        if self.kind == "atr":
            object.__setattr__(self, "source", "close")


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _address(a: np.ndarray) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    return (a.__array_interface__["data"][0], a.shape, a.strides)


class IndicatorCache:
    """Memoised indicators of one OHLCV frame (see the module docstring).

    ``computed`` counts kernel calls, ``hits`` answers served from memory and
    ``seen`` (when ``record`` is True) lists every request in order, so callers
    can plan a prefetch and tests can see the sharing work.
    """

    def __init__(self, frame: Any) -> None:
        self.frame = frame
        self.n = len(frame)
        # np.asarray of a float64 column is a view of the frame's memory, the same one
        # strategies read, which is how lookup() recognises the frame's own columns.
        self._inputs = {
            c: np.asarray(frame[c], dtype=np.float64) for c in SOURCES if c in frame.columns
        }
        self._by_address = {_address(a): c for c, a in self._inputs.items()}
        self._memo: dict[IndicatorRequest, Any] = {}
        self.computed = 0
        self.hits = 0
        self.record = False
        self.seen: list[IndicatorRequest] = []

    def column(self, name: str) -> np.ndarray:
        """A price column as a float64 array."""
        try:
            return self._inputs[name]
        except KeyError:
            raise OptimizeError(
                f"the frame has no {name!r} column", hint=f"columns: {', '.join(self._inputs)}"
            ) from None

    def column_of(self, frame: object, name: str) -> np.ndarray | None:
        """``frame``'s price column ``name`` if ``frame`` is this cache's frame, else None
        (a column read from a frame copies its attrs, which costs more than an EMA)."""
        return self._inputs.get(name) if frame is self.frame else None

    def source_of(self, array: object) -> str | None:
        """The name of the frame column ``array`` is (same memory), else None."""
        if not isinstance(array, np.ndarray) or array.dtype != np.float64:
            return None
        return self._by_address.get(_address(array))

    def lookup(
        self, kind: str, inputs: Sequence[object], period: object, k: float = 2.0
    ) -> Any | None:
        """The indicator of ``inputs`` if they are this frame's columns and the cache can
        compute it (a period from 1 to the number of bars), else None."""
        sources = [self.source_of(a) for a in inputs]
        if None in sources or kind not in KINDS:
            return None
        if kind == "atr" and sources != ["high", "low", "close"]:
            return None
        try:
            p = operator.index(period)  # type: ignore[arg-type]
        except TypeError:
            return None
        if not 1 <= p <= self.n:
            return None
        return self.get(IndicatorRequest(kind, p, sources[-1], k))

    def get(self, request: IndicatorRequest) -> Any:
        """The requested indicator, computed on the first request."""
        if self.record:
            self.seen.append(request)
        value = self._memo.get(request)
        if value is None:
            self._compute(request.kind, request.source, request.k, [request.period])
            return self._memo[request]
        self.hits += 1
        return value

    def prefetch(self, requests: Iterable[IndicatorRequest]) -> None:
        """Compute every missing request with a period from 1 to the number of bars:
        one kernel call per kind, source and Bollinger ``k`` for all its periods."""
        groups: dict[tuple[str, str, float], set[int]] = defaultdict(set)
        for r in requests:
            if r not in self._memo and 1 <= r.period <= self.n:
                groups[(r.kind, r.source, r.k)].add(r.period)
        for (kind, source, k), periods in groups.items():
            self._compute(kind, source, k, sorted(periods))

    def _compute(self, kind: str, source: str, k: float, periods: list[int]) -> None:
        self.computed += 1
        if kind == "atr":
            h, lo, c = (self.column(x) for x in ("high", "low", "close"))
            rows = _read_only(atr_many(h, lo, c, periods))
            for p, row in zip(periods, rows, strict=True):
                self._memo[IndicatorRequest("atr", p)] = row
        elif kind == "bollinger":
            bands = [_read_only(f) for f in bollinger_many(self.column(source), periods, k)]
            for i, p in enumerate(periods):
                key = IndicatorRequest("bollinger", p, source, k)
                self._memo[key] = Bollinger(*(f[i] for f in bands))
        else:
            rows = _read_only(_ONE_INPUT[kind](self.column(source), periods))
            for p, row in zip(periods, rows, strict=True):
                self._memo[IndicatorRequest(kind, p, source)] = row


def plan_prefetch(
    seen: Sequence[IndicatorRequest],
    first: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]],
) -> list[IndicatorRequest]:
    """The requests of a whole batch, inferred from those of its first candidate.

    A request whose period (or Bollinger ``k``) equals exactly one integer (float)
    parameter of ``first`` is taken to follow that parameter, and is repeated with
    that parameter's value in every candidate. Requests that match no parameter, or
    several, are left to be computed when asked. This only decides what to compute
    ahead: the cache still answers by the exact request, so a wrong guess costs
    time, never correctness.
    """

    def follower(value: Any, kinds: tuple[type, ...]) -> str | None:
        names = [
            n
            for n, v in first.items()
            if isinstance(v, kinds) and not isinstance(v, bool) and v == value
        ]
        return names[0] if len(names) == 1 else None

    planned: list[IndicatorRequest] = []
    for r in dict.fromkeys(seen):
        by_period = follower(r.period, (int, np.integer))
        by_k = follower(r.k, (float, int, np.floating)) if r.kind == "bollinger" else None
        for c in candidates:
            try:
                period = c[by_period] if by_period else r.period
                k = c[by_k] if by_k else r.k
                planned.append(IndicatorRequest(r.kind, period, r.source, k))
            except (KeyError, OptimizeError, TypeError, ValueError):
                continue  # a candidate that does not fit the guess is computed when asked
    return list(dict.fromkeys(planned))


__all__ = ["KINDS", "SOURCES", "IndicatorCache", "IndicatorRequest", "plan_prefetch"]
