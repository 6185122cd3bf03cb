"""The position a strategy wants after each bar, from its signals alone.

The backtest engine (:mod:`tradpal.backtest.engine`) turns signals into trades with stops,
sizing and fills; consumers of live signals need only the desired side after the close of
each bar. :func:`positions` applies the engine's signal rules exactly (its ``resolve`` step,
with shorts allowed and no protective exits):

* per bar and side, an entry together with the exit of the same side is ignored, and a long
  and a short entry together are ignored;
* flat: a long entry goes long, a short entry goes short;
* long: a short entry reverses to short, else a long exit goes flat;
* short: a long entry reverses to long, else a short exit goes flat.

Positions are +1 (long), 0 (flat), -1 (short).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from tradpal.strategies.signals import Signals

Side = Literal["long", "short", "flat"]
SIDES: dict[int, Side] = {1: "long", 0: "flat", -1: "short"}


def positions(signals: Signals, *, allow_short: bool = True, initial: int = 0) -> np.ndarray:
    """The desired position (int8: +1, 0, -1) after the close of every bar.

    ``initial`` is the position before the first bar. Without ``allow_short`` a short entry
    only closes a long (as the engine does) and never opens a short.
    """
    le = np.asarray(signals.long_entry, dtype=bool)
    lx = np.asarray(signals.long_exit, dtype=bool)
    se = np.asarray(signals.short_entry, dtype=bool)
    sx = np.asarray(signals.short_exit, dtype=bool)
    # Contradictions cancel, as in the engine.
    both_long, both_short = le & lx, se & sx
    le, lx = le & ~both_long, lx & ~both_long
    se, sx = se & ~both_short, sx & ~both_short
    both_entries = le & se
    le, se = le & ~both_entries, se & ~both_entries

    out = np.empty(len(le), dtype=np.int8)
    pos = int(initial)
    # Only bars with any flag can change the position: loop over those, fill the runs between.
    active = np.flatnonzero(le | lx | se | sx)
    last = 0
    for t in active.tolist():
        out[last:t] = pos
        if pos > 0:
            if se[t]:
                pos = -1 if allow_short else 0
            elif lx[t]:
                pos = 0
        elif pos < 0:
            if le[t]:
                pos = 1
            elif sx[t]:
                pos = 0
        elif le[t]:
            pos = 1
        elif se[t] and allow_short:
            pos = -1
        out[t] = pos
        last = t + 1
    out[last:] = pos
    return out


def changes(pos: np.ndarray, initial: int = 0) -> np.ndarray:
    """Indices of the bars after whose close the position differs from the bar before
    (the first bar compares with ``initial``)."""
    pos = np.asarray(pos)
    if not len(pos):
        return np.zeros(0, dtype=np.int64)
    before = np.empty_like(pos)
    before[0] = initial
    before[1:] = pos[:-1]
    return np.flatnonzero(pos != before)


__all__ = ["SIDES", "Side", "changes", "positions"]
