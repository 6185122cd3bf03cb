"""Which bars an update must fetch, and in which chunks (pure functions, epoch ns)."""

from __future__ import annotations

from dataclasses import dataclass

from tradpal.timeframes import Timeframe


@dataclass(frozen=True)
class Span:
    """Bars with open time in ``[start, end)`` (epoch ns, on bar boundaries).

    ``backward`` spans lie before the stored data and are fetched newest chunk
    first, so that what is stored stays one contiguous block whenever an update
    stops half-way (and the next update continues from where it stopped).
    """

    start: int
    end: int
    backward: bool = False

    def bars(self, step: int) -> int:
        return max(0, (self.end - self.start) // step)


def ceil_to_bar(t_ns: int, timeframe: Timeframe) -> int:
    """The first bar boundary at or after ``t_ns``."""
    floor = int(timeframe.floor_ns(t_ns))
    return floor if floor == t_ns else floor + timeframe.nanoseconds


def missing_spans(
    stored: tuple[int, int] | None, start: int, end: int, timeframe: Timeframe
) -> list[Span]:
    """The spans of ``[start, end)`` outside the stored ``(first, last)`` bars.

    Only the parts before the first and after the last stored bar are missing:
    gaps inside the stored range are the market's (or the source's) and are not
    fetched again. ``start`` and ``end`` must be bar boundaries.
    """
    if start >= end:
        return []
    if stored is None:
        return [Span(start, end)]
    first, last = stored
    spans = []
    if start < first:
        spans.append(Span(start, min(first, end), backward=True))
    after = max(last + timeframe.nanoseconds, start)
    if after < end:
        spans.append(Span(after, end))
    return spans


def chunk_span(span: Span, step: int, chunk_bars: int) -> list[Span]:
    """``span`` cut into pieces of at most ``chunk_bars`` bars, in fetch order."""
    size = step * chunk_bars
    if span.backward:
        out = []
        hi = span.end
        while hi > span.start:
            lo = max(span.start, hi - size)
            out.append(Span(lo, hi, backward=True))
            hi = lo
        return out
    return [Span(lo, min(lo + size, span.end)) for lo in range(span.start, span.end, size)]
