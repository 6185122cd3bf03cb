"""The look-ahead check: does any signal change when later data is added?

A strategy without look-ahead gives bar t the same signals whether the data
ends at t or goes on for years. :func:`check_lookahead` runs the strategy on
the full frame and on truncated copies (the first ``e`` bars, for several
``e``), and compares every field of every bar the copy holds with the full
run, bit for bit (NaN equals NaN). Each difference is a bar whose signal
depended on data after the truncation end: reported with the bar's time, the
time of the truncated copy's last bar and the field.

The params are resolved once on the full frame (per-timeframe defaults
included) and used for every run, so a short copy cannot pick other defaults.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from tradpal.errors import StrategyError
from tradpal.strategies.base import Strategy, resolve_params
from tradpal.strategies.signals import BOOL_FIELDS, Signals


class LookaheadChange(NamedTuple):
    """One bar whose ``field`` differed between the full run and the copy that ended
    at ``truncation_end`` (the open time of the copy's last bar)."""

    time: pd.Timestamp
    truncation_end: pd.Timestamp
    field: str


@dataclass(frozen=True)
class LookaheadReport:
    """The outcome of :func:`check_lookahead`.

    ``changed`` lists differences in order of truncation then field then bar, at
    most ``max_changes`` of them; ``n_changed`` counts them all.
    """

    strategy: str
    params: dict[str, Any]
    bars: int
    truncations: tuple[pd.Timestamp, ...]
    changed: tuple[LookaheadChange, ...]
    n_changed: int

    @property
    def ok(self) -> bool:
        return self.n_changed == 0

    def changed_bars(self) -> list[pd.Timestamp]:
        """The distinct bar times with a change, sorted."""
        return sorted({c.time for c in self.changed})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (times as ISO 8601 text)."""
        return {
            "strategy": self.strategy,
            "params": dict(self.params),
            "ok": self.ok,
            "bars": self.bars,
            "truncations": [t.isoformat() for t in self.truncations],
            "n_changed": self.n_changed,
            "changed": [
                {
                    "time": c.time.isoformat(),
                    "truncation_end": c.truncation_end.isoformat(),
                    "field": c.field,
                }
                for c in self.changed
            ],
        }

    def summary(self, limit: int = 10) -> str:
        """A few readable lines: the verdict and the first ``limit`` changes."""
        head = (
            f"{self.strategy}: {self.bars} bars, {len(self.truncations)} truncations "
            f"({self.truncations[0] if self.truncations else '-'} to "
            f"{self.truncations[-1] if self.truncations else '-'})"
        )
        if self.ok:
            return f"{head}\nOK: no signal changed when later data was added"
        lines = [
            head,
            f"LOOK-AHEAD: {self.n_changed} signal value(s) on {len(self.changed_bars())} "
            "bar(s) changed when later data was added",
        ]
        for c in self.changed[:limit]:
            lines.append(f"  bar {c.time}: {c.field} (data cut after {c.truncation_end})")
        if self.n_changed > limit:
            lines.append(f"  ... and {self.n_changed - limit} more")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def truncation_ends(n: int, checkpoints: int, min_bars: int) -> list[int]:
    """``checkpoints`` copy lengths spread evenly from ``min_bars`` to ``n - 1``."""
    if n < 2:
        return []
    lo = min(max(1, min_bars), n - 1)
    return sorted({int(e) for e in np.linspace(lo, n - 1, max(1, checkpoints)).round()})


def check_lookahead(
    strategy: Strategy,
    frame: pd.DataFrame,
    params: Mapping[str, Any] | None = None,
    *,
    checkpoints: int = 20,
    min_bars: int | None = None,
    ends: Sequence[int] | None = None,
    max_changes: int = 10_000,
) -> LookaheadReport:
    """Run ``strategy`` on ``frame`` and on truncated copies and report every bar whose
    signals changed when later data was added (see the module docstring).

    ``ends`` gives the copy lengths (bars kept, 1 to ``len(frame) - 1``)
    explicitly; otherwise ``checkpoints`` lengths spread evenly from
    ``min_bars`` (default a tenth of the frame) to ``len(frame) - 1``, the
    last one being the copy that lacks only the final bar.
    """
    n = len(frame)
    if n < 2:
        raise StrategyError(
            f"the look-ahead check needs at least 2 bars, the data has {n}",
            hint="load a longer range",
        )
    if isinstance(checkpoints, bool) or not isinstance(checkpoints, int) or checkpoints < 1:
        raise StrategyError(f"checkpoints {checkpoints!r} is not a positive integer")
    if ends is None:
        ends = truncation_ends(n, checkpoints, n // 10 if min_bars is None else min_bars)
    else:
        ends = sorted({int(e) for e in ends})
        if not ends or ends[0] < 1 or ends[-1] >= n:
            raise StrategyError(
                f"truncation lengths must lie in 1..{n - 1}, got {ends}",
                hint="each copy keeps the first e bars; e = len(frame) is the full run",
            )
    p = resolve_params(strategy, frame, params)
    full = _run(strategy, frame, p, n)
    index = frame.index
    changed: list[LookaheadChange] = []
    total = 0
    for e in ends:
        part = _run(strategy, frame.iloc[:e], p, e)
        end = index[e - 1]
        for name, diff in _differences(full, part, e):
            bars = np.flatnonzero(diff)
            total += len(bars)
            room = max_changes - len(changed)
            changed.extend(LookaheadChange(index[i], end, name) for i in bars[:room])
    return LookaheadReport(
        strategy=strategy.name,
        params=p,
        bars=n,
        truncations=tuple(index[e - 1] for e in ends),
        changed=tuple(changed),
        n_changed=total,
    )


def _run(strategy: Strategy, frame: pd.DataFrame, params: dict[str, Any], n: int) -> Signals:
    sig = strategy.generate(frame, params)
    if not isinstance(sig, Signals) or len(sig) != n:
        got = len(sig) if isinstance(sig, Signals) else type(sig).__name__
        raise StrategyError(f"{strategy.name} returned {got} signals for {n} bars")
    return sig


def _differences(full: Signals, part: Signals, e: int) -> list[tuple[str, np.ndarray]]:
    out = []
    for name in (*BOOL_FIELDS, "stop_price", "target_price", "confidence"):
        a, b = getattr(full, name), getattr(part, name)
        if a is None and b is None:
            continue
        a = np.full(e, np.nan) if a is None else a[:e]
        b = np.full(e, np.nan) if b is None else b
        same = (a == b) if name in BOOL_FIELDS else (a == b) | (np.isnan(a) & np.isnan(b))
        diff = ~same
        if diff.any():
            out.append((name, diff))
    return out


__all__ = ["LookaheadChange", "LookaheadReport", "check_lookahead", "truncation_ends"]
