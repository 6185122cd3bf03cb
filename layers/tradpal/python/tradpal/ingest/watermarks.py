"""What an ingest sends out, decided from the dataset's watermarks (pure).

A dataset keeps two watermarks: ``streamed_last``, the open time of the last bar put on the
market-data stream, and ``announced_last``, the last bar a ``market_data_update`` covered.
After the store is updated, the bars after ``streamed_last`` go on the stream; then the bars
after ``announced_last`` up to the (new) ``streamed_last`` are announced. Each step advances
its watermark once it is done, so an ingest that failed half-way and is retried puts no bar on
the stream twice and announces no bar twice, and nothing is announced before it is on the
stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Watermarks:
    """The last bar (open time, UTC) put on the stream and the last one announced."""

    streamed_last: pd.Timestamp | None = None
    announced_last: pd.Timestamp | None = None


def starting_marks(
    kept: Watermarks | None, stored_before: tuple[pd.Timestamp, pd.Timestamp] | None
) -> Watermarks:
    """The watermarks an ingest starts from: ``kept`` when the datasets table has the
    dataset; else the dataset was stored by other means (the command line) or not at all,
    and only bars after what was stored before (``(first, last)``, or None) are new."""
    if kept is not None:
        return kept
    last = stored_before[1] if stored_before else None
    return Watermarks(last, last)


@dataclass(frozen=True)
class Outflow:
    """Positions into the stored bars: ``stream`` the bars to put on the stream (``[a, b)``)
    and ``announce`` the bars to announce afterwards (``[a, b)``); empty ranges when none."""

    stream: range
    announce: range

    def marks_after(self, index: pd.DatetimeIndex, marks: Watermarks) -> Watermarks:
        """The watermarks once both steps are done."""
        streamed = index[self.stream[-1]] if self.stream else marks.streamed_last
        announced = index[self.announce[-1]] if self.announce else marks.announced_last
        return Watermarks(streamed, announced)


def plan_outflow(index: pd.DatetimeIndex, marks: Watermarks) -> Outflow:
    """What to stream and announce of the stored bars ``index`` (sorted open times)."""
    n = len(index)
    first_new = 0 if marks.streamed_last is None else _after(index, marks.streamed_last)
    stream = range(first_new, n)
    streamed = index[n - 1] if stream else marks.streamed_last
    if streamed is None:  # nothing on the stream: nothing to announce
        return Outflow(stream, range(0))
    lo = 0 if marks.announced_last is None else _after(index, marks.announced_last)
    hi = _after(index, streamed)
    return Outflow(stream, range(lo, max(lo, hi)))


def _after(index: pd.DatetimeIndex, t: pd.Timestamp) -> int:
    """The position of the first bar after ``t``."""
    return int(index.searchsorted(t, side="right"))
