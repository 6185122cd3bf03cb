"""What an ingest sends out, from the watermarks alone: across retries that fail at any step,
no bar goes on the stream twice, none is announced twice or before it is on the stream, and
every stored bar is streamed and announced in the end."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from tradpal.ingest.watermarks import Watermarks, plan_outflow, starting_marks

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def bars(n: int) -> pd.DatetimeIndex:
    return pd.date_range(T0, periods=n, freq="h")


def test_a_new_dataset_streams_and_announces_everything():
    plan = plan_outflow(bars(5), Watermarks())
    assert plan.stream == range(0, 5) and plan.announce == range(0, 5)
    assert plan.marks_after(bars(5), Watermarks()) == Watermarks(bars(5)[-1], bars(5)[-1])


def test_only_bars_after_the_marks_go_out():
    index = bars(10)
    plan = plan_outflow(index, Watermarks(index[6], index[3]))
    assert plan.stream == range(7, 10) and plan.announce == range(4, 10)
    caught_up = plan_outflow(index, Watermarks(index[-1], index[-1]))
    assert not caught_up.stream and not caught_up.announce


def test_nothing_is_announced_before_it_is_on_the_stream():
    assert not plan_outflow(pd.DatetimeIndex([], tz="UTC"), Watermarks()).announce
    index = bars(4)
    plan = plan_outflow(index, Watermarks(streamed_last=index[1], announced_last=index[3]))
    assert plan.stream == range(2, 4) and not plan.announce


def test_a_dataset_stored_by_other_means_starts_after_what_was_there():
    index = bars(8)
    assert starting_marks(None, None) == Watermarks()
    assert starting_marks(None, (index[0], index[4])) == Watermarks(index[4], index[4])
    kept = Watermarks(index[2], index[1])
    assert starting_marks(kept, (index[0], index[4])) == kept  # the table's own marks win


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 30), min_size=1, max_size=6),
    fail_at=st.lists(st.sampled_from(["none", "stream", "announce"]), min_size=6, max_size=6),
)
def test_retries_that_fail_anywhere_send_every_bar_exactly_once(sizes, fail_at):
    """Each ingest stores more bars (``sizes`` new ones), then streams and announces them;
    a step that fails leaves its watermark where it was, and the next ingest retries."""
    marks, stored = Watermarks(), 0
    streamed: list[pd.Timestamp] = []
    announced: list[pd.Timestamp] = []
    for size, failure in zip([*sizes, 0], [*fail_at[: len(sizes)], "none"], strict=True):
        stored += size
        index = bars(stored)
        plan = plan_outflow(index, marks)
        if failure == "stream":  # the put failed: nothing went out, no mark moved
            continue
        streamed += list(index[plan.stream.start : plan.stream.stop])
        if plan.stream:
            marks = Watermarks(index[plan.stream[-1]], marks.announced_last)
        plan = plan_outflow(index, marks)  # what announcing sees once the stream is done
        assert not plan.stream
        if failure == "announce":
            continue
        told = list(index[plan.announce.start : plan.announce.stop])
        assert all(t in streamed for t in told)  # never before it is on the stream
        announced += told
        if plan.announce:
            marks = Watermarks(marks.streamed_last, index[plan.announce[-1]])
    everything = list(bars(stored))
    assert streamed == everything and announced == everything
