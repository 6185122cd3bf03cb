"""Per-caller buckets without a socket: one bucket per caller, idle ones dropped without
changing any answer, and a hard bound on how many are kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradpal.local.gateway.throttle import CallerBuckets, TokenBucket


def test_each_caller_has_its_own_bucket():
    now = [0.0]
    callers = CallerBuckets(rate=1.0, burst=2, clock=lambda: now[0])
    assert [callers.take("alice") for _ in range(3)][:2] == [0.0, 0.0]
    assert callers.take("alice") == pytest.approx(1.0)  # alice is empty, one token in 1 s
    assert callers.take("bob") == 0.0 and len(callers) == 2
    now[0] = 1.0
    assert callers.take("alice") == 0.0 and callers.take("alice") > 0


def test_idle_callers_buckets_are_dropped_once_refilled():
    now = [0.0]
    callers = CallerBuckets(rate=1.0, burst=2, clock=lambda: now[0])  # full 2 s after empty
    callers.take("a"), callers.take("a")  # a empty at 0
    now[0] = 1.0
    callers.take("b"), callers.take("b")  # b empty at 1
    now[0] = 1.5
    callers.take("c")
    assert len(callers) == 3  # none refilled yet
    now[0] = 2.0
    callers.take("c")
    assert len(callers) == 2  # a is full again: dropped; b (1 token) kept
    now[0] = 10.0
    callers.take("d")
    assert len(callers) == 1  # b and c idle long enough: only d's bucket is left
    # a dropped bucket answers as the kept one would have: a full burst
    assert [callers.take("a") for _ in range(3)][:2] == [0.0, 0.0]


def test_memory_is_bounded_by_max_callers():
    now = [0.0]
    callers = CallerBuckets(rate=1.0, burst=1, clock=lambda: now[0], max_callers=2)
    for name in ("a", "b", "c"):
        assert callers.take(name) == 0.0
    assert len(callers) == 2
    assert callers.take("b") > 0 and callers.take("c") > 0  # the two most recent are kept
    assert callers.take("a") == 0.0  # a was dropped beyond the bound: it starts afresh
    assert len(callers) == 2
    with pytest.raises(ValueError, match="max_callers"):
        CallerBuckets(rate=1.0, burst=1, max_callers=0)


def test_long_and_odd_caller_ids_cost_the_same():
    callers = CallerBuckets(rate=1.0, burst=1, clock=lambda: 0.0)
    assert callers.take("sub:" + "x" * 100_000) == 0.0
    assert callers.take("sub:\ud800") == 0.0  # a lone surrogate from a JSON escape
    assert callers.take("sub:" + "x" * 100_000) > 0
    assert all(len(key) == 16 for key in callers._buckets)


def test_token_bucket_refund_and_is_full():
    now = [0.0]
    bucket = TokenBucket(rate=1.0, burst=2, clock=lambda: now[0])
    assert bucket.is_full(0.0)
    bucket.take()
    assert not bucket.is_full(0.0) and bucket.is_full(1.0)
    bucket.refund()
    bucket.refund()  # never beyond the burst
    assert [bucket.take() for _ in range(3)][:2] == [0.0, 0.0]


@given(
    st.lists(
        st.tuples(st.sampled_from("abcde"), st.floats(min_value=0, max_value=3)),
        max_size=80,
    )
)
def test_dropping_idle_buckets_changes_no_answer(steps):
    """The bounded buckets answer exactly as one bucket per caller kept forever."""
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731
    callers = CallerBuckets(rate=2.0, burst=3, clock=clock)
    kept: dict[str, TokenBucket] = {}
    for name, step in steps:
        now[0] += step
        expected = kept.setdefault(name, TokenBucket(2.0, 3, clock)).take()
        assert callers.take(name) == pytest.approx(expected, abs=1e-9)
