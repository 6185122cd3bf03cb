"""The look-ahead check: does any signal change when later data is added?

A strategy without look-ahead gives bar t the same signals whether the data
ends at t or goes on for years. :func:`check_lookahead` runs the strategy on
the full frame and on truncated copies (the first ``e`` bars, for several
``e``), and compares every field of every bar the copy holds with the full
run, bit for bit (NaN equals NaN). Each difference is a bar whose signal
depended on data after the truncation end: reported with the bar's time, the
time of the truncated copy's last bar and the field.

Where the copies end (by default):

* **at every signal change** of the full run: each bar t where any field
  differs from bar t-1 (a flag turning on or off, a stop, target or
  confidence value appearing, changing or ending; bar 0 where any flag is set
  or any value present) is the last bar of one copy (``e = t + 1``). A
  strategy that peeks k >= 1 bars ahead decides bar t with data the copy
  ending at t lacks, so the copy's last bar is exactly where a peek shows;
  with one copy per change, every sparse signal bar (a cross, an onset) is
  such a last bar, and so is the bar after it, and for runs of a level signal
  (RSI above a threshold) the bars it starts and stops;
* **and at ``checkpoints`` evenly spread bars** from ``min_bars`` to the
  second-to-last bar, which catch peeks that add signals a full run never has
  (the copy's last bar firing because its future is missing).

**What it guarantees.** When the report says the cuts are complete (not
``capped``): for every bar t where the full run's signals change, the signals
of every bar up to t are those the strategy gives on the data ending at t.
So a look-ahead of any length (one bar or a year) that alters any signal at
a signal change, when the data ends there, is reported, and with it any
strategy whose entries or exits move when the future is unknown (the
`close.shift(-1)` cross that enters a bar early). The built-ins have about one
change per five bars (2,000 on 10,000 hourly bars), within the default cap of
:data:`MAX_SIGNAL_CUTS` copies.

**What it cannot see.** A peek that never alters a signal on the data tried
(a future value read but not acted on), a signal whose value inside a run of
equal values depends on the future while the run's first and last bars do
not, a spurious signal that a truncation would add at a bar that is neither a
signal change nor one of the spread checkpoints, and look-ahead outside the
strategy (the engine's fills, stops and sizing are not the strategy's and are
not checked). Strategies with more changes than the cap (a confidence that
moves every bar) are checked at an even, deterministic selection of them:
first the bars where a signal appears, then the bars where one ends; the
report says how many it checked (``signal_cuts`` of ``signal_changes``).

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
    most ``max_changes`` of them; ``n_changed`` counts them all. ``truncations``
    are the last bars of all copies; ``signal_cuts`` of them end at one of the full
    run's ``signal_changes`` (bars where its signals change, the last bar excluded);
    fewer cuts than changes means the selection was capped (:attr:`capped`).
    """

    strategy: str
    params: dict[str, Any]
    bars: int
    truncations: tuple[pd.Timestamp, ...]
    changed: tuple[LookaheadChange, ...]
    n_changed: int
    signal_cuts: int = 0
    signal_changes: int = 0

    @property
    def ok(self) -> bool:
        return self.n_changed == 0

    @property
    def capped(self) -> bool:
        """Whether some signal changes had no copy ending at them (the module's guarantee
        then holds for the ``signal_cuts`` checked only)."""
        return self.signal_cuts < self.signal_changes

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
            "signal_cuts": self.signal_cuts,
            "signal_changes": self.signal_changes,
            "capped": self.capped,
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
        if self.signal_changes:
            head += (
                f"\n{self.signal_cuts} of them end at a bar where the signals change "
                f"(of {self.signal_changes}"
                + (
                    "; capped: the rest were not checked, raise the cap to check all)"
                    if self.capped
                    else ": all)"
                )
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


# Copies at signal changes beyond this are thinned to an even selection: each copy costs a
# strategy run, and the built-ins' 2,000 changes on 10,000 bars take about a second.
MAX_SIGNAL_CUTS = 5_000


def truncation_ends(n: int, checkpoints: int, min_bars: int) -> list[int]:
    """``checkpoints`` copy lengths spread evenly from ``min_bars`` to ``n - 1``."""
    if n < 2:
        return []
    lo = min(max(1, min_bars), n - 1)
    return sorted({int(e) for e in np.linspace(lo, n - 1, max(1, checkpoints)).round()})


def signal_changes(signals: Signals) -> tuple[np.ndarray, np.ndarray]:
    """The bars where ``signals`` change, as ``(starts, others)``: ``starts`` where a
    flag turns on or a float field takes a new non-NaN value, ``others`` where the
    remaining changes happen (a flag turning off, a value ending). Bar 0 counts as a
    change from no signal. Sorted bar indices, each bar in one of the two at most."""
    n = len(signals)
    starts = np.zeros(n, dtype=np.bool_)
    changed = np.zeros(n, dtype=np.bool_)
    for name, arr in signals.arrays():
        before = np.empty_like(arr)
        if name in BOOL_FIELDS:
            before[:1] = False
            before[1:] = arr[:-1]
            diff = arr != before
            starts |= diff & arr
        else:
            before[:1] = np.nan
            before[1:] = arr[:-1]
            present = ~np.isnan(arr)
            diff = ~((arr == before) | (np.isnan(arr) & np.isnan(before)))
            starts |= diff & present
        changed |= diff
    return np.flatnonzero(starts), np.flatnonzero(changed & ~starts)


def signal_cut_ends(signals: Signals, cap: int = MAX_SIGNAL_CUTS) -> tuple[list[int], int]:
    """Copy lengths ending at the signal changes of ``signals`` (a full run of ``n``
    bars): ``e = t + 1`` for each change bar ``t < n - 1`` (the full run is no copy),
    and how many such changes there are. Over ``cap``, an even selection: the bars
    where a signal starts first, then the others (see the module docstring)."""
    n = len(signals)
    starts, others = (bars[bars < n - 1] for bars in signal_changes(signals))
    total = len(starts) + len(others)
    if total <= cap:
        chosen = np.concatenate([starts, others])
    else:
        take = min(cap, len(starts))
        chosen = np.concatenate([_spread(starts, take), _spread(others, cap - take)])
    return sorted({int(t) + 1 for t in chosen}), total


def _spread(values: np.ndarray, k: int) -> np.ndarray:
    """``k`` of ``values`` evenly spaced through it (first and last included), in order."""
    if k <= 0 or not len(values):
        return values[:0]
    if k >= len(values):
        return values
    return values[np.unique(np.linspace(0, len(values) - 1, k).round().astype(np.int64))]


def check_lookahead(
    strategy: Strategy,
    frame: pd.DataFrame,
    params: Mapping[str, Any] | None = None,
    *,
    checkpoints: int = 20,
    min_bars: int | None = None,
    at_signals: bool = True,
    max_signal_cuts: int = MAX_SIGNAL_CUTS,
    ends: Sequence[int] | None = None,
    max_changes: int = 10_000,
) -> LookaheadReport:
    """Run ``strategy`` on ``frame`` and on truncated copies and report every bar whose
    signals changed when later data was added (see the module docstring).

    By default the copies end at every signal change of the full run (``at_signals``;
    at most ``max_signal_cuts`` of them, an even selection beyond) and at
    ``checkpoints`` bars spread evenly from ``min_bars`` (default a tenth of the frame)
    to ``len(frame) - 1``, the last one being the copy that lacks only the final bar.
    ``ends`` gives the copy lengths (bars kept, 1 to ``len(frame) - 1``) explicitly
    instead of both. ``max_changes`` caps the differences listed (all are counted).
    """
    n = len(frame)
    if n < 2:
        raise StrategyError(
            f"the look-ahead check needs at least 2 bars, the data has {n}",
            hint="load a longer range",
        )
    for label, value, least in (
        ("checkpoints", checkpoints, 1),
        ("max_signal_cuts", max_signal_cuts, 0),
        ("max_changes", max_changes, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise StrategyError(
                f"{label} {value!r} is not an integer >= {least}",
                hint=f"give {label} as a whole number of at least {least}",
            )
    p = resolve_params(strategy, frame, params)
    full = _run(strategy, frame, p, n)
    signal_cuts, n_signal_changes = 0, 0
    if ends is None:
        cut_ends: list[int] = []
        if at_signals:
            cut_ends, n_signal_changes = signal_cut_ends(full, max_signal_cuts)
            signal_cuts = len(cut_ends)
        spread = truncation_ends(n, checkpoints, n // 10 if min_bars is None else min_bars)
        ends = sorted({*cut_ends, *spread})
    else:
        ends = sorted({int(e) for e in ends})
        if not ends or ends[0] < 1 or ends[-1] >= n:
            raise StrategyError(
                f"truncation lengths must lie in 1..{n - 1}, got {ends}",
                hint="each copy keeps the first e bars; e = len(frame) is the full run",
            )
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
        signal_cuts=signal_cuts,
        signal_changes=n_signal_changes,
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


__all__ = [
    "MAX_SIGNAL_CUTS",
    "LookaheadChange",
    "LookaheadReport",
    "check_lookahead",
    "signal_changes",
    "signal_cut_ends",
    "truncation_ends",
]
